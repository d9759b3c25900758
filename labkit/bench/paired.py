"""Paired A/B analysis: the regression gate when A and B were measured together (``--ab``, issue 13).

A and B are measured in *blocks*: each block holds one A and one B measurement of the same cell and
test, taken at the same moment (duet) or back to back in a random order (AB or BA). The unit of
analysis is the per-block log ratio ``d = log(B/A)`` (``log(A/B)`` for lower-is-better metrics, so
negative always means *worse*). Drift of the host shared by both arms cancels in ``d``.

- estimate: exp of the 20 %-trimmed mean of ``d`` (robust to a block hit by a burst of other load,
  smooth enough for BCa); CI: paired BCa bootstrap, ``scipy.stats.bootstrap(paired=True, method="BCa")``;
- test: one-sided Wilcoxon signed-rank (``scipy.stats.wilcoxon``), Holm-corrected across series;
- verdict: *regression* iff the CI of B/A lies entirely beyond the threshold on the worse side **and**
  p < alpha; *equivalent* iff the CI lies inside ±threshold; else *inconclusive*, always with the
  minimum detectable effect (MDE) of the noise measured; never decisive below ``min_pairs`` pairs.
- a failed repetition breaks its pair: the pair is dropped (never used unpaired) and counted.

Unpaired comparisons of two independent runs keep :mod:`labkit.bench.compare`.

>>> paired_verdict([10, 11, 9, 10, 12, 10, 11, 9], [10, 11, 9, 10, 12, 10, 11, 9]).verdict
'equivalent'
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sst

from labkit.bench.compare import holm

Values = Sequence[float] | np.ndarray
TRIM = 0.2  # fraction cut from each end by the trimmed mean
_NAN = float("nan")


def block_orders(n: int, rng: np.random.Generator | int | None = None) -> list[str]:
    """Balanced random within-block orders: n//2 each of "AB" and "BA" (one random extra if n is odd)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    gen = np.random.default_rng(rng)
    orders = ["AB", "BA"] * (n // 2) + ([str(gen.choice(["AB", "BA"]))] if n % 2 else [])
    gen.shuffle(orders)
    return orders


@dataclass(frozen=True)
class Pairs:
    """Usable pairs of one series: A and B values, oriented log ratios (negative = worse), pairs dropped."""

    a: np.ndarray
    b: np.ndarray
    d: np.ndarray
    n_dropped: int

    @property
    def n(self) -> int:
        return int(self.d.size)


def pairs(a: Values, b: Values, *, higher_is_better: bool = True) -> Pairs:
    """Per-block log ratios; a pair with a NaN, infinite or non-positive side is dropped and counted."""
    xa, xb = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if xa.shape != xb.shape:
        raise ValueError(f"a and b need one value per block each (got {xa.size} and {xb.size})")
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(xa) & np.isfinite(xb) & (xa > 0) & (xb > 0)
    xa, xb = xa[ok], xb[ok]
    d = np.log(xb / xa) if higher_is_better else np.log(xa / xb)
    return Pairs(xa, xb, d, int((~ok).sum()))


def _trimmed(d: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(sst.trim_mean(d, TRIM, axis=axis))


def ratio_ci(a: Values, b: Values, *, confidence: float = 0.95, n_resamples: int = 1999,
             rng: np.random.Generator | int | None = 0) -> tuple[float, float, float]:
    """B/A as exp(trimmed mean of log(B/A)) with a paired BCa bootstrap CI (blocks resampled whole).

    Fewer than 3 usable pairs: NaNs. Zero spread: a degenerate CI. BCa failing on odd data falls
    back to the percentile method."""
    p = pairs(a, b)
    if p.n < 3:
        return _NAN, _NAN, _NAN
    la, lb = np.log(p.a), np.log(p.b)
    est = float(np.exp(_trimmed(lb - la)))
    if np.ptp(lb - la) == 0:
        return est, est, est

    def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return _trimmed(y - x, axis=axis)

    lo = hi = _NAN
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DegenerateDataWarning on tiny n: bounds checked below
            res = sst.bootstrap((la, lb), stat, paired=True, vectorized=True, confidence_level=confidence,
                                n_resamples=n_resamples, method=method, rng=rng)
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(lo) and np.isfinite(hi):
            break
    return est, float(np.exp(lo)), float(np.exp(hi))


def wilcoxon_worse(d: Values) -> float:
    """One-sided Wilcoxon signed-rank p for "worse" given oriented log ratios (negative = worse)."""
    arr = np.asarray(d, dtype=float)
    arr = arr[np.isfinite(arr)]
    if np.count_nonzero(arr) < 2:
        return _NAN
    return float(sst.wilcoxon(arr, alternative="less").pvalue)


def effective_sd(d: Values) -> float:
    """Spread setting the trimmed mean's standard error as sd/√n: winsorized sd / (1 − 2·TRIM)
    (Tukey & McLaughlin 1963), so the MDE matches the estimator the CI is built on."""
    arr = np.asarray(d, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size < 2:
        return _NAN
    w = np.asarray(sst.mstats.winsorize(arr, limits=(TRIM, TRIM)), dtype=float)
    return float(w.std(ddof=1) / (1 - 2 * TRIM))


def mde(sd_log: float, n: int, *, threshold: float = 0.05, confidence: float = 0.95, power: float = 0.8) -> float:
    """The gate's minimum detectable effect (fraction): the smallest slowdown it *flags* (CI bound beyond
    ``threshold``) with probability ``power``, given per-block log-ratio spread ``sd_log`` and ``n`` pairs.

    MDE_log = −log(1 − threshold) + (t_{1−(1−conf)/2} + t_power)·sd/√n (Student t, n−1 df);
    MDE = 1 − exp(−MDE_log)."""
    if n < 2 or not np.isfinite(sd_log) or sd_log < 0:
        return _NAN
    z = float(sst.t.ppf(1 - (1 - confidence) / 2, n - 1) + sst.t.ppf(power, n - 1))
    return float(1 - math.exp(-(-math.log(1 - threshold) + z * sd_log / math.sqrt(n))))


def pairs_needed(sd_log: float, effect: float, *, threshold: float = 0.05, confidence: float = 0.95,
                 power: float = 0.9, n_max: int = 10_000) -> int | None:
    """Smallest n whose gate MDE is ≤ ``effect``; None if never (effect inside the band, or > n_max)."""
    if effect <= threshold or not np.isfinite(sd_log):
        return None
    lo, hi = 3, n_max
    if mde(sd_log, hi, threshold=threshold, confidence=confidence, power=power) > effect:
        return None
    while lo < hi:  # mde falls with n
        mid = (lo + hi) // 2
        if mde(sd_log, mid, threshold=threshold, confidence=confidence, power=power) <= effect:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class PairedResult:
    """The gate's reading of one series (cell, test, metric)."""

    n: int              # usable pairs
    n_dropped: int      # pairs broken by a failed repetition
    ratio: float        # B/A in the data's own units
    ci_lo: float
    ci_hi: float
    p_worse: float      # one-sided Wilcoxon
    p_better: float
    sd_log: float       # effective sd of the per-block log ratios
    mde: float          # smallest slowdown the gate flags with 80 % power at this noise and n
    verdict: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(lo: float, hi: float, p_worse: float, p_better: float, *, higher_is_better: bool = True,
           threshold: float = 0.05, alpha: float = 0.05) -> tuple[str, str]:
    """(verdict, note) from a ratio CI and (Holm-adjusted) one-sided p-values."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive", "ratio CI undefined"
    worse = hi < 1 - threshold if higher_is_better else lo > 1 + threshold
    better = lo > 1 + threshold if higher_is_better else hi < 1 - threshold
    if worse and p_worse < alpha:
        return "regression", ""
    if better and p_better < alpha:
        return "improvement", ""
    if 1 - threshold <= lo and hi <= 1 + threshold:
        return "equivalent", ""
    if worse or better:
        p = p_worse if worse else p_better
        return "inconclusive", f"CI beyond ±{threshold:.0%} but Wilcoxon p = {p:.3g} ≥ {alpha:g}"
    return "inconclusive", f"ratio CI [{lo:.3f}, {hi:.3f}] straddles the ±{threshold:.0%} band"


def _mde_note(sd: float, n: int, m: float) -> str:
    if not np.isfinite(m):
        return "too few pairs to estimate the noise"
    return (f"MDE {m:.1%}: with this noise (sd of log ratio {sd:.3f}) and n={n} pairs, smaller changes "
            f"cannot be told from noise")


def paired_verdict(a: Values, b: Values, *, higher_is_better: bool = True, threshold: float = 0.05,
                   alpha: float = 0.05, confidence: float = 0.95, min_pairs: int = 6, n_resamples: int = 1999,
                   p_holm: tuple[float, float] | None = None) -> PairedResult:
    """Verdict on paired blocks (``a[i]``, ``b[i]`` from block i; NaN = a failed repetition).

    ``p_holm`` = (p_worse, p_better) adjusted across series (see :func:`compare_paired`) decides instead
    of the raw p-values."""
    p = pairs(a, b, higher_is_better=higher_is_better)
    broken = f"; {p.n_dropped} pair(s) dropped (a failed repetition broke them)" if p.n_dropped else ""
    sd = effective_sd(p.d)
    m = mde(sd, p.n, threshold=threshold, confidence=confidence)
    if p.n < 3:
        return PairedResult(p.n, p.n_dropped, _NAN, _NAN, _NAN, _NAN, _NAN, sd, m, "inconclusive",
                            f"only {p.n} usable pair(s): need at least {min_pairs}{broken}")
    ratio, lo, hi = ratio_ci(p.a, p.b, confidence=confidence, n_resamples=n_resamples)
    pw, pb = wilcoxon_worse(p.d), wilcoxon_worse(-p.d)
    qw, qb = p_holm or (pw, pb)
    verdict, note = decide(lo, hi, qw, qb, higher_is_better=higher_is_better, threshold=threshold,
                           alpha=alpha)
    if p.n < min_pairs:
        verdict, note = "inconclusive", f"only {p.n} usable pairs: need at least {min_pairs}"
    note = "; ".join(x for x in (note, _mde_note(sd, p.n, m)) if x) + broken
    return PairedResult(p.n, p.n_dropped, ratio, lo, hi, pw, pb, sd, m, verdict, note)


@dataclass(frozen=True)
class StoppingRule:
    """When the adaptive gate may stop: looks every ``look_every`` pairs from ``min_pairs`` on, at the
    wider ``look_confidence`` CI (repeated looks inflate error rates); the final look (budget spent)
    uses ``confidence``. Stops at the first decisive look or when the budget is spent."""

    min_pairs: int = 10
    look_every: int = 4
    max_pairs: int = 200
    max_seconds: float = 300.0
    look_confidence: float = 0.98
    confidence: float = 0.95
    threshold: float = 0.05
    alpha: float = 0.05


@dataclass(frozen=True)
class Decision:
    stop: bool
    result: PairedResult | None
    reason: str


def sequential_decision(a: Values, b: Values, *, elapsed_s: float, rule: StoppingRule = StoppingRule(),
                        higher_is_better: bool = True, seconds_per_pair: float | None = None) -> Decision:
    """Apply the adaptive rule after the latest pair: stop (with the verdict) or go on."""
    p = pairs(a, b, higher_is_better=higher_is_better)
    n_total = int(np.asarray(a).size)
    fits = seconds_per_pair is None or elapsed_s + seconds_per_pair <= rule.max_seconds
    kw = dict(higher_is_better=higher_is_better, threshold=rule.threshold, alpha=rule.alpha,
              min_pairs=rule.min_pairs)
    if n_total >= rule.max_pairs or elapsed_s >= rule.max_seconds or not fits:
        why = "pair limit reached" if n_total >= rule.max_pairs else "time budget spent"
        return Decision(True, paired_verdict(a, b, confidence=rule.confidence, **kw), why)  # type: ignore[arg-type]
    if p.n < rule.min_pairs or (p.n - rule.min_pairs) % rule.look_every:
        return Decision(False, None, f"no look at n={p.n}")
    res = paired_verdict(a, b, confidence=rule.look_confidence, **kw)  # type: ignore[arg-type]
    if res.verdict != "inconclusive":
        return Decision(True, res, f"decided at look n={p.n}")
    return Decision(False, res, "undecided: add pairs")


def noise_check(d: Values, *, effect: float = 0.10, threshold: float = 0.05, sd_limit: float = 0.15,
                seconds_per_pair: float | None = None, budget_s: float | None = None,
                power: float = 0.8) -> str:
    """"" when the host looks quiet enough; else a sentence: the noise measured, and the pairs (and
    seconds, given ``seconds_per_pair``) a change of ``effect`` needs at ``power``."""
    sd = effective_sd(d)
    if not np.isfinite(sd):
        return ""
    need = pairs_needed(sd, effect, threshold=threshold, power=power)
    fit = int(budget_s // seconds_per_pair) if budget_s and seconds_per_pair else None
    if sd <= sd_limit and (need is not None and (fit is None or need <= fit)):
        return ""
    cost = ("an unreachable number of pairs" if need is None else
            f"≈ {need} pairs" + (f" (≈ {need * seconds_per_pair:.0f} s)" if seconds_per_pair else ""))
    return (f"too noisy for a {effect:.0%} gate here: sd of per-block log ratio {sd:.3f}"
            f"{f' (limit {sd_limit:.2f})' if sd > sd_limit else ''}; a {effect:.0%} change needs {cost} "
            f"for {power:.0%} power" + (f", the budget fits {fit}" if fit is not None else ""))


# ----------------------------------------------------------------------------- rows → verdicts
PAIR_KEYS = ("suite", "cell", "test", "metric")
PAIRED_COLUMNS = (*PAIR_KEYS, "unit", "higher_is_better", "n_a", "n_b", "n_pairs", "n_dropped", "median_a",
                  "median_b",
                  "ratio", "ratio_ci_lo", "ratio_ci_hi", "p_worse", "p_better", "p_worse_holm", "p_better_holm",
                  "threshold", "mde", "sd_log", "delivered", "verdict", "note")


def _block_values(rows: Any, key: tuple[Any, ...]) -> dict[int, float]:
    """block → value of one series (NaN for a failed repetition)."""
    sel = rows[(rows[list(PAIR_KEYS[:3])] == list(key[:3])).all(axis=1)]
    out: dict[int, float] = {}
    for r in sel.itertuples(index=False):
        if r.status == "ok" and r.metric == key[3]:
            out[int(r.block)] = float(r.value)
        elif r.status != "ok":
            out.setdefault(int(r.block), _NAN)
    return out


def compare_paired(a: Any, b: Any, *, throughput_threshold: float = 0.05, latency_threshold: float = 0.10,
                   alpha: float = 0.05, confidence: float = 0.95, min_pairs: int = 6) -> Any:
    """Verdict per (suite, cell, test, metric) between the A and B rows of one ``--ab`` run, paired by block.

    Wilcoxon p-values are Holm-corrected across all series. ``delivered`` is the median of the
    per-block ``impair_delivered`` the B rows carry (the cut an impairment really made), if any."""
    import pandas as pd

    ok = b[(b["status"] == "ok") & b["metric"].fillna("").astype(bool)]
    keys = list(dict.fromkeys(tuple(k) for k in ok[list(PAIR_KEYS)].itertuples(index=False, name=None)))
    raw = []
    for key in keys:
        va, vb = _block_values(a, key), _block_values(b, key)
        blocks = sorted(set(va) | set(vb))
        xa = np.array([va.get(k, _NAN) for k in blocks])
        xb = np.array([vb.get(k, _NAN) for k in blocks])
        g = ok[(ok[list(PAIR_KEYS)] == list(key)).all(axis=1)]
        hib = bool(g["higher_is_better"].iloc[0])
        delivered = pd.to_numeric(g.get("impair_delivered"), errors="coerce").dropna() \
            if "impair_delivered" in g else pd.Series(dtype=float)
        raw.append((key, g["unit"].iloc[0], hib, xa, xb, float(delivered.median()) if len(delivered) else _NAN))
    p_raw = [pairs(xa, xb, higher_is_better=hib) for _, _, hib, xa, xb, _ in raw]
    pw = holm([wilcoxon_worse(p.d) if p.n >= 3 else _NAN for p in p_raw])
    pb = holm([wilcoxon_worse(-p.d) if p.n >= 3 else _NAN for p in p_raw])
    out = []
    for i, (key, unit, hib, xa, xb, delivered) in enumerate(raw):
        thr = throughput_threshold if hib else latency_threshold
        res = paired_verdict(xa, xb, higher_is_better=hib, threshold=thr, alpha=alpha, confidence=confidence,
                             min_pairs=min_pairs, p_holm=(float(pw[i]), float(pb[i])))
        out.append({**dict(zip(PAIR_KEYS, key, strict=True)), "unit": unit, "higher_is_better": hib,
                    "n_a": int(np.isfinite(xa).sum()), "n_b": int(np.isfinite(xb).sum()),
                    "n_pairs": res.n, "n_dropped": res.n_dropped,
                    "median_a": float(np.nanmedian(xa)) if np.isfinite(xa).any() else _NAN,
                    "median_b": float(np.nanmedian(xb)) if np.isfinite(xb).any() else _NAN,
                    "ratio": res.ratio, "ratio_ci_lo": res.ci_lo, "ratio_ci_hi": res.ci_hi,
                    "p_worse": res.p_worse, "p_better": res.p_better, "p_worse_holm": pw[i],
                    "p_better_holm": pb[i], "threshold": thr, "mde": res.mde, "sd_log": res.sd_log,
                    "delivered": delivered, "verdict": res.verdict, "note": res.note})
    return pd.DataFrame(out, columns=list(PAIRED_COLUMNS))
