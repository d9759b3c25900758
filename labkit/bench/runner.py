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
from labkit.bench import (
    engine_net,
    engine_storage,
    impair as impair_mod,
    kind_net,
    kind_storage,
    net,
    profiles,
    runtimes,
    storage,
)
from labkit.bench.cells import Cell
from labkit.bench.schema import METRICS
from labkit.bench.store import Store, new_run_id, utcnow
from labkit.errors import BadInput, DockerUnavailable, LabkitError, Unavailable
from labkit.log import log
from labkit.paths import results_dir, scratch_dir
from labkit.versions import project_root

if TYPE_CHECKING:
    import pandas as pd

    from labkit._run import Runner
    from labkit.target import KubeTarget

SUITES = ("net", "storage", "engine")  # engine: container start latency per engine/runtime
TARGETS = ("engine", "kind", "cluster")
#: Cells of the kind/cluster targets that run on this host, not in the cluster (N2, S0).
LOCAL_CELLS = kind_net.DOCKER_CELLS | kind_storage.HOST_CELLS


def catalog(suite: str, target: str = "engine", *, cni: str | None = None,
            docker_network: str | None = None, storage_classes: Sequence[str] | None = None) -> dict[str, Cell]:
    """The cells a target offers for a suite.

    On ``kind`` the cells measure ``cni`` (default kindnet) and N2 runs on the Docker network
    ``docker_network`` (default ``kind``). On ``cluster`` the CNI is only a label, and N2 is
    offered only when a Docker network beside the nodes is named. Storage on ``kind``: S0, S1
    (local-path) and the option cells in ``storage_classes`` (openebs-hostpath, longhorn); on
    ``cluster``: the StorageClasses named in ``storage_classes``.
    """
    _check_choice("suite", suite, SUITES)
    _check_choice("target", target, TARGETS)
    if suite == "engine":
        if target != "engine":
            raise Unavailable("start-latency cells measure the local engines (docker, podman, containerd); a kind "
                              "node's containerd is shown with crictl in chapter 01", fix="use target='engine'")
        return dict(runtimes.CELLS)
    if target == "engine":
        return dict(engine_net.CELLS if suite == "net" else engine_storage.CELLS)
    if suite == "storage":
        return kind_storage.cells(list(storage_classes or []), target=target)
    if target == "kind":
        return kind_net.cells(kind_net.check_cni(cni or "kindnet"))
    return kind_net.cells(cni or "unknown", bridge=docker_network is not None)


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
    cni: str | None = None
    docker_network: str | None = None
    kube: KubeTarget | None = None

    def describe(self) -> str:
        names = ", ".join(c.name for c in self.cells)
        tests = ", ".join(t.name for t in self.tests)
        imp = f"; impairment {self.impairment.spec} on {', '.join(self.impair_cells)}" if self.impairment else ""
        where = self.target if self.kube is None else f"{self.target} {self.kube.name}"
        cni = f" with CNI {self.cni}" if self.cni else ""
        return (f"{self.suite} on {where}{cni}, profile {self.profile.name}: cells [{names}] × tests [{tests}] "
                f"× {self.reps} repetitions, interleaved{imp}")

    @property
    def needs_docker(self) -> bool:
        """Whether a cell runs on the local Docker engine (every engine cell; N2 beside a kind cluster)."""
        return self.target == "engine" or any(c.name in LOCAL_CELLS for c in self.cells)


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
    cni: str | None = None,
    docker_network: str | None = None,
    kube: KubeTarget | None = None,
    storage_classes: Sequence[str] | None = None,
) -> Plan:
    """Validate the request; every bad value raises :class:`BadInput` naming what is allowed.

    ``cni``, ``docker_network``, ``kube`` (the cluster to run pods in) and ``storage_classes`` (kind:
    the option cells beside S0 and S1; cluster: the StorageClasses to measure) apply to the kind and
    cluster targets only. On kind, storage files that would not fit beside Docker's data are refused.
    """
    given = [k for k, v in {"cni": cni, "docker_network": docker_network, "kube": kube,
                            "storage_classes": storage_classes}.items() if v]
    if target == "engine" and given:
        raise BadInput("option for the engine target", ", ".join(given), "cni, docker_network, kube and "
                       "storage_classes only with target kind or cluster", fix="drop them, or use target='kind'")
    if storage_classes and suite != "storage":
        raise BadInput("storage_classes", list(storage_classes), "only with suite 'storage'")
    known = catalog(suite, target, cni=cni, docker_network=docker_network, storage_classes=storage_classes)
    prof = profiles.get(profile)
    names = list(cells) if cells else list(known)
    for name in names:
        if name not in known:
            raise BadInput(f"{suite} cell", name, ", ".join(known))
    if len(set(names)) != len(names):
        raise BadInput(f"{suite} cells", names, "each cell once")
    n = (prof.start_reps if suite == "engine" else prof.reps) if reps is None else int(reps)
    if n < 2:
        raise BadInput("repetitions", n, "2 or more (6+ for a median CI and a Mann-Whitney test that can "
                       "reach significance)", fix="use --reps 6 or more")
    if duration_s is not None and not 0.5 <= duration_s <= 600:
        raise BadInput("duration", duration_s, "0.5 to 600 seconds")
    if tests and len(set(tests)) != len(tests):
        raise BadInput(f"{suite} tests", list(tests), "each test once")
    if impair_cells and not impair:
        raise BadInput("impair_cells", list(impair_cells), "only together with an impairment",
                       fix="also pass impair=..., or drop impair_cells")
    if suite == "engine":
        test_objs: list[Any] = runtimes.start_tests(list(tests) if tests else None)
    elif suite == "net":
        chosen = list(tests) if tests else list(prof.net_tests)
        test_objs = net.net_tests(chosen, duration_s=duration_s or prof.net_duration_s,
                                             omit_s=prof.net_omit_s, streams=prof.streams)
    else:
        if size is not None:
            try:
                engine_storage.size_bytes(size)
            except ValueError:
                raise BadInput("fio size", size, "a number with K, M or G, e.g. 64M or 1G") from None
        chosen = list(tests) if tests else list(prof.fio_jobs)
        if target == "kind":  # before anything exists: do the fio files fit beside the kind nodes' data?
            kind_storage.check_space([known[n] for n in names], size or prof.fio_size)
        test_objs = storage.fio_jobs(chosen, size=size or prof.fio_size,
                                     runtime_s=duration_s or prof.fio_runtime_s,
                                     ramp_s=prof.fio_ramp_s, numjobs=prof.fio_numjobs)
    imp = impair_mod.parse(impair) if impair else None
    if imp is not None and imp.suite != suite:
        raise BadInput("impairment", impair, f"a {suite} impairment: {impair_mod.ALLOWED_BY_SUITE[suite]}",
                       fix="rate=… shapes network cells; wbps/rbps/wiops/riops throttle storage cells")
    targets = list(impair_cells) if impair_cells else names
    for name in targets:
        if name not in names:
            raise BadInput("impaired cell", name, f"one of the cells being run: {', '.join(names)}")
    kube_cni = (cni or ("kindnet" if target == "kind" else "unknown")) if target != "engine" else None
    network = (docker_network or "kind") if target == "kind" else docker_network
    return Plan(suite, target, prof, [known[n] for n in names], test_objs, n, imp,
                targets if imp else [], bool(impair_cells), kube_cni, network, kube)


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
    cni: str | None = None,
    docker_network: str | None = None,
    kube: KubeTarget | None = None,
    image: str | None = None,
    runner: Runner | None = None,
    storage_classes: Sequence[str] | None = None,
) -> BenchRun:
    """Plan, then measure every cell × test × repetition; returns the stored run.

    On target ``kind`` or ``cluster``, ``kube`` is the cluster to run pods in, ``cni`` names the
    CNI being measured (stored as each cell's component), ``image`` overrides the pinned tools
    image the pods run, and ``runner`` runs the kubectl commands (tests pass a recording fake).
    Storage there: ``storage_classes`` as in :func:`plan`; each fio run is a Job on a PVC.
    """
    p = plan(suite, target=target, cells=cells, tests=tests, profile=profile, reps=reps, duration_s=duration_s,
             size=size, impair=impair, impair_cells=impair_cells, cni=cni, docker_network=docker_network, kube=kube,
             storage_classes=storage_classes)
    return _execute([p], store=store, notebook=notebook, timeout=timeout, size=size, image=image,
                    runner=runner)[0]


def run_ab(
    suite: str,
    *,
    impair: str | None = None,
    impair_cells: Sequence[str] | None = None,
    store: Store | str | None = None,
    notebook: str | None = None,
    timeout: float | None = None,
    image: str | None = None,
    runner: Runner | None = None,
    **request: Any,
) -> tuple[BenchRun, BenchRun]:
    """Measure a baseline (A) and a candidate (B, with ``impair`` if given) interleaved A B A B …

    ``request`` takes the matrix arguments of :func:`run` (target, cells, tests, profile,
    reps, duration_s, size; cni, docker_network, kube on a cluster). Each arm has its own
    workloads; repetition by repetition the arms alternate, so slow drift of the host falls on
    both equally. Two runs are stored, each naming the other in its meta; compare them with
    :func:`labkit.bench.compare.compare`.
    """
    a = plan(suite, **request)
    b = plan(suite, **request, impair=impair, impair_cells=impair_cells)
    ra, rb = _execute([a, b], store=store, notebook=notebook, timeout=timeout, size=request.get("size"),
                      image=image, runner=runner)
    return ra, rb


@dataclass
class _Arm:
    plan: Plan
    writer: Any
    common: dict[str, Any]
    scope: engine.Scope
    sessions: dict[str, Any]
    unavailable: dict[str, str]
    impaired: dict[str, str]


def _check_cluster(p: Plan) -> None:
    if p.target != "engine" and p.kube is None and any(c.name not in LOCAL_CELLS for c in p.cells):
        raise BadInput("cluster", None, f"a KubeTarget (kube=...) for the pods of target {p.target}",
                       fix="labkit.bench.kind.compare_cnis makes fresh kind clusters; run_on_cluster takes one")


def _image(plans: list[Plan], image: str | None) -> str:
    """The pinned tools image: built locally when a cell runs on Docker; pods find it in their nodes."""
    from labkit import images
    from labkit.versions import tools_image

    ref = kind_net.check_image(image) if image else tools_image()
    if ref == tools_image() and any(p.needs_docker for p in plans):
        images.ensure_tools()
    return ref


def _execute(plans: list[Plan], *, store: Store | str | None, notebook: str | None, timeout: float | None,
             size: str | None, image: str | None = None, runner: Runner | None = None) -> list[BenchRun]:
    from contextlib import ExitStack

    from labkit.bench import host

    for p in plans:
        _check_cluster(p)
    classes = [kind_storage.check_classes(p.target, p.kube, p.cells, runner=runner or default_runner())
               if p.suite == "storage" and p.target != "engine" else {} for p in plans]
    st = store if isinstance(store, Store) else Store(store or results_dir())
    image = _image(plans, image)
    docker = any(p.needs_docker for p in plans) or engine.available()
    info = engine.info() if docker else {}
    sha, dirty = _git()
    hostfacts = host.facts(docker_version=str(info["ServerVersion"]) if "ServerVersion" in info else None,
                           cgroup_version=str(info.get("CgroupVersion", "")), scratch=_scratch())
    run_ids = [new_run_id() for _ in plans]
    arms: list[_Arm] = []
    clusters: dict[KubeTarget, kind_net.BenchCluster] = {}
    with ExitStack() as stack:
        for i, p in enumerate(plans):
            params = {"suite": p.suite, "target": p.target, "cells": [c.name for c in p.cells],
                      "tests": [t.name for t in p.tests], "profile": p.profile.name, "reps": p.reps,
                      "duration_s": (p.tests[0].runtime_s if p.suite == "storage" else p.tests[0].duration_s),
                      "size": size, "impair": p.impairment.spec if p.impairment else None,
                      "impair_cells": p.impair_cells}
            if p.target != "engine":
                params.update(cni=p.cni, docker_network=p.docker_network, cluster=p.kube.name if p.kube else None)
            if p.target != "engine" and p.suite == "storage":
                params.update(storage_classes={c.name: c.config.get("storage_class") for c in p.cells})
            pair = [r for r in run_ids if r != run_ids[i]]
            meta = {"run_id": run_ids[i], "suite": p.suite, "target": p.target, "profile": p.profile.name,
                    "params": params, "notebook": notebook, "host": hostfacts, "host_class": hostfacts["host_class"],
                    "git_sha": sha, "impairment": params["impair"], "image": image,
                    "interleaved_with": pair[0] if pair else None, "arm": "AB"[i] if len(plans) > 1 else None,
                    "cni": p.cni, "docker_network": p.docker_network}
            log(f"run {run_ids[i]}: {p.describe()}")
            writer = stack.enter_context(st.new_run(meta))
            scope = stack.enter_context(engine.Scope())
            writer.update_meta(session_id=scope.session)
            common = {"run_id": run_ids[i], "session_id": scope.session, "git_sha": sha, "git_dirty": dirty,
                      "lab_version": __version__, "notebook": notebook, "params_hash": _params_hash(params),
                      "profile": p.profile.name, "target": p.target, **hostfacts}
            cluster = _cluster(p, clusters, runner)
            if cluster is not None:
                common.update(cluster.facts())
                writer.update_meta(cluster=cluster.describe())
            if classes[i]:
                writer.update_meta(storage_classes={n: vars(c) for n, c in classes[i].items()})
            sessions, unavailable, impaired = _open(p, scope, image, cluster, classes[i])
            arms.append(_Arm(p, writer, common, scope, sessions, unavailable, impaired))
        _measure(arms, timeout)
    for arm in arms:
        log(f"✓ run {arm.common['run_id']} stored in {st.root} ({arm.writer.n_rows} rows)")
    return [BenchRun(r, st) for r in run_ids]


def _cluster(p: Plan, clusters: dict[KubeTarget, kind_net.BenchCluster],
             runner: Runner | None) -> kind_net.BenchCluster | None:
    """The plan's cluster, prepared once per run (A and B arms share it); None when no pod cell runs."""
    if p.kube is None or all(c.name in LOCAL_CELLS for c in p.cells):
        return None
    if p.kube not in clusters:
        clusters[p.kube] = kind_net.prepare(p.kube, runner=runner)
    return clusters[p.kube]


def _scratch() -> str:
    d = scratch_dir()
    d.mkdir(parents=True, exist_ok=True)
    return str(d)


def _rows(cell: Cell, test: Any, common: dict[str, Any], *, block: int, t0: str, scenario: dict[str, Any],
          metrics: dict[str, float] | None, tool_version: str | None, status: str, error: str | None,
          impairment: str) -> list[dict[str, Any]]:
    base = {**common, "repetition": block, "block": block, "ts_start_utc": t0, "ts_end_utc": utcnow(),
            "status": status, "error": error, "suite": cell.suite, "component": cell.component,
            "component_version": cell.config["version"] if "version" in cell.config else common.get("docker_version"),
            "component_config": json.dumps(cell.config),
            "cell": cell.name, "baseline_cell": cell.baseline, "baseline_level": cell.level,
            "placement": cell.placement, "path": cell.path, "tool_version": tool_version,
            "impairment": impairment or None, **scenario}
    if metrics is None:
        return [{**base, "metric": "", "value": None, "unit": None, "higher_is_better": None}]
    return [{**base, "metric": m, "value": v, "unit": METRICS[m][0], "higher_is_better": METRICS[m][1]}
            for m, v in metrics.items()]


def _scenario(test: Any) -> dict[str, Any]:
    return test.scenario() if isinstance(test, net.NetTest) else test.scenario(direct=True)


def _open(p: Plan, scope: engine.Scope, image: str, cluster: kind_net.BenchCluster | None = None,
          classes: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    sessions: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    impaired: dict[str, str] = {}
    ctx: dict[str, Any] = {"image": image, "fio_size": p.tests[0].size if p.suite == "storage" else None}
    if p.suite == "engine":
        opener = runtimes.open_cell
    elif p.target != "engine" and p.suite == "storage":
        opener = kind_storage.open_cell
        ctx.update(target=p.kube, cluster=cluster, cells={c.name: c for c in p.cells}, classes=classes)
    elif p.target == "engine":
        opener = engine_net.open_cell if p.suite == "net" else engine_storage.open_cell
    else:
        opener = kind_net.open_cell
        ctx.update(target=p.kube, cni=p.cni, docker_network=p.docker_network, cluster=cluster,
                   cells={c.name: c for c in p.cells})
    for cell in p.cells:
        try:
            impair = p.impairment if cell.name in p.impair_cells else None
            sessions[cell.name] = opener(cell.name, scope, {**ctx, "impair": impair})
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
        test = next((t for t in p.tests if getattr(t, "name", "") == "tcp-1"), None) or net.net_tests(
            ["tcp-1"], duration_s=p.profile.net_duration_s, omit_s=p.profile.net_omit_s, streams=1)[0]
        values = [session.measure(test, timeout=_budget(test, None), quiet=True).metrics["throughput_bps"]
                  for _ in range(5)]
        return float(statistics.median(values))
    return calibrate


def _measure(arms: list[_Arm], timeout: float | None) -> None:
    t0 = utcnow()
    for arm in arms:
        for cell in arm.plan.cells:
            if cell.name in arm.unavailable:
                arm.writer.append([r for t in arm.plan.tests for r in _rows(
                    cell, t, arm.common, block=0, t0=t0, scenario=_scenario(t), metrics=None, tool_version=None,
                    status="unavailable", error=arm.unavailable[cell.name], impairment="")])
    _warm_up(arms, timeout)
    live = [c for c in arms[0].plan.cells if any(c.name in a.sessions for a in arms)]
    dead: dict[tuple[int, str], str] = {}
    reps = arms[0].plan.reps
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
                    arm.writer.append(_one(cell, test, session, arm.common, block, dead.get(key),
                                           arm.impaired.get(cell.name, ""), timeout, quiet=block > 0))
        log(f"  repetition {block + 1}/{reps} done")


def _warm_up(arms: list[_Arm], timeout: float | None) -> None:
    """One unrecorded measurement per cell and test: caches, ARP and TCP state settle first."""
    for arm in arms:
        for name, session in arm.sessions.items():
            for test in arm.plan.tests:
                try:
                    session.measure(test, timeout=_budget(test, timeout), quiet=True)
                except Exception as exc:  # noqa: BLE001 - a failing cell shows up in the measured repetitions
                    log(f"! warm-up of {name}/{test.name} failed: {getattr(exc, 'message', exc)}")


def _budget(test: Any, timeout: float | None) -> float:
    seconds = test.runtime_s + test.ramp_s if isinstance(test, storage.FioJob) else test.duration_s
    return timeout or seconds * 3 + 30


def _one(cell: Cell, test: Any, session: Any, common: dict[str, Any], block: int, dead: str | None,
         impairment: str, timeout: float | None, *, quiet: bool = False) -> list[dict[str, Any]]:
    t0 = utcnow()
    budget = _budget(test, timeout)
    scenario = _scenario(test)
    if dead:
        return _rows(cell, test, common, block=block, t0=t0, scenario=scenario, metrics=None, tool_version=None,
                     status="failed", error=dead, impairment=impairment)
    try:
        m = session.measure(test, timeout=budget, quiet=quiet)
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


__all__ = ["run", "run_ab", "plan", "catalog", "BenchRun", "Plan", "SUITES", "TARGETS"]
