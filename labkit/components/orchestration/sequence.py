"""The chapter's sequence of operations on one orchestrator, with a progress bar: deploy, scale, update and kill
(``repeat`` times), drain the busiest node, lose the next busiest, remove.

The bar's plan is what each operation took on Swarm where this was written (below); it then follows the
measured pace, so a slower laptop stretches the ETA instead of lying.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from labkit.components.orchestration.model import App, OpResult, Orchestrator, busiest_node, perform
from labkit.progress import Progress

#: seconds each timed operation took on the 3-node DinD swarm, quick profile, on our 2-core CI machine
#: (2026-11-30, load average 12-14): the bar's first ETA. Kubernetes was not measured there (no kind).
PLANNED_S = {"deploy": 5.7, "scale": 4.8, "rolling_update": 8.4, "kill_replica": 9.2, "drain_node": 7.8,
             "lose_node": 21.7, "remove": 2.2}

Params = Mapping[str, Any] | Callable[[], Mapping[str, Any] | None]


def run_ops(orch: Orchestrator, ops: Sequence[tuple[str, Params]], *, title: str) -> list[OpResult]:
    """Perform ``ops`` in order with a progress bar; params given as a callable are worked out just before the
    operation runs (which node is busiest *now*), and an operation whose callable returns None is skipped."""
    bar = Progress(title, [PLANNED_S.get(op, 10.0) for op, _ in ops]).start()
    out: list[OpResult] = []
    try:
        for op, params in ops:
            kw = params() if callable(params) else params
            if kw is None:
                bar.step(f"{op}: skipped (no node to pick)")
                continue
            out.append(perform(orch, op, **kw))
            r = out[-1]
            bar.step(f"{op}: {r.seconds:.1f} s" if r.ok else f"{op}: failed")
    except BaseException:
        bar.close("stopped")
        raise
    bar.close()
    return out


def sequence(orch: Orchestrator, app: App, *, repeat: int = 1, protect: Sequence[str] = (), lose: bool = True,
             title: str = "") -> list[OpResult]:
    """The chapter's operations on ``orch``: the nodes in ``protect`` (the Swarm manager, the control plane) are
    never drained or lost. ``lose=False`` leaves out losing a node (on Kubernetes it takes 300 s by design)."""
    chosen: dict[str, str] = {}

    def drain() -> Mapping[str, Any] | None:
        node = busiest_node(orch.replicas(), exclude=list(protect))
        if node is None:
            return None
        chosen["drained"] = node
        return {"node": node}

    def lose_one() -> Mapping[str, Any] | None:
        node = busiest_node(orch.replicas(), exclude=[*protect, chosen.get("drained", "")])
        return {"node": node} if node else None

    ops: list[tuple[str, Params]] = [("deploy", {"app": app}), ("scale", {"replicas": 3})]
    for i in range(repeat):
        ops += [("rolling_update", {"version": str(2 + i)}), ("kill_replica", {})]
    ops.append(("drain_node", drain))
    if lose:
        ops.append(("lose_node", lose_one))  # docker kill: the machine is gone, not drained
    ops.append(("remove", {}))
    return run_ops(orch, ops, title=title or f"{getattr(orch, 'name', 'orchestrator')}: the operations")
