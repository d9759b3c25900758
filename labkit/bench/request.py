"""What a benchmark run is asked to do, as one frozen value, and what a cell is given when it opens.

>>> BenchRequest("net", cells=("loopback", "bridge"), tests=("tcp-1",), reps=6)   # doctest: +SKIP

:class:`BenchRequest` replaces the dozen keyword arguments that every entry point used to repeat:
plan, run, run_ab, the CNI and storage comparisons and the CLI all pass one. Lists become tuples, so a
request can be compared, hashed and stored as a run's parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from labkit.errors import BadInput

if TYPE_CHECKING:
    from labkit.bench.cells import Cell
    from labkit.bench.impair import Impairment
    from labkit.targets.kube import KubeTarget


def _names(what: str, value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if value is not None and not isinstance(value, str | Sequence):
        raise BadInput(what, value, "names: a list, or a comma-separated string")
    if value is None:
        return None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    out = tuple(str(v) for v in value)
    return out or None  # nothing named: the default


@dataclass(frozen=True)
class BenchRequest:
    """One benchmark matrix: suite × target × cells × tests × repetitions (plus an optional impairment)."""

    suite: str
    target: str = "engine"
    cells: tuple[str, ...] | None = None
    tests: tuple[str, ...] | None = None
    profile: str = "quick"
    reps: int | None = None
    duration_s: float | None = None
    size: str | None = None  # fio file size (storage)
    impair: str | None = None
    impair_cells: tuple[str, ...] | None = None
    # kind and cluster targets only
    cni: str | None = None
    docker_network: str | None = None
    kube: KubeTarget | None = field(default=None, compare=False)
    storage_classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("cells", "tests", "impair_cells", "storage_classes"):
            object.__setattr__(self, name, _names(name.replace("_", " "), getattr(self, name)))

    def with_(self, **changes: Any) -> BenchRequest:
        """A copy with ``changes`` (``request.with_(impair="rate=90%")``)."""
        return replace(self, **changes)

    def params(self) -> dict[str, Any]:
        """The request as plain data, for a run's meta (the cluster by name)."""
        out = {k: v for k, v in asdict(self).items() if k != "kube"}
        out["cluster"] = self.kube.name if self.kube is not None else None
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


def request(suite: str | BenchRequest, **fields: Any) -> BenchRequest:
    """``suite`` with ``fields`` as a request; a request is returned with ``fields`` applied."""
    if isinstance(suite, BenchRequest):
        return suite.with_(**fields) if fields else suite
    unknown = set(fields) - set(BenchRequest.__dataclass_fields__)
    if unknown:
        raise BadInput("benchmark option", ", ".join(sorted(unknown)),
                       ", ".join(f for f in BenchRequest.__dataclass_fields__ if f != "suite"))
    return BenchRequest(suite, **fields)


@dataclass(frozen=True)
class CellContext:
    """What a cell's opener gets: the run's cells, the image, and where the cell runs."""

    cells: dict[str, Cell]
    image: str
    fio_size: str | None = None
    impair: Impairment | None = None
    cluster: Any = None  # labkit.bench.kube.BenchCluster, for cluster cells
    kube: KubeTarget | None = None
    cni: str | None = None
    docker_network: str | None = None
    classes: dict[str, Any] | None = None  # StorageClasses read before the run (storage on a cluster)
    pod_timeout: float | None = None
    bind_timeout: float | None = None
    prepare_timeout: float | None = None
    scratch: str | None = None  # host cells: where their files go
    cell: Cell | None = None  # host cells standing in for another cell (kind's S0 is hostfs)
    runner: Any = None  # labkit._run.Runner for the cell's commands (tests pass a recording fake)

    def get(self, key: str, default: Any = None) -> Any:
        """Mapping-style access, so openers read ``ctx.get("impair")`` as before."""
        value = getattr(self, key, default)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def with_(self, **changes: Any) -> CellContext:
        return replace(self, **changes)
