"""The central syslog collector: rsyslog 8.2302 (Debian bookworm) in its own container.

It listens on 5140/tcp and 5140/udp, published on the host's 127.0.0.1 only. dockerd's syslog driver
dials ``syslog-address`` from the *host* network namespace (the daemon, not the container), so
``tcp://127.0.0.1:<port>`` is the address containers are given. Records land in a host directory:
``docker.json`` (one JSON object per record) and ``docker.5424`` (RFC 5424 with the container's name,
image, id and labels as a structured-data element).

>>> with docker.Scope() as scope:                                    # doctest: +SKIP
...     col = Collector.up(scope)
...     col.records()                                                # a DataFrame
"""

from __future__ import annotations

import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit import docker
from labkit._run import Runner, default_runner
from labkit.errors import LabkitError, PortInUse, Unavailable
from labkit.log import log
from labkit.paths import scratch_dir
from labkit.targets.engine import port_free

if TYPE_CHECKING:
    import pandas as pd

IMAGE = "logging-collector"  # images.<name> in versions.yaml
PORT = 5140  # inside the container
JSON_FILE, RFC5424_FILE = "docker.json", "docker.5424"
PROBE = "labkit-probe"


class CollectorDown(LabkitError):
    """The collector is not running (stopped, killed, paused or removed); the message says which."""


@dataclass
class LogDir:
    """A host directory the collector writes into; removed with the scope (after the container)."""

    path: Path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on ``host`` right now."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind((host, port))
            except OSError:
                continue
        return port
    raise Unavailable(f"no free TCP+UDP port on {host}", fix="free some ports, or pass port=")


def check_port(port: int) -> int:
    """Refuse a taken port (TCP or UDP on 127.0.0.1) with the fix."""
    taken = not port_free(port)
    if not taken:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                taken = True
    if taken:
        raise PortInUse(port, fix=f"choose another port (port=...), or find the owner: ss -tulpn | grep :{port}")
    return port


def collector_argv(port: int | str = "PORT", log_dir: str = "$PWD/logs") -> list[str]:
    """The ``docker run`` that :meth:`Collector.up` does, as a person would type it (explain mode)."""
    from labkit import images

    return ["docker", "run", "-d", "--name", "collector", "--label", "io.labkit.managed=true",
            "-p", f"127.0.0.1:{port}:{PORT}/tcp", "-p", f"127.0.0.1:{port}:{PORT}/udp", "-v", f"{log_dir}:/logs",
            images.ref(IMAGE)]


@dataclass
class Collector:
    """A running collector: its container, published port and the host directory of its records."""

    box: Any  # the SDK container, made by a labkit.docker.Scope
    port: int
    log_dir: Path
    image: str
    runner: Runner = field(default_factory=default_runner)

    @classmethod
    def up(cls, scope: docker.Scope, *, port: int | None = None, name: str | None = None,
           ready_timeout: float = 30.0, runner: Runner | None = None) -> Collector:
        """Start the collector and return once a probe record sent over TCP is on disk."""
        from labkit import images

        port = check_port(port) if port is not None else free_port()
        image = images.ensure(IMAGE)
        name = name or f"lk-{scope.session}-collector-{port}"
        log_dir = scratch_dir() / f"{name}-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_dir.chmod(0o755)
        box = scope.container(
            image, name=name, role="logging-collector",
            ports={f"{PORT}/tcp": ("127.0.0.1", port), f"{PORT}/udp": ("127.0.0.1", port)},
            volumes={str(log_dir): {"bind": "/logs", "mode": "rw"}},
            log_config={"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}})
        scope.adopt(LogDir(log_dir))  # removed before the container is (newest first): rsyslog's files go too
        col = cls(box, port, log_dir, image, runner or default_runner())
        col.wait_ready(timeout=ready_timeout)
        log(f"✓ collector {name}: rsyslog on 127.0.0.1:{port} (tcp, udp), records in {log_dir}")
        return col

    # -- where ---------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.box.name)

    def address(self, transport: str = "tcp") -> str:
        if transport not in ("tcp", "udp"):
            from labkit.errors import BadInput

            raise BadInput("transport", transport, "tcp, udp")
        return f"{transport}://127.0.0.1:{self.port}"

    @property
    def json_path(self) -> Path:
        return self.log_dir / JSON_FILE

    @property
    def rfc5424_path(self) -> Path:
        return self.log_dir / RFC5424_FILE

    # -- state ---------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The container's ``State`` from a fresh inspect ({} when it is gone)."""
        try:
            return dict(docker.attrs(self.box).get("State") or {})
        except docker.NoSuchObject:
            return {}

    def alive(self) -> str | None:
        """None while it runs; otherwise why not, as a person would say it."""
        st = self.state()
        if not st:
            return f"collector {self.name} was removed"
        if st.get("Paused"):
            return f"collector {self.name} is paused"
        if not st.get("Running"):
            return (f"collector {self.name} exited (status={st.get('Status')}, exit code {st.get('ExitCode')}, "
                    f"oom-killed {st.get('OOMKilled')}, at {st.get('FinishedAt')})")
        return None

    def require(self, when: str) -> None:
        reason = self.alive()
        if reason:
            raise CollectorDown(f"{reason} ({when})", fix="start it again (collector.start()) or make a new one")

    # -- readiness -----------------------------------------------------------------------------------
    def send_probe(self, text: str, *, timeout: float = 2.0) -> None:
        """One RFC 5424 record over TCP, newline-framed as dockerd sends it."""
        msg = f"<14>1 - {PROBE} {PROBE} - probe - {text}\n".encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(msg)

    def wait_ready(self, *, timeout: float = 30.0) -> float:
        """Ready = a probe sent to the published port is in ``docker.json``. A TCP connect proves nothing:
        docker-proxy accepts on the published port before rsyslogd inside listens (then resets)."""
        nonce, t0 = uuid.uuid4().hex, time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                self.send_probe(nonce)
            except OSError:
                time.sleep(0.2)
                continue
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                if self.json_path.exists() and nonce in self.json_path.read_text(errors="replace"):
                    return time.monotonic() - t0
                time.sleep(0.05)
            if self.alive():
                break
        raise CollectorDown(f"collector {self.name} stored no probe record within {timeout:g} s "
                            f"({self.alive() or 'running'}); its log:\n{docker.logs(self.box, tail=20)}",
                            fix="read the rsyslog messages above; `docker logs " + self.name + "`")

    # -- faults: the exact docker commands a learner would type ----------------------------------------
    def _docker(self, *args: str, timeout: float = 60) -> None:
        res = self.runner.run(["docker", *args, self.name], timeout=timeout, check=False)
        if not res.ok:
            raise LabkitError(f"`docker {' '.join(args)} {self.name}` failed: {(res.stderr or res.stdout).strip()}",
                              fix="under heavy load runc may fail to freeze a cgroup; try again")

    def stop(self, *, timeout: int = 5) -> None:
        """SIGTERM (rsyslog flushes), keep the container: the collector is down."""
        self._docker("stop", "-t", str(timeout), timeout=timeout + 60)

    def kill(self) -> None:
        """SIGKILL: the collector dies mid-stream, as in a crash."""
        self._docker("kill")

    def pause(self) -> None:
        """Freeze every process (cgroup freezer): a hung receiver whose sockets still accept."""
        self._docker("pause")

    def unpause(self) -> None:
        self._docker("unpause")

    def start(self, *, ready_timeout: float = 30.0) -> None:
        """Start it again and wait for a probe record."""
        if self.state().get("Paused"):
            self.unpause()
        elif not self.state().get("Running"):
            self._docker("start")
        self.wait_ready(timeout=ready_timeout)

    # -- records -------------------------------------------------------------------------------------
    def settle(self, *, quiet_for: float = 0.5, timeout: float = 60.0) -> float:
        """Wait until ``docker.json`` stops growing for ``quiet_for`` s; the seconds waited."""
        t0 = still = time.monotonic()
        last = -1
        while time.monotonic() - t0 < timeout:
            size = self.json_path.stat().st_size if self.json_path.exists() else 0
            if size != last:
                last, still = size, time.monotonic()
            elif time.monotonic() - still >= quiet_for:
                break
            time.sleep(0.05)
        return time.monotonic() - t0

    def truncate(self) -> None:
        """Empty both record files (rsyslog's omfile opens them O_APPEND: it writes on at the new end)."""
        for p in (self.json_path, self.rfc5424_path):
            if p.exists():
                with p.open("r+b") as fh:
                    fh.truncate(0)

    def records(self, fmt: str = "json", *, probes: bool = False) -> pd.DataFrame:
        """Every record so far as a DataFrame (``fmt`` json or rfc5424: the same columns and values)."""
        from labkit.components.logging import records as rec

        if fmt not in ("json", "rfc5424"):
            from labkit.errors import BadInput

            raise BadInput("record format", fmt, "json, rfc5424")
        df = rec.read_json(self.json_path) if fmt == "json" else rec.read_rfc5424(self.rfc5424_path)
        return df if probes else df[df["container"] != PROBE].reset_index(drop=True)

    def lnav_argv(self, sql: str | None = None, *, file: str = JSON_FILE) -> list[str]:
        """The terminal way: interactive (``sql=None``: add ``-it``) or one SQL query, headless."""
        if sql is None:
            return ["docker", "exec", "-it", self.name, "lnav", f"/logs/{file}"]
        return ["docker", "exec", "-e", "TERM=dumb", self.name, "lnav", "-n", "-c", f";{sql}", f"/logs/{file}"]

    def lnav(self, sql: str, *, timeout: float = 30) -> str:
        """Run one lnav SQL query over the records inside the collector; its table as text."""
        argv = self.lnav_argv(sql)
        res = docker.exec_in(self.box, ["env", "TERM=dumb", *argv[5:]], timeout=timeout)
        if not res.ok:
            raise LabkitError(f"lnav failed: {(res.stderr or res.stdout).strip()[-400:]}")
        return res.stdout
