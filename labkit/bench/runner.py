"""The benchmark runner: cells × tests × repetitions, interleaved, stored as tidy rows.

Repetition ``b`` visits the cells in an order rotated by ``b`` (A B C, B C A, C A B,
…) so slow drift of the host spreads evenly over every cell. Each measurement is a
fresh tool process and connection. A failed repetition is stored with its reason
and the run goes on; a cell the host cannot offer is stored as *unavailable* with
the reason. Every workload is labelled and removed when the run ends, however it ends.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit import __version__, engine
from labkit._run import default_runner
from labkit.bench import engine_net, engine_storage, impair as impair_mod, net, profiles, storage
from labkit.bench.cells import Cell
from labkit.bench.schema import METRICS
from labkit.bench.store import Store, new_run_id, utcnow
from labkit.errors import BadInput, DockerUnavailable, LabkitError, Unavailable
from labkit.log import log
from labkit.paths import results_dir, scratch_dir
from labkit.versions import project_root

if TYPE_CHECKING:
    import pandas as pd

SUITES = ("net", "storage")
TARGETS = ("engine", "kind", "cluster")


def catalog(suite: str, target: str = "engine") -> dict[str, Cell]:
    """The cells a target offers for a suite."""
    _check_choice("suite", suite, SUITES)
    _check_choice("target", target, TARGETS)
    if target != "engine":
        raise Unavailable(f"the {target} target's benchmark cells arrive with the kind/network and storage "
                          "chapters; today only --target engine runs",
                          fix="use --target engine")
    return dict(engine_net.CELLS if suite == "net" else engine_storage.CELLS)


def _check_choice(what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise BadInput(what, value, ", ".join(allowed))


@dataclass
class Plan:
    """Everything a run will do, resolved and validated before anything is created."""

    suite: str
    target: str
    profile: profiles.Profile
    cells: list[Cell]
    tests: list[Any]
    reps: int
    impairment: impair_mod.Impairment | None
    impair_cells: list[str]
    impair_explicit: bool

    def describe(self) -> str:
        names = ", ".join(c.name for c in self.cells)
        tests = ", ".join(t.name for t in self.tests)
        imp = f"; impairment {self.impairment.spec} on {', '.join(self.impair_cells)}" if self.impairment else ""
        return (f"{self.suite} on {self.target}, profile {self.profile.name}: cells [{names}] × tests [{tests}] "
                f"× {self.reps} repetitions, interleaved{imp}")


def plan(
    suite: str,
    *,
    target: str = "engine",
    cells: Sequence[str] | None = None,
    tests: Sequence[str] | None = None,
    profile: str = "quick",
    reps: int | None = None,
    duration_s: float | None = None,
    size: str | None = None,
    impair: str | None = None,
    impair_cells: Sequence[str] | None = None,
) -> Plan:
    """Validate the request; every bad value raises :class:`BadInput` naming what is allowed."""
    known = catalog(suite, target)
    prof = profiles.get(profile)
    names = list(cells) if cells else list(known)
    for name in names:
        if name not in known:
            raise BadInput(f"{suite} cell", name, ", ".join(known))
    if len(set(names)) != len(names):
        raise BadInput(f"{suite} cells", names, "each cell once")
    n = prof.reps if reps is None else int(reps)
    if n < 2:
        raise BadInput("repetitions", n, "2 or more (6+ for a median CI and a Mann-Whitney test that can "
                       "reach significance)", fix="use --reps 6 or more")
    if duration_s is not None and not 0.5 <= duration_s <= 600:
        raise BadInput("duration", duration_s, "0.5 to 600 seconds")
    if suite == "net":
        chosen = list(tests) if tests else list(prof.net_tests)
        test_objs: list[Any] = net.net_tests(chosen, duration_s=duration_s or prof.net_duration_s,
                                             omit_s=prof.net_omit_s, streams=prof.streams)
    else:
        if size is not None:
            try:
                engine_storage.size_bytes(size)
            except ValueError:
                raise BadInput("fio size", size, "a number with K, M or G, e.g. 64M or 1G") from None
        chosen = list(tests) if tests else list(prof.fio_jobs)
        test_objs = storage.fio_jobs(chosen, size=size or prof.fio_size,
                                     runtime_s=duration_s or prof.fio_runtime_s,
                                     ramp_s=prof.fio_ramp_s, numjobs=prof.fio_numjobs)
    imp = impair_mod.parse(impair) if impair else None
    if imp is not None and imp.suite != suite:
        raise BadInput("impairment", impair, f"a {suite} impairment ({impair_mod.ALLOWED})",
                       fix=f"rate=… shapes network cells; wbps/rbps/wiops/riops throttle storage cells")
    targets = list(impair_cells) if impair_cells else names
    for name in targets:
        if name not in names:
            raise BadInput("impaired cell", name, f"one of the cells being run: {', '.join(names)}")
    return Plan(suite, target, prof, [known[n] for n in names], test_objs, n, imp,
                targets if imp else [], bool(impair_cells))


@dataclass
class BenchRun:
    """A finished run: its id and where it is stored."""

    run_id: str
    store: Store

    def rows(self) -> pd.DataFrame:
        return self.store.load([self.run_id])

    def summary(self, **kwargs: Any) -> pd.DataFrame:
        from labkit.bench import stats

        return stats.aggregate(self.rows(), **kwargs)

    def meta(self) -> dict[str, Any]:
        return self.store.meta(self.run_id)


def _git() -> tuple[str | None, bool | None]:
    run = default_runner()
    try:
        sha = run.run(["git", "-C", str(project_root()), "rev-parse", "HEAD"], timeout=10, check=False, quiet=True)
        dirty = run.run(["git", "-C", str(project_root()), "status", "--porcelain"], timeout=10, check=False,
                        quiet=True)
    except LabkitError:
        return None, None
    return (sha.stdout.strip() or None) if sha.ok else None, bool(dirty.stdout.strip()) if dirty.ok else None


def _params_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def run(
    suite: str,
    *,
    target: str = "engine",
    cells: Sequence[str] | None = None,
    tests: Sequence[str] | None = None,
    profile: str = "quick",
    reps: int | None = None,
    duration_s: float | None = None,
    size: str | None = None,
    impair: str | None = None,
    impair_cells: Sequence[str] | None = None,
    store: Store | str | None = None,
    notebook: str | None = None,
    timeout: float | None = None,
) -> BenchRun:
    """Plan, then measure every cell × test × repetition; returns the stored run."""
    from labkit import images
    from labkit.bench import host

    p = plan(suite, target=target, cells=cells, tests=tests, profile=profile, reps=reps, duration_s=duration_s,
             size=size, impair=impair, impair_cells=impair_cells)
    st = store if isinstance(store, Store) else Store(store or results_dir())
    image = images.ensure_tools()
    info = engine.info()
    sha, dirty = _git()
    params = {"suite": suite, "target": target, "cells": [c.name for c in p.cells], "tests": [t.name for t in p.tests],
              "profile": profile, "reps": p.reps, "duration_s": duration_s, "size": size, "impair": impair,
              "impair_cells": p.impair_cells}
    run_id = new_run_id()
    hostfacts = host.facts(docker_version=str(info.get("ServerVersion")),
                           cgroup_version=str(info.get("CgroupVersion", "")), scratch=_scratch())
    common = {"run_id": run_id, "session_id": None, "git_sha": sha, "git_dirty": dirty, "lab_version": __version__,
              "notebook": notebook, "params_hash": _params_hash(params), "profile": profile, "target": target,
              **hostfacts}
    meta = {"run_id": run_id, "suite": suite, "target": target, "profile": profile, "params": params,
            "notebook": notebook, "host": hostfacts, "host_class": hostfacts["host_class"], "git_sha": sha,
            "impairment": impair, "image": image}
    log(f"run {run_id}: {p.describe()}")
    with st.new_run(meta) as writer, engine.Scope() as scope:
        common["session_id"] = scope.session
        writer.update_meta(session_id=scope.session)
        _measure(p, scope, writer, common, image, timeout)
    log(f"✓ run {run_id} stored in {st.root} ({writer.n_rows} rows)")
    return BenchRun(run_id, st)


def _scratch() -> str:
    d = scratch_dir()
    d.mkdir(parents=True, exist_ok=True)
    return str(d)


def _rows(cell: Cell, test: Any, common: dict[str, Any], *, block: int, t0: str, scenario: dict[str, Any],
          metrics: dict[str, float] | None, tool_version: str | None, status: str, error: str | None,
          impairment: str) -> list[dict[str, Any]]:
    base = {**common, "repetition": block, "block": block, "ts_start_utc": t0, "ts_end_utc": utcnow(),
            "status": status, "error": error, "suite": cell.suite, "component": cell.component,
            "component_version": common.get("docker_version"), "component_config": json.dumps(cell.config),
            "cell": cell.name, "baseline_cell": cell.baseline, "baseline_level": cell.level,
            "placement": cell.placement, "path": cell.path, "tool_version": tool_version,
            "impairment": impairment or None, **scenario}
    if metrics is None:
        return [{**base, "metric": "", "value": None, "unit": None, "higher_is_better": None}]
    return [{**base, "metric": m, "value": v, "unit": METRICS[m][0], "higher_is_better": METRICS[m][1]}
            for m, v in metrics.items()]


def _scenario(test: Any) -> dict[str, Any]:
    return test.scenario() if isinstance(test, net.NetTest) else test.scenario(direct=True)


def _open(p: Plan, scope: engine.Scope, image: str) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    sessions: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    impaired: dict[str, str] = {}
    ctx = {"image": image, "impair": p.impairment,
           "fio_size": p.tests[0].size if p.suite == "storage" else None}
    opener = engine_net.open_cell if p.suite == "net" else engine_storage.open_cell
    for cell in p.cells:
        try:
            sessions[cell.name] = opener(cell.name, scope, {**ctx, "impair": p.impairment
                                                             if cell.name in p.impair_cells else None})
        except Unavailable as exc:
            unavailable[cell.name] = exc.message + (f" (fix: {exc.fix})" if exc.fix else "")
            log(f"- cell {cell.name} unavailable: {unavailable[cell.name]}")
    if p.impairment is not None:
        for name in p.impair_cells:
            if name not in sessions:
                continue
            try:
                impaired[name] = sessions[name].impair(p.impairment, calibrate=_calibrator(sessions[name], p))
                log(f"✓ impairment on {name}: {impaired[name]}")
            except Unavailable as exc:
                if p.impair_explicit:
                    raise
                log(f"! cell {name} measured unimpaired: {exc.message}")
    return sessions, unavailable, impaired


def _calibrator(session: Any, p: Plan) -> Any:
    def calibrate() -> float:
        test = net.net_tests(["tcp-1"], duration_s=p.profile.net_duration_s, omit_s=0, streams=1)[0]
        values = [session.measure(test, timeout=test.duration_s * 3 + 30).metrics["throughput_bps"] for _ in range(3)]
        return float(statistics.median(values))
    return calibrate


def _measure(p: Plan, scope: engine.Scope, writer: Any, common: dict[str, Any], image: str,
             timeout: float | None) -> None:
    sessions, unavailable, impaired = _open(p, scope, image)
    t0 = utcnow()
    for cell in p.cells:
        if cell.name in unavailable:
            writer.append([r for t in p.tests for r in _rows(
                cell, t, common, block=0, t0=t0, scenario=_scenario(t), metrics=None, tool_version=None,
                status="unavailable", error=unavailable[cell.name], impairment="")])
    live = [c for c in p.cells if c.name in sessions]
    dead: dict[str, str] = {}
    for block in range(p.reps):
        k = block % max(1, len(live))
        for cell in live[k:] + live[:k]:
            session = sessions[cell.name]
            dead_reason = dead.get(cell.name) or session.alive()
            if dead_reason:
                dead[cell.name] = dead_reason
            for test in p.tests:
                writer.append(_one(cell, test, session, common, block, dead.get(cell.name),
                                   impaired.get(cell.name, ""), timeout))
        log(f"  repetition {block + 1}/{p.reps} done")


def _one(cell: Cell, test: Any, session: Any, common: dict[str, Any], block: int, dead: str | None,
         impairment: str, timeout: float | None) -> list[dict[str, Any]]:
    t0 = utcnow()
    budget = timeout or (test.duration_s if isinstance(test, net.NetTest) else test.runtime_s + test.ramp_s) * 3 + 30
    scenario = _scenario(test)
    if dead:
        return _rows(cell, test, common, block=block, t0=t0, scenario=scenario, metrics=None, tool_version=None,
                     status="failed", error=dead, impairment=impairment)
    try:
        m = session.measure(test, timeout=budget)
    except DockerUnavailable:
        raise
    except (LabkitError, OSError, KeyError, ValueError) as exc:
        error = f"{type(exc).__name__}: {getattr(exc, 'message', str(exc))}"[:1000]
        log(f"✗ {cell.name}/{test.name} repetition {block + 1}: {error}")
        reason = session.alive()
        return _rows(cell, test, common, block=block, t0=t0, scenario=scenario, metrics=None, tool_version=None,
                     status="failed", error=reason or error, impairment=impairment)
    except Exception as exc:  # noqa: BLE001 - docker SDK errors when a container vanishes mid-exec
        reason = session.alive() or f"{type(exc).__name__}: {exc}"
        log(f"✗ {cell.name}/{test.name} repetition {block + 1}: {reason}")
        return _rows(cell, test, common, block=block, t0=t0, scenario=scenario, metrics=None, tool_version=None,
                     status="failed", error=str(reason)[:1000], impairment=impairment)
    return _rows(cell, test, common, block=block, t0=t0, scenario={**scenario, **m.scenario}, metrics=m.metrics,
                 tool_version=m.tool_version, status="ok", error=None, impairment=impairment)


__all__ = ["run", "plan", "catalog", "BenchRun", "Plan", "SUITES", "TARGETS"]
