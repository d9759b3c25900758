"""The impairment knob: inject a known slowdown so the regression gate can be seen to work.

Specs (``--impair`` on the CLI, ``impair=`` in notebooks):

- ``rate=90%``   cap the client's egress at 90 % of the cell's own throughput, measured
  unimpaired at the start of the run (tc ``tbf``; netem is not needed)
- ``rate=5gbit`` an absolute cap (tc units: kbit, mbit, gbit)
- ``wbps=50mb`` / ``rbps=50mb`` / ``wiops=2000`` / ``riops=2000``  block-I/O throttles on a
  storage container's backing device (cgroup blkio; needs direct I/O to bite)

Network caps are applied inside the client's own network namespace, so cells whose
client shares the host's namespace (``host``, ``veth``) refuse them instead of shaping
the host. ``tmpfs`` and the ``hostfs`` baseline have no throttleable device and refuse too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labkit.errors import BadInput

_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}
_NET = ("rate",)
_IO = ("wbps", "rbps", "wiops", "riops")
ALLOWED_NET = "rate=<N>% | rate=<N>[k|m|g]bit"
ALLOWED_STORAGE = "wbps|rbps=<N>[k|m|g]b | wiops|riops=<N>"
ALLOWED = f"{ALLOWED_NET} | {ALLOWED_STORAGE}"
ALLOWED_BY_SUITE = {"net": ALLOWED_NET, "storage": ALLOWED_STORAGE}


@dataclass(frozen=True)
class Impairment:
    kind: str
    value: float  # fraction for relative rate, bit/s for absolute rate, bytes/s or IO/s for I/O
    relative: bool = False
    spec: str = ""

    @property
    def suite(self) -> str:
        return "net" if self.kind in _NET else "storage"


def parse(spec: str) -> Impairment:
    """Parse an impairment spec; a bad one names what is allowed."""
    kind, _, raw = spec.strip().partition("=")
    kind, raw = kind.strip().lower(), raw.strip().lower()
    if kind not in _NET + _IO or not raw:
        raise BadInput("impairment", spec, ALLOWED, fix="e.g. --impair rate=90%")
    if kind == "rate" and raw.endswith("%"):
        pct = float(raw[:-1]) if re.fullmatch(r"\d+(\.\d+)?%", raw) else -1
        if not 0 < pct < 100:
            raise BadInput("impairment rate", spec, "a percentage between 0 and 100, e.g. rate=90%")
        return Impairment("rate", pct / 100, relative=True, spec=spec)
    unit = "bit" if kind == "rate" else ("b" if kind.endswith("bps") else "")
    match = re.fullmatch(rf"(\d+(?:\.\d+)?)([kmg]?){unit}", raw)
    if not match or float(match.group(1)) <= 0:
        raise BadInput("impairment", spec, ALLOWED)
    return Impairment(kind, float(match.group(1)) * _UNITS[match.group(2)], spec=spec)


def tbf_argv(dev: str, rate_bps: float) -> list[str]:
    """tc command capping ``dev``'s egress at ``rate_bps`` with a token bucket."""
    burst = max(int(rate_bps / 8 * 0.004), 256 * 1024)  # 4 ms of traffic, at least 256 KiB (GSO packets)
    return ["tc", "qdisc", "replace", "dev", dev, "root", "tbf",
            "rate", f"{int(rate_bps)}bit", "burst", str(burst), "latency", "100ms"]


def describe_rate(rate_bps: float) -> str:
    return f"{rate_bps / 1e9:.2f} Gbit/s"


def why_not(cell: object, spec: Impairment) -> str:
    """Why ``cell`` cannot take ``spec`` ("" when it can, as far as can be known before it is set up)."""
    suite = getattr(cell, "suite", "")
    if suite != spec.suite:
        return f"a {spec.suite} impairment does not apply to a {suite} cell"
    return str(getattr(cell, "no_impair", ""))


def can_impair(cell: object, spec: Impairment) -> bool:
    return not why_not(cell, spec)
