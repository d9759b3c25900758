"""The measuring loop: blocks of repetitions, cells rotated, arms alternated, rows written as they come.

Repetition ``b`` visits the cells in an order rotated by ``b`` (A B C, B C A, C A B, …) so slow drift
of the host spreads evenly over every cell; with two arms (A/B) the arms alternate too. Each
measurement is a fresh tool process and connection. A failed repetition is stored with its reason
and the run goes on; a cell the host cannot offer is stored as *unavailable* with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from labkit.bench.cells import Cell
from labkit.bench.plan import BenchPlan
from labkit.bench.schema import metric_info
from labkit.bench.store import utcnow
from labkit.docker import Scope
from labkit.errors import DockerUnavailable, LabkitError
from labkit.log import log
from labkit.progress import Progress

OVERHEAD_S = 1.0  # per measurement, beyond its planned length: a tool process started and read back


@dataclass
class Arm:
    """One side of a run (the only one, or A or B): its plan, writer, open sessions and row fields."""

    plan: BenchPlan
    writer: Any
    common: dict[str, Any]
    scope: Scope
    sessions: dict[str, Any]
    unavailable: dict[str, str]
    impaired: dict[str, str]


def budget(test: Any, timeout: float | None) -> float:
    """The timeout of one measurement: ``timeout`` when given, else three times its length plus 30 s."""
    return timeout or float(test.budget_s) * 3 + 30


def rows(cell: Cell, test: Any, common: dict[str, Any], *, block: int, t0: str, scenario: dict[str, Any],
         metrics: dict[str, float] | None, tool_version: str | None, status: str, error: str | None,
         impairment: str) -> list[dict[str, Any]]:
    base = {**common, "repetition": block, "block": block, "ts_start_utc": t0, "ts_end_utc": utcnow(),
            "status": status, "error": error, "suite": cell.suite, "component": cell.component,
            "component_version": cell.config["version"] if "version" in cell.config else common.get("docker_version"),
            "component_config": json.dumps(cell.config),
            "cell": cell.name, "baseline_cell": cell.baseline, "baseline_level": cell.level,
            "placement": cell.placement, "path": cell.path, "tool_version": tool_version,
            "impairment": impairment or None, "design": "single",
            "warmup_runs": 1, "cpu_pin": _cpu_pin(scenario), **scenario}
    if metrics is None:
        return [{**base, "metric": "", "value": None, "unit": None, "higher_is_better": None}]
    return [{**base, "metric": m, "value": v, "unit": metric_info(m)[0], "higher_is_better": metric_info(m)[1]}
            for m, v in metrics.items()]


def _cpu_pin(scenario: dict[str, Any]) -> str:
    """Where the tool's processes run: sockperf pins client and server to CPU 0 (unpinned ping-pong
    latency is bimodal on small VMs); iperf3 and fio run unpinned (pinning the two iperf3 ends to
    different CPUs halved throughput and doubled the noise here, issue 13 NOTES §1)."""
    return "client+server cpu0" if scenario.get("tool") == "sockperf" else "unpinned"


def record_unavailable(arms: list[Arm]) -> None:
    """One ``unavailable`` row set per cell an arm could not open, with the reason (never silently dropped)."""
    t0 = utcnow()
    for arm in arms:
        for cell in arm.plan.cells:
            if cell.name in arm.unavailable:
                arm.writer.append([r for t in arm.plan.tests for r in rows(
                    cell, t, arm.common, block=0, t0=t0, scenario=t.scenario(), metrics=None, tool_version=None,
                    status="unavailable", error=arm.unavailable[cell.name], impairment="")])


def measure(arms: list[Arm], timeout: float | None, progress: Any = None) -> None:
    """Every block, every live cell (rotated), every arm (alternated), every test: one row set each."""
    record_unavailable(arms)
    live = [c for c in arms[0].plan.cells if any(c.name in a.sessions for a in arms)]
    reps = arms[0].plan.reps
    bar = tracker(arms, live, reps, progress)
    try:
        _blocks(arms, live, reps, timeout, bar)
    except BaseException:
        bar.close("interrupted")
        raise
    bar.close()


def tracker(arms: list[Arm], live: list[Cell], reps: int, progress: Any = None) -> Progress:
    """One unit per warm-up and per measurement, each weighted by its planned length."""
    warm = [t.budget_s + OVERHEAD_S for a in arms for _ in a.sessions for t in warm_tests(a.plan)]
    measured = [t.budget_s + OVERHEAD_S for _ in range(reps) for c in live for a in arms
                if c.name in a.sessions for t in a.plan.tests]
    title = " vs ".join(a.plan.suite.name for a in arms[:1]) + (" A/B" if len(arms) > 1 else "")
    return Progress(title, warm + measured, callback=progress if callable(progress) else None).start()


def _blocks(arms: list[Arm], live: list[Cell], reps: int, timeout: float | None, bar: Progress) -> None:
    warm_up(arms, timeout, bar)
    dead: dict[tuple[int, str], str] = {}
    for block in range(reps):
        k = block % max(1, len(live))
        for cell in live[k:] + live[:k]:
            order = arms[block % len(arms):] + arms[:block % len(arms)]  # A B, then B A, …
            for arm in order:
                session = arm.sessions.get(cell.name)
                if session is None:
                    continue
                key = (arms.index(arm), cell.name)
                dead_reason = dead.get(key) or session.alive()
                if dead_reason:
                    dead[key] = dead_reason
                for test in arm.plan.tests:
                    got = one(cell, test, session, arm.common, block, dead.get(key),
                              arm.impaired.get(cell.name, ""), timeout, quiet=block > 0)
                    if len(arms) > 1:
                        for r in got:
                            r.update(design="interleaved", arm_order="".join("AB"[arms.index(x)] for x in order))
                    arm.writer.append(got)
                    bar.step(f"{cell.name} {test.name} repetition {block + 1}/{reps}"
                             + (f" (arm {'AB'[arms.index(arm)]})" if len(arms) > 1 else ""))
        log(f"  repetition {block + 1}/{reps} done · {bar.line()}")


def warm_tests(p: BenchPlan) -> list[Any]:
    """What each cell runs unrecorded before its repetitions: on the engine network suite one run per cell
    (its first test): the first run of a fresh cell is low (median 0.84 × the rest) and after it the cell is
    warm for every test, so a warm-up per test only cost time (issue 13 NOTES §1, §6). Elsewhere (fio jobs
    leave different cache states, pods start per job) one per cell and test."""
    if getattr(p, "target", None) == "engine" and p.suite.name == "net":
        return list(p.tests[:1])
    return list(p.tests)


def warm_up(arms: list[Arm], timeout: float | None, bar: Progress | None = None) -> None:
    """Unrecorded measurements first: caches, ARP and TCP state settle (:func:`warm_tests`)."""
    for arm in arms:
        for name, session in arm.sessions.items():
            for test in warm_tests(arm.plan):
                try:
                    session.measure(test, timeout=budget(test, timeout), quiet=True)
                except DockerUnavailable:
                    raise
                except Exception as exc:  # noqa: BLE001 - a failing cell shows up in the measured repetitions
                    log(f"! warm-up of {name}/{test.name} failed: {getattr(exc, 'message', exc)}")
                if bar is not None:
                    bar.step(f"warm-up {name} {test.name}")


def one(cell: Cell, test: Any, session: Any, common: dict[str, Any], block: int, dead: str | None,
        impairment: str, timeout: float | None, *, quiet: bool = False) -> list[dict[str, Any]]:
    """One measurement as rows: ``ok`` with metrics, or ``failed`` with the reason (never raises, but for
    a lost Docker daemon, which ends the run)."""
    t0 = utcnow()
    scenario = test.scenario()
    if dead:
        return rows(cell, test, common, block=block, t0=t0, scenario=scenario, metrics=None, tool_version=None,
                    status="failed", error=dead, impairment=impairment)
    try:
        m = session.measure(test, timeout=budget(test, timeout), quiet=quiet)
    except DockerUnavailable:
        raise
    except (LabkitError, OSError, KeyError, ValueError) as exc:
        error = f"{type(exc).__name__}: {getattr(exc, 'message', str(exc))}"[:1000]
        log(f"✗ {cell.name}/{test.name} repetition {block + 1}: {error}")
        reason = session.alive()
        return rows(cell, test, common, block=block, t0=t0, scenario=scenario, metrics=None, tool_version=None,
                    status="failed", error=reason or error, impairment=impairment)
    return rows(cell, test, common, block=block, t0=t0, scenario={**scenario, **m.scenario}, metrics=m.metrics,
                tool_version=m.tool_version, status="ok", error=None, impairment=impairment)
