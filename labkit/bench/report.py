"""Glue between the store, the statistics and the charts: comparisons and HTML reports."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.bench.schema import GATED_METRICS, SCHEMA_VERSION
from labkit.bench.store import Store

if TYPE_CHECKING:
    import pandas as pd


def comparability(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Why two runs may not be comparable (warned about, never silently ignored)."""
    out = []
    for side, meta in (("baseline", a), ("candidate", b)):
        if meta.get("schema_version") != SCHEMA_VERSION:
            out.append(f"{side} run {meta.get('run_id')} has schema version {meta.get('schema_version')}, "
                       f"this labkit writes {SCHEMA_VERSION}: columns may differ")
        if meta.get("status") not in ("complete",):
            out.append(f"{side} run {meta.get('run_id')} is {meta.get('status', 'incomplete')}, not complete")
    if a.get("host_class") != b.get("host_class"):
        out.append(f"the runs come from different host classes ({a.get('host_class')} vs {b.get('host_class')}): "
                   "differences may be the machine, not the change")
    if a.get("suite") != b.get("suite"):
        out.append(f"the runs measure different suites ({a.get('suite')} vs {b.get('suite')})")
    pa, pb = a.get("params", {}), b.get("params", {})
    for key in ("profile", "duration_s", "size", "target"):
        if pa.get(key) != pb.get(key):
            out.append(f"{key} differs: {pa.get(key)} vs {pb.get(key)}")
    return out


def _locate(store: Store, ref: str) -> tuple[Store, str]:
    """The store holding ``ref`` and its run id: a run directory (``…/runs/<id>``, e.g. a
    baseline kept in environments/) or a run id/prefix/``latest[:suite]`` in ``store``."""
    path = Path(ref)
    if (path / "meta.json").is_file():
        return Store(path.parent.parent), path.name
    return store, store.resolve(ref)


def load_ref(store: Store, ref: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """A run's meta and rows (see :func:`_locate` for what ``ref`` may be)."""
    where, run_id = _locate(store, ref)
    return where.meta(run_id), where.load([run_id])


def compare_runs(store: Store, baseline: str, candidate: str, *, cells: Sequence[str] | None = None,
                 tests: Sequence[str] | None = None, metrics: Collection[str] = GATED_METRICS,
                 **thresholds: Any) -> tuple[pd.DataFrame, list[str]]:
    """Verdict per cell between two runs, plus comparability warnings.

    Two arms of one paired ``--ab`` run (:func:`is_paired`) are analysed as pairs
    (:func:`labkit.bench.paired.compare_paired`, with the MDE per cell); other runs unpaired
    (:func:`labkit.bench.compare.compare`).
    Only ``metrics`` are judged (default: the headline metrics; diagnostics such as
    retransmits are too noisy to gate on), optionally only some cells and tests."""
    from labkit.bench.compare import compare

    (a_meta, a_rows), (b_meta, b_rows) = load_ref(store, baseline), load_ref(store, candidate)
    warnings = comparability(a_meta, b_meta)

    def pick(rows: pd.DataFrame) -> pd.DataFrame:
        keep = rows["cell"].isin(cells) if cells else rows["cell"].notna()
        keep &= rows["metric"].isin(metrics) | ~rows["metric"].fillna("").astype(bool)
        if tests:
            keep &= rows["test"].isin(tests)
        return rows[keep]

    if is_paired(a_meta, b_meta):
        from labkit.bench.paired import compare_paired

        gate = b_meta.get("gate") or {}
        warnings += [f"{k}: {msg}" for k, msg in (gate.get("noise") or {}).items()]
        out = compare_paired(pick(a_rows), pick(b_rows), **thresholds)
        out.attrs["design"] = gate.get("design")
        return out, warnings
    return compare(pick(a_rows), pick(b_rows), **thresholds), warnings


def is_paired(a_meta: dict[str, Any], b_meta: dict[str, Any]) -> bool:
    """Whether A and B were measured together in paired blocks (``--ab`` with the gate): they name each
    other and say how they were paired. Two independently stored runs are not."""
    return (a_meta.get("interleaved_with") == b_meta.get("run_id") and b_meta.get("interleaved_with")
            == a_meta.get("run_id") and bool(b_meta.get("gate")) and a_meta.get("arm") == "A")


def run_figures(rows: pd.DataFrame) -> list[tuple[str, Any]]:
    """The standard charts of one run's summary."""
    from labkit import plots
    from labkit.bench import stats

    summary = stats.aggregate(rows)
    figs: list[tuple[str, Any]] = []
    present = set(summary["metric"])
    for metric, title in (("throughput_bps", "TCP/UDP throughput"), ("iops", "IOPS"), ("bw_Bps", "Bandwidth")):
        if metric in present:
            figs.append((title, plots.bars(summary, metric=metric)))
            if summary.loc[summary["metric"] == metric, "ratio"].notna().any():
                figs.append((f"{title}: ratio to baseline", plots.ratios(summary, metric=metric)))
    if present & {"lat_p50_us", "lat_p99_us", "lat_p999_us"}:
        figs.append(("Latency percentiles", plots.latency_percentiles(summary)))
    return figs


def write_run_report(store: Store, run_id: str, out: Path) -> Path:
    from labkit import plots
    from labkit.bench import stats

    rows = store.load([run_id])
    meta = store.meta(run_id)
    summary = stats.aggregate(rows)
    noisy = stats.noisy(summary)
    notes = [f"run {run_id}: suite {meta.get('suite')}, target {meta.get('target')}, profile {meta.get('profile')}, "
             f"status {meta.get('status')}, host {meta.get('host', {}).get('cpu_model')} "
             f"({meta.get('host_class')}), measured {meta.get('ts_start_utc')}",
             "All cells share this one host's kernel and disk: read the numbers as overhead relative to this "
             "host's baselines, not as production throughput."]
    if not noisy.empty:
        notes.append(f"NOISY SESSION: {len(noisy)} baseline cell(s) exceed the CV threshold; add repetitions "
                     "or quiet the host before trusting small differences.")
    return plots.write_report(out / "report.html", title=f"labkit run {run_id}", figures=run_figures(rows),
                              tables=[("Summary per cell", summary)], notes=notes)


def write_comparison(store: Store, baseline: str, candidate: str, result: pd.DataFrame, out: Path,
                     warnings: list[str]) -> Path:
    from labkit import plots
    from labkit.bench.compare import has_regression

    where, a_id = _locate(store, baseline)  # only the baseline's meta is needed, not its rows
    a_meta = where.meta(a_id)
    b_meta, b_rows = load_ref(store, candidate)
    a_id, b_id = a_meta.get("run_id"), b_meta.get("run_id")
    verdict = "REGRESSION" if has_regression(result) else "no regression"
    notes = [f"baseline {a_id} vs candidate {b_id}: {verdict}", *[f"warning: {w}" for w in warnings]]
    if b_meta.get("impairment"):
        notes.append(f"the candidate ran with an injected impairment: {b_meta['impairment']}")
    figs = [("Candidate / baseline per cell", plots.comparison(result))]
    figs += [(f"candidate: {t}", f) for t, f in run_figures(b_rows)]
    return plots.write_report(out / "comparison.html", title=f"labkit compare {a_id} → {b_id}", figures=figs,
                              tables=[("Verdicts", result)], notes=notes)
