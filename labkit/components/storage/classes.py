"""Before a storage run on Kubernetes: which StorageClasses the cluster has, and whether the fio files fit."""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import docker
from labkit.bench.cells import Cell
from labkit.components.storage import engine_cells
from labkit.errors import BadInput, LabkitError
from labkit.components.storage.kube_objects import HOST_CELLS
from labkit.log import log

SPACE_HEADROOM = 256 * 1024**2



def docker_root() -> Path:
    return Path(str(docker.info().get("DockerRootDir", "/var/lib/docker")))


def docker_volumes_dir() -> Path:
    """Where Docker keeps volumes: the kind nodes' ``/var`` (and so every local-path PV) lives there."""
    return docker_root() / "volumes"


def free_bytes(path: Path) -> int | None:
    """Free bytes of the filesystem behind ``path`` (or its parent, when ``path`` is root's only), if visible."""
    for where in (path, path.parent):
        try:
            return shutil.disk_usage(where).free
        except OSError:
            continue
    return None


def check_space(chosen: Sequence[Cell], size: str, *, where: Path | None = None) -> None:
    """Refuse, before anything exists, fio files that would not fit beside Docker's data.

    Every cell keeps its data file for the whole run (cells are interleaved), a replicated
    option once per replica, all on the disk behind Docker's data root on kind."""
    if not chosen:
        return
    if where is None:
        try:
            where = docker_volumes_dir()
        except LabkitError:
            return  # no Docker here: the cells say so themselves
    free = free_bytes(where)
    if free is None:
        log(f"! free space behind {where} is not visible from here (Docker Desktop's VM?): not checked")
        return
    copies = sum(int(c.config.get("replicas", 1)) for c in chosen)
    each = engine_cells.size_bytes(size)
    need = int(each * copies * 1.2) + SPACE_HEADROOM
    if need > free:
        fits = max(0, int((free - SPACE_HEADROOM) / 1.2 / copies))
        detail = ", ".join(c.name + (f" ×{c.config['replicas']}" if c.config.get("replicas", 1) > 1 else "")
                           for c in chosen)
        raise BadInput("fio size", size,
                       f"at most {_mib(fits)} for {len(chosen)} cells ({copies} copies: {detail}): they need "
                       f"{_mib(need)} (size × copies + 20 % + {_mib(SPACE_HEADROOM)} headroom) but {_mib(free)} "
                       f"are free on the filesystem behind {where}",
                       fix=f"use a smaller --size (e.g. --size {max(1, fits // 1024**2 // 2)}M), fewer cells, "
                           "or free space (`docker system df`)")


def _mib(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"



@dataclass(frozen=True)
class StorageClassInfo:
    name: str
    provisioner: str
    binding_mode: str
    reclaim_policy: str
    default: bool


def parse_storage_classes(doc: dict[str, Any]) -> dict[str, StorageClassInfo]:
    """``kubectl get storageclass -o json`` by name."""
    out = {}
    for item in doc.get("items", []):
        meta = item.get("metadata", {})
        notes = meta.get("annotations") or {}
        out[meta["name"]] = StorageClassInfo(
            meta["name"], str(item.get("provisioner", "")), str(item.get("volumeBindingMode", "Immediate")),
            str(item.get("reclaimPolicy", "Delete")),
            notes.get("storageclass.kubernetes.io/is-default-class") == "true")
    return out


def storage_classes(target: Any, runner: Any) -> dict[str, StorageClassInfo]:
    res = runner.run(list(target.kubectl("get", "storageclass", "--output", "json")), timeout=60, quiet=True)
    try:
        return parse_storage_classes(json.loads(res.stdout))
    except (ValueError, KeyError) as exc:
        raise LabkitError(f"kubectl get storageclass gave no list: {res.stdout[:200]!r}",
                          fix=f"check that `{shlex.join(target.kubectl('get', 'storageclass'))}` works") from exc


def check_classes(target: str, kube: Any, chosen: Sequence[Cell], *, runner: Any) -> dict[str, StorageClassInfo]:
    """Read the cluster's StorageClasses before anything is created. On ``cluster`` a name it lacks is
    :class:`BadInput` naming those it has; on kind such a cell is later unavailable with the fix."""
    if kube is None or all(c.name in HOST_CELLS for c in chosen):
        return {}
    classes = storage_classes(kube, runner)
    if target == "cluster":
        for c in chosen:
            if c.config["storage_class"] not in classes:
                raise BadInput("StorageClass", c.config["storage_class"], ", ".join(classes) or "(none in the cluster)",
                               fix=f"`{shlex.join(kube.kubectl('get', 'storageclass'))}` lists them")
    return classes
