"""Charts and tables of the pipeline's measurements (pure: rows in, figure or table out), and the framing.

* :func:`stage_table` — median seconds per stage and cell (warm / cold), from the harness's tidy rows;
* :func:`lead_time_figure` — the same as stacked bars: where a commit's lead time goes;
* :func:`build_figure` — build time and image size per strategy (multi-stage vs single-stage);
* :func:`dora_note` — DORA's lead-time bands, and why one commit on one machine is not comparable to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.components.pipeline.cells import STAGE_METRICS

if TYPE_CHECKING:
    import pandas as pd

DORA_SOURCE = "https://devlake.apache.org/docs/v0.13/Metrics/LeadTimeForChanges/"
DORA_BANDS = (("elite", "less than one hour"), ("high", "between one day and one week"),
              ("medium", "between one month and six months"), ("low", "more than six months"))
ACT_WORKFLOW = ".github/workflows/release.yml"
#: measured by the chapter's prototype on this project's CI machine (2026-11-30, NOTES §3): act's cost over
#: labkit's runner for the same pipeline, 3 interleaved repetitions in each of two runs, load1 9-31.
ACT_OVERHEAD = "0.79 s [0.67-0.89] and 0.82 s [0.75-1.12] (median [min-max], two runs of 3 repetitions)"


def recordings_dir() -> Path:
    """Real runs of the pipeline suites shipped with the lab (replayed where Docker is absent)."""
    from labkit.versions import environments_dir

    return environments_dir() / "pipeline" / "recordings"


def recorded_runs() -> tuple[Any, list[str]]:
    """(store, run ids) of the shipped recordings: newest run of each pipeline suite."""
    from labkit.bench.store import Store

    store = Store(recordings_dir())
    newest: dict[str, str] = {}
    for run_id in store.run_ids():
        newest[str(store.meta(run_id).get("suite"))] = run_id
    return store, [newest[s] for s in sorted(newest)]


def _ok(rows: pd.DataFrame, suite: str) -> pd.DataFrame:
    return rows[(rows["suite"] == suite) & (rows["status"] == "ok")]


def stage_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Median [min–max] seconds of each stage (rows) per cell (columns), plus the lead time and n."""
    import pandas as pd

    ok = _ok(rows, "pipeline")
    out = {}
    for cell, group in ok.groupby("cell"):
        col = {}
        for stage in (*STAGE_METRICS, "lead_time"):
            metric = "lead_time_s" if stage == "lead_time" else f"stage_{stage}_s"
            values = group.loc[group["metric"] == metric, "value"].astype(float)
            col[stage] = (f"{values.median():.2f} [{values.min():.2f}–{values.max():.2f}]" if len(values) else "-")
        col["n"] = str(group.loc[group["metric"] == "lead_time_s", "value"].count())
        out[cell] = col
    order = [c for c in ("warm", "cold") if c in out] + [c for c in out if c not in ("warm", "cold")]
    return pd.DataFrame(out)[order] if out else pd.DataFrame()


def lead_time_figure(rows: pd.DataFrame, *, where: str = "") -> Any:
    """Stacked horizontal bars: the median seconds of each stage, one bar per cell."""
    import plotly.graph_objects as go

    ok = _ok(rows, "pipeline")
    cells = [c for c in ("warm", "cold") if c in set(ok["cell"])]
    fig = go.Figure()
    for stage in STAGE_METRICS:
        metric = f"stage_{stage}_s"
        med = [float(ok[(ok["cell"] == c) & (ok["metric"] == metric)]["value"].median()) for c in cells]
        fig.add_bar(name=stage, y=cells, x=med, orientation="h", hovertemplate=f"{stage}: %{{x:.2f}} s")
    totals = {c: float(ok[(ok["cell"] == c) & (ok["metric"] == "lead_time_s")]["value"].median()) for c in cells}
    title = "Lead time, commit → running, by stage (median s): " + ", ".join(f"{c} {v:.1f} s"
                                                                              for c, v in totals.items())
    fig.update_layout(barmode="stack", title=title + (f"<br><sup>{where}</sup>" if where else ""),
                      xaxis_title="seconds", yaxis_title="cache", legend_traceorder="normal", height=320)
    return fig


def build_table(rows: pd.DataFrame) -> pd.DataFrame:
    ok = _ok(rows, "pipeline-build")
    table = ok.pivot_table(index=["cell", "test"], columns="metric", values="value", aggfunc="median")
    if "image_bytes" in table:
        table["image_MB"] = (table.pop("image_bytes") / 1e6).round(1)
    return table.round(2)


def build_figure(rows: pd.DataFrame, *, where: str = "") -> Any:
    """Build seconds per test (bars) and image size (text) per strategy."""
    import plotly.graph_objects as go

    ok = _ok(rows, "pipeline-build")
    fig = go.Figure()
    for test in sorted(set(ok["test"])):
        sub = ok[(ok["test"] == test) & (ok["metric"] == "build_s")].groupby("cell")["value"].median()
        fig.add_bar(name=f"build: {test}", x=list(sub.index), y=list(sub.values))
    sizes = ok[ok["metric"] == "image_bytes"].groupby("cell")["value"].median() / 1e6
    title = "Build time per strategy (median s); image size: " + ", ".join(f"{c} {v:.1f} MB"
                                                                            for c, v in sizes.items())
    fig.update_layout(barmode="group", title=title + (f"<br><sup>{where}</sup>" if where else ""),
                      yaxis_title="seconds", height=340)
    return fig


def dora_note(lead_time_s: float | None = None) -> str:
    bands = "; ".join(f"{name}: {text}" for name, text in DORA_BANDS)
    ours = f" Ours: **{lead_time_s:.0f} s** for one commit." if lead_time_s is not None else ""
    return (f"DORA calls *lead time for changes* — commit to running in production — a key delivery metric. The "
            f"2021 Accelerate State of DevOps bands, as Apache DevLake quotes them ({DORA_SOURCE}): {bands}.{ours} "
            "Not comparable: those are organisations' medians, with code review, queues, test suites and "
            "promotion through environments; ours is one commit, one machine, no tests, no review. What carries "
            "over is the breakdown — which stage to attack first.")


def trivy_commands(ref: str = "localhost:5001/labkit/app@sha256:<digest>") -> list[str]:
    """The CVE scan this machine cannot run (no vulnerability database is reachable): run it where Trivy has
    internet — the image from kind's registry, or the SBOM the pipeline made."""
    image = "aquasec/trivy:0.74.0"
    return [f"docker run --rm --network host {image} image --image-src remote --severity HIGH,CRITICAL "
            f"--exit-code 1 {ref}",
            f"docker run --rm -v \"$PWD:/work\" {image} sbom --severity HIGH,CRITICAL /work/sbom.cdx.json"]


def act_command() -> str:
    """Run the app's workflow with act in host mode, offline (against ``labkit pipeline up``'s stack)."""
    return "act push -P ubuntu-latest=-self-hosted --pull=false --action-offline-mode"


def chain_figure(lines: list[Any], seconds: dict[str, float] | None = None) -> Any:
    """The pipeline chain drawn from the plan: one box per stage (how many commands it runs, and the measured
    seconds when ``seconds`` is given), arrows in the order they run."""
    import plotly.graph_objects as go

    stages = list(dict.fromkeys(ln.stage for ln in lines))
    counts = {s: sum(1 for ln in lines if ln.stage == s) for s in stages}
    fig = go.Figure()
    for i, stage in enumerate(stages):
        text = f"<b>{stage}</b><br>{counts[stage]} command(s)"
        if seconds and stage in seconds:
            text += f"<br>{seconds[stage]:.1f} s"
        fig.add_shape(type="rect", x0=i * 1.4, x1=i * 1.4 + 1.1, y0=0, y1=1, line={"width": 1},
                      fillcolor="#e8f0fe")
        fig.add_annotation(x=i * 1.4 + 0.55, y=0.5, text=text, showarrow=False)
        if i:
            fig.add_annotation(x=i * 1.4, y=0.5, ax=i * 1.4 - 0.3, ay=0.5, xref="x", yref="y", axref="x",
                               ayref="y", showarrow=True, arrowhead=2, text="")
    fig.update_xaxes(visible=False, range=[-0.2, len(stages) * 1.4])
    fig.update_yaxes(visible=False, range=[-0.2, 1.2])
    fig.update_layout(height=180, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title="commit → " + " → ".join(stages) + " → running")
    return fig


def check(question: str, answer: object, expected: object, *, hint: str = "", reveal: bool = False) -> bool:
    """A check cell: compares the learner's ``answer`` with what the lab shows (prints ✓ or ✗ and a hint)."""
    norm = (lambda v: str(v).strip().lower())  # noqa: E731 - tiny local normaliser
    ok = bool(str(answer).strip()) and norm(answer) == norm(expected)
    if ok:
        print(f"✓ {question}: {answer}")
    elif not str(answer).strip():
        print(f"… {question}: not answered yet" + (f" (hint: {hint})" if hint else ""))
    else:
        print(f"✗ {question}: {answer!r} is not it" + (f" (hint: {hint})" if hint else ""))
    if reveal:
        print(f"  answer: {expected}")
    return ok
