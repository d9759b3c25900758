"""Benchmark suites by name, each with the cells every target offers: the harness's only dispatch.

A component registers its suites in its ``COMPONENT`` (``suites=lambda: [Suite(...)]``): the network
component owns ``net``, storage owns ``storage``, the engine component owns ``engine`` (start
latency). The harness never names a suite or target itself; it asks :func:`suite` and the
:class:`TargetCells` of the request's target for the catalogue, the opener and the preparation.

Components sit above the harness, so this registry finds them by name at run time
(``importlib``), like papermill's engine registry finds engines: adding a component never edits
the harness.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.errors import BadInput, Unavailable

if TYPE_CHECKING:
    from labkit.bench.cells import Cell
    from labkit.bench.profiles import Profile
    from labkit.bench.request import BenchRequest


@dataclass(frozen=True)
class TargetCells:
    """The cells one target offers for one suite.

    ``catalog(request)`` lists them (validating target options such as the CNI); ``open(name, scope,
    ctx)`` sets one up and returns its session; ``local`` names the cells that run on this host even on
    a cluster target (N2, S0); ``check(request, cells)`` refuses, before anything exists, what cannot
    fit (free disk); ``prepare(plan, runner)`` reads the cluster once and returns fields for the
    :class:`~labkit.bench.request.CellContext` (the StorageClasses)."""

    catalog: Callable[[BenchRequest], dict[str, Cell]]
    open: Callable[..., Any]
    local: frozenset[str] = frozenset()
    check: Callable[[BenchRequest, list[Cell]], None] | None = None
    prepare: Callable[[Any, Any], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Suite:
    """One benchmark suite: its tests (from the request and profile) and its cells per target."""

    name: str
    component: str
    title: str
    tests: Callable[[BenchRequest, Profile], list[Any]]
    targets: Mapping[str, TargetCells]
    reps: Callable[[Profile], int] = field(default=lambda p: p.reps)
    calibration_test: Callable[[Profile], Any] | None = None  # the test a relative impairment is calibrated on
    #: metrics this suite's cells report beyond schema.METRICS: name -> (unit, higher_is_better). A new
    #: component declares its own here instead of editing the harness's schema.
    metrics: Mapping[str, tuple[str, bool]] = field(default_factory=dict)

    def cells(self, target: str) -> TargetCells:
        if target not in self.targets:
            raise Unavailable(f"the {self.name} suite has no cells on target {target!r}",
                              fix=f"use one of: {', '.join(self.targets)}")
        return self.targets[target]


def suites() -> dict[str, Suite]:
    """Every registered suite by name, in component order."""
    components = importlib.import_module("labkit.components")
    out: dict[str, Suite] = {}
    for comp in components.all_components():
        for s in comp.suites():
            out[s.name] = s
    return out


def suite(name: str) -> Suite:
    known = suites()
    if name not in known:
        raise BadInput("suite", name, ", ".join(known))
    return known[name]


TARGETS = ("engine", "kind", "cluster")
