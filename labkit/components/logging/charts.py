"""Pictures and charts for chapter 06: the log path drawn from the live objects, loss and delay from the
harness's summary, and Loki's published sizing beside what this host measured.

Charts are pure functions from a DataFrame to a plotly Figure; the path is Mermaid text (JupyterLab
renders ```` ```mermaid ```` blocks in Markdown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

LOKI_MONOLITHIC_GB_PER_DAY = 20.0
LOKI_SIZING_SOURCE = "https://github.com/grafana/loki/blob/v3.7.6/docs/sources/get-started/deployment-modes.md#L23"


def log_path(collector: Any = None, *, mode: str = "blocking", transport: str = "tcp",
             mtail: Any = None) -> str:
    """The engine tier's log path as Mermaid, with the real names, ports and files when given live objects."""
    where = f"127.0.0.1:{collector.port}" if collector is not None else "127.0.0.1:PORT"
    name = collector.name if collector is not None else "collector"
    records = str(collector.json_path) if collector is not None else "LOGDIR/docker.json"
    metrics = mtail.url if mtail is not None else "http://127.0.0.1:PORT/metrics"
    return "\n".join([
        "```mermaid", "flowchart LR",
        '  app["app container<br/>write(2) on stdout"] -->|"pipe, 64 KiB"| shim["containerd-shim"]',
        f'  shim --> dockerd["dockerd copier<br/>syslog driver, mode={mode}"]',
        '  dockerd -.->|"a copy"| cache["dual-logging cache<br/>(local, 20 MiB × 5): docker logs"]',
        f'  dockerd -->|"{transport} {where}<br/>(dialled from the host)"| proxy["docker-proxy"]',
        f'  proxy --> rsyslog["rsyslog in {name}<br/>:5140 (tag split into fields)"]',
        f'  rsyslog --> json["{records}<br/>+ docker.5424"]',
        f'  json --> mtail["mtail<br/>{metrics}"] --> prom["Prometheus + alert rule<br/>(chapter 05)"]',
        '  json --> py["pandas DataFrame / lnav"]', "```"])


def kind_path() -> str:
    """The kind tier's path, from the plan's objects."""
    return "\n".join([
        "```mermaid", "flowchart LR",
        '  pod["pod writer<br/>stdout"] --> cri["containerd (CRI)<br/>/var/log/pods/NS_POD_UID/CONTAINER/0.log<br/>'
        '(symlinked from /var/log/containers)"]',
        '  cri --> fb["Fluent Bit (DaemonSet, one per node)<br/>tail + multiline cri → kubernetes filter"]',
        '  api["kube-apiserver<br/>pod metadata"] -.-> fb',
        '  fb -->|"HTTP push, labels job/namespace/pod/container"| loki["Loki monolithic<br/>svc loki:3100"]',
        '  loki --> pvc["PVC storage-loki-0<br/>index (tsdb) + chunks"]',
        '  q["LogQL: kubectl get --raw …/services/loki:3100/proxy/…"] --> loki', "```"])


def _series(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    out = summary[(summary["metric"] == metric) & summary["median"].notna()].copy()
    order = {t: i for i, t in enumerate(["burst-1k", "burst-10k", "burst-50k", "burst-100k", "burst-max"])}
    out["order"] = out["test"].map(lambda t: order.get(t, 99))
    return out.sort_values(["cell", "order"])


def _lines(summary: pd.DataFrame, metric: str, title: str, ytitle: str) -> go.Figure:
    import plotly.graph_objects as go

    data = _series(summary, metric)
    fig = go.Figure()
    for cell, g in data.groupby("cell", sort=False):
        fig.add_trace(go.Scatter(x=g["test"], y=g["median"], mode="lines+markers", name=str(cell),
                                 error_y={"type": "data", "symmetric": False, "array": g["ci_hi"] - g["median"],
                                          "arrayminus": g["median"] - g["ci_lo"]}))
    fig.update_layout(title=title, xaxis_title="offered rate (lines/s)", yaxis_title=ytitle, template="plotly_white")
    return fig


def loss_chart(summary: pd.DataFrame) -> go.Figure:
    """Lines lost per path as the offered rate rises (median, 95% CI): non-blocking drops."""
    return _lines(summary, "loss_pct", "Lines lost under bursts (median, 95% CI)", "lost (%)")


def app_chart(summary: pd.DataFrame) -> go.Figure:
    """The app's slowest write per path: blocking mode makes the app wait for a slow path."""
    return _lines(summary, "write_max_ms", "The app's slowest write(2) on stdout (median, 95% CI)", "ms")


def delay_chart(summary: pd.DataFrame) -> go.Figure:
    """Emit → queryable, p50 and p99 per path."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for metric in ("delay_p50_ms", "delay_p99_ms"):
        d = summary[(summary["metric"] == metric) & summary["median"].notna()]
        fig.add_trace(go.Bar(x=d["cell"], y=d["median"], name=metric.split("_")[1],
                             error_y={"type": "data", "symmetric": False, "array": d["ci_hi"] - d["median"],
                                      "arrayminus": d["median"] - d["ci_lo"]}))
    fig.update_layout(title="Delivery delay: emit → queryable (median of runs, 95% CI)", yaxis_title="ms",
                      yaxis_type="log", barmode="group", template="plotly_white")
    return fig


def ceiling_chart(summary: pd.DataFrame) -> go.Figure:
    """Stored lines/s at the app's full speed, as a ratio to json-file (with its interval)."""
    import plotly.graph_objects as go

    d = summary[(summary["metric"] == "stored_rate") & (summary["test"] == "burst-max")].copy()
    d["ratio"] = d["ratio"].where(d["cell"] != "json-file", 1.0)
    lo = (d["ratio"] - d["ratio_ci_lo"]).fillna(0)
    hi = (d["ratio_ci_hi"] - d["ratio"]).fillna(0)
    fig = go.Figure(go.Bar(x=d["cell"], y=d["ratio"], text=[f"{m:,.0f}/s" for m in d["median"]],
                           error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo}))
    fig.update_layout(title="Throughput ceiling: stored lines/s as a ratio to json-file", yaxis_title="× json-file",
                      template="plotly_white")
    return fig


def sizing(summary: pd.DataFrame, *, line_bytes: int = 100) -> pd.DataFrame:
    """Loki's published monolithic sizing beside this host's measured ceilings, in GB/day of application log lines
    (``line_bytes`` each, as the emitter wrote them), with the reason they differ."""
    import pandas as pd

    rows = [{"what": "Loki monolithic (published)", "GB/day": LOKI_MONOLITHIC_GB_PER_DAY,
             "measured": "no: a published figure", "source": LOKI_SIZING_SOURCE,
             "why it differs": "a store's sustained ingest, with indexing, compaction, retention and queries running"}]
    d = summary[(summary["metric"] == "stored_rate") & (summary["test"] == "burst-max")]
    for _, r in d.iterrows():
        rows.append({"what": f"{r['cell']} ceiling (this host)", "GB/day": r["median"] * line_bytes * 86400 / 1e9,
                     "measured": f"yes: burst-max, median of {int(r['n'])}", "source": "the logging suite",
                     "why it differs": f"one hop's burst ceiling on one host ({line_bytes}-byte lines), stored as "
                                       "files: no index, no queries, not sustained for a day"})
    return pd.DataFrame(rows)
