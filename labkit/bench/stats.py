"""Statistics per cell: median, IQR, bootstrap CI of the median, CV, ratio to baseline.

Percentile metrics (``lat_p99_us`` …) are per-run values; across runs we take
their median like any other metric, never an average of percentiles.

>>> summary = aggregate(rows)                                   # doctest: +SKIP
>>> summary[["cell", "metric", "median", "ci_lo", "ci_hi", "ratio"]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labkit.bench.schema import CELL_KEYS, GATED_METRICS, METRICS
from labkit.errors import BadInput

Values = Sequence[float] | np.ndarray
SeriesKey = tuple[str, str, str, str]

KEYS = list(CELL_KEYS)
#: Columns every statistics function needs in its tidy input rows.
REQUIRED = ("suite", "cell", "baseline_cell", "baseline_level", "test", "metric", "value", "unit",
            "higher_is_better", "status", "error")
#: Columns of :func:`aggregate` output, in order.
SUMMARY_COLUMNS = ("suite", "cell", "test", "metric", "unit", "higher_is_better", "baseline_cell", "baseline_level",
                   "n", "n_failed", "median", "q1", "q3", "ci_lo", "ci_hi", "cv", "baseline_median", "ratio",
                   "ratio_ci_lo", "ratio_ci_hi", "note")
_EMPTY = np.array([], dtype=float)
_NAN = float("nan")


@dataclass(frozen=True)
class Summary:
    """One series of repeated measurements, reduced (NaN where undefined)."""

    n: int
    median: float
    q1: float
    q3: float
    iqr: float
    ci_lo: float
    ci_hi: float
    cv: float  # std (ddof=1) / mean; NaN if n < 2 or mean == 0
    mean: float


def _finite(values: Values) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def _percentile_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap samples, taking the nearest samples outward.

    No interpolation, so an infinite ratio sample (x / 0) cannot turn a bound into NaN.
    """
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return _NAN, _NAN
    tail = (1 - confidence) / 2 * 100
    lo = np.percentile(samples, tail, method="lower")
    hi = np.percentile(samples, 100 - tail, method="higher")
    return float(lo), float(hi)


def _boot_medians(arr: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    return np.median(arr[rng.integers(0, arr.size, size=(n_boot, arr.size))], axis=1)


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """num / den where 0 / 0 counts as 1 (no change) and x / 0 as inf."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((num == 0) & (den == 0), 1.0, num / den)


def bootstrap_median_ci(values: Values, *, confidence: float = 0.95, n_boot: int = 2000,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap CI of the median (NaN ignored); one value gives (v, v)."""
    arr = _finite(values)
    if arr.size == 0:
        return _NAN, _NAN
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    return _percentile_ci(_boot_medians(arr, np.random.default_rng(seed), n_boot), confidence)


def summarize(values: Values, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Summary:
    """Median, quartiles, bootstrap CI of the median, CV and mean of ``values`` (NaN ignored)."""
    arr = _finite(values)
    if arr.size == 0:
        return Summary(0, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN)
    q1, med, q3 = (float(x) for x in np.percentile(arr, [25, 50, 75]))
    mean = float(arr.mean())
    cv = float(arr.std(ddof=1) / mean) if arr.size >= 2 and mean != 0 else _NAN
    lo, hi = bootstrap_median_ci(arr, confidence=confidence, n_boot=n_boot, seed=seed)
    return Summary(int(arr.size), med, q1, q3, q3 - q1, lo, hi, cv, mean)


def ratio_ci(a_values: Values, b_values: Values, *, confidence: float = 0.95, n_boot: int = 2000,
             seed: int = 0) -> tuple[float, float, float]:
    """median(b) / median(a) and its percentile-bootstrap CI, resampling a and b independently.

    0 / 0 counts as 1 (e.g. no retransmits before or after) and x / 0 as inf.
    Either side empty gives NaNs.
    """
    a, b = _finite(a_values), _finite(b_values)
    if a.size == 0 or b.size == 0:
        return _NAN, _NAN, _NAN
    ratio = float(_ratio(np.median(b), np.median(a)))
    rng = np.random.default_rng(seed)
    ma, mb = _boot_medians(a, rng, n_boot), _boot_medians(b, rng, n_boot)
    lo, hi = _percentile_ci(_ratio(mb, ma), confidence)
    return ratio, lo, hi


def check_rows(rows: pd.DataFrame, *, what: str = "rows") -> None:
    """Raise BadInput if ``rows`` lacks a column the statistics need."""
    missing = [c for c in REQUIRED if c not in rows.columns]
    if missing:
        raise BadInput(f"{what} (missing columns {', '.join(missing)})", sorted(map(str, rows.columns)),
                       f"tidy result rows with at least {', '.join(REQUIRED)}",
                       fix="pass rows from Store.load() or BenchRun.rows(), not an aggregated summary")


def _metric(rows: pd.DataFrame) -> pd.Series:
    return rows["metric"].fillna("").astype(str)


def ok_values(rows: pd.DataFrame) -> dict[SeriesKey, np.ndarray]:
    """Finite values of status-"ok" rows per (suite, cell, test, metric), in input order."""
    metric = _metric(rows)
    value = pd.to_numeric(rows["value"], errors="coerce").astype(float)
    keep = (rows["status"] == "ok") & (metric != "") & np.isfinite(value)
    ok = rows.loc[keep, ["suite", "cell", "test"]].assign(metric=metric[keep], value=value[keep])
    return {k: g["value"].to_numpy(dtype=float) for k, g in ok.groupby(KEYS, sort=False)}


def _text(value: object) -> str | None:
    """A label, or None for None/NaN/""."""
    return None if value is None or bool(pd.isna(value)) or value == "" else str(value)


def first_error(rows: pd.DataFrame) -> str:
    """The first non-empty ``error`` text of not-ok rows ("" if none)."""
    errors = (_text(e) for e in rows.loc[rows["status"] != "ok", "error"])
    return next((e for e in errors if e), "")


def unit_and_direction(rows: pd.DataFrame, metric: str) -> tuple[str | None, bool | None]:
    """Unit and higher_is_better of ``metric``: from the rows, else from schema.METRICS."""
    unit = next((_text(u) for u in rows["unit"] if _text(u)), None)
    hib = next((bool(h) for h in rows["higher_is_better"] if _text(h) is not None), None)
    known = METRICS.get(metric)
    if known:
        unit = unit or known[0]
        hib = known[1] if hib is None else hib
    return unit, hib


def _cell_rows(suite: str, cell: str, group: pd.DataFrame, values: dict[SeriesKey, np.ndarray],
               kw: dict[str, Any]) -> list[dict[str, object]]:
    """Summary rows of one cell: one per (test, metric), or one per test with metric "" if nothing measured."""
    first = group.iloc[0]
    base = {"suite": suite, "cell": cell, "baseline_cell": _text(first["baseline_cell"]),
            "baseline_level": _text(first["baseline_level"])}
    metric, failed = _metric(group), group["status"] != "ok"
    out: list[dict[str, object]] = []
    for test in dict.fromkeys(group["test"]):
        in_test = group["test"] == test
        why = first_error(group[in_test]) or first_error(group)
        metrics = list(dict.fromkeys(metric[in_test & (metric != "")]))
        if not metrics:
            out.append({**base, "test": test, "metric": "", "unit": None, "higher_is_better": None, "n": 0,
                        "n_failed": int((in_test & failed).sum()), "note": why or "no measurements"})
        for m in metrics:
            s = summarize(values.get((suite, cell, test, m), _EMPTY), **kw)
            n_failed = int((in_test & failed & metric.isin(["", m])).sum())
            unit, hib = unit_and_direction(group[in_test & (metric == m)], m)
            note = why if n_failed or s.n == 0 else ""
            out.append({**base, "test": test, "metric": m, "unit": unit, "higher_is_better": hib, "n": s.n,
                        "n_failed": n_failed, "median": s.median, "q1": s.q1, "q3": s.q3, "ci_lo": s.ci_lo,
                        "ci_hi": s.ci_hi, "cv": s.cv, "note": note or ("" if s.n else "no finite values")})
    return out


def _add_ratios(summary: pd.DataFrame, values: dict[SeriesKey, np.ndarray], kw: dict[str, Any]) -> None:
    """Fill baseline_median and ratio (+ CI) in place; a root baseline's ratio to itself is exactly 1."""
    referenced = {(s, b) for s, b in zip(summary["suite"], summary["baseline_cell"], strict=True) if _text(b)}
    filled = np.full((len(summary), 4), np.nan)
    for i, row in enumerate(summary.itertuples(index=False)):
        own = values.get((row.suite, row.cell, row.test, row.metric), _EMPTY)
        base = _text(row.baseline_cell)
        if not row.metric or own.size == 0:
            continue
        if base is not None and (row.suite, base, row.test, row.metric) in values:
            base_vals = values[(row.suite, base, row.test, row.metric)]
            filled[i] = [float(np.median(base_vals)), *ratio_ci(base_vals, own, **kw)]
        elif base is None and (row.suite, row.cell) in referenced:
            filled[i] = [row.median, 1.0, 1.0, 1.0]
    summary[["baseline_median", "ratio", "ratio_ci_lo", "ratio_ci_hi"]] = filled


def aggregate(rows: pd.DataFrame, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (suite, cell, test, metric): n, n_failed, median, quartiles, CI, CV and ratio to baseline.

    Only status "ok" rows with a finite value feed the statistics. A test whose rows
    all failed or were unavailable still appears (n = 0, metric "") with ``note``
    saying why. ``ratio`` is median / median of the ``baseline_cell`` in the same suite,
    test and metric, with a bootstrap CI; a root baseline (no baseline of its own, but
    named by other cells) has ratio and CI exactly 1. Cells keep their input order.
    """
    check_rows(rows)
    if rows.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    kw = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    values = ok_values(rows)
    out: list[dict[str, object]] = []
    for (suite, cell), group in rows.groupby(["suite", "cell"], sort=False):
        out += _cell_rows(str(suite), str(cell), group, values, kw)
    summary = pd.DataFrame(out, columns=list(SUMMARY_COLUMNS))
    _add_ratios(summary, values, kw)
    return summary


def noisy(summary: pd.DataFrame, *, cv_throughput: float = 0.05, cv_latency: float = 0.10) -> pd.DataFrame:
    """Baseline rows of ``summary`` whose CV exceeds its gate, with a ``reason``.

    Higher-is-better metrics use ``cv_throughput``, the others ``cv_latency``; only
    headline metrics (``schema.GATED_METRICS``) count. A non-empty result means the
    session is noisy: add repetitions or quiet the host.
    """
    referenced = {(s, b) for s, b in zip(summary["suite"], summary["baseline_cell"], strict=True) if _text(b)}
    is_base = np.array([(s, c) in referenced for s, c in zip(summary["suite"], summary["cell"], strict=True)],
                       dtype=bool)
    gated = _metric(summary).isin(GATED_METRICS).to_numpy()
    rows = summary[is_base & gated].copy()
    hib = rows["higher_is_better"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    limit = np.where(hib, cv_throughput, cv_latency)
    cv = pd.to_numeric(rows["cv"], errors="coerce").to_numpy(dtype=float)
    keep = cv > limit  # NaN (n < 2) never counts as noisy
    rows = rows[keep]
    gate = np.where(hib[keep], "throughput", "latency")
    rows["reason"] = [f"baseline {c} / {t} / {m}: CV {v:.1%} > {lim:.0%} ({g} gate)"
                      for c, t, m, v, lim, g in zip(rows["cell"], rows["test"], rows["metric"], cv[keep],
                                                    limit[keep], gate, strict=True)]
    return rows


def ratios_to(values: dict[Any, Any], row: Any, bases: Sequence[str]) -> list[float]:
    """(ratio, lo, hi) of ``row``'s cell to each base cell of the same run, NaN where a side has no values.

    ``values`` is :func:`ok_values` of one run; ``row`` a row of :func:`aggregate` (suite, cell, test, metric)."""
    own = values.get((row.suite, row.cell, row.test, row.metric), np.array([]))
    out: list[float] = []
    for base in bases:
        ref = values.get((row.suite, base, row.test, row.metric))
        out += list(ratio_ci(ref, own)) if ref is not None and own.size else [np.nan] * 3
    return out
