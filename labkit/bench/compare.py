"""Regression verdicts between a baseline run and a candidate run, cell by cell (DESIGN §4).

*regression* only when a one-sided Mann–Whitney test (Holm-corrected across all
compared cells) says "worse" at ``alpha`` **and** the bootstrap CI of the ratio
candidate/baseline lies entirely beyond the practical threshold on the worse side;
*improvement* symmetrically; *equivalent* when that CI lies inside ±threshold;
*inconclusive* otherwise; *missing* when a side has fewer than 2 values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from labkit.bench.stats import KEYS, _ok_values, ratio_ci
from labkit.errors import BadInput

VERDICTS = ("regression", "improvement", "equivalent", "inconclusive", "missing")


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (monotone; NaN stays NaN)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.where(np.isfinite(p))[0]
    if idx.size == 0:
        return out
    order = idx[np.argsort(p[idx])]
    m = idx.size
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def _check(name: str, value: float, allowed: str) -> None:
    if not 0 < value < 1:
        raise BadInput(name, value, allowed, fix=f"e.g. {name}=0.05")


def compare(a: pd.DataFrame, b: pd.DataFrame, *, throughput_threshold: float = 0.05, latency_threshold: float = 0.10,
            alpha: float = 0.05, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (suite, cell, test, metric) present in either run, with the verdict."""
    _check("throughput_threshold", throughput_threshold, "a fraction between 0 and 1 (0.05 = 5 %)")
    _check("latency_threshold", latency_threshold, "a fraction between 0 and 1 (0.10 = 10 %)")
    _check("alpha", alpha, "a significance level between 0 and 1")
    va = {k: g["value"].to_numpy() for k, g in _ok_values(a).groupby(KEYS, sort=False)}
    vb = {k: g["value"].to_numpy() for k, g in _ok_values(b).groupby(KEYS, sort=False)}
    meta = pd.concat([a, b])[KEYS + ["unit", "higher_is_better"]]
    meta = meta[meta["metric"].fillna("").astype(bool)].drop_duplicates(KEYS)
    rows = []
    for m in meta.itertuples(index=False):
        key = (m.suite, m.cell, m.test, m.metric)
        xa, xb = va.get(key, np.array([])), vb.get(key, np.array([]))
        hib = bool(m.higher_is_better)
        thr = throughput_threshold if hib else latency_threshold
        row = {"suite": m.suite, "cell": m.cell, "test": m.test, "metric": m.metric, "unit": m.unit,
               "higher_is_better": hib, "n_a": int(xa.size), "n_b": int(xb.size),
               "median_a": float(np.median(xa)) if xa.size else np.nan,
               "median_b": float(np.median(xb)) if xb.size else np.nan, "threshold": thr,
               "p_worse": np.nan, "p_better": np.nan, "note": ""}
        if xa.size < 2 or xb.size < 2:
            row.update(ratio=np.nan, ratio_ci_lo=np.nan, ratio_ci_hi=np.nan,
                       note=" and ".join(s for s, x in (("baseline", xa), ("candidate", xb)) if x.size < 2)
                       + " has fewer than 2 values")
        else:
            row["ratio"], row["ratio_ci_lo"], row["ratio_ci_hi"] = ratio_ci(
                xa, xb, confidence=confidence, n_boot=n_boot, seed=seed)
            lower = mannwhitneyu(xb, xa, alternative="less").pvalue
            higher = mannwhitneyu(xb, xa, alternative="greater").pvalue
            row["p_worse"], row["p_better"] = (lower, higher) if hib else (higher, lower)
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=[*KEYS, "unit", "higher_is_better", "n_a", "n_b", "median_a", "median_b",
                                     "ratio", "ratio_ci_lo", "ratio_ci_hi", "p_worse", "p_better", "p_worse_holm",
                                     "p_better_holm", "threshold", "verdict", "note"])
    out["p_worse_holm"] = holm(out["p_worse"].to_numpy())
    out["p_better_holm"] = holm(out["p_better"].to_numpy())
    out["verdict"] = [_verdict(r, alpha) for r in out.itertuples()]
    cols = [*KEYS, "unit", "higher_is_better", "n_a", "n_b", "median_a", "median_b", "ratio", "ratio_ci_lo",
            "ratio_ci_hi", "p_worse", "p_better", "p_worse_holm", "p_better_holm", "threshold", "verdict", "note"]
    return out[cols]


def _verdict(r: object, alpha: float) -> str:
    lo, hi, thr = r.ratio_ci_lo, r.ratio_ci_hi, r.threshold  # type: ignore[attr-defined]
    if r.n_a < 2 or r.n_b < 2 or not np.isfinite(lo):  # type: ignore[attr-defined]
        return "missing"
    worse_beyond = hi < 1 - thr if r.higher_is_better else lo > 1 + thr  # type: ignore[attr-defined]
    better_beyond = lo > 1 + thr if r.higher_is_better else hi < 1 - thr  # type: ignore[attr-defined]
    if r.p_worse_holm < alpha and worse_beyond:  # type: ignore[attr-defined]
        return "regression"
    if r.p_better_holm < alpha and better_beyond:  # type: ignore[attr-defined]
        return "improvement"
    if 1 - thr <= lo and hi <= 1 + thr:
        return "equivalent"
    return "inconclusive"


def has_regression(result: pd.DataFrame) -> bool:
    return bool((result["verdict"] == "regression").any()) if not result.empty else False
