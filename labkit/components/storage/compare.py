"""Storage options against each other on kind: one cluster, every option's StorageClass, one interleaved run.

Storage options coexist, so one cluster serves them all (unlike CNIs): :func:`compare_storage` makes
``labkit-bench-storage`` with the options asked for and runs S0 (this host's disk, where the nodes'
``/var`` lives), S1 (local-path) and each option's StorageClass in one interleaved run;
:func:`storage_ladder` gives each cell's ratio to S0 and S1. :func:`run_storage_on_cluster` measures
named StorageClasses of any cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.bench import harness, stats
from labkit.bench.plan import plan
from labkit.bench.request import BenchRequest
from labkit.bench.store import Store
from labkit.components.fresh import ClusterOps, fresh_cluster
from labkit.components.storage import options as storage_options
from labkit.components.storage.kube_cells import S0, S1
from labkit.errors import BadInput, LabkitError
from labkit.log import log
from labkit.targets.kube import KubeTarget

if TYPE_CHECKING:
    import pandas as pd

    from labkit._run import Runner

STORAGE_CLUSTER = "labkit-bench-storage"
#: The cell (named after its StorageClass) of each storage option labkit installs on kind.
STORAGE_CELL = {"local-path": "local-path", "openebs": "openebs-hostpath", "longhorn": "longhorn"}


@dataclass
class StorageRun(harness.BenchRun):
    """The run of :func:`compare_storage` and the options that could not be installed (with why)."""

    failed: dict[str, str] = field(default_factory=dict)

    def ladder(self) -> pd.DataFrame:
        return storage_ladder(self.rows())


def _install(option: str, target: KubeTarget, cfg: Any, runner: Runner | None) -> None:
    storage_options.option(option).install(target, cfg).run(runner)


def compare_storage(options: Sequence[str], request: BenchRequest | None = None, *, cni: str = "kindnet",
                    workers: int = 2, keep: bool = False, store: Store | str | None = None,
                    name: str = STORAGE_CLUSTER, ops: ClusterOps | None = None, install: Any = None,
                    runner: Runner | None = None) -> StorageRun:
    """One kind cluster with local-path plus ``options`` (openebs, longhorn); fio on each StorageClass and on
    S0 (a Docker volume on this host, beside the nodes' own ``/var``) in one interleaved run.

    Longhorn, if asked for, shapes the cluster (``up(storage="longhorn")`` proves persistence), otherwise
    the first option is installed and proven by ``up``; the others are added with their install plans.
    Every request (options, the matrix, the free space for the fio files, Longhorn's iSCSI) is checked
    before the cluster is made. An option that fails to install is recorded in ``failed`` and the others
    run. The cluster is deleted afterwards unless ``keep``, also after an error, Ctrl-C or SIGTERM.
    ``ops``/``install(option, target, cfg, runner)`` default to labkit's own (tests inject fakes)."""
    from labkit.components.up import cluster_config
    from labkit.versions import tools_image

    chosen = [storage_options.option(o).name for o in options]  # unknown / real-cluster-only refused here
    if len(set(chosen)) != len(chosen):
        raise BadInput("storage options", list(options), "each option once")
    for opt in chosen:
        storage_options.option(opt).check_host()  # Longhorn: iSCSI in this kernel, before anything is made
    primary = "longhorn" if "longhorn" in chosen else (chosen[0] if chosen else None)
    cells = [STORAGE_CELL[o] for o in dict.fromkeys(["local-path", *chosen])]
    base = (request or BenchRequest("storage")).with_(suite="storage", target="kind")
    plan(base.with_(kube=KubeTarget.for_kind(name), storage_classes=tuple(cells[1:]) or None))
    install = install or _install
    failed: dict[str, str] = {}
    log(f"== storage on kind: cluster {name} ({workers} workers, CNI {cni}), cells {S0}, {', '.join(cells)}")
    with fresh_cluster(name, ops=ops, workers=workers, keep=keep, images=(tools_image(),), runner=runner, cni=cni,
                       storage=primary) as target:
        cfg = cluster_config(cni=cni, workers=workers, name=name, storage=primary)
        for opt in chosen:
            if opt in (primary, "local-path"):
                continue
            try:
                install(opt, target, cfg, runner)
            except LabkitError as exc:
                failed[STORAGE_CELL[opt]] = exc.message
                log(f"✗ {opt} not installed, its cell is skipped: {exc.message.splitlines()[0]}")
        measured = tuple(c for c in cells[1:] if c not in failed) or None
        asked = tuple(c for c in base.cells if c not in failed) if base.cells else None
        res = harness.run(base.with_(kube=target, cni=cni, storage_classes=measured, cells=asked), store=store,
                          runner=runner)
        return StorageRun(res.run_id, res.store, failed)


def run_storage_on_cluster(target: KubeTarget, storage_classes: Sequence[str], request: BenchRequest | None = None,
                           *, image: str | None = None, store: Store | str | None = None,
                           runner: Runner | None = None) -> harness.BenchRun:
    """fio on the named StorageClasses of a cluster labkit did not make (``labkit.connect(...).target``).

    Every class is checked against the cluster before anything is created (an unknown one is
    :class:`BadInput` naming those that exist); per class one PVC and one Job per fio run in the
    ``labkit-bench`` namespace, all deleted at the end. The first class named is the baseline."""
    base = (request or BenchRequest("storage")).with_(suite="storage", target="cluster", kube=target,
                                                      storage_classes=tuple(storage_classes))
    return harness.run(base, image=image, store=store, runner=runner)


STORAGE_LADDER_COLUMNS = ("option", "storage_class", "run_id", "cell", "level", "test", "metric", "unit",
                          "higher_is_better", "n", "median", "ci_lo", "ci_hi", "ratio_s0", "ratio_s0_lo",
                          "ratio_s0_hi", "ratio_s1", "ratio_s1_lo", "ratio_s1_hi", "note")


def storage_ladder(rows: pd.DataFrame) -> pd.DataFrame:
    """Each storage cell as a ratio to its run's S0 (hostfs-docker) and S1 (local-path), with 95 % CIs.

    S1 over S0 is what a PVC on kind costs over the host filesystem; an option over S1 is what it costs
    over the simplest PV (for Longhorn: an engine, iSCSI and a second replica on the same disk). Ratios
    come from rows of the same run only; a run without S0 or S1 (a cluster target) gives NaN there.
    """
    import json

    import pandas as pd

    out: list[dict[str, Any]] = []
    for run_id, g in rows[rows["suite"] == "storage"].groupby("run_id", sort=False):
        values = stats.ok_values(g)
        names: dict[str, tuple[Any, Any]] = {}
        for cell, c in g.groupby("cell", sort=False):
            config = json.loads(c["component_config"].dropna().iloc[0]) if c["component_config"].notna().any() else {}
            names[str(cell)] = (c["component"].dropna().iloc[0] if c["component"].notna().any() else None,
                                config.get("storage_class"))
        for row in stats.aggregate(g).itertuples(index=False):
            option, sc = names.get(str(row.cell), (None, None))
            out.append({"option": option, "storage_class": sc, "run_id": run_id, "cell": row.cell,
                        "level": row.baseline_level, "test": row.test, "metric": row.metric, "unit": row.unit,
                        "higher_is_better": row.higher_is_better, "n": row.n, "median": row.median,
                        "ci_lo": row.ci_lo, "ci_hi": row.ci_hi,
                        **dict(zip(STORAGE_LADDER_COLUMNS[13:19], stats.ratios_to(values, row, (S0, S1)), strict=True)),
                        "note": row.note})
    return pd.DataFrame(out, columns=list(STORAGE_LADDER_COLUMNS))


__all__ = ["STORAGE_CELL", "StorageRun", "compare_storage", "run_storage_on_cluster", "storage_ladder"]
