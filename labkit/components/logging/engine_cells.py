"""Logging cells on the Docker engine: one log path (driver × mode × transport) per cell.

================== ============================================================= ==========
cell               what the app's stdout goes through                            baseline
================== ============================================================= ==========
json-file          dockerd → JSON lines on the host's disk (Docker's default)    -
json-file-nb       the same, non-blocking with a 64 KiB ring                     json-file
local              dockerd → protobuf frames, gzipped when rotated               json-file
local-nb           the same, non-blocking 64 KiB                                 json-file
syslog-tcp         dockerd → TCP → docker-proxy → rsyslog (a container)          json-file
syslog-tcp-nb      the same, non-blocking 64 KiB                                 json-file
syslog-tcp-nocache the same without the dual-logging cache                       json-file
syslog-udp         dockerd → UDP datagrams → rsyslog                             json-file
journald           dockerd → the host's journal (unavailable without journald)   json-file
================== ============================================================= ==========

Tests: ``delay`` (emit → queryable, p50/p99) and ``burst-<rate>`` (lines lost, and the app's own write
latency and rate: both sides of blocking vs non-blocking); ``burst-max`` is the throughput ceiling, read
as a ratio to json-file. A collector that dies fails the repetition with the reason (``alive()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit import docker
from labkit.bench.cells import Cell, Measurement
from labkit.components.logging import drivers, measure
from labkit.components.logging.collector import Collector
from labkit.errors import BadInput, Unavailable
from labkit.log import log

SUITE = "logging"
NO_IMPAIR = "logging cells take no network or disk impairment; kill or pause the collector with logging.mid_stream"
DESCRIPTIONS = {
    "json-file": "json-file, blocking (Docker's default)",
    "json-file-nb": "json-file, non-blocking, 64 KiB ring",
    "local": "local driver, blocking",
    "local-nb": "local driver, non-blocking, 64 KiB ring",
    "syslog-tcp": "syslog over TCP into rsyslog, blocking",
    "syslog-tcp-nb": "syslog over TCP into rsyslog, non-blocking, 64 KiB ring",
    "syslog-tcp-nocache": "syslog over TCP, blocking, no dual-logging cache",
    "syslog-udp": "syslog over UDP into rsyslog, blocking",
    "journald": "journald (the host's systemd journal)",
}


def _cell(name: str) -> Cell:
    p = measure.PATHS[name]
    path = {"json-file": "dockerd>file", "local": "dockerd>file", "journald": "dockerd>journal"}.get(
        p.driver, f"dockerd>{p.transport}>docker-proxy>rsyslog>file")
    return Cell(SUITE, name, DESCRIPTIONS[name], None if name == "json-file" else "json-file",
                "L0" if name == "json-file" else None, placement="same-host", path=path,
                component=f"docker-{p.driver}", no_impair=NO_IMPAIR,
                config={"driver": p.driver, "mode": p.mode, "max_buffer_size": p.buffer, "transport": p.transport,
                        "cache": p.cache})


CELLS: dict[str, Cell] = {name: _cell(name) for name in measure.PATHS}
RATES = {"1k": 1_000, "10k": 10_000, "50k": 50_000, "100k": 100_000, "max": 0}
MAX_LINES = 200_000


@dataclass(frozen=True)
class LogTest:
    """``delay``: ``count`` lines at ``rate``/s, each timed to the reader. ``burst-*``: ``count`` lines at
    ``rate``/s (0: as fast as the app can write), then count what arrived."""

    name: str
    kind: str
    rate: float
    count: int
    size: int = 100

    @property
    def budget_s(self) -> float:
        return (self.count / self.rate if self.rate else self.count / 20_000) + 10

    def scenario(self, **_: Any) -> dict[str, Any]:
        return {"tool": "labkit-emitter", "test": self.name, "protocol": "", "streams_or_numjobs": 1,
                "msg_size_or_bs": self.size, "duration_s": self.count / self.rate if self.rate else None,
                "ramp_s": None}


TESTS = ("delay", *(f"burst-{k}" for k in RATES))
PROFILE_TESTS = {"quick": ("delay", "burst-1k", "burst-10k", "burst-max"), "full": TESTS}


def log_tests(names: list[str] | None, *, profile: str = "quick", seconds: float | None = None) -> list[LogTest]:
    """The tests by name; ``seconds`` is each burst's length at its rate (default 2), and the delay test's."""
    chosen = names or list(PROFILE_TESTS.get(profile, PROFILE_TESTS["quick"]))
    secs = seconds or 2.0
    out = []
    for name in chosen:
        if name == "delay":
            out.append(LogTest("delay", "delay", 200, max(20, int(200 * secs))))
        elif name.startswith("burst-") and name[6:] in RATES:
            rate = RATES[name[6:]]
            out.append(LogTest(name, "burst", rate, min(MAX_LINES, int((rate or 100_000) * secs))))
        else:
            raise BadInput("logging test", name, ", ".join(TESTS))
    return out


@dataclass
class LogSession:
    """One open cell: its path and, for syslog cells, its own collector."""

    cell: Cell
    path: measure.LogPath
    scope: docker.Scope
    collector: Collector | None = None

    def measure(self, test: LogTest, *, timeout: float, quiet: bool = False) -> Measurement:
        kw = {"collector": self.collector}
        if test.kind == "delay":
            m = measure.delay(self.scope, self.path, rate=test.rate, count=test.count, **kw)
        else:
            m = measure.burst(self.scope, self.path, rate=test.rate, count=test.count, size=test.size,
                              timeout=timeout, **kw)
        m.pop("load1", None)
        m.pop("duplicate_lines", None)
        m.pop("stored_lines", None)
        return Measurement(m, f"emitter {self.tool_version()}",
                           {"protocol": self.path.transport or ("file" if self.path.driver != "journald" else "")})

    def tool_version(self) -> str:
        from labkit import images

        return images.ref("logging-emitter").split(":")[-1]

    def alive(self) -> str | None:
        return self.collector.alive() if self.collector is not None else None

    def impair(self, spec: Any, *, calibrate: Any = None) -> str:
        raise Unavailable(f"cannot impair cell {self.cell.name}: {NO_IMPAIR}")


def open_cell(name: str, scope: docker.Scope, ctx: Any) -> LogSession:
    """Set up one cell: a collector of its own for the syslog cells; journald refused where there is none."""
    path = measure.PATHS[name]
    cell = CELLS[name]
    if path.driver == "journald":
        ok, why = drivers.journald_available()
        if not ok:
            raise Unavailable(f"journald: {why}", fix="run on a host with systemd-journald")
    session = LogSession(cell, path, scope)
    if path.needs_collector:
        session.collector = Collector.up(scope)
    log(f"✓ cell {name}: {cell.description}")
    return session
