"""Orchestration results: rows for the store, one stored run, and a frame for the chapter."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from labkit.log import log
from labkit.components.orchestration.model import SUITE, OpResult, Orchestrator

if TYPE_CHECKING:
    import pandas as pd


# --- results: rows for the store, a frame, a chart ------------------------------------------------------------

def rows(results: Sequence[OpResult], *, run_id: str, session_id: str | None = None,
         configs: Mapping[str, Mapping[str, Any]] | None = None, common: Mapping[str, Any] | None = None,
         targets: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Tidy rows (labkit.bench.schema): suite ``orchestration``, cell = operation, component = orchestrator,
    metric ``seconds``. ``repetition`` counts repeats of one operation on one orchestrator."""
    from labkit import __version__

    seen: dict[tuple[str, str], int] = {}
    out = []
    for r in results:
        rep = seen.get((r.orchestrator, r.op), 0)
        seen[(r.orchestrator, r.op)] = rep + 1
        cfg = {**(configs or {}).get(r.orchestrator, {}), "params": dict(r.params), "detail": r.detail,
               "polls": r.polls}
        nodes = (configs or {}).get(r.orchestrator, {}).get("nodes")
        out.append({**(common or {}), "run_id": run_id, "session_id": session_id, "n_nodes": nodes,
                    "repetition": rep, "block": rep,
                    "ts_start_utc": r.started_utc or None, "ts_end_utc": r.ended_utc or None,
                    "lab_version": __version__, "status": "ok" if r.ok else "failed", "error": r.error,
                    "target": (targets or {}).get(r.orchestrator), "suite": SUITE, "component": r.orchestrator,
                    "component_config": json.dumps(cfg, default=str, sort_keys=True), "cell": r.op,
                    "test": r.orchestrator, "tool": {"swarm": "docker", "kubernetes": "kubectl"}.get(r.orchestrator),
                    "metric": "seconds", "value": r.seconds, "unit": "s", "higher_is_better": False})
    return out


def write_run(results: Sequence[OpResult], *, orchestrators: Sequence[Orchestrator] = (), store: Any = None,
              notebook: str | None = None) -> str:
    """Store ``results`` as one run of suite ``orchestration``; returns its run id."""
    from labkit import docker
    from labkit.targets import engine as host
    from labkit.bench.store import Store, new_run_id
    from labkit.paths import results_dir

    st = store if isinstance(store, Store) else Store(store or results_dir())
    facts = host.facts(docker_version=docker.server_version() if docker.available() else None)
    configs = {o.name: o.config() for o in orchestrators}
    targets = {o.name: ("engine" if o.name == "swarm" else
                        "kind" if getattr(getattr(o, "target", None), "kind_cluster", None) else "cluster")
               for o in orchestrators}
    run_id = new_run_id()
    meta = {"run_id": run_id, "suite": SUITE, "target": ",".join(sorted(set(targets.values()))) or None,
            "profile": None, "notebook": notebook, "host": facts, "host_class": facts["host_class"],
            "orchestrators": configs}
    with st.new_run(meta) as writer:
        writer.append(rows(results, run_id=run_id, configs=configs, targets=targets,
                           common={**facts, "notebook": notebook}))
    log(f"✓ orchestration run {run_id} stored in {st.root} ({len(results)} rows)")
    return run_id


def frame(results: Sequence[OpResult]) -> pd.DataFrame:
    """One row per result: orchestrator, op, seconds, ok, detail (what a notebook shows and charts)."""
    import pandas as pd

    return pd.DataFrame([{"orchestrator": r.orchestrator, "op": r.op, "seconds": r.seconds, "ok": r.ok,
                          "detail": r.detail} for r in results],
                        columns=["orchestrator", "op", "seconds", "ok", "detail"])
