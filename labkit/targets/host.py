"""Host-side state the engine benchmarks create, and how to find and remove it.

Everything is named with the ``lk`` prefix: veth links (``lkv…``, the N1 pair and
the macvlan/ipvlan parents) and loop devices backed by ``lk-*.img`` files in the
scratch directory. Links are made through a short-lived labelled helper container
on the host network (``--cap-add NET_ADMIN``), so a user in the ``docker`` group
needs no root; loop devices need root on the host (``losetup``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from labkit import docker
from labkit._run import default_runner
from labkit.errors import CommandError, Unavailable
from labkit.paths import scratch_dir
from labkit.versions import tools_image

PREFIX = "lk"


@dataclass(frozen=True)
class HostItem:
    kind: str  # "host link" | "loop device" | "scratch file"
    name: str


def host_exec(argv: list[str], *, timeout: float = 60, quiet: bool = False) -> str:
    """Run ``argv`` in a throwaway container on the host network and PID namespace.

    Used for ``ip link`` work on the host; returns stdout or raises :class:`CommandError`.
    """
    box = docker.create(tools_image(), ["sleep", "infinity"], role="host-helper",
                        name=f"lk-host-helper-{secrets.token_hex(4)}", network_mode="host", pid_mode="host",
                        cap_add=["NET_ADMIN", "SYS_ADMIN"])
    try:
        docker.start(box)
        res = docker.exec_in(box, argv, timeout=timeout, quiet=quiet)
    finally:
        docker.remove_container(box)
    if not res.ok:
        raise CommandError(["docker", "exec", "<host-helper>", *argv], res.returncode, res.stdout, res.stderr)
    return res.stdout


def host_links() -> list[str]:
    """Names of ``lk*`` links in the host network namespace."""
    out = host_exec(["ip", "-j", "link", "show"], timeout=20, quiet=True)
    return sorted(link["ifname"] for link in json.loads(out or "[]") if link["ifname"].startswith(PREFIX))


def loop_devices() -> list[tuple[str, str]]:
    """(device, backing file) for loop devices backed by labkit scratch images."""
    if shutil.which("losetup") is None or os.geteuid() != 0:
        return []
    res = default_runner().run(["losetup", "-J", "-l"], timeout=20, check=False, quiet=True)
    if not res.ok or not res.stdout.strip():
        return []
    out = []
    for dev in json.loads(res.stdout).get("loopdevices", []):
        back = str(dev.get("back-file") or "")
        if Path(back.split(" (")[0]).name.startswith(f"{PREFIX}-"):
            out.append((dev["name"], back))
    return out


def find() -> list[HostItem]:
    """Every piece of host state labkit made; empty where it cannot be listed."""
    items: list[HostItem] = []
    try:
        if docker.image_exists(tools_image()):
            items += [HostItem("host link", name) for name in host_links()]
    except (CommandError, Unavailable):
        pass
    items += [HostItem("loop device", dev) for dev, _ in loop_devices()]
    root = scratch_dir()
    if root.is_dir():
        items += [HostItem("scratch file", str(p)) for p in sorted(root.glob(f"{PREFIX}-*"))]
    return items


def remove(item: HostItem) -> None:
    if item.kind == "host link":
        host_exec(["ip", "link", "del", item.name], timeout=20)
    elif item.kind == "loop device":
        default_runner().run(["losetup", "-d", item.name], timeout=20, check=False)
    elif item.kind == "scratch file":
        path = Path(item.name)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
