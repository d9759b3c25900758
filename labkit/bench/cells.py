"""What a benchmark *cell* is, for every target.

A cell is one configuration measured under the same tests: "two containers on a
user-defined bridge", "fio on a named volume", later "pod to pod across nodes with
Calico". A target (engine, kind, cluster) provides cells; opening a cell sets up its
workloads and returns a :class:`CellSession` that measures one test per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any



@dataclass(frozen=True)
class Cell:
    suite: str  # "net" | "storage"
    name: str
    description: str
    baseline: str | None = None  # the cell this one is reported as a ratio to
    level: str | None = None  # ladder level: N0, N1, N2, N3, S0, S1 (None for options)
    placement: str = ""
    path: str = ""
    component: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    no_impair: str = ""  # why this cell cannot take an impairment ("" when it can)


def engine_cell(suite: str, name: str, description: str, baseline: str | None, level: str | None,
                path: str, *, no_impair: str = "") -> Cell:
    """A cell of the Docker engine target (everything on one host, component ``docker-<name>``)."""
    return Cell(suite, name, description, baseline, level, placement="same-host", path=path,
                component=f"docker-{name}", no_impair=no_impair)


@dataclass
class Measurement:
    metrics: dict[str, float]
    tool_version: str | None = None
    scenario: dict[str, Any] = field(default_factory=dict)
