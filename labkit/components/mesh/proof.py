"""Prove the load generator before believing it: its floor first, then a known delay.

1. **floor** — the generator against HAProxy answering itself (``http-request return``: no app behind it) at each
   rate: what the generator and one hop cost by themselves, and whether this machine can keep the schedule;
2. **known delay** — the echo app sleeping D ms (``?delay_ms=D``): p50 must come out at D plus the floor, or the
   generator is not measuring what it claims.

Every row carries the generator's own verdict (``generator_ok`` and why not); on a machine that cannot keep the
schedule, the rows say so and the mesh figures that follow are refused the same way.
"""

from __future__ import annotations

from typing import Any

from labkit import docker
from labkit.components.mesh import cells, loadgen


def prove(scope: docker.Scope, *, rates: tuple[int, ...] = (100, 500, 1000), delays: tuple[int, ...] = (10,),
          seconds: float = 3.0) -> Any:
    """The floor at ``rates``, then the known delays at the lowest rate; one row per run (a DataFrame)."""
    import pandas as pd

    floor = cells.open_cell("floor", scope, None)
    app = cells.open_cell("none", scope, None)
    rows = []
    for rate in rates:
        rows.append(_row("floor", rate, None, loadgen.run(floor.client, floor.host, floor.port,
                                                           loadgen.Load(rate, seconds))))
    for d in delays:
        out = loadgen.run(app.client, app.host, app.port, loadgen.Load(min(rates), seconds, conns=64,
                                                                       path=f"/?delay_ms={d}"))
        rows.append(_row(f"known delay {d} ms", min(rates), d, out))
    return pd.DataFrame(rows)


def _row(what: str, rate: int, delay: int | None, out: dict[str, Any]) -> dict[str, Any]:
    lat, lag = out.get("latency_ms", {}), out.get("loop_lag_ms", {})
    return {"run": what, "rate": rate, "sent_per_s": out.get("achieved_rate"), "p50_ms": lat.get("p50"),
            "p99_ms": lat.get("p99"), "p50_minus_delay_ms": (lat.get("p50", 0) - delay) if delay else None,
            "loop_lag_p50_ms": lag.get("p50"), "loop_lag_p99_ms": lag.get("p99"),
            "generator_cpu_s": out.get("generator_cpu_s"), "errors": out.get("errors_total"),
            "generator_ok": bool(out.get("generator_ok")), "why_not": "" if out.get("generator_ok") else
            str(out.get("generator_problem", "")).split(":")[0], "cpu_pressure": loadgen.cpu_pressure()}
