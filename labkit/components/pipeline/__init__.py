"""Component: the deployment pipeline (chapter 08) — commit → build → SBOM → sign → registry → verified deploy.

========================= =====================================================================
lab.py                    EngineLab: forge, registry (TLS + htpasswd), tool belt, keys; up/down
settings.py toolbox.py    names, ports, secrets; labelled containers, the tool belt, per-stage logs
forge.py ca.py registry.py  git http-backend, the lab CA (openssl), Distribution 2.8 and its HTTP API
build.py sbom.py sign.py  docker build (cache, by commit), CycloneDX SBOM, cosign sign/attest/verify
runner.py deploy.py       labkit's CI runner (stages, timings, logs); the deploy gate and run-by-digest
audit.py scenarios.py     the audit table from what runs; unsigned pushes, moved tags, copies, by-hand runs
explain.py report.py      the engine tier's exact commands; charts and the DORA framing
cells.py                  the harness suites: lead time (warm/cold), build strategy (multi/single stage)
gitops.py admission.py    kind tier: Argo CD or Flux; Kyverno ImageValidatingPolicy
kind_forge.py kind_verify.py  kind tier: forge + tool belt beside kind; release, sync, refusals, audit
cli.py                    `labkit pipeline up|down|status|run`
========================= =====================================================================
"""

from __future__ import annotations

from typing import Any

from labkit.components.base import Component, lazy_exports


def _options() -> Any:
    from labkit.components.pipeline.gitops import OPTIONS

    return OPTIONS


def _suites() -> list[Any]:
    from labkit.bench.registry import Suite, TargetCells
    from labkit.components.pipeline import cells
    from labkit.errors import Unavailable

    def on_kind(request: Any) -> Any:
        raise Unavailable("the pipeline benchmarks run on the engine tier; on kind the verify plan states and checks "
                          "the GitOps lead time", fix="use target='engine'")

    elsewhere = TargetCells(on_kind, cells.open_lead_cell)
    lead = Suite(cells.LEAD, "pipeline", "lead time, commit to running, by stage (warm vs cold cache)",
                 lambda request, prof: cells.lead_tests(list(request.tests) if request.tests else None),
                 {"engine": TargetCells(lambda r: dict(cells.LEAD_CELLS), cells.open_lead_cell),
                  "kind": elsewhere, "cluster": elsewhere},
                 reps=lambda prof: 3 if prof.name == "quick" else 6)
    build = Suite(cells.BUILD, "pipeline", "image build per strategy: time, size, cache hits",
                  lambda request, prof: cells.build_tests(list(request.tests) if request.tests else None),
                  {"engine": TargetCells(lambda r: dict(cells.BUILD_CELLS), cells.open_build_cell),
                   "kind": elsewhere, "cluster": elsewhere},
                  reps=lambda prof: 3 if prof.name == "quick" else 5)
    return [lead, build]


def _hook(action: str) -> Any:
    """``labkit pipeline up|down|status`` through the generic hook: ``(name, options) -> text``. The stack is one
    per machine (its name is always the default ``lab``); the only option is ``plan`` (``--plan``)."""
    def run(name: str = "lab", options: dict[str, str] | None = None) -> str:
        from labkit.components.pipeline import cli
        from labkit.errors import BadInput

        opts = dict(options or {})
        plan = opts.pop("plan", "") == "yes"
        if name != "lab":
            raise BadInput("--name", name, "lab", fix="the pipeline stack is one per machine: leave --name out")
        if opts:
            raise BadInput("--option", ", ".join(opts), "none (only --plan)", fix="leave the option out")
        getattr(cli, action)(plan=plan)  # prints as it goes
        return ""
    return run


COMPONENT = Component("pipeline", "Deployment pipeline", "08-pipeline", options=_options, up_flag="pipeline",
                      up_order=80, suites=_suites,
                      summary="own CI runner, Distribution registry, cosign, SBOM; Argo CD or Flux + Kyverno on kind",
                      live_on="engine, kind", binder="plans only; replay of recorded runs",
                      engine_up=_hook("up"), engine_down=_hook("down"), engine_status=_hook("status"))

_MODULES = ("lab", "settings", "toolbox", "forge", "ca", "registry", "build", "sbom", "sign", "runner", "deploy",
            "audit", "scenarios", "explain", "report", "cells", "gitops", "admission", "kind_forge", "kind_verify",
            "cli")

#: Public names of this component and the module that defines each (imported on first use).
_EXPORTS = {
    "EngineLab": "lab", "Settings": "settings", "Secret": "settings", "CLI_SETTINGS": "settings",
    "Refused": "deploy", "Release": "deploy", "StageFailed": "runner", "BuildFailed": "build",
    "audit_linked": "audit", "unsigned_push": "scenarios", "move_tag": "scenarios", "copy_image": "scenarios",
    "run_by_hand": "scenarios", "lab_plan": "explain", "run_plan": "explain",
    "lead_time_figure": "report", "stage_table": "report", "build_figure": "report", "dora_note": "report",
    "recorded_runs": "report", "OPTIONS": "gitops", "option": "gitops", "options_table": "gitops",
    "ArgoCD": "gitops", "Flux": "gitops", "kyverno_policy": "admission", "trivy_commands": "report",
    "act_command": "report", "ACT_WORKFLOW": "report", "ACT_OVERHEAD": "report", "chain_figure": "report",
    "check": "report", "build_table": "report", "recordings_dir": "report", "app_source": "forge",
    "lab_lines": "explain", "run_lines": "explain",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, _MODULES)
