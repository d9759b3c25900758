"""Run a benchmark: plan, open every cell, measure (:mod:`labkit.bench.schedule`), store tidy rows.

Every workload is labelled and removed when the run ends, however it ends: normally, on an error,
on Ctrl-C, or on SIGTERM/SIGHUP (a kernel restart, ``timeout``, CI), which :func:`labkit.signals.terminating`
turns into the same interruption; the run is then stored as *interrupted*.

>>> res = run(BenchRequest("net", cells=("loopback", "bridge"), tests=("tcp-1",), reps=6))   # doctest: +SKIP
>>> res.summary()[["cell", "metric", "median", "ci_lo", "ci_hi", "ratio"]]                   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from labkit import __version__, docker
from labkit._run import Runner, default_runner
from labkit.bench import kube, net
from labkit.bench.gate import GateSettings, measure_ab
from labkit.bench.plan import BenchPlan, plan
from labkit.bench.request import BenchRequest, CellContext, request as as_request
from labkit.bench.schedule import Arm, budget, measure
from labkit.bench.store import Store, new_run_id
from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.log import log
from labkit.paths import results_dir, scratch_dir
from labkit.signals import terminating
from labkit.versions import project_root

if TYPE_CHECKING:
    import pandas as pd

    from labkit.targets.kube import KubeTarget


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


def run(request: BenchRequest | str, *, store: Store | str | None = None, notebook: str | None = None,
        timeout: float | None = None, image: str | None = None, runner: Runner | None = None,
        progress: Any = None, **fields: Any) -> BenchRun:
    """Plan, then measure every cell × test × repetition; returns the stored run.

    ``request`` is a :class:`BenchRequest` (or a suite name, with its fields as keywords). On target
    ``kind`` or ``cluster`` the request's ``kube`` is the cluster to run pods in; ``image`` overrides the
    pinned tools image the pods run, and ``runner`` runs the kubectl commands (tests pass a fake).
    A bar with an ETA shows in a notebook (plain lines elsewhere); ``progress(done, total)``, when given,
    is also called after every measurement."""
    p = plan(as_request(request, **fields))
    return _execute([p], store=store, notebook=notebook, timeout=timeout, image=image, runner=runner,
                    progress=progress)[0]


def run_ab(request: BenchRequest | str, *, impair: str | None = None, impair_cells: Any = None,
           store: Store | str | None = None, notebook: str | None = None, timeout: float | None = None,
           image: str | None = None, runner: Runner | None = None, progress: Any = None,
           gate: GateSettings | None = None, **fields: Any) -> tuple[BenchRun, BenchRun]:
    """Measure a baseline (A) and a candidate (B, with ``impair`` if given) in paired blocks.

    Each arm has its own workloads. ``gate`` (default :class:`~labkit.bench.gate.GateSettings`: duet,
    300 s budget, 10 % target effect) runs A and B at the same moment, block by block, until the paired
    verdict is decided or the budget is spent (:mod:`labkit.bench.gate`); an explicit ``reps`` caps the
    blocks. Two runs are stored, each naming the other in its meta (``gate`` says how they were paired);
    :func:`labkit.bench.report.compare_runs` analyses them as pairs (:mod:`labkit.bench.paired`)."""
    t_start = time.monotonic()
    base = as_request(request, **fields)
    settings = gate or GateSettings()
    if base.reps is not None:
        settings = replace(settings, max_pairs=base.reps)
    a = plan(base)
    b = plan(base.with_(impair=impair, impair_cells=impair_cells))
    ra, rb = _execute([a, b], store=store, notebook=notebook, timeout=timeout, image=image, runner=runner,
                      progress=progress, gate=settings, t_start=t_start)
    return ra, rb


def _git() -> tuple[str | None, bool | None]:
    run_ = default_runner()
    try:
        sha = run_.run(["git", "-C", str(project_root()), "rev-parse", "HEAD"], timeout=10, check=False, quiet=True)
        dirty = run_.run(["git", "-C", str(project_root()), "status", "--porcelain"], timeout=10, check=False,
                         quiet=True)
    except LabkitError:
        return None, None
    return (sha.stdout.strip() or None) if sha.ok else None, bool(dirty.stdout.strip()) if dirty.ok else None


def _params_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _check_cluster(p: BenchPlan) -> None:
    if p.target != "engine" and p.kube is None and any(c.name not in p.local_cells for c in p.cells):
        raise BadInput("cluster", None, f"a KubeTarget (kube=...) for the pods of target {p.target}",
                       fix="labkit.components.network.compare_cnis makes fresh kind clusters; "
                           "labkit.components.network.run_on_cluster takes one")


def _image(plans: list[BenchPlan], image: str | None) -> str:
    """The pinned tools image: built locally when a cell runs on Docker; pods find it in their nodes."""
    from labkit import images
    from labkit.versions import tools_image

    ref = kube.check_image(image) if image else tools_image()
    if ref == tools_image() and any(p.needs_docker for p in plans):
        images.ensure_tools()
    return ref


def _scratch() -> str:
    d = scratch_dir()
    d.mkdir(parents=True, exist_ok=True)
    return str(d)


def _params(p: BenchPlan) -> dict[str, Any]:
    params = {**p.request.params(), "cells": [c.name for c in p.cells], "tests": [t.name for t in p.tests],
              "reps": p.reps, "duration_s": getattr(p.tests[0], "runtime_s", getattr(p.tests[0], "duration_s", None)),
              "impair": p.impairment.spec if p.impairment else None, "impair_cells": p.impair_cells}
    if p.target != "engine":
        params.update(cni=p.cni, docker_network=p.docker_network)
    if p.target != "engine" and p.suite.name == "storage":
        params.update(storage_classes={c.name: c.config.get("storage_class") for c in p.cells})
    return params


def _execute(plans: list[BenchPlan], *, store: Store | str | None, notebook: str | None, timeout: float | None,
             image: str | None = None, runner: Runner | None = None, progress: Any = None,
             gate: GateSettings | None = None, t_start: float | None = None) -> list[BenchRun]:
    from labkit.targets import engine as host

    for p in plans:
        _check_cluster(p)
    prepared = [p.suite.cells(p.target).prepare(p, runner or default_runner())
                if p.suite.cells(p.target).prepare else {} for p in plans]
    st = (store if isinstance(store, Store) else Store(store or results_dir())).check_writable()
    image = _image(plans, image)
    have_docker = any(p.needs_docker for p in plans) or docker.available()
    info = docker.info() if have_docker else {}
    if have_docker:
        docker.reap()  # what killed earlier runs on this host left behind (their processes are gone)
    sha, dirty = _git()
    hostfacts = host.facts(docker_version=str(info["ServerVersion"]) if "ServerVersion" in info else None,
                           cgroup_version=str(info.get("CgroupVersion", "")), scratch=_scratch())
    run_ids = [new_run_id() for _ in plans]
    arms: list[Arm] = []
    clusters: dict[KubeTarget, kube.BenchCluster] = {}
    with terminating(), ExitStack() as stack:
        for i, p in enumerate(plans):
            params = _params(p)
            pair = [r for r in run_ids if r != run_ids[i]]
            meta = {"run_id": run_ids[i], "suite": p.suite.name, "target": p.target, "profile": p.profile.name,
                    "params": params, "notebook": notebook, "host": hostfacts, "host_class": hostfacts["host_class"],
                    "git_sha": sha, "impairment": params["impair"], "image": image,
                    "interleaved_with": pair[0] if pair else None, "arm": "AB"[i] if len(plans) > 1 else None,
                    "cni": p.cni, "docker_network": p.docker_network}
            log(f"run {run_ids[i]}: {p.describe()}")
            writer = stack.enter_context(st.new_run(meta))
            scope = stack.enter_context(docker.Scope())
            writer.update_meta(session_id=scope.session)
            common = {"run_id": run_ids[i], "session_id": scope.session, "git_sha": sha, "git_dirty": dirty,
                      "lab_version": __version__, "notebook": notebook, "params_hash": _params_hash(params),
                      "profile": p.profile.name, "target": p.target, **hostfacts}
            cluster = _cluster(p, clusters, runner)
            if cluster is not None:
                common.update(cluster.facts())
                writer.update_meta(cluster=cluster.describe())
            if prepared[i].get("classes"):
                writer.update_meta(storage_classes={n: vars(c) for n, c in prepared[i]["classes"].items()})
            ctx = CellContext(cells={c.name: c for c in p.cells}, image=image, kube=p.kube, cni=p.cni,
                              docker_network=p.docker_network, cluster=cluster, runner=runner,
                              fio_size=getattr(p.tests[0], "size", None), **prepared[i])
            sessions, unavailable, impaired = _open(p, scope, ctx, per_block=gate is not None)
            arms.append(Arm(p, writer, common, scope, sessions, unavailable, impaired))
        if gate is not None and len(arms) == 2:
            done = measure_ab(arms, timeout, gate, t_start or time.monotonic(), progress)
            for arm in arms:
                arm.writer.update_meta(gate=done)
        else:
            measure(arms, timeout, progress)
    for arm in arms:
        log(f"✓ run {arm.common['run_id']} stored in {st.root} ({arm.writer.n_rows} rows)")
    return [BenchRun(r, st) for r in run_ids]


def _cluster(p: BenchPlan, clusters: dict[KubeTarget, kube.BenchCluster],
             runner: Runner | None) -> kube.BenchCluster | None:
    """The plan's cluster, prepared once per run (A and B arms share it); None when no pod cell runs."""
    if p.kube is None or all(c.name in p.local_cells for c in p.cells):
        return None
    if p.kube not in clusters:
        clusters[p.kube] = kube.prepare(p.kube, runner=runner)
    return clusters[p.kube]


def _open(p: BenchPlan, scope: docker.Scope, ctx: CellContext, *,
          per_block: bool = False) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    sessions: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    impaired: dict[str, str] = {}
    opener = p.suite.cells(p.target).open
    for cell in p.cells:
        try:
            spec = p.impairment if cell.name in p.impair_cells else None
            sessions[cell.name] = opener(cell.name, scope, ctx.with_(impair=spec))
        except Unavailable as exc:
            unavailable[cell.name] = exc.message + (f" (fix: {exc.fix})" if exc.fix else "")
            log(f"- cell {cell.name} unavailable: {unavailable[cell.name]}")
    if p.impairment is not None:
        for name in p.impair_cells:
            if name not in sessions:
                continue
            if per_block and p.impairment.relative:  # the gate sets the cap block by block from A's values
                impaired[name] = (f"{p.impairment.spec}: tbf cap calibrated, then set per block from the A arm's "
                                  "recent blocks")
                continue
            try:
                impaired[name] = sessions[name].impair(p.impairment, calibrate=_calibrator(sessions[name], p))
                log(f"✓ impairment on {name}: {impaired[name]}")
            except Unavailable as exc:
                if p.impair_explicit:
                    raise
                log(f"! cell {name} measured unimpaired: {exc.message}")
    return sessions, unavailable, impaired


def _calibrator(session: Any, p: BenchPlan) -> Any:
    def calibrate() -> float:
        test = next((t for t in p.tests if getattr(t, "name", "") == "tcp-1"), None) or net.net_tests(
            ["tcp-1"], duration_s=p.profile.net_duration_s, omit_s=p.profile.net_omit_s, streams=1)[0]
        values = [session.measure(test, timeout=budget(test, None), quiet=True).metrics["throughput_bps"]
                  for _ in range(5)]
        return float(statistics.median(values))
    return calibrate
