"""The benchmark harness: cells × tests × repetitions → tidy rows → statistics → charts.

>>> from labkit import bench                                   # doctest: +SKIP
>>> res = bench.run("net", cells=["loopback", "bridge"], tests=["tcp-1"], reps=6)
>>> res.summary()[["cell", "metric", "median", "ci_lo", "ci_hi", "ratio"]]
"""

from __future__ import annotations

from labkit.bench.runner import BenchRun, Plan, catalog, plan, run, run_ab
from labkit.bench.store import Store

__all__ = ["run", "run_ab", "plan", "catalog", "BenchRun", "Plan", "Store"]
