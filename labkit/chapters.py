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


def reset(chapter: str, *, dry_run: bool = False) -> list[str]:
    """Put ``chapter`` (e.g. ``"03-network"``) back as shipped: the notebook restored after your copy is saved to
    ``notebooks/.learner/``, and the containers, networks and volumes it made removed (images and kind clusters
    stay). Same as ``labkit reset 03-network``; see :func:`labkit.clean.reset`."""
    from labkit import clean

    return clean.reset(chapter, dry_run=dry_run)
