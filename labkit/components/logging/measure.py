"""What each log path loses and how late it delivers: bursts, delivery delay, rotation.

A *path* is a driver configuration plus the way its lines are read back (:data:`PATHS`). Every
function starts its own emitter in the caller's :class:`~labkit.docker.Scope`, removes it when done,
and returns one dict of numbers. A collector that is not running before or after a measurement makes
it fail with the reason (:class:`~labkit.components.logging.collector.CollectorDown`): a number
measured against a dead collector would be a lie.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from labkit import docker
from labkit.components.logging import drivers, emitter, readback
from labkit.components.logging.collector import Collector
from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.log import log


@dataclass(frozen=True)
class LogPath:
    """A driver, its mode, and where its lines are read back (``json-file``, ``docker-logs``, ``collector``)."""

    name: str
    driver: str
    mode: str = "blocking"
    buffer: str | None = None  # max-buffer-size (non-blocking only)
    transport: str | None = None  # syslog: tcp | udp
    cache: bool = True  # syslog: dual logging
    reader: str = "docker-logs"
    follower: str = "docker-logs"

    @property
    def needs_collector(self) -> bool:
        return self.driver == "syslog"

    def config(self, collector: Collector | None = None) -> drivers.LogConfig:
        if self.driver == "json-file":
            return drivers.json_file(mode=self.mode, max_buffer_size=self.buffer)
        if self.driver == "local":
            return drivers.local(mode=self.mode, max_buffer_size=self.buffer)
        if self.driver == "journald":
            drivers.require_journald()
            return drivers.journald(mode=self.mode)
        if collector is None:
            raise BadInput("collector", None, f"a running Collector for path {self.name}")
        return drivers.syslog(collector.address(self.transport or "tcp"), mode=self.mode,
                              max_buffer_size=self.buffer, label_keys=[emitter.RUN_LABEL], cache=self.cache)


NB = "64k"  # the non-blocking ring of the cells: small enough to overflow in a two-second burst
PATHS: dict[str, LogPath] = {p.name: p for p in (
    LogPath("json-file", "json-file", reader="json-file", follower="json-file"),
    LogPath("json-file-nb", "json-file", "non-blocking", NB, reader="json-file", follower="json-file"),
    LogPath("local", "local"),
    LogPath("local-nb", "local", "non-blocking", NB),
    LogPath("syslog-tcp", "syslog", transport="tcp", reader="collector", follower="collector"),
    LogPath("syslog-tcp-nb", "syslog", "non-blocking", NB, "tcp", reader="collector", follower="collector"),
    LogPath("syslog-tcp-nocache", "syslog", transport="tcp", cache=False, reader="collector",
            follower="collector"),
    LogPath("syslog-udp", "syslog", transport="udp", reader="collector", follower="collector"),
    LogPath("journald", "journald"),
)}


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _check(path: LogPath, collector: Collector | None, when: str) -> None:
    if path.needs_collector:
        if collector is None:
            raise BadInput("collector", None, f"a running Collector for path {path.name}")
        collector.require(when)


def _stored(path: LogPath, run: emitter.Emission, collector: Collector | None) -> list[int]:
    if path.reader == "collector":
        assert collector is not None
        collector.settle(quiet_for=0.5)
        return readback.seqs_in(readback.file_chunks(collector.json_path), run.token)
    time.sleep(0.3)  # dockerd closes the logger after the exit event (a non-blocking ring drains on close)
    if path.reader == "json-file":
        return readback.json_file_seqs(run.box, run.token)
    return readback.docker_logs_seqs(run.box, run.token)


def _collector_times(collector: Collector, token: str) -> dict[int, float]:
    """seq -> rsyslog's receive time (epoch s) for one token's records."""
    import pandas as pd

    rx = readback.token_re(token)
    out: dict[int, float] = {}
    for chunk in readback.file_chunks(collector.json_path):
        for line in chunk.splitlines():
            m = rx.search(line)
            if m:
                out[int(m.group(1))] = float(pd.Timestamp(json.loads(line)["received"]).timestamp())
    return out


def burst(scope: docker.Scope, path: LogPath, *, rate: float, count: int, size: int = 100,
          collector: Collector | None = None, timeout: float = 300.0) -> dict[str, Any]:
    """``count`` lines at ``rate`` lines/s (0: as fast as the app can write): lines lost, and what the app felt.

    Both sides of the trade: ``loss_pct`` (sent − distinct stored) and the app's own ``write(2)`` latency
    (``write_p99_us``, ``write_max_ms``) and achieved rate (``app_rate``)."""
    cfg = path.config(collector)
    _check(path, collector, "before the burst")
    run = emitter.emit(scope, cfg, count=count, rate=rate, size=size, token=emitter.new_token("B"))
    try:
        code = run.wait(timeout=timeout)
        _check(path, collector, "after the burst")
        seen = _stored(path, run, collector)
        s = run.summary()
        if code != 0 or not s:
            raise LabkitError(f"emitter {run.name} exited {code} without a summary: {docker.logs(run.box, tail=5)}")
        uniq = set(seen)
        start = s["start_real_ns"] / 1e9
        if path.reader == "collector":
            assert collector is not None
            times = _collector_times(collector, run.token)
            last = max(times.values()) if times else None
            collector.truncate()
        else:
            last = readback.last_line_time(run.box)
        out = {"loss_pct": 100.0 * (count - len(uniq)) / count if count else 0.0, "lost_lines": count - len(uniq),
               "stored_lines": len(uniq), "duplicate_lines": len(seen) - len(uniq),
               "app_rate": float(s["rate_achieved"]), "write_p50_us": s["write_ns_p50"] / 1e3,
               "write_p99_us": s["write_ns_p99"] / 1e3, "write_max_ms": s["write_ns_max"] / 1e6,
               "load1": os.getloadavg()[0]}
        if last is not None and last > start and uniq:
            out["stored_rate"] = len(uniq) / (last - start)
        return out
    finally:
        run.remove()


def delay(scope: docker.Scope, path: LogPath, *, rate: float = 200, count: int = 200,
          collector: Collector | None = None, poll: float = 0.001) -> dict[str, Any]:
    """Emit → queryable, per line: the reader's first sight minus the emitter's ``t=``; p50/p99 in ms.

    ``seen_ratio`` says how many of the lines the reader saw at all (a reader that saw fewer is not trusted
    silently). For syslog, ``to_collector_p50_ms`` is the transport part (rsyslog's own receive stamp)."""
    cfg = path.config(collector)
    _check(path, collector, "before the delay test")
    fol: readback.Follower | None = None
    run = None
    token = emitter.new_token("D")
    try:
        if path.follower == "collector":
            assert collector is not None
            fol = readback.follow_file(collector.json_path, token, poll=poll)
        run = emitter.emit(scope, cfg, count=count, rate=rate, size=100, wait_ms=1500, token=token,
                           summary=False)
        if path.follower == "json-file":
            fol = readback.follow_file(readback.json_file_paths(run.box)[0], token, poll=poll, from_end=False)
        elif path.follower == "docker-logs":
            fol = readback.follow_docker_logs(run.box, token)
        assert fol is not None
        run.wait(timeout=60 + count / max(rate, 1))
        fol.wait_count(count, timeout=10)
        fol.stop()
        _check(path, collector, "after the delay test")
        if fol.error:
            raise LabkitError(f"the reader of {path.name} failed: {fol.error}")
        first: dict[int, readback.Seen] = {}
        for s in fol.seen:
            first.setdefault(s.seq, s)
        delays = [(s.t_seen - s.t_send) * 1e3 for s in first.values()]
        if not delays:
            raise LabkitError(f"{path.name}: the reader saw none of the {count} lines")
        out = {"delay_p50_ms": percentile(delays, 0.5), "delay_p99_ms": percentile(delays, 0.99),
               "seen_ratio": len(first) / count, "load1": os.getloadavg()[0]}
        if path.follower == "collector":
            assert collector is not None
            got = _collector_times(collector, token)
            transport = [(got[q] - s.t_send) * 1e3 for q, s in first.items() if q in got]
            if transport:
                out["to_collector_p50_ms"] = percentile(transport, 0.5)
            collector.truncate()
        return out
    finally:
        if fol is not None:
            fol.stop()
        if run is not None:
            run.remove()


# -- rotation: what max-size and max-file keep ------------------------------------------------------

RESERVE = 1 << 30  # bytes left free on Docker's disk after the worst case


def docker_root_free() -> tuple[str, int | None]:
    """(DockerRootDir, free bytes there; None when the daemon's disk is not visible from here)."""
    root = str(docker.info().get("DockerRootDir", "/var/lib/docker"))
    try:
        st = os.statvfs(root)
    except OSError:
        return root, None
    return root, st.f_bavail * st.f_frsize


def check_rotation_space(max_size: str, max_file: int, *, containers: int = 1, free: int | None = None,
                         root: str | None = None) -> dict[str, Any]:
    """Refuse up front when the worst case (``max-size × max-file × containers`` plus 1 GiB) does not fit."""
    if not isinstance(max_file, int) or max_file < 1:
        raise BadInput("max-file", max_file, "a whole number, 1 or more")
    if free is None:
        root, free = docker_root_free()
    need = drivers.parse_size(max_size) * max_file * containers + RESERVE
    facts = {"docker_root": root, "free_bytes": free, "need_bytes": need}
    if free is None:
        log(f"! free space of {root} is not visible from here: the rotation test is not checked against it")
        return facts
    if need > free:
        raise Unavailable(f"the rotation test needs up to {need / 2**30:.1f} GiB ({containers} × {max_file} × "
                          f"{max_size} + {RESERVE / 2**30:.0f} GiB reserve) but {root} has {free / 2**30:.1f} GiB "
                          "free; nothing was started", fix="lower max-size/max-file, or free space (docker system df)")
    return facts


def rotation(scope: docker.Scope, driver: str, *, max_size: str, max_file: int, count: int = 10000,
             size: int = 100) -> dict[str, Any]:
    """Write ``count`` lines of ``size`` bytes into a rotating json-file/local log: what does ``docker logs``
    still return? Rotation drops the oldest lines, silently."""
    if driver not in ("json-file", "local"):
        raise BadInput("rotating driver", driver, "json-file, local")
    check_rotation_space(max_size, max_file)
    build = drivers.json_file if driver == "json-file" else drivers.local
    run = emitter.emit(scope, build(max_size=max_size, max_file=max_file), count=count, size=size,
                       token=emitter.new_token("R"))
    try:
        run.wait(timeout=120)
        uniq = sorted(set(readback.docker_logs_seqs(run.box, run.token)))
        files = readback.json_file_paths(run.box) if driver == "json-file" else readback.local_log_files(run.box)
        return {"driver": driver, "max_size": max_size, "max_file": max_file, "written": count, "line_bytes": size,
                "kept": len(uniq), "lost": count - len(uniq), "first_kept_seq": uniq[0] if uniq else None,
                "newest_kept": bool(uniq) and uniq[-1] == count - 1,
                "contiguous": bool(uniq) and uniq[-1] - uniq[0] + 1 == len(uniq),
                "files": len(files), "bytes_on_disk": sum(p.stat().st_size for p in files)}
    finally:
        run.remove()
