"""Bad input and faults, shown for real: what dockerd says and does.

* a bad driver, option or value: labkit's own refusal (before Docker) beside dockerd's words (the CLI);
* the collector down when a container starts, per transport and mode;
* the collector killed or paused mid-stream: does blocking mode stall the app, does non-blocking drop?
* ``docker logs`` of a stopped syslog container while the collector is down.

Each function returns plain rows (dicts) and leaves the collector running.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from labkit import docker
from labkit._run import Runner, default_runner
from labkit.components.logging import drivers, emitter, readback
from labkit.components.logging.collector import Collector
from labkit.components.logging.drivers import LogConfig
from labkit.errors import BadInput, LabkitError


class FaultNotInjected(LabkitError):
    """The fault could not be applied (e.g. runc could not freeze the cgroup): the run proves nothing."""


def bad_cases(port: int = 1) -> dict[str, LogConfig]:
    """Bad log configurations, unchecked (as a user might type them)."""
    addr = f"tcp://127.0.0.1:{port}"
    return {
        "unknown driver": LogConfig("nope", {}),
        "unknown option (json-file)": LogConfig("json-file", {"max-sise": "10m"}),
        "unknown option (syslog)": LogConfig("syslog", {"syslog-adress": addr}),
        "bad mode": LogConfig("json-file", {"mode": "sometimes"}),
        "bad max-buffer-size": LogConfig("json-file", {"mode": "non-blocking", "max-buffer-size": "lots"}),
        "max-buffer-size in blocking mode": LogConfig("json-file", {"mode": "blocking", "max-buffer-size": "4k"}),
        "bad max-size": LogConfig("json-file", {"max-size": "10 parsecs"}),
        "bad syslog-format": LogConfig("syslog", {"syslog-address": addr, "syslog-format": "json"}),
        "syslog-address without a protocol": LogConfig("syslog", {"syslog-address": "127.0.0.1:514"}),
    }


def _cli_labels(scope: docker.Scope) -> list[str]:
    labels = {**docker.labels(scope.session, "logging-fault"), docker.OWNER: docker.owner()}
    return [x for k, v in labels.items() for x in ("--label", f"{k}={v}")]


def bad_inputs(scope: docker.Scope, *, cases: list[str] | None = None,
               runner: Runner | None = None) -> list[dict[str, Any]]:
    """Each bad configuration (``cases``: some of them, by name): labkit's refusal (before anything is made) and
    dockerd's own verdict, through the CLI a user types."""
    run = runner or default_runner()
    rows: list[dict[str, Any]] = []
    known = {**bad_cases(), "journald (no journal here)": LogConfig("journald", {"mode": "blocking"})}
    for name in cases or []:
        if name not in known:
            raise BadInput("bad-input case", name, ", ".join(known))
    chosen = {k: v for k, v in known.items() if cases is None or k in cases}
    for i, (case, cfg) in enumerate(chosen.items()):
        try:
            drivers.check(cfg)
            labkit_says = "accepted" + ("" if cfg.driver != "journald" else f" ({drivers.journald_available()[1]})")
        except BadInput as exc:
            labkit_says = exc.message
        name = f"lk-{scope.session}-bad-{i}"
        argv = ["docker", "run", "--rm", "--name", name, "--network", "none", *_cli_labels(scope), *cfg.cli(),
                emitter.image(), "--token", "BAD", "--count", "1"]
        res = run.run(argv, timeout=60, check=False, quiet=True)
        run.run(["docker", "rm", "-f", name], timeout=30, check=False, quiet=True)  # created, then refused
        err = (res.stderr.strip().splitlines() or [""])[0].removeprefix("docker: ")
        rows.append({"case": case, "flags": " ".join(cfg.cli()), "labkit": labkit_says,
                     "docker run exit": res.returncode, "dockerd says": err})
    return rows


def down_at_start(scope: docker.Scope, collector: Collector) -> list[dict[str, Any]]:
    """The collector is stopped; a container using the syslog driver starts, per transport and mode."""
    rows = []
    collector.stop()
    try:
        for transport in ("tcp", "udp"):
            for mode in drivers.MODES:
                cfg = drivers.syslog(collector.address(transport), mode=mode, label_keys=[emitter.RUN_LABEL])
                token = emitter.new_token("S")
                t0 = time.monotonic()
                try:
                    run = emitter.emit(scope, cfg, count=3, token=token, summary=False)
                except docker.DockerError as exc:
                    rows.append({"transport": transport, "mode": mode, "started": False,
                                 "seconds": round(time.monotonic() - t0, 2), "dockerd says": exc.explanation})
                    box = docker.container(f"lk-{scope.session}-{token.lower()}")
                    if box is not None:
                        docker.remove_container(box)
                    continue
                code = run.wait(timeout=30)
                run.remove()
                rows.append({"transport": transport, "mode": mode, "started": code == 0,
                             "seconds": round(time.monotonic() - t0, 2),
                             "dockerd says": "nothing: the app ran, its lines went nowhere"})
    finally:
        collector.start()
    return rows


def _gaps(seen: list[int], count: int) -> list[tuple[int, int]]:
    """Missing seq ranges [a, b] in 0..count-1."""
    gaps, prev = [], -1
    for s in [*seen, count]:
        if s > prev + 1:
            gaps.append((prev + 1, s - 1))
        prev = s
    return gaps


def mid_stream(scope: docker.Scope, collector: Collector, *, action: str, mode: str, rate: float = 2000,
               seconds: float = 6, size: int = 100, at: float = 2.0, back_after: float = 2.0,
               max_buffer_size: str = "64k") -> dict[str, Any]:
    """Emit for ``seconds`` at ``rate``; ``at`` s in, kill (or pause) the collector; ``back_after`` s later bring
    it back. Reports what the collector stored, the app's slowest write and the dual-logging cache."""
    if action not in ("kill", "pause", "none"):
        raise BadInput("fault action", action, "kill, pause, none (a control run)")
    cfg = drivers.syslog(collector.address("tcp"), mode=mode, label_keys=[emitter.RUN_LABEL],
                         max_buffer_size=max_buffer_size if mode == "non-blocking" else None)
    count = int(rate * seconds)
    collector.require("before the fault run")
    events: list[tuple[str, float]] = []
    errors: list[str] = []

    def inject() -> None:
        try:
            time.sleep(at)
            events.append((action, time.time()))
            collector.kill() if action == "kill" else collector.pause()
            time.sleep(back_after)
            events.append(("back", time.time()))
            collector.start() if action == "kill" else collector.unpause()
        except LabkitError as exc:
            errors.append(exc.message)

    run = emitter.emit(scope, cfg, count=count, rate=rate, size=size, token=emitter.new_token("M"))
    try:
        th = threading.Thread(target=inject, daemon=True)
        if action != "none":
            th.start()
        code = run.wait(timeout=120 + seconds)
        if action != "none":
            th.join(timeout=120)
        if errors:
            raise FaultNotInjected(f"{action} of the collector failed, so this run proves nothing: {errors[0]}")
        collector.wait_ready(timeout=30)
        collector.settle(quiet_for=1.0)
        seen = sorted(set(readback.seqs_in(readback.file_chunks(collector.json_path), run.token)))
        try:
            cached: int | str = len(set(readback.docker_logs_seqs(run.box, run.token)))
        except LabkitError as exc:
            cached = f"docker logs failed: {exc.message}"
        s = run.summary()
        t0 = s.get("start_real_ns", 0) / 1e9
        gaps = _gaps(seen, count)
        collector.truncate()
        return {"action": action, "mode": mode, "ring": max_buffer_size if mode == "non-blocking" else "",
                "rate": rate, "sent": count, "exit_code": code, "stored": len(seen), "lost": count - len(seen),
                "in docker logs cache": cached, "app slowest write ms": round(s.get("write_ns_max", 0) / 1e6, 1),
                "emit s": round(s.get("emit_seconds", 0), 2), "planned s": seconds,
                "fault at s": round(events[0][1] - t0, 2) if events and t0 else None,
                "back at s": round(events[1][1] - t0, 2) if len(events) > 1 and t0 else None,
                "gaps (s of emission)": [(round(a / rate, 2), round(b / rate, 2)) for a, b in gaps[:5]]}
    finally:
        run.remove()
        if collector.alive():
            collector.start()


def logs_while_down(scope: docker.Scope, collector: Collector, *, runner: Runner | None = None) -> dict[str, Any]:
    """``docker logs`` of a *stopped* syslog container, with the collector down and then up again: dockerd
    re-dials the collector to read its own cache (daemon/logs.go, v20.10.24 L163-L174)."""
    run_ = runner or default_runner()
    run = emitter.emit(scope, drivers.syslog(collector.address("tcp")), count=3, summary=False)
    try:
        run.wait(timeout=30)

        def logs() -> dict[str, Any]:
            res = run_.run(["docker", "logs", run.name], timeout=30, check=False)
            return {"exit": res.returncode, "lines": len(res.stdout.splitlines()),
                    "stderr": res.stderr.strip()[:200]}

        collector.stop()
        down = logs()
        collector.start()
        return {"collector down": down, "collector up": logs()}
    finally:
        run.remove()
        if collector.alive():
            collector.start()
