"""Component: orchestration (chapter 02) — one small API over Swarm and Kubernetes, operations timed alike.

========================= =====================================================================
model.py                  the app, replicas, wants, results, and ``perform``
driver.py                 the shared engine: run an operation's steps, time, poll until served
swarm.py                  the operations on Docker Swarm (local or Docker-in-Docker)
kubernetes.py             the same operations on Kubernetes
results.py                rows for the store, a stored run, a frame
sequence.py               the chapter's operations in order, with a progress bar
========================= =====================================================================

>>> for orch in (swarm_orch, kube_orch):                          # doctest: +SKIP
...     print(orch.explain("scale", replicas=3))
...     results.append(perform(orch, "scale", replicas=3))
>>> write_run(results)                                            # doctest: +SKIP
"""

from __future__ import annotations

from labkit.components.base import Component
from labkit.components.orchestration.driver import parse_pods, parse_probe
from labkit.components.orchestration.kubernetes import KubernetesOrchestrator, manifests
from labkit.components.orchestration.model import (
    OPS,
    SERVE,
    SUITE,
    App,
    Operation,
    OpResult,
    Orchestrator,
    Replica,
    Want,
    busiest_node,
    perform,
)
from labkit.components.orchestration.results import frame, rows, write_run
from labkit.components.orchestration.sequence import PLANNED_S, run_ops, sequence
from labkit.components.orchestration.swarm import SwarmOrchestrator

COMPONENT = Component("orchestration", "Orchestration", "02-orchestration",
                      summary="Kubernetes (kind) vs Docker Swarm; Mesos (retired 2025)",
                      live_on="engine (Swarm), kind", binder="read only")

__all__ = ["App", "COMPONENT", "KubernetesOrchestrator", "OPS", "OpResult", "Operation", "Orchestrator",
           "PLANNED_S", "Replica", "SERVE", "SUITE", "SwarmOrchestrator", "Want", "busiest_node", "frame", "manifests",
           "parse_pods", "parse_probe", "perform", "rows", "run_ops", "sequence", "write_run"]
