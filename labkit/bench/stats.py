"""Statistics per cell: median, IQR, bootstrap CI of the median, CV, ratio to baseline.

Percentile metrics (``lat_p99_us`` …) are per-run values; across runs we take
their median like any other metric, never an average of percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

KEYS = ["suite", "cell", "test", "metric"]


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    q1: float
    q3: float
    iqr: float
    ci_lo: float
    ci_hi: float
    cv: float
    mean: float


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def bootstrap_median_ci(values: Sequence[float] | np.ndarray, *, confidence: float = 0.95, n_boot: int = 2000,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap CI of the median."""
    arr = _clean(values)
    if arr.size == 0:
        return float("nan"), float("nan")
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(arr, size=(n_boot, arr.size), replace=True), axis=1)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(medians, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(values: Sequence[float] | np.ndarray, *, confidence: float = 0.95, n_boot: int = 2000,
              seed: int = 0) -> Summary:
    arr = _clean(values)
    if arr.size == 0:
        nan = float("nan")
        return Summary(0, nan, nan, nan, nan, nan, nan, nan, nan)
    q1, med, q3 = (float(x) for x in np.percentile(arr, [25, 50, 75]))
    mean = float(arr.mean())
    cv = float(arr.std(ddof=1) / mean) if arr.size >= 2 and mean != 0 else float("nan")
    lo, hi = bootstrap_median_ci(arr, confidence=confidence, n_boot=n_boot, seed=seed)
    return Summary(int(arr.size), med, q1, q3, q3 - q1, lo, hi, cv, mean)


def ratio_ci(a_values: Sequence[float] | np.ndarray, b_values: Sequence[float] | np.ndarray, *,
             confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """median(b)/median(a) and a percentile-bootstrap CI, resampling a and b independently."""
    a, b = _clean(a_values), _clean(b_values)
    if a.size == 0 or b.size == 0 or np.median(a) == 0:
        nan = float("nan")
        return nan, nan, nan
    ratio = float(np.median(b) / np.median(a))
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a, size=(n_boot, a.size), replace=True), axis=1)
    mb = np.median(rng.choice(b, size=(n_boot, b.size), replace=True), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = mb / ma
    ratios = ratios[np.isfinite(ratios)]
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(ratios, [tail, 100 - tail]) if ratios.size else (float("nan"), float("nan"))
    return ratio, float(lo), float(hi)


def _ok_values(rows: pd.DataFrame) -> pd.DataFrame:
    ok = rows[(rows["status"] == "ok") & rows["metric"].fillna("").astype(bool)].copy()
    ok["value"] = pd.to_numeric(ok["value"], errors="coerce")
    return ok[np.isfinite(ok["value"])]


def aggregate(rows: pd.DataFrame, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (suite, cell, test, metric) with n, median, q1, q3, CI, CV and the ratio to its baseline.

    A cell whose rows all failed or were unavailable still appears (n = 0) with ``note``
    saying why. The baseline cell's own ratio is 1 with CI (1, 1) by definition.
    """
    cols = ["suite", "cell", "test", "metric", "unit", "higher_is_better", "baseline_cell", "baseline_level", "n",
            "n_failed", "median", "q1", "q3", "ci_lo", "ci_hi", "cv", "baseline_median", "ratio", "ratio_ci_lo",
            "ratio_ci_hi", "note"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    ok = _ok_values(rows)
    values = {k: g["value"].to_numpy() for k, g in ok.groupby(KEYS, sort=False)}
    out: list[dict[str, object]] = []
    for (suite, cell), group in rows.groupby(["suite", "cell"], sort=False):
        failed = group[group["status"] != "ok"]
        note = "; ".join(dict.fromkeys(str(e) for e in failed["error"].dropna()))[:500]
        first = group.iloc[0]
        metrics = group[group["metric"].fillna("").astype(bool)][["test", "metric", "unit", "higher_is_better"]]
        metrics = metrics.drop_duplicates(["test", "metric"])
        if metrics.empty:  # nothing measured: one row per test saying why
            for test in dict.fromkeys(group["test"]):
                out.append({"suite": suite, "cell": cell, "test": test, "metric": "", "unit": None,
                            "higher_is_better": None, "baseline_cell": first["baseline_cell"],
                            "baseline_level": first["baseline_level"], "n": 0,
                            "n_failed": int((group["test"] == test).sum()), "note": note})
            continue
        for m in metrics.itertuples():
            vals = values.get((suite, cell, m.test, m.metric), np.array([]))
            s = summarize(vals, confidence=confidence, n_boot=n_boot, seed=seed)
            n_failed = int(((failed["test"] == m.test)).sum())
            out.append({"suite": suite, "cell": cell, "test": m.test, "metric": m.metric, "unit": m.unit,
                        "higher_is_better": m.higher_is_better, "baseline_cell": first["baseline_cell"],
                        "baseline_level": first["baseline_level"], "n": s.n, "n_failed": n_failed,
                        "median": s.median, "q1": s.q1, "q3": s.q3, "ci_lo": s.ci_lo, "ci_hi": s.ci_hi, "cv": s.cv,
                        "note": note if n_failed or s.n == 0 else ""})
    result = pd.DataFrame(out, columns=cols)
    for i, row in result.iterrows():
        base = row["baseline_cell"]
        if not row["metric"]:
            continue
        if not isinstance(base, str) or not base:
            if any(result["baseline_cell"] == row["cell"]):  # this row is a baseline
                result.loc[i, ["baseline_median", "ratio", "ratio_ci_lo", "ratio_ci_hi"]] = [row["median"], 1, 1, 1]
            continue
        base_vals = values.get((row["suite"], base, row["test"], row["metric"]))
        if base_vals is None or base_vals.size == 0:
            continue
        own = values.get((row["suite"], row["cell"], row["test"], row["metric"]), np.array([]))
        r, lo, hi = ratio_ci(base_vals, own, confidence=confidence, n_boot=n_boot, seed=seed)
        result.loc[i, ["baseline_median", "ratio", "ratio_ci_lo", "ratio_ci_hi"]] = [
            float(np.median(base_vals)), r, lo, hi]
    return result


def noisy(summary: pd.DataFrame, *, cv_throughput: float = 0.05, cv_latency: float = 0.10) -> pd.DataFrame:
    """Baseline rows whose CV exceeds the threshold (a non-empty result flags a noisy session)."""
    if summary.empty:
        return summary.assign(reason=pd.Series(dtype=str))
    baselines = set(summary["baseline_cell"].dropna())
    rows = summary[summary["cell"].isin(baselines) & summary["metric"].astype(bool)].copy()
    limit = np.where(rows["higher_is_better"].astype(bool), cv_throughput, cv_latency)
    rows = rows[rows["cv"].to_numpy(dtype=float) > limit]
    rows["reason"] = [f"CV {cv:.1%} above {lim:.0%}" for cv, lim in
                      zip(rows["cv"], np.where(rows["higher_is_better"].astype(bool), cv_throughput, cv_latency))]
    return rows
