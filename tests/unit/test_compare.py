"""Regression verdicts: Mann–Whitney + Holm + ratio CI against a practical threshold."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from labkit.bench.compare import RESULT_COLUMNS, VERDICTS, compare, has_regression, holm
from labkit.bench.schema import METRICS
from labkit.errors import BadInput


def rows(values: dict[tuple[str, str], Any], *, status: str = "ok", error: str | None = None) -> pd.DataFrame:
    """Tidy rows from {(cell, metric): values}."""
    out = []
    for (cell, metric), vals in values.items():
        unit, hib = METRICS.get(metric, (None, None))
        out += [{"suite": "net", "cell": cell, "baseline_cell": None, "baseline_level": None, "test": "t",
                 "metric": metric, "value": float(v), "unit": unit, "higher_is_better": hib, "status": status,
                 "error": error, "run_id": "r"} for v in vals]
    return pd.DataFrame(out)


def noisy(center: float, *, seed: int, n: int = 6, sd: float = 0.01) -> np.ndarray:
    """n samples around ``center`` with relative noise ``sd``."""
    return center * (1 + np.random.default_rng(seed).normal(0, sd, n))


def verdict(a: Any, b: Any, metric: str = "throughput_bps", **kw: Any) -> pd.Series:
    return compare(rows({("c", metric): a}), rows({("c", metric): b}), **kw).iloc[0]


def test_throughput_10_percent_lower_is_a_regression() -> None:
    r = verdict(noisy(100, seed=1), noisy(90, seed=2))
    assert r.verdict == "regression", r.to_dict()
    assert r.ratio == pytest.approx(0.9, abs=0.02) and r.ratio_ci_hi < 0.95
    assert r.p_worse < 0.01 and r.p_better > 0.99 and r.threshold == 0.05


def test_a_a_with_different_seeds_is_equivalent() -> None:
    r = verdict(noisy(100, seed=3), noisy(100, seed=4))
    assert r.verdict == "equivalent", r.to_dict()
    assert 0.95 <= r.ratio_ci_lo <= r.ratio_ci_hi <= 1.05


@pytest.mark.parametrize(("factor", "expected"), [(1.2, "regression"), (0.8, "improvement"), (1.0, "equivalent")])
def test_latency_direction_is_reversed(factor: float, expected: str) -> None:
    r = verdict(noisy(50, seed=5), noisy(50 * factor, seed=6), metric="lat_p99_us")
    assert r.verdict == expected, r.to_dict()
    assert r.threshold == 0.10 and not r.higher_is_better


def test_throughput_higher_is_an_improvement() -> None:
    assert verdict(noisy(100, seed=7), noisy(120, seed=8)).verdict == "improvement"


def test_small_change_inside_ci_but_beyond_band_is_inconclusive() -> None:
    r = verdict(noisy(100, seed=9, sd=0.05), noisy(97, seed=10, sd=0.05))
    assert r.verdict == "inconclusive" and "add repetitions" in r.note


def test_one_value_each_is_missing_with_the_side_named() -> None:
    r = verdict([100.0], [90.0])
    assert r.verdict == "missing" and "baseline has 1 value" in r.note and "candidate has 1 value" in r.note
    r = verdict(noisy(100, seed=1), [90.0])
    assert r.verdict == "missing" and "candidate" in r.note and "baseline" not in r.note


def test_cell_unavailable_in_candidate_is_missing_with_its_error() -> None:
    a = rows({("ipvlan", "throughput_bps"): noisy(100, seed=1)})
    b = rows({("ipvlan", ""): [np.nan]}, status="unavailable", error="no ipvlan in this kernel")
    r = compare(a, b).iloc[0]
    assert (r.metric, r.n_a, r.n_b, r.verdict) == ("throughput_bps", 6, 0, "missing")
    assert "no ipvlan in this kernel" in r.note


def test_failed_rows_do_not_count() -> None:
    a = rows({("c", "throughput_bps"): noisy(100, seed=1)})
    b = pd.concat([rows({("c", "throughput_bps"): noisy(90, seed=2)[:1]}),
                   rows({("c", "throughput_bps"): noisy(50, seed=3)}, status="failed", error="boom")])
    assert compare(a, b).iloc[0].verdict == "missing"


def test_holm_matches_hand_computed_values() -> None:
    adjusted = holm([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])
    assert holm([]).size == 0


def test_holm_turns_a_borderline_regression_into_inconclusive() -> None:
    # 4 vs 4 perfectly separated: exact one-sided p = 1/70 ≈ 0.014 < 0.05 alone,
    # but 4 × 0.014 ≈ 0.057 once three more cells share the family.
    worse = {("x", "throughput_bps"): noisy(100, seed=1, n=4)}, {("x", "throughput_bps"): noisy(80, seed=2, n=4)}
    alone = compare(rows(worse[0]), rows(worse[1])).iloc[0]
    assert alone.p_worse == pytest.approx(1 / 70) and alone.verdict == "regression"
    a, b = dict(worse[0]), dict(worse[1])
    for i, cell in enumerate(("p", "q", "r")):
        a[(cell, "throughput_bps")] = noisy(100, seed=10 + i, n=4)
        b[(cell, "throughput_bps")] = noisy(100, seed=20 + i, n=4)
    family = compare(rows(a), rows(b)).set_index("cell")
    assert family.loc["x", "p_worse"] == pytest.approx(1 / 70)
    assert family.loc["x", "p_worse_holm"] == pytest.approx(4 / 70)
    assert family.loc["x", "verdict"] == "inconclusive" and not has_regression(family)


def test_ties_are_handled() -> None:
    r = verdict([0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], metric="retransmits")
    assert (r.ratio, r.p_worse, r.verdict) == (1.0, 1.0, "equivalent")
    r = verdict([10, 10, 11, 11, 10, 11], [10, 11, 11, 10, 10, 11], metric="retransmits")
    assert r.verdict != "regression" and 0 < r.p_worse < 1
    r = verdict([10] * 6, [20] * 6, metric="retransmits")
    assert r.verdict == "regression" and r.p_worse < 0.01


def test_output_shape_and_has_regression() -> None:
    a = rows({("c1", "throughput_bps"): noisy(100, seed=1), ("c2", "lat_p99_us"): noisy(50, seed=2)})
    b = rows({("c1", "throughput_bps"): noisy(90, seed=3), ("c3", "lat_p99_us"): noisy(50, seed=4)})
    result = compare(a, b)
    assert list(result.columns) == list(RESULT_COLUMNS)
    assert list(result.cell) == ["c1", "c2", "c3"] and set(result.verdict) <= set(VERDICTS)
    assert has_regression(result) and not has_regression(result[result.cell != "c1"])
    assert not has_regression(compare(a.iloc[:0], b.iloc[:0]))


@pytest.mark.parametrize(("kw", "bad"), [({"throughput_threshold": 0}, "throughput_threshold"),
                                         ({"latency_threshold": 10}, "latency_threshold"),
                                         ({"alpha": 1.0}, "alpha"), ({"alpha": float("nan")}, "alpha")])
def test_bad_parameters_name_value_allowed_and_fix(kw: dict[str, float], bad: str) -> None:
    a = rows({("c", "iops"): [1.0, 2.0]})
    with pytest.raises(ValueError, match=bad) as exc:
        compare(a, a, **kw)
    assert isinstance(exc.value, BadInput)
    assert "between 0 and 1" in str(exc.value) and "Fix:" in str(exc.value)


def test_percent_written_as_a_number_gets_a_fraction_suggested() -> None:
    a = rows({("c", "iops"): [1.0, 2.0]})
    with pytest.raises(BadInput, match=r"latency_threshold=0\.1 means 10 %"):
        compare(a, a, latency_threshold=10)
