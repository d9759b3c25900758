"""Statistics per cell: bootstrap CIs, CV, aggregation of tidy rows, the noisy-session gate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from labkit.bench import stats
from labkit.bench.schema import METRICS
from labkit.errors import BadInput


def row(cell: str, metric: str, value: float | None, *, test: str = "tcp-1", base: str | None = None,
        status: str = "ok", error: str | None = None, suite: str = "net", run_id: str = "r1") -> dict[str, Any]:
    unit, hib = METRICS.get(metric, (None, None))
    return {"suite": suite, "cell": cell, "baseline_cell": base, "baseline_level": None, "test": test,
            "metric": metric, "value": value, "unit": unit, "higher_is_better": hib, "status": status,
            "error": error, "run_id": run_id}


def series(cell: str, metric: str, values: list[float], **kw: Any) -> list[dict[str, Any]]:
    return [row(cell, metric, v, **kw) for v in values]


def test_bootstrap_ci_brackets_the_median_and_is_reproducible() -> None:
    values = np.random.default_rng(1).normal(100, 5, size=20)
    lo, hi = stats.bootstrap_median_ci(values, seed=3)
    assert lo < np.median(values) < hi
    assert (lo, hi) == stats.bootstrap_median_ci(values, seed=3)
    narrow = stats.bootstrap_median_ci(values, confidence=0.5, seed=3)
    assert lo <= narrow[0] and narrow[1] <= hi and narrow != (lo, hi)


def test_bootstrap_ci_edge_sizes() -> None:
    assert stats.bootstrap_median_ci([7.0]) == (7.0, 7.0)
    assert all(math.isnan(x) for x in stats.bootstrap_median_ci([]))
    assert stats.bootstrap_median_ci([float("nan"), 4.0]) == (4.0, 4.0)


def test_summarize_ignores_nan_and_computes_cv_with_ddof_1() -> None:
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, float("nan")])
    assert s.n == 4 and s.median == 2.5 and s.mean == 2.5
    assert (s.q1, s.q3, s.iqr) == (1.75, 3.25, 1.5)
    assert s.cv == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2.5)
    assert s.ci_lo <= s.median <= s.ci_hi


@pytest.mark.parametrize("values", [[5.0], [-1.0, 1.0], []])
def test_summarize_cv_undefined(values: list[float]) -> None:
    assert math.isnan(stats.summarize(values).cv)


def test_ratio_ci_of_a_10_percent_drop() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(100, 1, 8), rng.normal(90, 1, 8)
    ratio, lo, hi = stats.ratio_ci(a, b)
    assert ratio == pytest.approx(np.median(b) / np.median(a))
    assert 0.85 < lo < ratio < hi < 0.95


def test_ratio_ci_zero_medians() -> None:
    assert stats.ratio_ci([0, 0, 0], [0, 0, 0]) == (1.0, 1.0, 1.0)
    ratio, lo, hi = stats.ratio_ci([0, 0, 0], [5, 6, 7])
    assert ratio == math.inf and lo == math.inf
    assert all(math.isnan(x) for x in stats.ratio_ci([], [1.0]))


def ladder_rows() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = [row("ipvlan", "", None, base="loopback", status="unavailable", error="no ipvlan in this kernel")]
    rows += series("loopback", "throughput_bps", list(rng.normal(100, 1, 6)))
    rows += series("loopback", "lat_p99_us", list(rng.normal(20, 0.5, 6)), test="latency")
    rows += series("bridge", "throughput_bps", list(rng.normal(60, 1, 6)), base="loopback")
    rows += series("bridge", "lat_p99_us", list(rng.normal(30, 0.5, 6)), test="latency", base="loopback")
    rows += [row("bridge", "", None, base="loopback", status="failed", error="iperf3: connection refused"),
             row("bridge", "", None, base="loopback", status="failed", error="container gone")]
    rows += [row("bridge", "throughput_bps", float("nan"), base="loopback")]  # ok but unusable: ignored
    return pd.DataFrame(rows)


def test_aggregate_one_row_per_series_in_input_order() -> None:
    s = stats.aggregate(ladder_rows())
    assert list(s.columns) == list(stats.SUMMARY_COLUMNS)
    assert list(zip(s.cell, s.test, s.metric, strict=True)) == [
        ("ipvlan", "tcp-1", ""), ("loopback", "tcp-1", "throughput_bps"), ("loopback", "latency", "lat_p99_us"),
        ("bridge", "tcp-1", "throughput_bps"), ("bridge", "latency", "lat_p99_us")]


def test_aggregate_statistics_use_only_ok_finite_rows() -> None:
    rows = ladder_rows()
    s = stats.aggregate(rows).set_index(["cell", "metric"])
    bridge = s.loc[("bridge", "throughput_bps")]
    ok = rows[(rows.cell == "bridge") & (rows.metric == "throughput_bps")].value.dropna()
    assert bridge.n == 6 and bridge["median"] == pytest.approx(ok.median())
    assert bridge.n_failed == 2 and bridge.note == "iperf3: connection refused"
    assert bridge.unit == "bit/s" and bridge.higher_is_better is True
    assert s.loc[("bridge", "lat_p99_us")].n_failed == 0 and s.loc[("bridge", "lat_p99_us")].note == ""


def test_unavailable_cell_still_appears_with_its_reason() -> None:
    s = stats.aggregate(ladder_rows())
    ip = s[s.cell == "ipvlan"].iloc[0]
    assert ip.n == 0 and ip.n_failed == 1 and ip.metric == ""
    assert ip.note == "no ipvlan in this kernel"
    assert math.isnan(ip["median"]) and math.isnan(ip.ratio)


def test_unavailable_test_in_an_otherwise_measured_cell_gets_its_own_row() -> None:
    rows = pd.DataFrame(series("host", "throughput_bps", [1.0, 2.0, 3.0])
                        + [row("host", "", None, test="latency", status="failed", error="sockperf missing")])
    s = stats.aggregate(rows)
    lat = s[s.test == "latency"].iloc[0]
    assert (lat.metric, lat.n, lat.n_failed, lat.note) == ("", 0, 1, "sockperf missing")


@pytest.mark.parametrize("dtype", ["boolean", "float64"])
def test_missing_values_of_any_dtype_are_tolerated(dtype: str) -> None:
    rows = ladder_rows()
    rows["higher_is_better"] = rows["higher_is_better"].astype(dtype)  # NA / NaN in the unavailable rows
    rows["baseline_cell"] = rows["baseline_cell"].astype("string")
    s = stats.aggregate(rows).set_index(["cell", "metric"])
    assert s.loc[("bridge", "throughput_bps")].higher_is_better is True
    assert s.loc[("loopback", "lat_p99_us")].higher_is_better is False
    assert s.loc[("bridge", "lat_p99_us")].ratio > 1 and s.loc[("ipvlan", "")].note == "no ipvlan in this kernel"


def test_percentiles_are_medians_of_per_run_values_not_means() -> None:
    p99 = [10.0, 11.0, 12.0, 13.0, 100.0]
    s = stats.aggregate(pd.DataFrame(series("loopback", "lat_p99_us", p99, test="latency")))
    assert s.loc[0, "median"] == 12.0


def test_ratio_to_baseline_and_root_baseline() -> None:
    rows = ladder_rows()
    s = stats.aggregate(rows).set_index(["cell", "metric"])
    loop = rows[(rows.cell == "loopback") & (rows.metric == "throughput_bps")].value
    bridge = rows[(rows.cell == "bridge") & (rows.metric == "throughput_bps")].value.dropna()
    b = s.loc[("bridge", "throughput_bps")]
    assert b.baseline_median == pytest.approx(loop.median())
    assert b.ratio == pytest.approx(bridge.median() / loop.median())
    assert b.ratio_ci_lo < b.ratio < b.ratio_ci_hi
    root = s.loc[("loopback", "throughput_bps")]
    assert (root.ratio, root.ratio_ci_lo, root.ratio_ci_hi) == (1.0, 1.0, 1.0)


def test_ratio_is_nan_without_a_baseline_or_with_a_missing_one() -> None:
    rows = pd.DataFrame(series("lonely", "iops", [1.0, 2.0], suite="storage")
                        + series("orphan", "iops", [1.0, 2.0], suite="storage", base="nowhere"))
    s = stats.aggregate(rows)
    assert s.ratio.isna().all() and s.baseline_median.isna().all()


def test_baseline_is_looked_up_within_the_same_suite() -> None:
    rows = pd.DataFrame(series("a", "iops", [10.0, 10.0], suite="storage")
                        + series("a", "iops", [99.0, 99.0], suite="other")
                        + series("b", "iops", [5.0, 5.0], suite="storage", base="a"))
    s = stats.aggregate(rows)
    assert s[s.cell == "b"].ratio.iloc[0] == 0.5


def test_aggregate_of_empty_rows_and_bad_input() -> None:
    empty = pd.DataFrame(columns=list(stats.REQUIRED))
    assert stats.aggregate(empty).empty
    with pytest.raises(BadInput, match="missing columns status"):
        stats.aggregate(pd.DataFrame(ladder_rows()).drop(columns=["status"]))


def test_noisy_flags_only_baselines_above_their_gate() -> None:
    rng = np.random.default_rng(2)
    rows = pd.DataFrame(series("loopback", "throughput_bps", list(rng.normal(100, 10, 8)))  # CV ~10 % > 5 %
                        + series("loopback", "lat_p99_us", list(rng.normal(20, 1, 8)), test="latency")  # ~5 % < 10 %
                        + series("bridge", "throughput_bps", list(rng.normal(50, 10, 8)), base="loopback")
                        + series("bridge", "lat_p99_us", list(rng.normal(20, 1, 8)), test="latency",
                                 base="loopback"))
    flagged = stats.noisy(stats.aggregate(rows))
    assert list(zip(flagged.cell, flagged.metric, strict=True)) == [("loopback", "throughput_bps")]
    assert "throughput gate" in flagged.reason.iloc[0]
    assert stats.noisy(stats.aggregate(rows), cv_throughput=0.5).empty
    assert len(stats.noisy(stats.aggregate(rows), cv_latency=0.01)) == 2
