"""The resource tax of a proxy: CPU time and memory of its container, read from the container's cgroup.

CPU is the container's cumulative CPU time (cgroup v1 ``cpuacct.usage``, v2 ``cpu.stat usage_usec``); two
readings around a measurement give cores used = ΔCPU / Δwall. Memory is the working set the kubelet reports too:
usage minus inactive file cache. The files are read on the Docker host (``/sys/fs/cgroup``, cgroupfs or systemd
layout); where labkit does not run on the Docker host they are read inside the container instead (``cat``
there costs the proxy a millisecond of CPU, which the note on the result says).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import docker

ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Sample:
    cpu_ns: int
    t: float
    mem_bytes: int
    working_set: int
    where: str  # "host" | "container"


def _v1_dirs(cid: str) -> list[tuple[Path, Path]]:
    subs = (f"docker/{cid}", f"system.slice/docker-{cid}.scope")
    return [(ROOT / "cpuacct" / sub, ROOT / "memory" / sub) for sub in subs]


def _v2_dirs(cid: str) -> list[Path]:
    return [ROOT / f"system.slice/docker-{cid}.scope", ROOT / f"docker/{cid}"]


def _stat(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().isdigit():
            out[k] = int(v)
    return out


def parse_v1(cpuacct: str, usage: str, stat: str) -> tuple[int, int, int]:
    """(cpu ns, memory bytes, working set bytes) from cgroup v1 file contents."""
    mem = int(usage.strip())
    return int(cpuacct.strip()), mem, mem - _stat(stat).get("total_inactive_file", 0)


def parse_v2(cpu_stat: str, current: str, stat: str) -> tuple[int, int, int]:
    """The same from cgroup v2 (``cpu.stat`` usage_usec, ``memory.current``, ``memory.stat`` inactive_file)."""
    mem = int(current.strip())
    return _stat(cpu_stat)["usage_usec"] * 1000, mem, mem - _stat(stat).get("inactive_file", 0)


def _on_host(cid: str) -> tuple[int, int, int] | None:
    for cpu, mem in _v1_dirs(cid):
        if (cpu / "cpuacct.usage").is_file():
            return parse_v1((cpu / "cpuacct.usage").read_text(), (mem / "memory.usage_in_bytes").read_text(),
                            (mem / "memory.stat").read_text())
    for d in _v2_dirs(cid):
        if (d / "cpu.stat").is_file():
            return parse_v2((d / "cpu.stat").read_text(), (d / "memory.current").read_text(),
                            (d / "memory.stat").read_text())
    return None


_IN_CONTAINER = ("sh", "-c", "if [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then "
                 "cat /sys/fs/cgroup/cpuacct/cpuacct.usage; echo ==; cat /sys/fs/cgroup/memory/memory.usage_in_bytes; "
                 "echo ==; cat /sys/fs/cgroup/memory/memory.stat; else echo v2; cat /sys/fs/cgroup/cpu.stat; echo ==; "
                 "cat /sys/fs/cgroup/memory.current; echo ==; cat /sys/fs/cgroup/memory.stat; fi")


def _in_container(box: Any) -> tuple[int, int, int]:
    text = docker.exec_in(box, list(_IN_CONTAINER), timeout=10, quiet=True).stdout
    v2 = text.startswith("v2\n")
    parts = (text[3:] if v2 else text).split("==\n")
    return parse_v2(*parts) if v2 else parse_v1(*parts)


def sample(box: Any) -> Sample:
    """One reading of ``box``'s cgroup (the container must run)."""
    cid = box.id
    found = _on_host(cid)
    where = "host"
    if found is None:
        found, where = _in_container(box), "container"
    return Sample(found[0], time.monotonic(), found[1], found[2], where)


def cores(before: Sample, after: Sample) -> float:
    """CPU cores used between two samples (1.0 = one core busy the whole time)."""
    dt = after.t - before.t
    return (after.cpu_ns - before.cpu_ns) / 1e9 / dt if dt > 0 else float("nan")
