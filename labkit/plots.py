"""Charts: pure functions from summary DataFrames to plotly Figures, and an offline HTML report.

Inputs are :func:`labkit.bench.stats.aggregate` output (``bars``, ``ratios``,
``latency_percentiles``, ``history``) or :func:`labkit.bench.compare.compare` output
(``comparison``). Nothing here shows, prints or touches the network.

>>> fig = bars(aggregate(rows), metric="throughput_bps")        # doctest: +SKIP
>>> write_report("out/report.html", title="run 1", figures=[("Throughput", fig)])
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from labkit.bench.schema import METRICS
from labkit.units import scale

#: Colour per verdict, in the order of labkit.bench.compare.VERDICTS.
VERDICT_COLOURS = {"regression": "#d62728", "improvement": "#2ca02c", "equivalent": "#7f7f7f",
                   "inconclusive": "#ff7f0e", "missing": "#d9d9d9"}
HOST_NOTE = "All cells share one host's kernel and disk: overhead relative to this host, not production throughput."
PERCENTILES = (("lat_p50_us", "p50"), ("lat_p99_us", "p99"), ("lat_p999_us", "p99.9"))
_NOTE_CHARS = 110


def _whiskers(mid: pd.Series, lo: pd.Series, hi: pd.Series) -> dict[str, object]:
    """Asymmetric error bars from a CI (plotly wants distances, not bounds)."""
    return {"type": "data", "symmetric": False, "array": (hi - mid).to_numpy(dtype=float),
            "arrayminus": (mid - lo).to_numpy(dtype=float)}


def _measured(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    return summary[(summary["metric"] == metric) & (summary["n"] > 0)]


def _unit(summary: pd.DataFrame, metric: str) -> str:
    units = summary.loc[summary["metric"] == metric, "unit"].dropna()
    return str(units.iloc[0]) if len(units) else METRICS.get(metric, ("",))[0]


def _scaled(summary: pd.DataFrame, data: pd.DataFrame, metric: str,
            columns: Sequence[str] = ("median", "ci_lo", "ci_hi", "q1", "q3")) -> tuple[pd.DataFrame, str]:
    """``data`` with its value columns in a unit people read (Gbit/s, µs, IOPS), and that unit's label."""
    present = [c for c in columns if c in data.columns]
    factor, label = scale(_unit(summary, metric), pd.concat([data[c] for c in present]) if present else [])
    return data.assign(**{c: data[c].astype(float) * factor for c in present}), label


def _short(text: str) -> str:
    return text if len(text) <= _NOTE_CHARS else text[: _NOTE_CHARS - 1] + "…"


def _notes_below(fig: go.Figure, notes: Sequence[tuple[str, str]], *, top: int | None = None) -> go.Figure:
    """One grey line under the plot per (label, reason), the full reason on hover.

    Placed in pixels below the tick labels and the axis title (which are given a fixed angle and room),
    so notes never overlap the axis or each other, however many cells there are.
    """
    if not notes:
        return fig
    cats = [str(x) for tr in fig.data for x in (tr.x if getattr(tr, "x", None) is not None else [])]
    longest = max((len(c) for c in cats), default=0)
    tilted = len(set(cats)) > 6 or longest > 14
    ticks = 24 + (int(longest * 6.5 * 0.5) if tilted else 0)  # 11-12 px font, -30° tilt: half the width
    has_title = bool(fig.layout.xaxis.title.text)
    base = ticks + (34 if has_title else 8)
    fig.update_xaxes(tickangle=-30 if tilted else 0, automargin=False, title_standoff=8)
    for i, (label, note) in enumerate(notes):
        fig.add_annotation(text=html.escape(f"{label}: unavailable: {_short(note)}"), hovertext=note,
                           xref="paper", yref="paper", x=0, y=0, yshift=-(base + 18 * i), showarrow=False,
                           xanchor="left", yanchor="top", font={"size": 11, "color": "#555"})
    fig.update_layout(margin={**({"t": top} if top is not None else {}), "b": base + 18 * len(notes) + 16},
                      height=max(450, 330 + base + 18 * len(notes)))
    return fig


def _note(note: object) -> str:
    return note if isinstance(note, str) and note else "no values"


def _unavailable(fig: go.Figure, summary: pd.DataFrame, metrics: Sequence[str]) -> go.Figure:
    """Annotate, under the plot, every cell that has no values for ``metrics`` and why."""
    metric = summary["metric"].fillna("")
    gone = summary[(summary["n"] == 0) & metric.isin([*metrics, ""])]
    why: dict[tuple[str, str], list[str]] = {}
    for row in gone.itertuples(index=False):
        tests = why.setdefault((str(row.cell), _note(row.note)), [])
        if str(row.test) not in tests:
            tests.append(str(row.test))
    return _notes_below(fig, [(f"{cell} ({', '.join(tests)})", note) for (cell, note), tests in why.items()])


def bars(summary: pd.DataFrame, *, metric: str, title: str | None = None) -> go.Figure:
    """Median per cell with asymmetric CI whiskers, one colour per test; unavailable cells annotated."""
    data, unit = _scaled(summary, _measured(summary, metric), metric)
    fig = go.Figure()
    for test, g in data.groupby("test", sort=False):
        custom = np.column_stack([g["n"], g["q3"] - g["q1"], g["q1"], g["q3"], g["cv"]])
        fig.add_bar(name=str(test), x=g["cell"], y=g["median"], error_y=_whiskers(g["median"], g["ci_lo"], g["ci_hi"]),
                    customdata=custom,
                    hovertemplate=f"%{{x}}: median %{{y:.3g}} {unit}<br>n = %{{customdata[0]}}<br>IQR "
                    "%{customdata[1]:.3g} (%{customdata[2]:.3g} – %{customdata[3]:.3g})<br>CV %{customdata[4]:.1%}"
                    f"<extra>{html.escape(str(test))}</extra>")
    fig.update_layout(title=title or f"{metric}: median and 95 % CI per cell", barmode="group", showlegend=True,
                      yaxis_title=f"{metric} ({unit})", xaxis_title="cell", legend_title="test")
    fig.update_xaxes(categoryorder="array", categoryarray=list(dict.fromkeys(data["cell"])))
    return _unavailable(fig, summary, [metric])


def ratios(summary: pd.DataFrame, *, metric: str, title: str | None = None) -> go.Figure:
    """Each cell's median relative to its baseline's, with CI whiskers and a dashed line at 1."""
    data = summary[(summary["metric"] == metric) & np.isfinite(summary["ratio"].astype(float))]
    fig = go.Figure()
    for test, g in data.groupby("test", sort=False):
        fig.add_bar(name=str(test), x=g["cell"], y=g["ratio"], error_y=_whiskers(g["ratio"], g["ratio_ci_lo"],
                                                                                   g["ratio_ci_hi"]),
                    customdata=np.column_stack([g["baseline_cell"].fillna(g["cell"]), g["ratio_ci_lo"],
                                                g["ratio_ci_hi"]]),
                    hovertemplate="%{x} / %{customdata[0]} (baseline): %{y:.3f}<br>CI %{customdata[1]:.3f} – "
                    f"%{{customdata[2]:.3f}}<extra>{html.escape(str(test))}</extra>")
    fig.add_hline(y=1.0, line_dash="dash", line_color="black")
    fig.update_layout(title={"text": title or f"{metric}: ratio to baseline (1 = same as the baseline)",
                             "subtitle": {"text": HOST_NOTE}},
                      barmode="group", yaxis_title="ratio to baseline", xaxis_title="cell", legend_title="test",
                      showlegend=True)
    fig.update_xaxes(categoryorder="array", categoryarray=list(dict.fromkeys(data["cell"])))
    return _unavailable(fig, summary, [metric])


def latency_percentiles(summary: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """p50 / p99 / p99.9 per cell (each run's percentile, median across runs), log scale."""
    metrics = [m for m, _ in PERCENTILES]
    tests = summary.loc[summary["metric"].isin(metrics) & (summary["n"] > 0), "test"].unique()
    fig = go.Figure()
    _, unit = _scaled(summary, summary[summary["metric"].isin(metrics) & (summary["n"] > 0)], "lat_p99_us")
    factor = {"µs": 1.0, "ms": 1e-3, "s": 1e-6}[unit]
    for metric, label in PERCENTILES:
        g = _measured(summary, metric)
        if g.empty:
            continue
        g = g.assign(**{c: g[c].astype(float) * factor for c in ("median", "ci_lo", "ci_hi")})
        x = g["cell"] if len(tests) <= 1 else g["cell"] + " · " + g["test"]
        fig.add_bar(name=label, x=x, y=g["median"], error_y=_whiskers(g["median"], g["ci_lo"], g["ci_hi"]),
                    customdata=g[["n"]].to_numpy(),
                    hovertemplate=f"%{{x}}: {label} %{{y:.3g}} {unit} (n = %{{customdata[0]}})<extra></extra>")
    fig.update_layout(title=title or "Latency percentiles: each run's percentile, median across runs",
                      barmode="group", yaxis_type="log", yaxis_title=f"latency ({unit})", showlegend=True,
                      xaxis_title="cell" if len(tests) <= 1 else "cell · test", legend_title="percentile")
    return _unavailable(fig, summary, metrics)


def history(summaries: pd.DataFrame, *, cell: str, test: str, metric: str) -> go.Figure:
    """A cell's median over runs with its CI as a band.

    Input: aggregate() output of several runs concatenated, plus ``run_id`` and ``ts_start_utc``.
    """
    pick = (summaries["cell"] == cell) & (summaries["test"] == test) & (summaries["metric"] == metric)
    g = summaries[pick].assign(ts=lambda d: pd.to_datetime(d["ts_start_utc"], utc=True, errors="coerce"))
    g, unit = _scaled(summaries, g[g["n"] > 0].sort_values("ts", kind="stable"), metric)
    fig = go.Figure([
        go.Scatter(x=g["ts"], y=g["ci_hi"], mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False),
        go.Scatter(x=g["ts"], y=g["ci_lo"], mode="lines", line={"width": 0}, fill="tonexty", hoverinfo="skip",
                   fillcolor="rgba(31,119,180,0.2)", name="95 % CI"),
        go.Scatter(x=g["ts"], y=g["median"], mode="lines+markers", name="median", line={"color": "#1f77b4"},
                   customdata=g[["run_id", "n"]].to_numpy(),
                   hovertemplate=f"%{{customdata[0]}}: %{{y:.3g}} {unit} (n = %{{customdata[1]}})<extra></extra>"),
    ])
    fig.update_layout(title=f"{cell} · {test} · {metric} over runs", xaxis_title="run start (UTC)",
                      yaxis_title=f"{metric} ({unit})")
    return fig


def _labels(result: pd.DataFrame) -> pd.Series:
    metric = result["metric"].fillna("")
    return result["cell"] + " · " + result["test"] + np.where(metric != "", " · " + metric, "")


def comparison(result: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Candidate/baseline ratio per cell · test · metric with CI whiskers, coloured by verdict.

    The grey box around each point is its ±threshold band; series without a ratio
    (missing) sit at 1 as open markers with the reason in the hover.
    """
    data = result.reset_index(drop=True)
    labels = _labels(data)
    finite = np.isfinite(data["ratio"].astype(float))
    y = data["ratio"].where(finite, 1.0)
    fig = go.Figure()
    for verdict in [*VERDICT_COLOURS, *sorted(set(data["verdict"]) - set(VERDICT_COLOURS))]:
        g = data[data["verdict"] == verdict]
        if g.empty:
            continue
        custom = np.column_stack([g["n_a"], g["n_b"], g["median_a"], g["median_b"], g["p_worse_holm"],
                                  [f"{r:.3f}" for r in g["ratio"].astype(float)], g["note"].fillna("")])
        fig.add_scatter(x=labels[g.index], y=y[g.index], mode="markers", name=verdict,
                        marker={"color": VERDICT_COLOURS.get(verdict, "#000"), "size": 12,
                                "symbol": np.where(finite[g.index], "circle", "circle-open")},
                        error_y=_whiskers(g["ratio"], g["ratio_ci_lo"], g["ratio_ci_hi"]), customdata=custom,
                        hovertemplate="%{x}<br>B/A %{customdata[5]}<br>n %{customdata[0]} / %{customdata[1]}<br>"
                        "median %{customdata[2]:.4g} → %{customdata[3]:.4g}<br>Holm p(worse) %{customdata[4]:.3g}"
                        f"<br>%{{customdata[6]}}<extra>{verdict}</extra>")
    for i, thr in enumerate(data["threshold"].astype(float)):
        if np.isfinite(thr):
            fig.add_shape(type="rect", xref="x", yref="y", x0=i - 0.4, x1=i + 0.4, y0=1 - thr, y1=1 + thr,
                          fillcolor="lightgrey", opacity=0.35, line_width=0, layer="below")
    if np.isfinite(data["threshold"].astype(float)).any():  # the band gets its own legend entry
        fig.add_scatter(x=[None], y=[None], mode="markers", name="± threshold (equivalence band)",
                        marker={"symbol": "square", "size": 14, "color": "lightgrey"}, hoverinfo="skip")
    fig.add_hline(y=1.0, line_dash="dash", line_color="black")
    fig.update_layout(title=title or "Candidate / baseline per cell (95 % CI), coloured by verdict",
                      yaxis_title="ratio candidate / baseline", xaxis_title="cell · test · metric",
                      legend_title="verdict (colour)", showlegend=True)
    fig.update_xaxes(categoryorder="array", categoryarray=list(labels))
    return fig


def write_report(path: str | Path, *, title: str, figures: Sequence[tuple[str, go.Figure]],
                 tables: Sequence[tuple[str, pd.DataFrame]] = (), notes: Sequence[str] = ()) -> Path:
    """Write one HTML report that opens offline; ``plotly.min.js`` goes beside it (no CDN)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">", f"<title>{html.escape(title)}</title>",
             "<script src=\"plotly.min.js\" charset=\"utf-8\"></script>",
             "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
             "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}</style>",
             "</head><body>", f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(note)}</p>" for note in notes]
    for heading, fig in figures:
        parts += [f"<h2>{html.escape(heading)}</h2>", fig.to_html(full_html=False, include_plotlyjs=False)]
    for heading, table in tables:
        parts += [f"<h2>{html.escape(heading)}</h2>",
                  table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")]
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path



#: Caption of every chart of kind results (DESIGN §4: one kernel, one disk).
KIND_NOTE = "All nodes share one host kernel: these are overheads relative to this host, not production throughput."
_REFERENCES = (("ratio_n2", "N2 (kind-bridge)"), ("ratio_n3", "N3 (hostnet)"))
_CNI_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def cni_ladder(ladder: pd.DataFrame, *, metric: str, test: str | None = None, title: str | None = None) -> go.Figure:
    """CNIs side by side: each cell's median as a ratio to its own run's N2 (left) and N3 (right), CI whiskers.

    Input: :func:`labkit.components.network.compare.ladder` output (one run per CNI). Cells without values are
    listed under the plot with the reason; the one-kernel caveat is the subtitle.
    """
    from plotly.subplots import make_subplots

    in_test = (ladder["test"] == test) if test else pd.Series(True, index=ladder.index)
    data = ladder[(ladder["metric"] == metric) & in_test]
    tests = list(dict.fromkeys(data["test"]))
    colours = {cni: _CNI_COLOURS[i % len(_CNI_COLOURS)] for i, cni in enumerate(dict.fromkeys(ladder["cni"]))}
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"÷ {label}" for _, label in _REFERENCES])
    for cni, g in data.groupby("cni", sort=False):
        x = g["cell"] if len(tests) <= 1 else g["cell"] + " · " + g["test"]
        for col, (key, label) in enumerate(_REFERENCES, 1):
            fig.add_bar(name=str(cni), legendgroup=str(cni), showlegend=col == 1, x=x, y=g[key],
                        marker_color=colours[cni], error_y=_whiskers(g[key], g[f"{key}_lo"], g[f"{key}_hi"]),
                        customdata=np.column_stack([g["median"], g["n"]]), row=1, col=col,
                        hovertemplate=f"{html.escape(str(cni))} %{{x}} ÷ {label}: %{{y:.3f}}<br>median "
                        "%{customdata[0]:.4g} (n = %{customdata[1]})<extra></extra>")
        for col in (1, 2):
            fig.add_hline(y=1.0, line_dash="dash", line_color="black", row=1, col=col)
    heading = f"{metric}{' · ' + test if test else ''}: each CNI relative to the baselines of its own run"
    fig.update_layout(title={"text": title or heading, "subtitle": {"text": KIND_NOTE}}, barmode="group",
                      showlegend=True,
                      yaxis_title="ratio (1 = same as the baseline)", legend_title="CNI", margin={"t": 110})
    gone = ladder[in_test & ((ladder["metric"] == metric) | (ladder["metric"].fillna("") == "")) & (ladder["n"] == 0)]
    gone = gone.drop_duplicates(["cni", "cell"])
    return _notes_below(fig, [(f"{r.cni} {r.cell}", _note(r.note)) for r in gone.itertuples(index=False)], top=110)


#: Caption of every chart of storage results on kind (DESIGN §4: one disk).
STORAGE_NOTE = ("All kind nodes share one host disk: these are costs relative to this host's disk (S0), and a "
                "replica on the same disk shows what replication costs, not the durability it buys.")
_STORAGE_REFERENCES = (("ratio_s0", "S0 (hostfs-docker)"), ("ratio_s1", "S1 (local-path)"))


def storage_ladder(ladder: pd.DataFrame, *, metric: str, test: str | None = None,
                   title: str | None = None) -> go.Figure:
    """Each storage cell's median as a ratio to its run's S0 (left) and S1 (right), CI whiskers, one colour
    per fio job; the one-disk caveat is the subtitle and cells without values are listed with the reason.

    Input: :func:`labkit.components.storage.compare.storage_ladder` output.
    """
    from plotly.subplots import make_subplots

    in_test = (ladder["test"] == test) if test else pd.Series(True, index=ladder.index)
    data = ladder[(ladder["metric"] == metric) & in_test]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"÷ {label}" for _, label in _STORAGE_REFERENCES])
    for i, (name, g) in enumerate(data.groupby("test", sort=False)):
        colour = _CNI_COLOURS[i % len(_CNI_COLOURS)]
        for col, (key, label) in enumerate(_STORAGE_REFERENCES, 1):
            fig.add_bar(name=str(name), legendgroup=str(name), showlegend=col == 1, x=g["cell"], y=g[key],
                        marker_color=colour, error_y=_whiskers(g[key], g[f"{key}_lo"], g[f"{key}_hi"]),
                        customdata=np.column_stack([g["median"], g["n"]]), row=1, col=col,
                        hovertemplate=f"%{{x}} ÷ {label}: %{{y:.3f}}<br>median %{{customdata[0]:.4g}} "
                        f"(n = %{{customdata[1]}})<extra>{html.escape(str(name))}</extra>")
    for col in (1, 2):
        fig.add_hline(y=1.0, line_dash="dash", line_color="black", row=1, col=col)
    heading = f"{metric}{' · ' + test if test else ''}: each cell relative to S0 and S1 of its own run"
    fig.update_layout(title={"text": title or heading, "subtitle": {"text": STORAGE_NOTE}}, barmode="group",
                      showlegend=True,
                      yaxis_title="ratio (1 = same as the baseline)", legend_title="fio job", margin={"t": 110})
    gone = ladder[in_test & ((ladder["metric"] == metric) | (ladder["metric"].fillna("") == "")) & (ladder["n"] == 0)]
    gone = gone.drop_duplicates(["cell"])
    return _notes_below(fig, [(str(r.cell), _note(r.note)) for r in gone.itertuples(index=False)], top=110)


def orchestration(data: pd.DataFrame, *, order: Sequence[str] = ()) -> go.Figure:
    """Operation times side by side, one bar group per operation (rows from the store, or
    :func:`labkit.components.orchestration.frame`); ``order`` lists the operations first (else as they came)."""
    import pandas as pd
    import plotly.graph_objects as go

    if "orchestrator" not in data.columns:  # rows loaded from the store
        data = data.rename(columns={"component": "orchestrator", "cell": "op", "value": "seconds"})
    data = data.assign(seconds=pd.to_numeric(data["seconds"], errors="coerce"))
    seen = list(dict.fromkeys(data["op"]))
    order = [op for op in order if op in seen] + [op for op in seen if op not in order]
    fig = go.Figure()
    for orch, g in data.groupby("orchestrator", sort=False):
        med = g.groupby("op")["seconds"].median().reindex(order).to_list()
        ran = set(g["op"])
        text = [f"{v:.1f} s" if v == v else ("failed" if op in ran else "") for op, v in zip(order, med, strict=True)]
        fig.add_bar(name=str(orch), x=order, y=med, text=text)
    fig.update_layout(barmode="group", title="Orchestration operations: time until the app is back as wanted",
                      xaxis_title="operation", yaxis_title="seconds (lower is better)", showlegend=True,
                      legend_title="orchestrator")
    return fig
