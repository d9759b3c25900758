"""Charts: pure functions from summary DataFrames to plotly Figures, and an offline HTML report.

Inputs are :func:`labkit.bench.stats.aggregate` output (``bars``, ``ratios``,
``latency_percentiles``, ``history``) or :func:`labkit.bench.compare.compare` output
(``comparison``). Nothing here shows, prints or touches the network.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

VERDICT_COLOURS = {"regression": "#d62728", "improvement": "#2ca02c", "equivalent": "#7f7f7f",
                   "inconclusive": "#ff7f0e", "missing": "#c7c7c7"}
NOTE = "All cells share one host's kernel and disk: overhead relative to this host, not production throughput."


def _unavailable(fig: go.Figure, summary: pd.DataFrame) -> go.Figure:
    gone = summary[summary["n"] == 0].drop_duplicates("cell")
    for i, row in enumerate(gone.itertuples()):
        fig.add_annotation(text=f"{row.cell}: unavailable: {str(row.note)[:120]}", xref="paper", yref="paper",
                           x=0, y=-0.18 - 0.06 * i, showarrow=False, xanchor="left", font={"size": 11})
    if len(gone):
        fig.update_layout(margin={"b": 80 + 25 * len(gone)})
    return fig


def bars(summary: pd.DataFrame, *, metric: str, title: str | None = None) -> go.Figure:
    """Median per cell with asymmetric CI whiskers, one colour per test."""
    data = summary[summary["metric"] == metric]
    fig = go.Figure()
    for test, g in data.groupby("test", sort=False):
        fig.add_bar(name=str(test), x=g["cell"], y=g["median"],
                    error_y={"type": "data", "symmetric": False, "array": g["ci_hi"] - g["median"],
                             "arrayminus": g["median"] - g["ci_lo"]},
                    customdata=g[["n", "q1", "q3", "cv"]].to_numpy(),
                    hovertemplate="%{x}<br>median %{y:.4g}<br>n=%{customdata[0]}, IQR %{customdata[1]:.4g}–"
                    "%{customdata[2]:.4g}, CV %{customdata[3]:.1%}<extra>" + str(test) + "</extra>")
    unit = data["unit"].dropna().iloc[0] if data["unit"].notna().any() else ""
    fig.update_layout(title=title or f"{metric}: median and 95 % CI per cell", barmode="group",
                      yaxis_title=f"{metric} ({unit})", xaxis_title="cell", legend_title="test")
    return _unavailable(fig, summary)


def ratios(summary: pd.DataFrame, *, metric: str, title: str | None = None) -> go.Figure:
    """Each cell relative to its baseline, with CI whiskers and a dashed line at 1."""
    data = summary[(summary["metric"] == metric) & summary["ratio"].notna()]
    fig = go.Figure()
    for test, g in data.groupby("test", sort=False):
        fig.add_bar(name=str(test), x=g["cell"], y=g["ratio"],
                    error_y={"type": "data", "symmetric": False, "array": g["ratio_ci_hi"] - g["ratio"],
                             "arrayminus": g["ratio"] - g["ratio_ci_lo"]},
                    customdata=g[["baseline_cell"]].to_numpy(),
                    hovertemplate="%{x} / %{customdata[0]}: %{y:.3f}<extra>" + str(test) + "</extra>")
    fig.add_hline(y=1.0, line_dash="dash", line_color="black")
    fig.update_layout(title=title or f"{metric}: ratio to baseline (1 = as fast as the baseline)", barmode="group",
                      yaxis_title="ratio to baseline", xaxis_title="cell", legend_title="test")
    fig.add_annotation(text=NOTE, xref="paper", yref="paper", x=0, y=1.08, showarrow=False, xanchor="left",
                       font={"size": 10})
    return fig


def latency_percentiles(summary: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """p50 / p99 / p99.9 per cell (median across runs of each run's percentile), log scale."""
    fig = go.Figure()
    for metric, label in (("lat_p50_us", "p50"), ("lat_p99_us", "p99"), ("lat_p999_us", "p99.9")):
        g = summary[summary["metric"] == metric]
        if g.empty:
            continue
        fig.add_bar(name=label, x=g["cell"] + " · " + g["test"], y=g["median"],
                    error_y={"type": "data", "symmetric": False, "array": g["ci_hi"] - g["median"],
                             "arrayminus": g["median"] - g["ci_lo"]})
    fig.update_layout(title=title or "Latency percentiles (µs): per-run percentile, median across runs",
                      barmode="group", yaxis_type="log", yaxis_title="µs", xaxis_title="cell · test")
    return fig


def history(summaries: pd.DataFrame, *, cell: str, test: str, metric: str) -> go.Figure:
    """A cell's median over runs with its CI as a band (input: aggregate() per run + run_id, ts_start_utc)."""
    g = summaries[(summaries["cell"] == cell) & (summaries["test"] == test) & (summaries["metric"] == metric)]
    g = g.sort_values("ts_start_utc")
    fig = go.Figure([
        go.Scatter(x=g["ts_start_utc"], y=g["ci_hi"], mode="lines", line={"width": 0}, showlegend=False),
        go.Scatter(x=g["ts_start_utc"], y=g["ci_lo"], mode="lines", line={"width": 0}, fill="tonexty",
                   fillcolor="rgba(31,119,180,0.2)", name="95 % CI"),
        go.Scatter(x=g["ts_start_utc"], y=g["median"], mode="lines+markers", name="median",
                   customdata=g[["run_id"]].to_numpy(), hovertemplate="%{customdata[0]}: %{y:.4g}<extra></extra>"),
    ])
    fig.update_layout(title=f"{cell} · {test} · {metric} over runs", xaxis_title="run start (UTC)",
                      yaxis_title=metric)
    return fig


def comparison(result: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Candidate/baseline ratio per cell with CI whiskers, coloured by verdict, ±threshold band."""
    data = result[result["ratio"].notna()]
    labels = data["cell"] + " · " + data["test"] + " · " + data["metric"]
    fig = go.Figure()
    for verdict, g in data.groupby("verdict", sort=False):
        lab = labels[g.index]
        fig.add_scatter(x=lab, y=g["ratio"], mode="markers", name=str(verdict),
                        marker={"color": VERDICT_COLOURS.get(str(verdict), "#000"), "size": 12},
                        error_y={"type": "data", "symmetric": False, "array": g["ratio_ci_hi"] - g["ratio"],
                                 "arrayminus": g["ratio"] - g["ratio_ci_lo"]})
    if len(data):
        thr = float(data["threshold"].max())
        fig.add_hrect(y0=1 - thr, y1=1 + thr, fillcolor="lightgrey", opacity=0.3, line_width=0)
    fig.add_hline(y=1.0, line_dash="dash", line_color="black")
    fig.update_layout(title=title or "Candidate / baseline per cell (95 % CI), coloured by verdict",
                      yaxis_title="ratio candidate / baseline", xaxis_title="cell · test · metric")
    return fig


def write_report(path: str | Path, *, title: str, figures: Sequence[tuple[str, go.Figure]],
                 tables: Sequence[tuple[str, pd.DataFrame]] = (), notes: Sequence[str] = ()) -> Path:
    """One HTML file that opens offline: plotly.min.js is written beside it, no CDN."""
    from plotly.offline import get_plotlyjs

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "plotly.min.js").write_text(get_plotlyjs())
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<script src='plotly.min.js'></script>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    for heading, fig in figures:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    for heading, table in tables:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
    return path
