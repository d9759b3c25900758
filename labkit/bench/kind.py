"""CNI against CNI on kind: a fresh cluster per CNI, the same cells, one stored run each.

>>> cmp = compare_cnis(["kindnet", "calico"], profile="quick")          # doctest: +SKIP
>>> plots.cni_ladder(cmp.ladder(), metric="throughput_bps")

For each CNI in turn: ``up`` a kind cluster named ``labkit-bench-<cni>`` with ``workers``
workers, load the pinned tools image into its nodes, measure the kind cells (N2 on the
kind Docker network, N3 hostNetwork, then the CNI's pod paths), and ``down`` the cluster
(unless ``keep``), also when something failed. A fresh cluster per CNI is the fairness
rule: no CNI inherits another's iptables rules, conntrack state or leftover daemons.

Every node of a kind cluster is a container on this host, sharing its kernel and CPUs:
the numbers are overheads relative to this host (each cell as a ratio to N2 and N3), not
production throughput (``labkit.plots.KIND_NOTE`` says so on every chart).

:func:`run_on_cluster` runs the same cells on a cluster labkit did not make, creating
and deleting nothing but the bench pods.

Storage is measured the same way but on **one** cluster (options coexist):
:func:`compare_storage` makes ``labkit-bench-storage`` with the options asked for and runs S0
(this host's disk, where the nodes' ``/var`` lives), S1 (local-path) and each option's
StorageClass in one interleaved run; :func:`storage_ladder` gives each cell's ratio to S0 and
S1. :func:`run_storage_on_cluster` measures named StorageClasses of any cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.bench import kind_net, runner as harness, stats
from labkit.bench.store import Store
from labkit.errors import BadInput, LabkitError
from labkit.log import log
from labkit.paths import results_dir

if TYPE_CHECKING:
    import pandas as pd

    from labkit._run import Runner
    from labkit.target import KubeTarget

LADDER_COLUMNS = ("cni", "run_id", "cell", "level", "test", "metric", "unit", "higher_is_better", "n", "median",
                  "ci_lo", "ci_hi", "ratio_n2", "ratio_n2_lo", "ratio_n2_hi", "ratio_n3", "ratio_n3_lo",
                  "ratio_n3_hi", "note")


def cluster_name(cni: str) -> str:
    return f"labkit-bench-{cni}"


@dataclass
class CniComparison:
    """The runs of one comparison, by CNI, and the CNIs that could not be measured (with why)."""

    store: Store
    runs: dict[str, harness.BenchRun] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs.values()]

    def rows(self) -> pd.DataFrame:
        return self.store.load(self.run_ids)

    def summary(self) -> pd.DataFrame:
        return summary(self.rows())

    def ladder(self) -> pd.DataFrame:
        return ladder(self.rows())


def compare_cnis(
    cnis: Sequence[str],
    *,
    profile: str = "quick",
    workers: int = 2,
    store: Store | str | None = None,
    up: Callable[..., KubeTarget] | None = None,
    down: Callable[..., None] | None = None,
    load_images: Callable[..., None] | None = None,
    keep: bool = False,
    cells: Sequence[str] | None = None,
    tests: Sequence[str] | None = None,
    reps: int | None = None,
    duration_s: float | None = None,
    kubernetes: str | None = None,
    notebook: str | None = None,
    timeout: float | None = None,
    runner: Runner | None = None,
) -> CniComparison:
    """Measure each CNI on a fresh kind cluster; one stored run per CNI.

    ``up``/``down``/``load_images`` default to :mod:`labkit.cluster`'s (tests inject fakes);
    ``runner``, when given, runs every command (it is passed to them and to the benchmark).
    Every request is validated before the first cluster is made. A CNI whose cluster or run
    fails is recorded in ``failed`` and the next CNI runs; Ctrl-C stops after deleting the
    current cluster. Raises if no CNI could be measured.
    """
    from labkit.versions import tools_image

    if not cnis:
        raise BadInput("CNIs", list(cnis), ", ".join(kind_net.CNIS), fix="name at least one, e.g. kindnet")
    if len(set(cnis)) != len(cnis):
        raise BadInput("CNIs", list(cnis), "each CNI once")
    request: dict[str, Any] = {"cells": cells, "tests": tests, "profile": profile, "reps": reps,
                               "duration_s": duration_s}
    for cni in cnis:
        harness.plan("net", target="kind", cni=kind_net.check_cni(cni), **request)
    up, down, load_images = _cluster_ops(up, down, load_images)
    st = store if isinstance(store, Store) else Store(store or results_dir())
    image = tools_image()
    out = CniComparison(st)
    via = {"runner": runner} if runner is not None else {}
    fixes: list[str | None] = []
    for i, cni in enumerate(cnis, 1):
        name = cluster_name(cni)
        log(f"== CNI {i}/{len(cnis)}: {cni} on a fresh kind cluster {name} ({workers} workers)")
        try:
            target = up(cni, workers=workers, name=name, **({"kubernetes": kubernetes} if kubernetes else {}), **via)
            load_images(target, [image], **via)
            out.runs[cni] = harness.run("net", target="kind", kube=target, cni=cni, store=st, notebook=notebook,
                                       timeout=timeout, image=image, runner=runner, **request)
        except LabkitError as exc:
            out.failed[cni] = exc.message
            fixes.append(exc.fix)
            log(f"✗ CNI {cni}: {exc.message.splitlines()[0]}")
        finally:
            if not keep:
                _down_quietly(down, name, **via)
            else:
                log(f"kept cluster {name} (remove it with `labkit down --name {name}`)")
    if not out.runs:
        raise LabkitError("no CNI could be measured: " + "; ".join(f"{c}: {m.splitlines()[0]}"
                                                                    for c, m in out.failed.items()),
                          fix=next((f for f in fixes if f), "`labkit up --cni NAME --plan` shows each step"))
    return out


def _cluster_ops(up: Any, down: Any, load_images: Any) -> tuple[Any, Any, Any]:
    if up is None or down is None or load_images is None:
        from labkit import cluster

        up, down, load_images = up or cluster.up, down or cluster.down, load_images or cluster.load_images
    return up, down, load_images


def _down_quietly(down: Callable[..., None], name: str, **kwargs: Any) -> None:
    """Delete the cluster; a failure to delete is logged, never hides the error that brought us here."""
    try:
        down(name, **kwargs)
    except LabkitError as exc:
        log(f"! could not delete kind cluster {name}: {exc.message} (run `labkit down --name {name}`)")


def run_on_cluster(
    target: KubeTarget,
    *,
    cni: str | None = None,
    docker_network: str | None = None,
    image: str | None = None,
    store: Store | str | None = None,
    runner: Runner | None = None,
    **request: Any,
) -> harness.BenchRun:
    """The kind cells on an existing cluster (``labkit.cluster.connect(...).target``); creates and
    deletes nothing but the bench pods. A kind cluster labkit made (``target.kind_cluster``) runs as
    target ``kind`` with N2 on the ``kind`` network; any other cluster as ``cluster``, with N2 only
    when ``docker_network`` names a Docker network beside its nodes. ``image`` must be pullable by
    the nodes (default: the pinned tools image, which a kind cluster gets with ``load_images``).
    ``request`` takes :func:`labkit.bench.runner.run`'s matrix arguments (cells, tests, profile, …).
    """
    kind = target.kind_cluster is not None
    return harness.run("net", target="kind" if kind else "cluster", kube=target,
                      cni=kind_net.check_cni(cni or "kindnet") if kind else cni,
                      docker_network=docker_network, image=image, store=store, runner=runner, **request)


STORAGE_CLUSTER = "labkit-bench-storage"
#: The cell (named after its StorageClass) of each storage option labkit installs on kind.
STORAGE_CELL = {"local-path": "local-path", "openebs": "openebs-hostpath", "longhorn": "longhorn"}


@dataclass
class StorageRun(harness.BenchRun):
    """The run of :func:`compare_storage` and the options that could not be installed (with why)."""

    failed: dict[str, str] = field(default_factory=dict)

    def ladder(self) -> pd.DataFrame:
        return storage_ladder(self.rows())


def compare_storage(
    options: Sequence[str],
    *,
    cni: str = "kindnet",
    workers: int = 2,
    keep: bool = False,
    store: Store | str | None = None,
    name: str = STORAGE_CLUSTER,
    up: Callable[..., KubeTarget] | None = None,
    down: Callable[..., None] | None = None,
    load_images: Callable[..., None] | None = None,
    install: Callable[..., None] | None = None,
    runner: Runner | None = None,
    **request: Any,
) -> StorageRun:
    """One kind cluster with local-path plus ``options`` (openebs, longhorn); fio on each StorageClass and on
    S0 (a Docker volume on this host, beside the nodes' own ``/var``) in one interleaved run.

    Storage options coexist, so one cluster serves them all (unlike CNIs): Longhorn, if asked for, shapes
    the cluster (``up(storage="longhorn")`` builds its node image and proves persistence), otherwise the
    first option is installed and proven by ``up``; the others are added with their install plans. Every
    request (options, the matrix, the free space for the fio files, Longhorn's iSCSI) is checked before
    the cluster is made. An option that fails to install is recorded in ``failed`` and the others run.
    The cluster is deleted afterwards unless ``keep``, also after an error or Ctrl-C.
    ``up``/``down``/``load_images``/``install(option, target, cfg, runner)`` default to labkit's own (tests
    inject fakes); ``request`` takes :func:`labkit.bench.runner.run`'s matrix arguments.
    """
    from labkit import cluster as cluster_mod
    from labkit.components import storage as storage_mod
    from labkit.target import KubeTarget as Target
    from labkit.versions import tools_image

    chosen = [storage_mod.option(o).name for o in options]  # unknown / real-cluster-only options refused here
    if len(set(chosen)) != len(chosen):
        raise BadInput("storage options", list(options), "each option once")
    for opt in chosen:
        storage_mod.option(opt).check_host()  # Longhorn: iSCSI in this kernel, before anything is made
    primary = "longhorn" if "longhorn" in chosen else (chosen[0] if chosen else None)
    cells = [STORAGE_CELL[o] for o in dict.fromkeys(["local-path", *chosen])]
    harness.plan("storage", target="kind", kube=Target.for_kind(name), storage_classes=cells[1:],
                 **{k: v for k, v in request.items() if k in _PLAN_ARGS})
    up, down, load_images = _cluster_ops(up, down, load_images)
    install = install or _install
    via = {"runner": runner} if runner is not None else {}
    failed: dict[str, str] = {}
    log(f"== storage on kind: cluster {name} ({workers} workers, CNI {cni}), cells hostfs-docker, {', '.join(cells)}")
    try:
        target = up(cni, workers=workers, name=name, storage=primary, **via)
        load_images(target, [tools_image()], **via)
        cfg = cluster_mod.cluster_config(cni, workers=workers, name=name, storage=primary)
        for opt in chosen:
            if opt in (primary, "local-path"):
                continue
            try:
                install(opt, target, cfg, runner)
            except LabkitError as exc:
                failed[STORAGE_CELL[opt]] = exc.message
                log(f"✗ {opt} not installed, its cell is skipped: {exc.message.splitlines()[0]}")
        measured = [c for c in cells[1:] if c not in failed]
        if request.get("cells"):
            request = {**request, "cells": [c for c in request["cells"] if c not in failed]}
        res = harness.run("storage", target="kind", kube=target, cni=cni, storage_classes=measured, store=store,
                          runner=runner, **request)
        return StorageRun(res.run_id, res.store, failed)
    finally:
        if not keep:
            _down_quietly(down, name, **via)
        else:
            log(f"kept cluster {name} (remove it with `labkit down --name {name}`)")


_PLAN_ARGS = ("cells", "tests", "profile", "reps", "duration_s", "size")


def _install(option: str, target: KubeTarget, cfg: Any, runner: Runner | None) -> None:
    from labkit.components import storage as storage_mod

    storage_mod.option(option).install(target, cfg).run(runner)


def run_storage_on_cluster(
    target: KubeTarget,
    storage_classes: Sequence[str],
    *,
    image: str | None = None,
    store: Store | str | None = None,
    runner: Runner | None = None,
    **request: Any,
) -> harness.BenchRun:
    """fio on the named StorageClasses of a cluster labkit did not make (``labkit.connect(...).target``).

    Every class is checked against ``kubectl get storageclass`` before anything is created (an unknown
    one is :class:`~labkit.errors.BadInput` naming those that exist); per class one PVC and one Job per
    fio run in the ``labkit-bench`` namespace, all deleted at the end. The first class named is the
    baseline of the others. ``image`` must be pullable by the nodes (push the tools image first).
    """
    return harness.run("storage", target="cluster", kube=target, storage_classes=list(storage_classes),
                       image=image, store=store, runner=runner, **request)


def recorded_runs(store: Store, *, target: str = "engine", cnis: Sequence[str] = ()) -> list[str]:
    """Replay: the newest recorded net run per CNI of ``target`` (the ``cnis`` asked for, else every
    CNI recorded), or for ``engine`` the newest single run (not an A/B arm). With no recording of
    ``target`` it falls back to the newest engine recording and says so."""
    runs = [(r, store.meta(r)) for r in store.run_ids()]
    runs = [(r, m) for r, m in runs if m.get("suite") == "net" and not m.get("arm")]
    if target != "engine":
        newest = {str(m.get("cni")): r for r, m in runs if m.get("target") == target}
        picked = [newest[c] for c in cnis if c in newest] or list(newest.values())
        if picked:
            return picked
        log(f"no {target} recording ships yet: showing the newest engine recording instead")
    engine_runs = [r for r, m in runs if m.get("target", "engine") == "engine"]
    if not engine_runs:
        raise LabkitError(f"no recorded network run in {store.root}", fix="run the notebook live (mode='live')")
    return engine_runs[-1:]


# --- reading the results --------------------------------------------------------------------------------


def _cni(rows: pd.DataFrame) -> str:
    names = rows["component"].dropna()
    return str(names.iloc[0]) if len(names) else "?"


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`labkit.bench.stats.aggregate` per run (so CNIs never mix), cells named ``<cni>/<cell>``.

    The bar, ratio and latency charts of :mod:`labkit.plots` then show the CNIs side by side.
    """
    import pandas as pd

    parts = []
    for _, g in rows.groupby("run_id", sort=False):
        cni = _cni(g)
        s = stats.aggregate(g)
        s["cell"] = cni + "/" + s["cell"].astype(str)
        s["baseline_cell"] = [f"{cni}/{b}" if isinstance(b, str) and b else b for b in s["baseline_cell"]]
        parts.append(s.assign(cni=cni))
    if not parts:
        return pd.DataFrame(columns=["cni", *stats.SUMMARY_COLUMNS])
    out = pd.concat(parts, ignore_index=True)
    return out[["cni", *stats.SUMMARY_COLUMNS]]


def ladder(rows: pd.DataFrame) -> pd.DataFrame:
    """Each cell of each CNI's run as a ratio to that run's N2 (kind-bridge) and N3 (hostnet).

    Ratios are median / median with a bootstrap 95 % CI, from rows of the same run only, so a
    CNI is compared with baselines measured in the same session. A missing baseline gives NaN.
    """
    import pandas as pd

    out: list[dict[str, Any]] = []
    for run_id, g in rows.groupby("run_id", sort=False):
        cni = _cni(g)
        values = stats.ok_values(g)
        for row in stats.aggregate(g).itertuples(index=False):
            ratios = _ratios(values, row, (kind_net.N2, kind_net.N3))
            out.append({"cni": cni, "run_id": run_id, "cell": row.cell, "level": row.baseline_level, "test": row.test,
                        "metric": row.metric, "unit": row.unit, "higher_is_better": row.higher_is_better,
                        "n": row.n, "median": row.median, "ci_lo": row.ci_lo, "ci_hi": row.ci_hi,
                        **dict(zip(LADDER_COLUMNS[12:18], ratios, strict=True)), "note": row.note})
    return pd.DataFrame(out, columns=list(LADDER_COLUMNS))


def _ratios(values: dict[Any, Any], row: Any, bases: Sequence[str]) -> list[float]:
    """(ratio, lo, hi) of ``row``'s cell to each base cell of the same run, NaN where a side has no values."""
    import numpy as np

    own = values.get((row.suite, row.cell, row.test, row.metric), np.array([]))
    out: list[float] = []
    for base in bases:
        ref = values.get((row.suite, base, row.test, row.metric))
        out += list(stats.ratio_ci(ref, own)) if ref is not None and own.size else [np.nan] * 3
    return out


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

    from labkit.bench.kind_storage import S0, S1

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
                        **dict(zip(STORAGE_LADDER_COLUMNS[13:19], _ratios(values, row, (S0, S1)), strict=True)),
                        "note": row.note})
    return pd.DataFrame(out, columns=list(STORAGE_LADDER_COLUMNS))


__all__ = ["compare_cnis", "run_on_cluster", "CniComparison", "summary", "ladder", "cluster_name",
           "recorded_runs", "compare_storage", "run_storage_on_cluster", "StorageRun", "storage_ladder",
           "STORAGE_CELL"]
