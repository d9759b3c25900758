"""Plans of steps: explain == what runs, idempotence, failures with diagnostics, golden transcripts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labkit.targets.kind import config, plans
from labkit._run import Cmd
from labkit.steps import Plan, Step, StepFailed
from tests.fakes import ScriptedRunner

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
APPLY = ("kubectl", "apply", "-f", "-")
CHECK = ("kubectl", "get", "ns", "demo")
WAIT = ("kubectl", "wait", "--for=condition=Ready", "pods", "--all")
EVENTS = ("kubectl", "get", "events")


def kubectl(**rc: int) -> ScriptedRunner:
    """The plan's four commands, each answering "out" with exit code ``rc[name]`` (default 0); nothing else."""
    return ScriptedRunner({argv: (rc.get(name, 0), "out") for name, argv in
                           (("apply", APPLY), ("check", CHECK), ("wait", WAIT), ("events", EVENTS))}, anywhere=False)


def _plan() -> Plan:
    return Plan("demo").add(
        Step("make", Cmd(("kubectl", "apply", "-f", "-"), stdin="kind: Namespace\n"), why="a namespace",
             check=Cmd(("kubectl", "get", "ns", "demo"))),
        Step("wait", Cmd(("kubectl", "wait", "--for=condition=Ready", "pods", "--all")),
             diagnose=(Cmd(("kubectl", "get", "events")),)))


def test_explain_shows_exactly_what_runs() -> None:
    plan = _plan()
    text = plan.explain()
    assert "kubectl apply -f - <<'EOF'\n   kind: Namespace\n   EOF" in text and "**make** — a namespace" in text
    runner = kubectl(check=1)  # not there yet
    plan.run(runner)
    ran = [c for c in runner.calls if c.argv[1] != "get"]
    assert [(c.argv, c.stdin) for c in ran] == [(list(s.cmd.argv), s.cmd.stdin) for s in plan.steps]


def test_a_step_that_already_holds_is_skipped() -> None:
    runner = kubectl()  # the check succeeds
    results = _plan().run(runner)
    assert [r.status for r in results] == ["already", "done"]
    assert ["kubectl", "apply", "-f", "-"] not in runner.argvs()


def test_failure_stops_the_plan_and_attaches_diagnostics() -> None:
    runner = kubectl(wait=1, check=1)
    with pytest.raises(StepFailed) as info:
        _plan().run(runner)
    assert info.value.step.title == "wait" and "$ kubectl get events" in info.value.diagnostics
    assert "run the plan again" in (info.value.fix or "")


@pytest.fixture()
def fixed_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_HOME", "/labkit-home")


@pytest.mark.parametrize("profile", ["default", "calico"])
def test_create_plan_matches_its_golden_transcript(fixed_home: None, profile: str) -> None:
    transcript = plans.create_plan(config.profile(profile)).transcript()
    golden = GOLDEN / f"create-{profile}.json"
    if os.environ.get("LABKIT_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(transcript, indent=2) + "\n")
    assert transcript == json.loads(golden.read_text()), "plan changed: review, then LABKIT_UPDATE_GOLDEN=1"


def test_cni_less_cluster_does_not_wait_for_ready_nodes(fixed_home: None) -> None:
    plan = plans.create_plan(config.profile("no-cni"))
    assert [s.title for s in plan.steps] == ["Create the kind cluster"]
    assert "--wait" not in plan.steps[0].cmd.argv
    assert "--kubeconfig" in plan.steps[0].cmd.argv and "/labkit-home/kube/labkit.yaml" in plan.steps[0].cmd.argv
