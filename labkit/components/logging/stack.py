"""``labkit logging up|down|status``: the engine tier's collector and mtail, left running for the terminal.

Unlike a chapter's cells (removed when the cell ends), these two containers stay until ``labkit logging
down`` (or ``labkit clean``). They carry the labkit labels and the session ``logging-stack`` but no
owner process, so the reaper of dead runs leaves them alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from labkit import docker
from labkit.components.logging import collector as col_mod, mtail as mtail_mod
from labkit.errors import LabkitError
from labkit.log import log
from labkit.paths import labkit_home

SESSION = "logging-stack"
COLLECTOR, MTAIL = "lk-logging-collector", "lk-logging-mtail"
PORT, METRICS_PORT = 5140, 3903


def log_dir() -> Path:
    return labkit_home() / "logging" / "stack"


def _create(image: str, name: str, role: str, **kwargs: Any) -> Any:
    box = docker.create(image, role=role, name=name, labels={docker.SESSION: SESSION}, **kwargs)
    try:
        docker.start(box)
    except LabkitError:
        docker.remove_container(box)
        raise
    return box


def ports(options: dict[str, str]) -> dict[str, int]:
    """``--option port=N`` (the collector) and ``--option port.mtail=N``, checked; anything else is refused."""
    from labkit.errors import BadInput

    out: dict[str, int] = {}
    for key, value in options.items():
        if key not in ("port", "port.collector", "port.mtail"):
            raise BadInput("logging stack option", key, "port=N (the collector), port.mtail=N",
                           fix="e.g. labkit logging up --option port=5141")
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            raise BadInput(key, value, "a TCP port, 1-65535")
        out["metrics_port" if key == "port.mtail" else "port"] = int(value)
    return out


def status() -> dict[str, Any]:
    """Which of the two containers run, their addresses, and how many records the collector holds."""
    out: dict[str, Any] = {}
    for name in (COLLECTOR, MTAIL):
        box = docker.container(name)
        state = docker.attrs(box).get("State", {}) if box is not None else {}
        out[name] = state.get("Status", "absent")
    records = log_dir() / col_mod.JSON_FILE
    out["records"] = sum(1 for _ in records.open()) if records.exists() else 0
    out["log_dir"] = str(log_dir())
    return out


def up(*, port: int = PORT, metrics_port: int = METRICS_PORT) -> str:
    """Start the collector (rsyslog on 127.0.0.1:``port``) and mtail (127.0.0.1:``metrics_port``); say how to use
    them. A taken port is refused with the fix; running containers are left as they are."""
    from labkit import images

    if docker.container(COLLECTOR) is None:
        col_mod.check_port(port)
        d = log_dir()
        d.mkdir(parents=True, exist_ok=True)
        box = _create(images.ensure(col_mod.IMAGE), COLLECTOR, "logging-stack-collector",
                      ports={f"{col_mod.PORT}/tcp": ("127.0.0.1", port), f"{col_mod.PORT}/udp": ("127.0.0.1", port)},
                      volumes={str(d): {"bind": "/logs", "mode": "rw"}},
                      log_config={"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}})
        col_mod.Collector(box, port, d, col_mod.IMAGE).wait_ready(timeout=30)
    else:
        box = docker.container(COLLECTOR)
        port = int(docker.attrs(box)["HostConfig"]["PortBindings"][f"{col_mod.PORT}/tcp"][0]["HostPort"])
        log(f"✓ {COLLECTOR} exists already (port {port})")
    if docker.container(MTAIL) is None:
        col_mod.check_port(metrics_port)
        _create(images.ensure(mtail_mod.IMAGE), MTAIL, "logging-stack-mtail",
                ports={f"{mtail_mod.PORT}/tcp": ("127.0.0.1", metrics_port)},
                volumes={str(log_dir()): {"bind": "/logs", "mode": "ro"},
                         str(mtail_mod.files_dir() / mtail_mod.PROGRAM): {
                             "bind": f"/etc/mtail/{mtail_mod.PROGRAM}", "mode": "ro"}})
    else:
        mbox = docker.container(MTAIL)
        metrics_port = int(docker.attrs(mbox)["HostConfig"]["PortBindings"][f"{mtail_mod.PORT}/tcp"][0]["HostPort"])
    from labkit.components.logging import drivers

    flags = " ".join(drivers.syslog(f"tcp://127.0.0.1:{port}", label_keys=["app"]).cli())
    return (f"collector: rsyslog on 127.0.0.1:{port} (tcp and udp); records in {log_dir()}/docker.json\n"
            f"metrics:   http://127.0.0.1:{metrics_port}/metrics (mtail)\n\n"
            f"send a container's logs there:\n  docker run --rm {flags} debian:bookworm-slim echo hello\n"
            f"look at them:\n  docker exec -it {COLLECTOR} lnav /logs/docker.json\n"
            f"Prometheus (chapter 05) scrape job:\n{mtail_mod.scrape_config(f'127.0.0.1:{metrics_port}')}\n"
            "stop: labkit logging down")


def down() -> str:
    """Remove both containers and the records."""
    gone = []
    for name in (MTAIL, COLLECTOR):
        box = docker.container(name)
        if box is not None:
            docker.remove_container(box)
            gone.append(name)
    shutil.rmtree(log_dir(), ignore_errors=True)
    return f"removed {', '.join(gone) or 'nothing (not running)'} and {log_dir()}"
