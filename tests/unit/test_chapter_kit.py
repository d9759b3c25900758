"""The workshop kit of a chapter: time boxes from measured runs (and the guide's table agreeing with them), progress
where nothing was measured, a plan's steps reported as they finish, the orchestration sequence's bar, and a kept
bench cluster never sharing the CPU with the next CNI's run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit import chapters
from labkit._run import Cmd
from labkit.bench import harness as runner
from labkit.bench.request import BenchRequest
from labkit.bench.store import Store
from labkit.components import network as kind
from labkit.components.orchestration import App, OpResult, sequence
from labkit.progress import Progress
from labkit.steps import Plan, Step
from tests.fakes import Clock, FakeClusterOps, Replies, ScriptedRunner

ROOT = Path(__file__).resolve().parents[2]

TIMES = {
    "schema": 1, "how": "benchmarks/chapter_times.py",
    "machine": {"cpus": 2, "shared": True, "mem_gib": 23.5, "docker": "20.10.24"},
    "chapters": {
        "01-engine": {"kind": "", "profiles": {"quick": {
            "live": {"seconds": 74.2, "date": "2026-11-30", "load": [3.8, 8.5], "error": "", "what": "all of it"},
            "replay": {"seconds": 9.0, "date": "2026-11-30", "error": ""}}}},
        "03-network": {"kind": "The kind half: not measured here (no privileged containers).",
                       "profiles": {"quick": {"replay": {"seconds": 7.7, "date": "2026-11-30", "error": ""}}}},
        "10-bench-network": {"kind": "x", "profiles": {"quick": {
            "live": {"seconds": 838.5, "date": "2026-11-30", "error": ""},
            "replay": {"seconds": 30.0, "date": "2026-11-30", "error": "PapermillExecutionError: boom"}}}},
    }}


@pytest.fixture()
def times(tmp_path: Path) -> Path:
    path = tmp_path / "chapter-times.yaml"
    path.write_text(yaml.safe_dump(TIMES))
    return path


@pytest.mark.parametrize(("seconds", "minutes"), [(5, 1), (60, 1), (74, 2), (181, 5), (838.5, 15), (3000, 60),
                                                  (4000, 90)])
def test_measured_seconds_round_up_to_workshop_minutes(seconds: float, minutes: int) -> None:
    assert chapters.friendly_minutes(seconds) == minutes


def test_a_time_box_comes_from_the_measured_runs_and_says_where(times: Path) -> None:
    box = chapters.time_box("01-engine", "quick", path=times)
    assert (box.live_s, box.replay_s, box.minutes) == (74.2, 9.0, 2)
    text = box.text()
    assert "about 2 min of machine time live (1 min 14 s, load average 3.8 → 8.5)" in text
    assert "2026-11-30" in text and "2 cores shared with other jobs" in text and "come on top" in text
    assert box._repr_markdown_().startswith("**Time (quick profile):**")


def test_a_kind_half_not_measured_here_is_said_and_never_invented(times: Path) -> None:
    box = chapters.time_box("03-network", "quick", path=times)
    assert box.live_s is None and box.minutes == 1
    assert "not measured here (no privileged containers)" in box.text() and "live (" not in box.text()


def test_a_failed_run_and_an_unmeasured_profile_give_no_number(times: Path) -> None:
    assert chapters.time_box("10-bench-network", "quick", path=times).replay_s is None  # it failed: no figure
    full = chapters.time_box("01-engine", "full", path=times)
    assert full.minutes is None and "not measured here" in full.text()
    assert chapters.time_box("99-nothing", path=times).minutes is None


def test_the_trainer_guide_shows_exactly_the_measured_table() -> None:
    guide = (ROOT / "docs" / "trainer-guide.md").read_text()
    m = re.search(r"<!-- chapter-times: begin[^>]*-->\n(.*?)\n<!-- chapter-times: end -->", guide, re.S)
    assert m, "the guide's table sits between the chapter-times markers (benchmarks/chapter_times.py writes it)"
    assert m.group(1) == chapters.times_table(), "run benchmarks/chapter_times.py (or copy its table) again"
    data = chapters.chapter_times()
    assert data["machine"]["cpus"] and data["chapters"], "environments/chapter-times.yaml holds measured runs"
    for name, entry in data["chapters"].items():
        for profile, runs in entry["profiles"].items():
            for path, run in runs.items():
                assert run["seconds"] > 0 and run["date"] and "params" in run, (name, profile, path)


def test_the_timing_script_knows_every_chapter_that_shows_a_time_box_and_writes_one_file() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("chapter_times", ROOT / "benchmarks" / "chapter_times.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    books = {p.stem: p.read_text() for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    boxed = {name for name, text in books.items() if f'chapters.begin(\\"{name}\\"' in text}
    assert boxed == set(books), f"every chapter shows its measured time box: {sorted(set(books) - boxed)} do not"
    assert boxed <= set(script.CHAPTERS), "benchmarks/chapter_times.py must time every chapter that shows a box"
    assert script.TIMES == ROOT / "environments" / chapters.TIMES_FILE
    assert not (ROOT / "docs" / "chapter-timings.json").exists(), "one source of truth: the YAML"


def test_without_a_measured_plan_the_bar_counts_steps_then_estimates_from_their_pace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[str] = []
    monkeypatch.setattr("labkit.progress.log", lines.append)
    clock = Clock()
    bar = Progress("labkit up", [1.0] * 4, planned=False, clock=clock, widget=False, every_s=0).start()
    assert "no time plan measured here" in lines[-1] and "planned" not in lines[-1]
    clock.advance(30)
    bar.step("create")
    assert bar.eta() == pytest.approx(90) and "about 1 min 30 s left at the pace so far" in lines[-1]


def test_a_plan_reports_each_finished_step_also_the_skipped_ones() -> None:
    plan = Plan("p").add(Step("one", Cmd(("true",)), check=Cmd(("test", "-e", "x"))), Step("two", Cmd(("echo", "hi"))))
    run = ScriptedRunner({("test", "-e", "x"): Replies(0), ("true",): "", ("echo", "hi"): "hi\n"})
    seen: list[tuple[str, str]] = []
    plan.run(run, on_step=lambda r: seen.append((r.step.title, r.status)))
    assert seen == [("one", "already"), ("two", "done")]


class FakeOrch:
    name = "swarm"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def replicas(self) -> list[Any]:
        from labkit.components.orchestration import Replica

        return [Replica("a", "1", "node1", "h1"), Replica("b", "1", "node2", "h2"), Replica("c", "1", "node2", "h3"),
                Replica("d", "1", "node3", "h4")]

    def __getattr__(self, op: str) -> Any:
        def do(**kw: Any) -> OpResult:
            self.calls.append((op, kw))
            return OpResult(op, "swarm", 1.0, "")
        return do


def test_the_sequence_drains_the_busiest_unprotected_node_then_loses_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[str] = []
    monkeypatch.setattr("labkit.progress.log", lines.append)
    orch = FakeOrch()
    out = sequence(orch, App(replicas=1), repeat=2, protect=["node1"])  # type: ignore[arg-type]
    assert [op for op, _ in orch.calls] == ["deploy", "scale", "rolling_update", "kill_replica", "rolling_update",
                                            "kill_replica", "drain_node", "lose_node", "remove"]
    assert dict(orch.calls)["drain_node"] == {"node": "node2"} and orch.calls[7][1] == {"node": "node3"}
    assert len(out) == 9 and "swarm: the operations: 0/9" in lines[0] and "planned" in lines[0]
    kube = FakeOrch()
    sequence(kube, App(), protect=["node1"], lose=False)  # type: ignore[arg-type]
    assert "lose_node" not in [op for op, _ in kube.calls]


def test_keep_keeps_only_the_last_cnis_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runner, "run", lambda request, **kw: runner.BenchRun(f"run-{request.cni}", Store(tmp_path)))
    fake = FakeClusterOps()
    kind.compare_cnis(["kindnet", "calico"], BenchRequest("net"), store=str(tmp_path), ops=fake.ops(), keep=True)
    assert [e for e in fake.log if e[0] in ("up", "down")] == [
        ("up", "kindnet", "labkit-bench-kindnet", 2, None), ("down", "labkit-bench-kindnet"),
        ("up", "calico", "labkit-bench-calico", 2, None)]
