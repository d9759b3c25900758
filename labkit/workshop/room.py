"""What each laptop in the room needs to pull through the trainer's mirror."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from labkit.targets.kind.plans import MIRRORED_HOSTS, check_mirror, hosts_toml


def daemon_json(mirror: str) -> dict[str, list[str]]:
    """dockerd settings: kind pulls the node image with the host's ``docker pull``, so Docker Hub images come
    through ``registry-mirrors`` (dockerd mirrors only Docker Hub); the mirror is plain HTTP."""
    return {"registry-mirrors": [f"http://{mirror}"], "insecure-registries": [mirror]}


def certs_dir(root: Path, hosts: Iterable[str], mirror: str) -> list[Path]:
    """One ``<root>/<registry>/hosts.toml`` per registry (mount ``root`` at /etc/containerd/certs.d)."""
    out = []
    for host in sorted(set(hosts)):
        path = root / host / "hosts.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(hosts_toml(host, mirror))
        out.append(path)
    return out


def instructions(mirror: str, hosts: Iterable[str], *, files_port: int | None) -> str:
    """The text ``serve`` prints for the room."""
    check_mirror(mirror)
    host = mirror.rsplit(":", 1)[0]
    lines = [f"\nThe mirror answers at http://{mirror}/v2/ . On each laptop:", "",
             "1. Docker (the kind node image is pulled by dockerd): add to /etc/docker/daemon.json (Docker "
             "Desktop: Settings > Docker Engine), then `sudo kill -HUP $(pidof dockerd)` or restart Docker:",
             "   " + json.dumps(daemon_json(mirror)), "",
             f"2. kind nodes: `labkit up --mirror {mirror} …` (or `export LABKIT_MIRROR={mirror}` before "
             "`make lab`): every node gets these files in /etc/containerd/certs.d/:"]
    for name in sorted(set(hosts)):
        lines += [f"   # {name}/hosts.toml", *("   " + x for x in hosts_toml(name, mirror).splitlines())]
    others = sorted(set(hosts) - set(MIRRORED_HOSTS))
    if others:
        lines += [f"   ! `labkit up --mirror` writes files for {', '.join(MIRRORED_HOSTS)} only: images from "
                  f"{', '.join(others)} come from upstream unless you copy those files onto the nodes yourself"]
    if files_port:
        lines += ["", f"3. kind, kubectl, helm from the kit: `export LABKIT_DOWNLOAD_MIRROR=http://{host}:{files_port}`"
                  " then `labkit tools install kind` (kubectl, helm); charts: `helm repo add NAME "
                  f"http://{host}:{files_port}/charts/NAME`"]
    lines += ["", "Stop it with `labkit workshop serve --stop`."]
    return "\n".join(lines)
