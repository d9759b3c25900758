"""A fresh kind cluster for one comparison: made, measured, and deleted however the block ends.

``compare_cnis`` needs one cluster per CNI (no CNI inherits another's iptables rules, conntrack state
or leftover daemons); ``compare_storage`` one cluster with every option; monitoring and mesh
comparisons will need the same. All of them use :func:`fresh_cluster`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from labkit.errors import LabkitError
from labkit.log import log
from labkit.signals import terminating
from labkit.targets.kube import KubeTarget


@dataclass(frozen=True)
class ClusterOps:
    """How clusters are made, removed and given images (labkit's own by default; tests pass fakes)."""

    up: Callable[..., KubeTarget]
    down: Callable[..., None]
    load_images: Callable[..., None]

    @classmethod
    def default(cls, up: Any = None, down: Any = None, load_images: Any = None) -> ClusterOps:
        from labkit.components.up import up as labkit_up
        from labkit.targets.kind import lifecycle

        return cls(up or labkit_up, down or lifecycle.down, load_images or lifecycle.load_images)


def down_quietly(down: Callable[..., None], name: str, **kwargs: Any) -> None:
    """Delete the cluster; a failure to delete is logged, never hides the error that brought us here."""
    try:
        down(name, **kwargs)
    except LabkitError as exc:
        log(f"! could not delete kind cluster {name}: {exc.message} (run `labkit down --name {name}`)")


@contextmanager
def fresh_cluster(name: str, *, ops: ClusterOps | None = None, workers: int = 2, keep: bool = False,
                  images: tuple[str, ...] = (), runner: Any = None, **up_kwargs: Any) -> Iterator[KubeTarget]:
    """``up`` a kind cluster called ``name`` (``up_kwargs``: cni=, storage=, kubernetes=, …), load ``images``,
    yield its target; delete it afterwards unless ``keep`` — also after an error, Ctrl-C or SIGTERM."""
    ops = ops or ClusterOps.default()
    via = {"runner": runner} if runner is not None else {}
    with terminating():
        try:
            target = ops.up(workers=workers, name=name, **up_kwargs, **via)
            if images:
                ops.load_images(target, list(images), **via)
            yield target
        finally:
            if keep:
                log(f"kept cluster {name} (remove it with `labkit down --name {name}`)")
            else:
                down_quietly(ops.down, name, **via)
