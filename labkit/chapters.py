"""The map of the lab: chapters, the components they teach, and where each can run."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.versions import project_root


@dataclass(frozen=True)
class Chapter:
    notebook: str
    component: str
    options: str
    targets: str  # where it runs live
    binder: str  # what works on Binder (no Docker)

    @property
    def present(self) -> bool:
        return (project_root() / "notebooks" / f"{self.notebook}.ipynb").is_file()


#: Chapters whose component is not built yet: shown as "coming", never promised as present.
PLANNED = {
    "monitoring": Chapter("05-monitoring", "Monitoring", "Prometheus, Alertmanager; kube-prometheus-stack on kind",
                          "engine, kind", "plans only"),
    "logging": Chapter("06-logging", "Logging", "Docker log drivers, rsyslog; Fluent Bit and Loki on kind",
                       "engine, kind", "plans only"),
    "mesh": Chapter("07-mesh", "Service mesh", "an Envoy sidecar mesh by hand; Linkerd, Istio on kind", "engine, kind",
                    "plans only"),
    "pipeline": Chapter("08-pipeline", "Deployment pipeline",
                        "git, build, SBOM, cosign, registry; Argo CD/Flux on kind", "engine, kind", "plans only"),
}
BENCHMARKS = (
    Chapter("10-bench-network", "Benchmark: network", "Docker drivers; CNIs on kind", "engine, kind",
            "replay of recorded runs"),
    Chapter("11-bench-storage", "Benchmark: storage", "Docker storage; StorageClasses on kind", "engine, kind",
            "replay of recorded runs"),
    Chapter("20-regression", "Regression gate", "compare two runs, fail on a regression", "engine, kind",
            "replay of recorded runs"),
)


def chapters() -> list[Chapter]:
    """Every chapter: the registered components' (labkit.components), the planned ones, then the benchmarks."""
    from labkit import components

    built = {c.name: Chapter(c.chapter, c.title, c.summary, c.live_on, c.binder) for c in components.all_components()}
    return sorted({**PLANNED, **built}.values(), key=lambda c: c.notebook) + list(BENCHMARKS)


def table() -> object:
    """The chapters as a DataFrame, with whether each notebook exists in this checkout yet."""
    import pandas as pd

    return pd.DataFrame([{"notebook": c.notebook, "component": c.component, "options": c.options,
                          "runs live on": c.targets, "on Binder": c.binder,
                          "in this checkout": "yes" if c.present else "coming"} for c in chapters()])


def targets(rows: list[object]) -> object:
    """Which targets this machine offers, from doctor rows; ``why`` says what was actually checked."""
    import pandas as pd

    status = {r.name: r for r in rows}  # type: ignore[attr-defined]

    def ok(name: str) -> bool:
        return name in status and status[name].status == "ok"  # type: ignore[attr-defined]

    def found(name: str) -> bool:  # present, whatever its version (doctor says "not found" otherwise)
        return name in status and not status[name].detail.startswith("not found")  # type: ignore[attr-defined]

    def detail(name: str) -> str:
        return f"{name}: {status[name].detail}" if name in status else f"{name}: not checked"  # type: ignore

    docker = ok("docker daemon")
    kind_needs = ("docker daemon", "kind", "kubectl", "privileged containers")
    kind_ok = all(ok(n) for n in kind_needs)
    cluster_ok = ok("kubeconfig") and found("kubectl")
    out = [
        ("engine", docker, "the local Docker daemon answered" if docker else detail("docker daemon")),
        ("kind", kind_ok, "Docker, kind and kubectl in range, privileged containers allowed" if kind_ok else
         "needs " + ", ".join(kind_needs) + "; not ready: " + "; ".join(detail(n) for n in kind_needs if not ok(n))),
        ("cluster", cluster_ok,
         f"{detail('kubeconfig')}; kubectl found (it must be within one minor of that cluster's server)"
         if cluster_ok else "needs a kubeconfig and kubectl; not ready: " +
         "; ".join(detail(n) for n, good in (("kubeconfig", ok("kubeconfig")), ("kubectl", found("kubectl")))
                   if not good)),
        ("replay", True, "recorded results in environments/recordings (always)"),
    ]
    return pd.DataFrame(out, columns=["target", "available", "why"])


def begin(chapter: str, profile: str = "quick") -> TimeBox:
    """Start ``chapter`` in this kernel: what it makes is labelled ``io.labkit.chapter=<chapter>`` (so
    ``labkit reset <chapter>`` finds it, also when papermill runs the notebook), and its time box is returned."""
    import os

    os.environ["LABKIT_CHAPTER"] = chapter
    return time_box(chapter, profile)


@dataclass(frozen=True)
class ResetPreview:
    chapter: str
    would: list[str]

    def text(self) -> str:
        lines = [f"A reset of {self.chapter} would:"] + [f"  - {w}" for w in self.would] if self.would else [
            f"{self.chapter} is as shipped: a reset would change nothing."]
        return "\n".join(lines + [
            f"To reset for real: `labkit reset {self.chapter}` in a terminal (then File → Reload Notebook from Disk), "
            f"or `chapters.reset(\"{self.chapter}\")` here. Your copy is saved to notebooks/.learner/ first; "
            "images and kind clusters stay (`labkit clean --images`, `labkit down --name NAME` remove those)."])

    def __repr__(self) -> str:
        return self.text()

    def _repr_markdown_(self) -> str:
        head, *rest = self.text().split("\n")
        return f"**{head}**\n\n" + "\n".join(line.replace("  - ", "- ", 1) if line.startswith("  - ") else
                                               "\n" + line for line in rest)


def reset_preview(chapter: str) -> ResetPreview:
    """What ``labkit reset <chapter>`` would do now (nothing is changed), and how to do it for real."""
    from labkit import log

    was = bool(getattr(log, "_quiet", False))
    log.set_quiet(True)
    try:
        would = reset(chapter, dry_run=True)
    finally:
        log.set_quiet(was)
    return ResetPreview(chapter, would)


def left_by(chapter: str) -> str:
    """``"N labkit object(s) left by this chapter: …"``: the containers, networks and volumes labelled for it."""
    from labkit import clean

    left = clean.chapter_objects(chapter)
    return f"{len(left)} labkit object(s) left by this chapter" + (
        ": " + ", ".join(f"{i.kind} {i.name}" for i in left) if left else "")


def tidy(chapter: str) -> str:
    """Remove what ``chapter`` left for the learner to inspect (its labelled containers, networks, volumes); the
    notebook is not touched (that is :func:`reset`). A chapter's last cell calls this unless ``keep`` is set."""
    from labkit import clean, docker

    left = clean.chapter_objects(chapter)
    for item in left:
        docker.remove(item.ref)
    return f"removed {len(left)} object(s) this chapter kept for you" + (
        ": " + ", ".join(f"{i.kind} {i.name}" for i in left) if left else "")


def reset(chapter: str, *, dry_run: bool = False) -> list[str]:
    """Put ``chapter`` (e.g. ``"03-network"``) back as shipped: the notebook restored after your copy is saved to
    ``notebooks/.learner/``, and the containers, networks and volumes it made removed (images and kind clusters
    stay). Same as ``labkit reset 03-network``; see :func:`labkit.clean.reset`."""
    from labkit import clean

    return clean.reset(chapter, dry_run=dry_run)


# --- time boxes from measured runs (environments/chapter-times.yaml, written by benchmarks/chapter_times.py) ----
TIMES_FILE = "chapter-times.yaml"
#: workshop-friendly minutes a measured time is rounded up to
FRIENDLY_MINUTES = (1, 2, 3, 5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 180, 240)


def friendly_minutes(seconds: float) -> int:
    """The smallest workshop-friendly number of minutes that is at least ``seconds``: 74 s → 2, 838 s → 15."""
    need = seconds / 60
    return next((m for m in FRIENDLY_MINUTES if m >= need), int(-(-need // 60) * 60))


def chapter_times(path: object = None) -> dict[str, object]:
    """The measured times (``environments/chapter-times.yaml``) as a dict; empty when nothing was measured."""
    from pathlib import Path

    import yaml

    from labkit.versions import environments_dir

    file = Path(str(path)) if path else environments_dir() / TIMES_FILE
    return (yaml.safe_load(file.read_text()) or {}) if file.is_file() else {}


@dataclass(frozen=True)
class TimeBox:
    chapter: str
    profile: str
    live_s: float | None     # Run All, live where this machine runs it (the engine part)
    replay_s: float | None   # Run All in replay / plan mode
    kind: str                # what the kind half adds ("" when the chapter has none)
    measured: str            # date, machine and how
    live_note: str = ""

    @property
    def minutes(self) -> int | None:
        """The time box: the longer measured path, rounded up to a workshop-friendly figure."""
        worst = max((s for s in (self.live_s, self.replay_s) if s is not None), default=None)
        return None if worst is None else friendly_minutes(worst)

    def text(self) -> str:
        from labkit.progress import duration

        head = f"Time ({self.profile} profile): "
        if self.minutes is None:
            return head + f"not measured here for this profile. {self.kind}".strip()
        parts = []
        if self.live_s is not None:
            parts.append(f"Run All takes about {friendly_minutes(self.live_s)} min of machine time live "
                         f"({duration(self.live_s)}{', ' + self.live_note if self.live_note else ''})")
        if self.replay_s is not None:
            parts.append(f"about {friendly_minutes(self.replay_s)} min in replay, reading the plans and recorded "
                         f"results ({duration(self.replay_s)})")
        out = head + "; ".join(parts) + f". Measured here: {self.measured}. Reading, typing and the exercises " \
                                        "come on top."
        return out + (f" {self.kind}" if self.kind else "")

    def __repr__(self) -> str:
        return self.text()

    def _repr_markdown_(self) -> str:
        return "**" + self.text().replace(": ", ":** ", 1)


def _machine(data: dict[str, object]) -> str:
    m = data.get("machine") or {}
    assert isinstance(m, dict)
    bits = [f"{m.get('cpus')} cores" + (" shared with other jobs" if m.get("shared") else ""),
            f"{m.get('mem_gib')} GiB", f"Docker {m.get('docker')}" if m.get("docker") else ""]
    return ", ".join(b for b in bits if b)


def time_box(chapter: str, profile: str = "quick", *, path: object = None) -> TimeBox:
    """The chapter's time box for ``profile``, from the measured runs; says "not measured here" where so."""
    data = chapter_times(path)
    entry = ((data.get("chapters") or {}).get(chapter) or {})  # type: ignore[union-attr]
    runs = (entry.get("profiles") or {}).get(profile) or {}
    kind_half = entry.get("kind") or ""

    def seconds(part: str) -> float | None:
        run = runs.get(part) or {}
        return float(run["seconds"]) if run.get("seconds") is not None and not run.get("error") else None

    live = runs.get("live") or {}
    load = live.get("load") or []
    note = f"load average {load[0]} → {load[1]}" if len(load) == 2 else ""
    dates = sorted({str(r.get("date")) for r in runs.values() if isinstance(r, dict) and r.get("date")})
    how = f", with `{str(data['how']).split(':')[0]}`" if data.get("how") else ""  # the script, not its blurb
    measured = (", ".join(dates) or "never") + f", on {_machine(data)}{how}"
    return TimeBox(chapter, profile, seconds("live"), seconds("replay"), str(kind_half), measured, note)


def times_table(path: object = None) -> str:
    """The measured times as the trainer guide's Markdown table (the guide must show exactly this)."""
    data = chapter_times(path)
    rows = ["| chapter | profile | live: what ran | live | replay / plan | time box | kind half |",
            "|---|---|---|---|---|---|---|"]
    for chapter, entry in sorted((data.get("chapters") or {}).items()):  # type: ignore[union-attr]
        for profile in sorted(entry.get("profiles") or {}):
            box = time_box(chapter, profile, path=path)
            what = ((entry["profiles"][profile].get("live") or {}).get("what") or "-")
            cells = [chapter, profile, what, _secs(box.live_s), _secs(box.replay_s),
                     f"{box.minutes} min" if box.minutes else "not measured", entry.get("kind") or "-"]
            rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(rows)


def _secs(s: float | None) -> str:
    from labkit.progress import duration

    return "not measured" if s is None else f"{s:.0f} s" + (f" ({duration(s)})" if s >= 60 else "")
