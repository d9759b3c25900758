"""Regression verdicts between a baseline run and a candidate run, cell by cell (DESIGN §4).

*regression* only when a one-sided Mann–Whitney test (Holm-corrected across all
compared cells) says "worse" at ``alpha`` **and** the bootstrap CI of the ratio
candidate/baseline lies entirely beyond the practical threshold on the worse side;
*improvement* symmetrically; *equivalent* when that CI lies inside ±threshold;
*inconclusive* otherwise (rerun with more repetitions); *missing* when a side has
fewer than 2 values. "Worse" is lower for higher-is-better metrics, higher otherwise.

>>> result = compare(baseline_rows, candidate_rows)             # doctest: +SKIP
>>> has_regression(result)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from labkit.bench.stats import KEYS, SeriesKey, check_rows, first_error, ok_values, ratio_ci, unit_and_direction
from labkit.errors import BadInput

VERDICTS = ("regression", "improvement", "equivalent", "inconclusive", "missing")
RESULT_COLUMNS = (*KEYS, "unit", "higher_is_better", "n_a", "n_b", "median_a", "median_b", "ratio", "ratio_ci_lo",
                  "ratio_ci_hi", "p_worse", "p_better", "p_worse_holm", "p_better_holm", "threshold", "verdict",
                  "note")
_NAN = float("nan")


def holm(pvalues: Any) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values: monotone in the raw order, capped at 1; NaN stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


def _check_fraction(name: str, value: float, example: float) -> None:
    if isinstance(value, int | float) and 0 < value < 1:
        return
    fix = f"pass {name}={example:g}"
    if isinstance(value, int | float) and 1 <= value < 100:
        fix = f"write percentages as fractions: {name}={value / 100:g} means {value:g} %"
    raise BadInput(name, value, "a fraction strictly between 0 and 1", fix=fix)


def _series(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[SeriesKey, str | None, bool | None]]:
    """Every (suite, cell, test, metric) in either run, in order, with unit and direction.

    A test that measured nothing in either run (all unavailable/failed) appears once with metric ""."""
    both = pd.concat([a, b], ignore_index=True)
    metric = both["metric"].fillna("").astype(str)
    measured = {k[:3] for k, m in zip(both[KEYS[:3]].itertuples(index=False, name=None), metric, strict=True) if m}
    out = []
    for key, group in both.assign(metric=metric).groupby(KEYS, sort=False):
        if key[3] or key[:3] not in measured:
            out.append((key, *unit_and_direction(group, key[3])))
    return out


def _errors(rows: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    return {k: first_error(g) for k, g in rows.groupby(KEYS[:3], sort=False)}


def _measure(xa: np.ndarray, xb: np.ndarray, hib: bool, kw: dict[str, Any]) -> dict[str, float]:
    """Medians, ratio with CI, and one-sided Mann–Whitney p-values of one series."""
    out = {"n_a": xa.size, "n_b": xb.size, "median_a": float(np.median(xa)) if xa.size else _NAN,
           "median_b": float(np.median(xb)) if xb.size else _NAN, "ratio": _NAN, "ratio_ci_lo": _NAN,
           "ratio_ci_hi": _NAN, "p_worse": _NAN, "p_better": _NAN}
    if xa.size < 2 or xb.size < 2:
        return out
    out["ratio"], out["ratio_ci_lo"], out["ratio_ci_hi"] = ratio_ci(xa, xb, **kw)
    lower = float(mannwhitneyu(xb, xa, alternative="less", method="auto").pvalue)
    higher = float(mannwhitneyu(xb, xa, alternative="greater", method="auto").pvalue)
    out["p_worse"], out["p_better"] = (lower, higher) if hib else (higher, lower)
    return out


def _missing_note(r: Any, why_a: str, why_b: str) -> str:
    """Which side is short of values, and the error its rows carry (once if both say the same)."""
    short = [(side, n, why) for side, n, why in (("baseline", r.n_a, why_a), ("candidate", r.n_b, why_b)) if n < 2]
    same = len(short) == 2 and why_a == why_b
    parts = [f"{side} has {n} value{'s' if n != 1 else ''}" + (f" ({why})" if why and not same else "")
             for side, n, why in short]
    return "; ".join(parts) + (f" ({why_a})" if same and why_a else "") + ": need at least 2 on each side"


def _verdict(r: Any, alpha: float) -> tuple[str, str]:
    """(verdict, note) of one compared series whose p-values are already Holm-adjusted."""
    lo, hi, thr, hib = r.ratio_ci_lo, r.ratio_ci_hi, r.threshold, bool(r.higher_is_better)
    if np.isnan(lo) or np.isnan(hi):
        return "inconclusive", "ratio undefined (negative medians?)"
    worse_beyond = hi < 1 - thr if hib else lo > 1 + thr
    better_beyond = lo > 1 + thr if hib else hi < 1 - thr
    if worse_beyond and r.p_worse_holm < alpha:
        return "regression", ""
    if better_beyond and r.p_better_holm < alpha:
        return "improvement", ""
    if 1 - thr <= lo and hi <= 1 + thr:
        return "equivalent", ""
    if worse_beyond or better_beyond:
        p = r.p_worse_holm if worse_beyond else r.p_better_holm
        return "inconclusive", f"change beyond ±{thr:.0%} but Holm-adjusted p = {p:.3g} ≥ {alpha:g}: add repetitions"
    return "inconclusive", f"ratio CI [{lo:.3f}, {hi:.3f}] straddles the ±{thr:.0%} band: add repetitions"


def compare(a: pd.DataFrame, b: pd.DataFrame, *, throughput_threshold: float = 0.05, latency_threshold: float = 0.10,
            alpha: float = 0.05, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Verdict per (suite, cell, test, metric) between baseline rows ``a`` and candidate rows ``b``.

    Only status "ok" rows with finite values count. ``ratio`` is median_b / median_a.
    The threshold is ``throughput_threshold`` for higher-is-better metrics and
    ``latency_threshold`` otherwise. Both p-value families are Holm-corrected across
    all compared series. Columns: ``RESULT_COLUMNS``; ``note`` says why a verdict is
    missing or inconclusive.
    """
    _check_fraction("throughput_threshold", throughput_threshold, 0.05)
    _check_fraction("latency_threshold", latency_threshold, 0.10)
    _check_fraction("alpha", alpha, 0.05)
    _check_fraction("confidence", confidence, 0.95)
    check_rows(a, what="baseline rows")
    check_rows(b, what="candidate rows")
    kw = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    va, vb, ea, eb = ok_values(a), ok_values(b), _errors(a), _errors(b)
    empty = np.array([], dtype=float)
    rows = []
    for key, unit, hib in _series(a, b):
        threshold = _NAN if hib is None else throughput_threshold if hib else latency_threshold
        row = dict(zip(KEYS, key, strict=True), unit=unit, higher_is_better=hib, threshold=threshold)
        rows.append({**row, **_measure(va.get(key, empty), vb.get(key, empty), bool(hib), kw)})
    out = pd.DataFrame(rows, columns=[c for c in RESULT_COLUMNS if c not in ("verdict", "note")])
    out["p_worse_holm"] = holm(out["p_worse"])
    out["p_better_holm"] = holm(out["p_better"])
    verdicts = [("missing", _missing_note(r, ea.get(tuple(k), ""), eb.get(tuple(k), "")))
                if r.n_a < 2 or r.n_b < 2 else _verdict(r, alpha)
                for r, k in zip(out.itertuples(index=False), out[KEYS[:3]].to_numpy(), strict=True)]
    out["verdict"] = [v for v, _ in verdicts]
    out["note"] = [n for _, n in verdicts]
    return out[list(RESULT_COLUMNS)]


def has_regression(result: pd.DataFrame) -> bool:
    """True if any compared series of ``compare()`` output is a regression."""
    return bool((result["verdict"] == "regression").any())
