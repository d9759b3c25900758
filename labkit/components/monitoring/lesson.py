"""What the chapter shows: the alert path drawn from the rendered config, the engine plan, dashboards as plotly
charts from PromQL range queries, the measurements beside their theory and anchors, and checks of the learner's
own answers. Charts are pure functions from DataFrames (or rendered files) to plotly Figures.

There is no Grafana source on the engine tier (not in Debian, PyPI or npm): dashboards here are plotly charts of
``query_range`` results; Grafana runs on the kind tier (kube-prometheus-stack).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from labkit.components.monitoring import parts
from labkit.components.monitoring.configs import render
from labkit.components.monitoring.spec import StackSpec

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from labkit.components.monitoring.promql import PromClient


def alert_path_figure(files: Mapping[str, bytes]) -> go.Figure:
    """rule → for → Prometheus's evaluation → Alertmanager's route → receiver, with the values read back from the
    rendered prometheus.yml, rules.yml and alertmanager.yml (what the containers get)."""
    import plotly.graph_objects as go

    prom = yaml.safe_load(files["prometheus.yml"])
    rules = [r for g in yaml.safe_load(files["rules.yml"])["groups"] for r in g["rules"] if "alert" in r]
    am = yaml.safe_load(files["alertmanager.yml"])
    route, hook = am["route"], am["receivers"][0]["webhook_configs"][0]["url"]
    rule = rules[0] if rules else {"alert": "(no alerting rule)", "expr": "", "for": "0s"}
    g = prom["global"]
    boxes = [("target", "the demo app's /metrics"),
             ("scrape", f"every {g['scrape_interval']}<br>timeout {g['scrape_timeout']}"),
             ("rule", f"{rule['alert']}<br>{rule['expr'][:38]}<br>evaluated every {g['evaluation_interval']}"),
             ("for", f"pending for {rule.get('for', '0s')}<br>then firing"),
             ("Alertmanager", f"group_by {route['group_by']}<br>group_wait {route['group_wait']}"),
             ("receiver", hook.replace("http://", "").replace("/alert", "<br>/alert"))]
    fig = go.Figure()
    for i, (head, text) in enumerate(boxes):
        fig.add_shape(type="rect", x0=i * 2, x1=i * 2 + 1.6, y0=0, y1=1, line={"color": "#1f77b4"},
                      fillcolor="#e8f1fa")
        fig.add_annotation(x=i * 2 + 0.8, y=0.5, text=f"<b>{head}</b><br>{text}", showarrow=False, font={"size": 10})
        if i:
            fig.add_annotation(x=i * 2, y=0.5, ax=i * 2 - 0.4, ay=0.5, xref="x", yref="y", axref="x", ayref="y",
                               showarrow=True, arrowhead=2, text="")
    fig.update_xaxes(visible=False, range=[-0.2, len(boxes) * 2 - 0.2])
    fig.update_yaxes(visible=False, range=[-0.2, 1.2])
    fig.update_layout(height=230, margin={"l": 5, "r": 5, "t": 40, "b": 5}, plot_bgcolor="white",
                      title="The alert path, read from the stack's rendered configs")
    return fig


def engine_plan(spec: StackSpec) -> str:
    """Markdown: the ``docker run`` of every part and the config files, byte for byte what the stack gets."""
    files = render(spec)
    lines = [f"### The engine-tier stack `{spec.name}` ({len(spec.all_parts)} containers on network "
             f"`{spec.network}`)", "", "Checked before anything starts: `promtool check rules` + `promtool check "
             "config`, `amtool check-config`, and every fixed host port. Then, in this order:", "", "```bash",
             f"docker network create {spec.network}"]
    for part in ("receiver", "alertmanager", "blackbox", "node-exporter", "container-exporter", "demo", "prometheus"):
        if spec.has(part):
            host_port = spec.ports.get(part, 0) if part in ("prometheus", "alertmanager", "receiver") else None
            kw = parts.container(spec, part, labels={}, host_port=host_port)
            cfg = parts.files_for(part, files)
            if cfg:
                lines.append(f"# configs go in before start: docker cp … {kw['name']}:/etc/labkit/")
            lines.append(parts.docker_run_line(kw))
    lines.append("```")
    for name, data in files.items():
        lines += ["", f"`/etc/labkit/{name}`", "```yaml", data.decode().rstrip(), "```"]
    return "\n".join(lines)


def dashboard(prom: PromClient, panels: Mapping[str, str], *, minutes: float = 5, step: str = "2s") -> list[go.Figure]:
    """One plotly line chart per ``{title: PromQL}``, from range queries over the last ``minutes``."""
    import plotly.express as px

    end = time.time()
    figs = []
    for title, expr in panels.items():
        df = prom.query_range(expr, end - 60 * minutes, end, step)
        labels = [c for c in df.columns if c not in ("timestamp", "value", "__name__")]
        colour = next((c for c in ("container", "job", "token", "instance") if c in labels), None)
        fig = px.line(df, x="timestamp", y="value", color=colour, title=f"{title}<br><sup>{expr}</sup>")
        fig.update_layout(height=300, margin={"t": 60}, legend={"font": {"size": 9}})
        figs.append(fig)
    return figs


def ttd_chart(decomposed: pd.DataFrame) -> go.Figure:
    """Measured detect + for + deliver (stacked medians) beside the theoretical mean, with its min-max range."""
    import plotly.graph_objects as go

    labels = [f"{c.removeprefix('ttd-')} · {t}" for c, t in zip(decomposed["cell"], decomposed["test"], strict=True)]
    fig = go.Figure()
    for part, colour in (("detect_s", "#1f77b4"), ("for_s", "#ff7f0e"), ("deliver_s", "#2ca02c")):
        fig.add_bar(name=part.removesuffix("_s"), x=labels, y=decomposed[part], marker_color=colour,
                    offsetgroup="measured")
    if "theory_mean_s" in decomposed:
        lo = decomposed["theory_mean_s"] - decomposed["theory_min_s"]
        hi = decomposed["theory_max_s"] - decomposed["theory_mean_s"]
        fig.add_scatter(name="theory (mean, min-max)", x=labels, y=decomposed["theory_mean_s"], mode="markers",
                        marker={"symbol": "diamond", "size": 11, "color": "black"},
                        error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo})
    fig.update_layout(barmode="stack", title="Time to detect: measured medians against the sum of the intervals",
                      yaxis_title="seconds from the stop", height=380)
    return fig


def cost_chart(summary: pd.DataFrame, metric: str, *, anchor: tuple[float, float] | None = None,
               title: str = "") -> go.Figure:
    """Median (with its CI) of one metric per cell; ``anchor`` draws a published band beside ours."""
    import plotly.graph_objects as go

    rows = summary[summary["metric"] == metric]
    fig = go.Figure(go.Bar(x=rows["cell"], y=rows["median"], error_y={
        "type": "data", "symmetric": False, "array": rows["ci_hi"] - rows["median"],
        "arrayminus": rows["median"] - rows["ci_lo"]}, name="measured"))
    if anchor:
        fig.add_hrect(y0=anchor[0], y1=anchor[1], fillcolor="#2ca02c", opacity=0.15, line_width=0,
                      annotation_text="published anchor", annotation_position="top left")
    unit = rows["unit"].iloc[0] if len(rows) else ""
    fig.update_layout(title=title or metric, yaxis_title=f"{metric} ({unit})", height=340)
    return fig


def check_query(prom: PromClient, query: str | None, *, expect: Mapping[str, str], series: int = 1) -> str:
    """Does the learner's PromQL return exactly ``series`` series carrying ``expect``'s labels? A verdict line."""
    from labkit.components.monitoring.promql import PromError

    if not query:
        return "✗ set my_query to a PromQL expression first"
    try:
        df = prom.query(query)
    except PromError as exc:
        return f"✗ Prometheus refused it: {exc.message}"
    wrong = [k for k, v in expect.items() if k not in df or set(df[k]) != {v}]
    if len(df) != series or wrong:
        return (f"✗ {len(df)} series" + (f"; labels not right: {', '.join(wrong)}" if wrong else "")
                + f" (expected {series} series with {dict(expect)})")
    return f"✓ {series} series with {dict(expect)}: right"


def check_number(value: float | None, truth: float, *, tolerance: float = 0.5, what: str = "") -> str:
    if value is None:
        return f"✗ put your answer for {what or 'the question'} in the variable first"
    if abs(float(value) - truth) <= tolerance:
        return f"✓ {value}: right ({what} = {truth:g})"
    return f"✗ {value}: not quite (hint: add the intervals one by one, and round for up to whole evaluations)"


def pick_runs(store: Any, suite: str, cells: Sequence[str]) -> dict[str, list[str]]:
    """Replay mode: for each cell, the newest complete recorded run of ``suite`` that measured it
    (``{run_id: [cells taken from it]}``, newest first)."""
    out: dict[str, list[str]] = {}
    wanted = list(cells)
    for run_id in reversed(store.run_ids()):
        meta = store.meta(run_id)
        have = [c for c in wanted if c in (meta.get("params", {}).get("cells") or [])]
        if meta.get("suite") == suite and meta.get("status") == "complete" and have:
            out[run_id] = have
            wanted = [c for c in wanted if c not in have]
        if not wanted:
            break
    return out


def recorded_rows(store: Any, suite: str, cells: Sequence[str]) -> pd.DataFrame | None:
    """The rows of the newest recorded measurement of each cell (None when nothing is recorded); each run used
    is named with where and when it was measured."""
    import pandas as pd

    from labkit.targets.replay import describe

    picked = pick_runs(store, suite, cells)
    frames = []
    for run_id, taken in picked.items():
        print("replaying", describe(store, run_id), "— cells", ", ".join(taken))
        rows = store.load([run_id])
        frames.append(rows[rows["cell"].isin(taken)])
    return pd.concat(frames, ignore_index=True) if frames else None
