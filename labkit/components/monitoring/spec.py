"""What an engine-tier monitoring stack is made of, as one frozen value that renders the same bytes every time.

>>> spec = StackSpec(name="lab", scrape_interval="5s", alert_for="10s")
>>> spec.identity        # sha256 of the rendered configs without the run token   # doctest: +SKIP

Every field ends up in a rendered config file or a container label. The same spec always renders the
same bytes, so their hash is the stack's *identity* (``io.labkit.config-hash``): asking for a stack that
already runs with the same identity reuses it; a different identity under the same name is refused.
The run token (unique per run) is not part of the identity: it is the demo app's ``token`` label and
every target's ``run`` label, and it changes between repetitions of one stack.

Chapter 06 (logging) and anyone else reuse the stack with their own scrape targets and rule files
(:class:`ScrapeTarget`, :class:`RuleFile`), or by labelling a container on the stack's network with
:func:`scrape_labels` (docker_sd finds it).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from labkit.errors import BadInput

STACK = "io.labkit.stack"  # the stack's name, on every object of it
PART = "io.labkit.part"  # prometheus | alertmanager | receiver | demo | ...
CONFIG_HASH = "io.labkit.config-hash"  # the identity
TOKEN = "io.labkit.token"  # the run token the stack was made (or last re-tokened) with
SCRAPE = "io.labkit.scrape"  # "true": Prometheus scrapes this container (docker_sd)
SCRAPE_PORT = "io.labkit.scrape.port"
SCRAPE_PATH = "io.labkit.scrape.path"
JOB = "io.labkit.job"
LABEL_PREFIX = "io.labkit.label."  # io.labkit.label.<k>=<v> becomes the target label k="v"

#: The parts a stack can have; prometheus, alertmanager and the receiver are always there.
CORE = ("prometheus", "alertmanager", "receiver")
OPTIONAL = ("demo", "blackbox", "node-exporter", "container-exporter")
#: In-container ports (each part listens on its upstream default).
PORTS = {"prometheus": 9090, "alertmanager": 9093, "receiver": 9095, "demo": 8000, "blackbox": 9115,
         "node-exporter": 9100, "container-exporter": 9338}
#: Parts whose port is published on 127.0.0.1 (the others are reached on the stack network only).
PUBLISHED = ("prometheus", "alertmanager", "receiver")

_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
_JOB = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_FILE = re.compile(r"^[a-z0-9][a-z0-9_-]*\.yml$")


def seconds(duration: str) -> float:
    """``500ms`` | ``5s`` | ``2m`` | ``1h`` → seconds (the subset of Prometheus durations labkit writes)."""
    m = _DURATION.match(duration) if isinstance(duration, str) else None
    if not m:
        raise BadInput("duration", duration, "a number with ms, s, m or h, e.g. 500ms, 5s, 2m",
                       fix="Prometheus durations have no spaces or decimals: 1500ms, not 1.5s")
    return int(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]


def duration(secs: float) -> str:
    """Seconds → the shortest exact Prometheus duration (``10s``, ``500ms``)."""
    ms = round(secs * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def new_token() -> str:
    """A run token: 12 hex digits, unique per run."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class ScrapeTarget:
    """A static scrape target added to the stack's Prometheus (``job`` → ``address`` on the stack network)."""

    job: str
    address: str  # host:port, e.g. "lk-abc-mtail:3903"
    path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _JOB.match(self.job) or self.job in ("prometheus", "docker", "blackbox"):
            raise BadInput("scrape job", self.job, "a new job name: letters, digits, _ and -",
                           fix="prometheus, docker and blackbox are the stack's own jobs")
        if not re.fullmatch(r"[A-Za-z0-9.-]+:\d{1,5}", self.address):
            raise BadInput("scrape address", self.address, "host:port, e.g. lk-abc-mtail:3903")
        for k in self.labels:
            if not _LABEL.match(k):
                raise BadInput("target label", k, "a Prometheus label name (letters, digits, _)")


@dataclass(frozen=True)
class RuleFile:
    """An extra rule file: ``groups`` as data (Prometheus's rule-file format). promtool checks it before start."""

    name: str  # file name, e.g. "logging.yml"
    groups: tuple[Mapping[str, Any], ...]

    def __post_init__(self) -> None:
        if not _FILE.match(self.name) or self.name == "rules.yml":
            raise BadInput("rule file name", self.name, "lower-case, ending in .yml, not rules.yml (the stack's own)")
        object.__setattr__(self, "groups", tuple(self.groups))


@dataclass(frozen=True)
class StackSpec:
    """An engine-tier monitoring stack: intervals, parts, ports and what else it scrapes and evaluates."""

    name: str = "lab"
    token: str = ""  # "" → a new one per stack (new_token())
    scrape_interval: str = "5s"
    scrape_timeout: str | None = None  # None → min(scrape_interval, 10s)
    evaluation_interval: str = "5s"
    alert_for: str = "10s"
    group_wait: str = "0s"
    group_interval: str = "5s"
    sd_refresh: str = "5s"  # docker_sd refresh (Prometheus's default is 60s: a stopped target lingers)
    parts: tuple[str, ...] = OPTIONAL  # optional parts to run (the core always runs)
    ports: Mapping[str, int] = field(default_factory=dict)  # published part → fixed host port (else any free one)
    demo_port_label: int | None = None  # what the demo's scrape-port label says (≠ 8000: a broken scrape config)
    extra_targets: tuple[ScrapeTarget, ...] = ()
    extra_rules: tuple[RuleFile, ...] = ()
    retention: str = "2h"
    prometheus_args: tuple[str, ...] = ()  # extra flags (e.g. --web.enable-admin-api for the cost snapshot)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise BadInput("monitoring stack name", self.name, "1-24 of a-z, 0-9 and '-', starting with a letter "
                           "or digit", fix="e.g. name='lab'")
        if not self.token:
            object.__setattr__(self, "token", new_token())
        if not re.fullmatch(r"[a-z0-9]{1,32}", self.token):
            raise BadInput("run token", self.token, "1-32 of a-z and 0-9")
        for f in ("scrape_interval", "evaluation_interval", "alert_for", "group_wait", "group_interval", "sd_refresh",
                  "retention"):
            seconds(getattr(self, f))
        if seconds(self.scrape_interval) <= 0 or seconds(self.evaluation_interval) <= 0:
            raise BadInput("interval", (self.scrape_interval, self.evaluation_interval), "more than 0")
        if self.scrape_timeout is not None and seconds(self.scrape_timeout) > seconds(self.scrape_interval):
            raise BadInput("scrape_timeout", self.scrape_timeout, f"at most scrape_interval ({self.scrape_interval})",
                           fix="Prometheus refuses a config whose scrape_timeout exceeds its scrape_interval")
        object.__setattr__(self, "parts", tuple(self.parts))
        for p in self.parts:
            if p not in OPTIONAL:
                raise BadInput("monitoring part", p, ", ".join(OPTIONAL), fix=f"{', '.join(CORE)} always run")
        if "blackbox" in self.parts and "demo" not in self.parts:
            raise BadInput("monitoring parts", list(self.parts), "blackbox only together with demo (it probes it)")
        object.__setattr__(self, "ports", dict(self.ports))
        for part, port in self.ports.items():
            if part not in PUBLISHED:
                raise BadInput("published port of", part, ", ".join(PUBLISHED))
            if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
                raise BadInput(f"{part} port", port, "1-65535, or 0 for any free port")
        object.__setattr__(self, "extra_targets", tuple(self.extra_targets))
        object.__setattr__(self, "extra_rules", tuple(self.extra_rules))
        paths: dict[str, str] = {}
        for t in self.extra_targets:  # targets of one job become one scrape job: they must share the path
            if paths.setdefault(t.job, t.path) != t.path:
                raise BadInput(f"metrics path of job {t.job}", t.path, f"{paths[t.job]} (one path per job)",
                               fix="give targets with another path their own job name")
        names = [r.name for r in self.extra_rules]
        if len(set(names)) != len(names):
            raise BadInput("extra rule files", names, "each file name once")

    # -- derived ---------------------------------------------------------------------------------------------
    @property
    def timeout_s(self) -> float:
        if self.scrape_timeout is not None:
            return seconds(self.scrape_timeout)
        return min(seconds(self.scrape_interval), 10.0)

    @property
    def prefix(self) -> str:
        """Object names: ``lkmon-<name>-<part>``."""
        return f"lkmon-{self.name}"

    @property
    def network(self) -> str:
        return f"{self.prefix}-net"

    def host(self, part: str) -> str:
        """The part's container name, also its DNS name on the stack network."""
        return f"{self.prefix}-{part}"

    def has(self, part: str) -> bool:
        return part in CORE or part in self.parts

    @property
    def all_parts(self) -> tuple[str, ...]:
        return tuple(p for p in (*CORE, *OPTIONAL) if self.has(p))

    def with_token(self, token: str) -> StackSpec:
        return replace(self, token=token)

    @property
    def identity(self) -> str:
        """The config hash without the token (nor the host ports, which do not change what runs)."""
        from labkit.components.monitoring.configs import render

        files = render(replace(self, token="0", ports={}))
        h = hashlib.sha256()
        for name in sorted(files):
            h.update(name.encode() + b"\0" + files[name] + b"\0")
        h.update(repr(sorted(self.parts)).encode())
        return h.hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def scrape_labels(stack: str, port: int, job: str, *, path: str | None = None,
                  target_labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """Docker labels that make a container on stack ``stack``'s network a scrape target (docker_sd).

    >>> scrape_labels("lab", 3903, "mtail")["io.labkit.scrape.port"]
    '3903'
    """
    if not _JOB.match(job):
        raise BadInput("scrape job", job, "letters, digits, _ and -")
    out = {STACK: stack, SCRAPE: "true", SCRAPE_PORT: str(int(port)), JOB: job}
    if path:
        out[SCRAPE_PATH] = path
    for k, v in (target_labels or {}).items():
        if not _LABEL.match(k):
            raise BadInput("target label", k, "a Prometheus label name (letters, digits, _)")
        out[LABEL_PREFIX + k] = str(v)
    return out


def parse_ports(items: Sequence[str]) -> dict[str, int]:
    """``["port.prometheus=9090", "port.receiver=0"]`` (the CLI's ``--option port.PART=N``) → a ports mapping."""
    out: dict[str, int] = {}
    for item in items:
        part, _, value = item.removeprefix("port.").partition("=")
        if part not in PUBLISHED or not value.isdigit():
            raise BadInput("port option", item, f"port.PART=N with PART one of {', '.join(PUBLISHED)}",
                           fix="e.g. --option port.prometheus=9091 (0: any free port)")
        out[part] = int(value)
    return out
