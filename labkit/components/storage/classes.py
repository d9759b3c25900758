"""Before a storage run on Kubernetes: which StorageClasses the cluster has, and whether the fio files fit."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labkit import docker
from labkit.bench import kube as bench_kube
from labkit.bench.cells import Cell
from labkit.components.storage import engine_cells
from labkit.errors import BadInput, LabkitError
from labkit.components.storage.kube_objects import HOST_CELLS
from labkit.k8s import StorageClassInfo, storage_class_infos
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



def parse_storage_classes(doc: dict[str, Any]) -> dict[str, StorageClassInfo]:
    """A StorageClassList (``GET /apis/storage.k8s.io/v1/storageclasses``) by name."""
    return storage_class_infos(doc)


def storage_classes(api: Any) -> dict[str, StorageClassInfo]:
    """The cluster's StorageClasses by name, read through the API."""
    return dict(api.storage_class_infos())


def check_classes(target: str, kube: Any, chosen: Sequence[Cell], *, runner: Any = None,
                  api: Any = None) -> dict[str, StorageClassInfo]:
    """Read the cluster's StorageClasses before anything is created. On ``cluster`` a name it lacks is
    :class:`BadInput` naming those it has; on kind such a cell is later unavailable with the fix.

    ``api`` defaults to :func:`labkit.bench.kube.connect` of ``kube`` (``runner`` is not used: reads go
    through the API)."""
    if kube is None or all(c.name in HOST_CELLS for c in chosen):
        return {}
    if api is not None:
        classes = storage_classes(api)
    else:
        with bench_kube.connect(kube) as client:
            classes = storage_classes(client)
    if target == "cluster":
        for c in chosen:
            if c.config["storage_class"] not in classes:
                raise BadInput("StorageClass", c.config["storage_class"], ", ".join(classes) or "(none in the cluster)",
                               fix=f"`{shlex.join(kube.kubectl('get', 'storageclass'))}` lists them")
    return classes
