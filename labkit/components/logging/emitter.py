"""labkit's own log emitter (a small C program, ``environments/images/logging-emitter/emitter.c``) in a container.

Each line is ``TOKEN seq=N t=<CLOCK_REALTIME> level=INFO|ERROR pad=…``, exactly ``size`` bytes, one
``write(2)`` each, paced against absolute time at ``rate`` lines/s (0: as fast as it can). The emitter
times every write and leaves p50/p99/p99.9/max in a summary file on a mounted directory, so the app's
side of the trade (a blocked ``write``) is measured where it happens, and the summary is never logged.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import docker
from labkit.components.logging.drivers import LogConfig
from labkit.errors import BadInput, LabkitError
from labkit.paths import scratch_dir

IMAGE = "logging-emitter"  # images.<name> in versions.yaml
RUN_LABEL = "io.labkit.run"  # the label the syslog tag carries (and the verify checks)


def new_token(prefix: str = "LK") -> str:
    """A token unique to this run: ``PREFIX-<12 hex>``."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def image() -> str:
    from labkit import images

    return images.ensure(IMAGE)


@dataclass
class OutDir:
    path: Path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass
class Emission:
    """One emitter container: what it was asked to write, and where its summary lands."""

    box: Any
    token: str
    count: int
    rate: float
    size: int
    log: LogConfig
    out: Path | None

    @property
    def name(self) -> str:
        return str(self.box.name)

    def wait(self, *, timeout: float) -> int:
        """Wait for the emitter to exit; its exit code (a timeout is an error naming the container)."""
        try:
            return docker.wait(self.box, timeout=timeout)
        except docker.DockerError as exc:
            raise LabkitError(f"emitter {self.name} did not exit within {timeout:g} s ({exc.message})",
                              fix="the log path is stalled (a blocking driver whose receiver hangs?)") from exc

    def summary(self) -> dict[str, Any]:
        """The emitter's own numbers: written, emit_seconds, rate_achieved, write_ns_p50/p99/p999/max, …"""
        p = self.out / "summary.json" if self.out else None
        if p is None or not p.exists():
            return {}
        return dict(json.loads(p.read_text()))

    def remove(self) -> None:
        docker.remove_container(self.box)
        if self.out is not None:
            shutil.rmtree(self.out, ignore_errors=True)


def argv(token: str, *, count: int, rate: float = 0, size: int = 100, wait_ms: int = 0, error_every: int = 0,
         summary: bool = True) -> list[str]:
    """The emitter's arguments (shown in the chapter as part of ``docker run … IMAGE ARGS``)."""
    if count < 0 or not 1 <= size <= 65536 or rate < 0:
        raise BadInput("emitter", {"count": count, "size": size, "rate": rate},
                       "count >= 0, size 1..65536 bytes, rate >= 0 lines/s (0: as fast as possible)")
    out = ["--token", token, "--count", str(count), "--rate", f"{rate:g}", "--size", str(size)]
    if wait_ms:
        out += ["--wait-ms", str(wait_ms)]
    if error_every:
        out += ["--error-every", str(error_every)]
    if summary:
        out += ["--summary", "/out/summary.json"]
    return out


def emit(scope: docker.Scope, log: LogConfig, *, count: int, rate: float = 0, size: int = 100, wait_ms: int = 0,
         error_every: int = 0, token: str | None = None, name: str | None = None, summary: bool = True,
         labels: Mapping[str, str] | None = None) -> Emission:
    """Start an emitter whose stdout goes to ``log``; returns at once (``.wait()`` for the end).

    A driver that cannot start (a TCP syslog server that is down) raises :class:`labkit.docker.DockerError`
    with dockerd's own words; the created container is still removed with the scope."""
    token = token or new_token()
    name = name or f"lk-{scope.session}-{token.lower()}"
    out = None
    volumes = None
    if summary:
        out = scratch_dir() / f"{name}-out"
        out.mkdir(parents=True, exist_ok=True)
        out.chmod(0o777)
        scope.adopt(OutDir(out))
        volumes = {str(out): {"bind": "/out", "mode": "rw"}}
    box = scope.container(image(), name=name, role="logging-emitter",
                          command=argv(token, count=count, rate=rate, size=size, wait_ms=wait_ms,
                                       error_every=error_every, summary=summary),
                          labels={RUN_LABEL: token, **(labels or {})}, log_config=log.sdk(), volumes=volumes,
                          network_mode="none")
    return Emission(box, token, count, rate, size, log, out)


def docker_run_argv(log: LogConfig, args: list[str], *, name: str = "app") -> list[str]:
    """The ``docker run`` a learner would type for the same emitter (explain mode)."""
    from labkit import images

    return ["docker", "run", "--rm", "--name", name, "--label", f"{RUN_LABEL}=demo", "--network", "none",
            *log.cli(), images.ref(IMAGE), *args]
