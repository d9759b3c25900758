"""Charts are pure functions of the summary frames; the report opens offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from labkit import plots
from labkit.bench import stats
from labkit.bench.compare import compare
from labkit.bench.schema import METRICS


def _rows(cell: str, metric: str, values: Any, *, test: str = "tcp-1", base: str | None = None,
          status: str = "ok", error: str | None = None) -> list[dict[str, Any]]:
    unit, hib = METRICS.get(metric, (None, None))
    return [{"suite": "net", "cell": cell, "baseline_cell": base, "baseline_level": None, "test": test,
             "metric": metric, "value": v, "unit": unit, "higher_is_better": hib, "status": status, "error": error,
             "run_id": "r1"} for v in values]


@pytest.fixture(scope="module")
def tidy() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = _rows("ipvlan", "", [None], base="loopback", status="unavailable", error="no ipvlan in this kernel")
    for cell, tput, lat, base in (("loopback", 100, 10, None), ("bridge", 60, 20, "loopback")):
        rows += _rows(cell, "throughput_bps", rng.normal(tput, 2, 6), base=base)
        rows += _rows(cell, "throughput_bps", rng.normal(tput * 0.9, 2, 6), test="tcp-8", base=base)
        for metric, k in (("lat_p50_us", 1), ("lat_p99_us", 3), ("lat_p999_us", 9)):
            rows += _rows(cell, metric, rng.normal(lat * k, 0.5, 6), test="latency", base=base)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def summary(tidy: pd.DataFrame) -> pd.DataFrame:
    return stats.aggregate(tidy)


def test_bars_show_medians_with_ci_whiskers_per_test(summary: pd.DataFrame) -> None:
    fig = plots.bars(summary, metric="throughput_bps")
    assert [t.name for t in fig.data] == ["tcp-1", "tcp-8"]
    for trace in fig.data:
        s = summary[(summary.metric == "throughput_bps") & (summary.test == trace.name)]
        assert list(trace.x) == ["loopback", "bridge"]
        np.testing.assert_allclose(trace.y, s["median"])
        np.testing.assert_allclose(trace.error_y.array, s.ci_hi - s["median"])
        np.testing.assert_allclose(trace.error_y.arrayminus, s["median"] - s.ci_lo)
        assert "n = " in trace.hovertemplate and "IQR" in trace.hovertemplate and "CV" in trace.hovertemplate
        np.testing.assert_allclose(trace.customdata[:, 0].astype(float), s.n)
    assert fig.layout.yaxis.title.text == "throughput_bps (bit/s)"


def test_unavailable_cell_is_annotated_not_dropped(summary: pd.DataFrame) -> None:
    texts = [a.text for a in plots.bars(summary, metric="throughput_bps").layout.annotations]
    assert any(t.startswith("ipvlan") and "unavailable: no ipvlan in this kernel" in t for t in texts), texts
    assert all("ipvlan" not in t.x for t in plots.bars(summary, metric="throughput_bps").data)


def test_ratios_relative_to_baseline_with_dashed_one(summary: pd.DataFrame) -> None:
    fig = plots.ratios(summary, metric="throughput_bps")
    tcp1 = fig.data[0]
    s = summary[(summary.metric == "throughput_bps") & (summary.test == "tcp-1")]
    np.testing.assert_allclose(tcp1.y, s.ratio)
    np.testing.assert_allclose(tcp1.error_y.array, s.ratio_ci_hi - s.ratio)
    assert list(tcp1.customdata[:, 0]) == ["loopback", "loopback"]
    assert "baseline" in tcp1.hovertemplate
    assert any(sh.y0 == 1.0 and sh.y1 == 1.0 and sh.line.dash == "dash" for sh in fig.layout.shapes)


def test_latency_percentiles_on_a_log_axis(summary: pd.DataFrame) -> None:
    fig = plots.latency_percentiles(summary)
    assert [t.name for t in fig.data] == ["p50", "p99", "p99.9"]
    assert fig.layout.yaxis.type == "log"
    p99 = summary[summary.metric == "lat_p99_us"]
    np.testing.assert_allclose(fig.data[1].y, p99["median"])
    assert list(fig.data[1].x) == ["loopback", "bridge"]


def test_history_line_and_ci_band_sorted_by_time(summary: pd.DataFrame) -> None:
    runs = []
    for run_id, ts, shift in (("r2", "2026-11-02T10:00:00Z", 5.0), ("r1", "2026-11-01T10:00:00Z", 0.0)):
        s = summary.copy()
        s[["median", "ci_lo", "ci_hi"]] += shift
        runs.append(s.assign(run_id=run_id, ts_start_utc=ts))
    fig = plots.history(pd.concat(runs), cell="bridge", test="tcp-1", metric="throughput_bps")
    hi, lo, med = fig.data
    base = summary[(summary.cell == "bridge") & (summary.test == "tcp-1") & (summary.metric == "throughput_bps")]
    np.testing.assert_allclose(med.y, [base["median"].iloc[0], base["median"].iloc[0] + 5])
    assert list(med.customdata[:, 0]) == ["r1", "r2"]
    assert lo.fill == "tonexty"
    np.testing.assert_allclose(lo.y, [base.ci_lo.iloc[0], base.ci_lo.iloc[0] + 5])
    np.testing.assert_allclose(hi.y, [base.ci_hi.iloc[0], base.ci_hi.iloc[0] + 5])


def test_comparison_coloured_by_verdict_with_threshold_bands(tidy: pd.DataFrame) -> None:
    ok = tidy[tidy.status == "ok"]
    worse = ok.assign(value=np.where(ok.metric == "throughput_bps", ok.value * 0.8, ok.value))
    result = compare(tidy, pd.concat([tidy[tidy.status != "ok"], worse]))
    fig = plots.comparison(result)
    by_name = {t.name: t for t in fig.data}
    assert by_name["regression"].marker.color == plots.VERDICT_COLOURS["regression"] == "#d62728"
    regressed = result[result.verdict == "regression"]
    assert len(by_name["regression"].x) == len(regressed) == 4
    np.testing.assert_allclose(by_name["regression"].y, regressed.ratio)
    assert list(by_name["missing"].y) == [1.0]  # ipvlan, no ratio: shown at 1, not dropped
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == len(result) - 1  # every series with a threshold
    lat = result.index[result.metric == "lat_p99_us"][0]
    assert bands[lat - 1].y0 == pytest.approx(0.9) and bands[0].y1 == pytest.approx(1.05)


def test_report_is_one_offline_file_with_plotly_beside_it(tmp_path: Path, summary: pd.DataFrame) -> None:
    figs = [("Throughput <bits>", plots.bars(summary, metric="throughput_bps")),
            ("Latency", plots.latency_percentiles(summary))]
    path = plots.write_report(tmp_path / "out" / "report.html", title="run <1> & co", figures=figs,
                              tables=[("Summary", summary)], notes=["noisy <session>"])
    text = path.read_text(encoding="utf-8")
    js = path.parent / "plotly.min.js"
    assert path == tmp_path / "out" / "report.html" and js.stat().st_size > 1_000_000
    assert re.findall(r"<script[^>]*\bsrc=[^>]*>", text) == ['<script src="plotly.min.js" charset="utf-8">']
    assert "http" not in text and "cdn" not in text.lower()
    assert "run &lt;1&gt; &amp; co" in text and "noisy &lt;session&gt;" in text and "<bits>" not in text
    assert text.count("Plotly.newPlot") == 2 and "<table" in text


def test_figures_are_figures(summary: pd.DataFrame) -> None:
    empty = summary.iloc[:0]
    for fig in (plots.bars(empty, metric="iops"), plots.ratios(empty, metric="iops"), plots.latency_percentiles(empty)):
        assert isinstance(fig, go.Figure) and not fig.data


def test_bit_rates_are_drawn_in_gbit_per_second_not_plotly_billions(tidy: pd.DataFrame) -> None:
    fast = tidy.assign(value=np.where(tidy.metric == "throughput_bps", tidy.value * 2e8, tidy.value))
    s = stats.aggregate(fast)
    fig = plots.bars(s, metric="throughput_bps")
    assert fig.layout.yaxis.title.text == "throughput_bps (Gbit/s)"
    loop = s[(s.metric == "throughput_bps") & (s.test == "tcp-1")]["median"].iloc[0]
    assert fig.data[0].y[0] == pytest.approx(loop / 1e9) and 15 < fig.data[0].y[0] < 25
    assert "Gbit/s" in fig.data[0].hovertemplate


def test_latency_in_microseconds_reads_micro_not_us(summary: pd.DataFrame) -> None:
    assert plots.latency_percentiles(summary).layout.yaxis.title.text == "latency (µs)"


def test_unavailable_notes_sit_below_the_axis_title_and_never_on_each_other() -> None:
    rows: list[dict[str, Any]] = []
    for i in range(4):
        rows += _rows(f"very-long-cell-name-{i}", "", [None], status="unavailable", error=f"reason {i} " * 30)
    rows += _rows("loopback", "throughput_bps", [1e10, 1.1e10, 1.2e10])
    fig = plots.bars(stats.aggregate(pd.DataFrame(rows)), metric="throughput_bps")
    notes = [a for a in fig.layout.annotations if "unavailable" in a.text]
    shifts = sorted(-a.yshift for a in notes)
    assert len(notes) == 4 and all(b - a >= 18 for a, b in zip(shifts, shifts[1:], strict=False))
    assert shifts[0] >= 24 + 34  # under the tick labels and the x-axis title
    assert fig.layout.margin.b >= shifts[-1] + 18  # the last note is inside the figure
    assert all(len(a.text) <= 160 for a in notes) and all(len(a.hovertext) > 160 for a in notes)


def test_a_single_verdict_still_has_its_legend(tidy: pd.DataFrame) -> None:
    fig = plots.comparison(compare(tidy, tidy))
    assert fig.layout.showlegend is True
    assert "± threshold (equivalence band)" in {t.name for t in fig.data}
