"""The *engine* target: facts about the Docker host, recorded with every run (DESIGN §5 'host')."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return float("nan")


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def fs_type(path: str | os.PathLike[str]) -> str:
    """Filesystem type of ``path`` (``stat -f -c %T``), or 'unknown'."""
    from labkit._run import default_runner
    from labkit.errors import LabkitError

    try:
        res = default_runner().run(["stat", "-f", "-c", "%T", str(path)], timeout=10, check=False, quiet=True)
    except LabkitError:
        return "unknown"
    return res.stdout.strip() or "unknown"


def host_id() -> str:
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return hashlib.sha256(Path(p).read_text().strip().encode()).hexdigest()[:12]
        except OSError:
            continue
    return hashlib.sha256(platform.node().encode()).hexdigest()[:12]


def facts(*, docker_version: str | None = None, cgroup_version: str | None = None,
          scratch: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The host columns of the schema."""
    cores = os.cpu_count() or 0
    mem = _mem_gib()
    model = _cpu_model()
    return {
        "host_id": host_id(),
        "host_class": host_class(cores, mem, model),
        "cpu_model": model,
        "cpu_cores": cores,
        "mem_gib": mem,
        "kernel": platform.release(),
        "os": _os_name(),
        "cgroup_version": cgroup_version,
        "docker_version": docker_version,
        "fs_type": fs_type(scratch) if scratch else None,
        "load1_before": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def host_class(cores: int, mem_gib: float, cpu_model: str) -> str:
    """Machines of one class give comparable numbers: cores, memory (rounded), CPU model."""
    mem = int(round(mem_gib)) if mem_gib == mem_gib else 0
    return f"{cores}c-{mem}g-{hashlib.sha256(cpu_model.encode()).hexdigest()[:6]}"


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
