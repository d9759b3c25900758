"""Component: storage (chapter 04) — storage options on kind, the persistence verify, the storage benchmarks.

========================= =====================================================================
options.py                local-path, OpenEBS LocalPV hostpath, Longhorn; Rook-Ceph & co explained
verify.py                 the persistence proof: a file survives its pod, checked by its sha256
engine_cells.py           S0 and the places a container can write on the local engine
kube_cells.py             S0 beside a kind cluster, and fio Jobs on PVCs of any StorageClass
compare.py                options against each other on one kind cluster; the ladder of ratios
========================= =====================================================================
"""

from __future__ import annotations

from typing import Any

from labkit.components.base import Component, lazy_exports


def _options() -> Any:
    from labkit.components.storage.options import OPTIONS

    return OPTIONS


def _suites() -> list[Any]:
    from labkit.bench import profiles, storage
    from labkit.bench.registry import Suite, TargetCells
    from labkit.components.storage import classes as sc, engine_cells, kube_cells
    from labkit.errors import BadInput

    def size_of(request: Any) -> str:
        size = request.size or profiles.get(request.profile).fio_size
        try:
            engine_cells.size_bytes(size)
        except ValueError:
            raise BadInput("fio size", size, "a number with K, M or G, e.g. 64M or 1G") from None
        return str(size)

    def tests(request: Any, prof: Any) -> list[Any]:
        chosen = list(request.tests) if request.tests else list(prof.fio_jobs)
        return storage.fio_jobs(chosen, size=size_of(request), runtime_s=request.duration_s or prof.fio_runtime_s,
                                ramp_s=prof.fio_ramp_s, numjobs=prof.fio_numjobs)

    def space(request: Any, chosen: list[Any]) -> None:  # before anything exists: do the fio files fit?
        sc.check_space(chosen, size_of(request))

    def classes(plan: Any, runner: Any) -> dict[str, Any]:
        return {"classes": sc.check_classes(plan.target, plan.kube, plan.cells, runner=runner)}

    def cells_on(target: str) -> Any:
        return lambda r: kube_cells.cells(list(r.storage_classes or []), target=target)

    return [Suite("storage", "storage", "storage paths: fio IOPS, bandwidth and latency", tests, {
        "engine": TargetCells(lambda r: dict(engine_cells.CELLS), engine_cells.open_cell),
        "kind": TargetCells(cells_on("kind"), kube_cells.open_cell, local=kube_cells.HOST_CELLS, check=space,
                            prepare=classes),
        "cluster": TargetCells(cells_on("cluster"), kube_cells.open_cell, local=kube_cells.HOST_CELLS,
                               prepare=classes)})]


COMPONENT = Component("storage", "Storage", "04-storage", options=_options, up_flag="storage", up_order=20,
                      suites=_suites,
                      summary="local-path, OpenEBS LocalPV, Longhorn; Rook-Ceph on real clusters",
                      live_on="kind, cluster", binder="plans only")


_MODULES = ("options", "verify", "engine_cells", "kube_cells", "kube_objects", "classes", "compare", "stack")

#: Public names of this component and the module that defines each (imported on first use).
_EXPORTS = {
    "OPTIONS": "options",
    "INSTALLABLE": "options",
    "option": "options",
    "options_table": "options",
    "StorageOption": "options",
    "LocalPath": "options",
    "OpenEBS": "options",
    "Longhorn": "options",
    "iscsi_support": "options",
    "STORAGE_CELL": "compare",
    "StorageRun": "compare",
    "compare_storage": "compare",
    "run_storage_on_cluster": "compare",
    "storage_ladder": "compare",
    "StackFacts": "stack",
    "LiveObjects": "stack",
    "stack_diagram": "stack",
    "live_objects": "stack",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, _MODULES)
