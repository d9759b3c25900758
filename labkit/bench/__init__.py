"""The benchmark harness: cells × tests × repetitions → tidy rows → statistics → charts.

>>> from labkit import bench                                   # doctest: +SKIP
>>> res = bench.run("net", cells=["loopback", "bridge"], tests=["tcp-1"], reps=6)
>>> res.summary()[["cell", "metric", "median", "ci_lo", "ci_hi", "ratio"]]

Suites (net, storage, engine, …) and the cells each target offers come from the components
(:mod:`labkit.bench.registry`); the harness itself names none of them.
"""

from __future__ import annotations

from labkit.bench.plan import BenchPlan, catalog, plan
from labkit.bench.request import BenchRequest, CellContext, request
from labkit.bench.harness import BenchRun, run, run_ab
from labkit.bench.gate import GateSettings
from labkit.bench.store import Store

__all__ = ["BenchPlan", "BenchRequest", "BenchRun", "CellContext", "GateSettings", "Store", "catalog", "plan",
           "request", "run", "run_ab"]
