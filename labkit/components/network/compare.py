"""CNI against CNI on kind: a fresh cluster per CNI, the same cells, one stored run each.

>>> cmp = compare_cnis(["kindnet", "calico"], BenchRequest("net", profile="quick"))   # doctest: +SKIP
>>> plots.cni_ladder(cmp.ladder(), metric="throughput_bps")                          # doctest: +SKIP

For each CNI in turn: a fresh kind cluster ``labkit-bench-<cni>`` (:func:`labkit.components.fresh.fresh_cluster`)
with the pinned tools image loaded, the kind cells (N2 on the kind Docker network, N3 hostNetwork, then
the CNI's pod paths), and the cluster deleted, also when something failed (``keep`` keeps the last CNI's
cluster; the earlier ones are deleted before the next is made, so no idle cluster shares the CPU with a run). A fresh
cluster per CNI is the fairness rule: no CNI inherits another's iptables rules, conntrack state or daemons.

Every node of a kind cluster is a container on this host, sharing its kernel and CPUs: the numbers are
overheads relative to this host (each cell as a ratio to N2 and N3), not production throughput.
:func:`run_on_cluster` runs the same cells on a cluster labkit did not make, creating and deleting
nothing but the bench pods.
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
from labkit.components.network import kube_cells
from labkit.errors import BadInput, LabkitError
from labkit.log import log
from labkit.paths import results_dir

if TYPE_CHECKING:
    import pandas as pd

    from labkit._run import Runner
    from labkit.targets.kube import KubeTarget

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


def compare_cnis(cnis: Sequence[str], request: BenchRequest | None = None, *, workers: int = 2,
                 store: Store | str | None = None, ops: ClusterOps | None = None, keep: bool = False,
                 kubernetes: str | None = None, notebook: str | None = None, timeout: float | None = None,
                 runner: Runner | None = None) -> CniComparison:
    """Measure each CNI on a fresh kind cluster; one stored run per CNI.

    ``request`` is the matrix (cells, tests, profile, reps, duration); its target becomes ``kind``.
    ``ops`` makes and removes the clusters (labkit's own by default; tests inject fakes); ``runner``, when
    given, runs every command. Every request is validated before the first cluster is made. A CNI whose
    cluster or run fails is recorded in ``failed`` and the next CNI runs; Ctrl-C or SIGTERM stops after
    deleting the current cluster. Raises if no CNI could be measured."""
    from labkit.versions import tools_image

    if not cnis:
        raise BadInput("CNIs", list(cnis), ", ".join(kube_cells.CNIS), fix="name at least one, e.g. kindnet")
    if len(set(cnis)) != len(cnis):
        raise BadInput("CNIs", list(cnis), "each CNI once")
    base = (request or BenchRequest("net")).with_(suite="net", target="kind", kube=None)
    for cni in cnis:
        plan(base.with_(cni=kube_cells.check_cni(cni)))
    st = (store if isinstance(store, Store) else Store(store or results_dir())).check_writable()
    image = tools_image()
    out = CniComparison(st)
    fixes: list[str | None] = []
    for i, cni in enumerate(cnis, 1):
        name = cluster_name(cni)
        log(f"== CNI {i}/{len(cnis)}: {cni} on a fresh kind cluster {name} ({workers} workers)")
        try:
            last = i == len(cnis)  # only the last cluster may stay: a kept one would share the CPU with the next run
            with fresh_cluster(name, ops=ops, workers=workers, keep=keep and last, images=(image,), runner=runner,
                               cni=cni,
                               **({"kubernetes": kubernetes} if kubernetes else {})) as target:
                out.runs[cni] = harness.run(base.with_(cni=cni, kube=target), store=st, notebook=notebook,
                                            timeout=timeout, image=image, runner=runner)
        except LabkitError as exc:
            out.failed[cni] = exc.message
            fixes.append(exc.fix)
            log(f"✗ CNI {cni}: {exc.message.splitlines()[0]}")
    if not out.runs:
        raise LabkitError("no CNI could be measured: " + "; ".join(f"{c}: {m.splitlines()[0]}"
                                                                    for c, m in out.failed.items()),
                          fix=next((f for f in fixes if f), "`labkit up --cni NAME --plan` shows each step"))
    return out


def run_on_cluster(target: KubeTarget, request: BenchRequest | None = None, *, image: str | None = None,
                   store: Store | str | None = None, runner: Runner | None = None) -> harness.BenchRun:
    """The kind cells on an existing cluster (``labkit.connect(...).target``); creates and deletes nothing
    but the bench pods. A kind cluster labkit made (``target.kind_cluster``) runs as target ``kind`` with
    N2 on the ``kind`` network; any other as ``cluster``, with N2 only when the request names a
    ``docker_network`` beside its nodes. ``image`` must be pullable by the nodes."""
    base = request or BenchRequest("net")
    kind = target.kind_cluster is not None
    cni = kube_cells.check_cni(base.cni or "kindnet") if kind else base.cni
    return harness.run(base.with_(suite="net", target="kind" if kind else "cluster", kube=target, cni=cni),
                       image=image, store=store, runner=runner)


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
            ratios = stats.ratios_to(values, row, (kube_cells.N2, kube_cells.N3))
            out.append({"cni": cni, "run_id": run_id, "cell": row.cell, "level": row.baseline_level, "test": row.test,
                        "metric": row.metric, "unit": row.unit, "higher_is_better": row.higher_is_better,
                        "n": row.n, "median": row.median, "ci_lo": row.ci_lo, "ci_hi": row.ci_hi,
                        **dict(zip(LADDER_COLUMNS[12:18], ratios, strict=True)), "note": row.note})
    return pd.DataFrame(out, columns=list(LADDER_COLUMNS))


__all__ = ["CniComparison", "cluster_name", "compare_cnis", "ladder", "run_on_cluster", "summary"]
