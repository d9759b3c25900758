"""A benchmark request, checked and resolved into cells and tests before anything is created.

Every bad value raises :class:`~labkit.errors.BadInput` naming what is allowed, so a run that
starts has already been shown to make sense.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit.bench import impair as impair_mod, profiles
from labkit.bench.cells import Cell
from labkit.bench.registry import TARGETS, Suite, suite as find_suite
from labkit.bench.request import BenchRequest, request as as_request
from labkit.errors import BadInput


@dataclass
class BenchPlan:
    """Everything a run will do, resolved and validated before anything is created."""

    request: BenchRequest
    suite: Suite
    profile: profiles.Profile
    cells: list[Cell]
    tests: list[Any]
    reps: int
    impairment: impair_mod.Impairment | None
    impair_cells: list[str]
    impair_explicit: bool

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def kube(self) -> Any:
        return self.request.kube

    @property
    def cni(self) -> str | None:
        if self.target == "engine":
            return None
        return self.request.cni or ("kindnet" if self.target == "kind" else "unknown")

    @property
    def docker_network(self) -> str | None:
        return (self.request.docker_network or "kind") if self.target == "kind" else self.request.docker_network

    def describe(self) -> str:
        names = ", ".join(c.name for c in self.cells)
        tests = ", ".join(t.name for t in self.tests)
        imp = f"; impairment {self.impairment.spec} on {', '.join(self.impair_cells)}" if self.impairment else ""
        where = self.target if self.kube is None else f"{self.target} {self.kube.name}"
        cni = f" with CNI {self.cni}" if self.cni else ""
        return (f"{self.suite.name} on {where}{cni}, profile {self.profile.name}: cells [{names}] × tests [{tests}] "
                f"× {self.reps} repetitions, interleaved{imp}")

    @property
    def local_cells(self) -> frozenset[str]:
        return self.suite.cells(self.target).local

    @property
    def needs_docker(self) -> bool:
        """Whether a cell runs on the local Docker engine (every engine cell; N2 beside a kind cluster)."""
        return self.target == "engine" or any(c.name in self.local_cells for c in self.cells)


def catalog(request: BenchRequest | str, target: str | None = None, **fields: Any) -> dict[str, Cell]:
    """The cells the request's target offers for its suite (``catalog("net", "kind", cni="calico")``)."""
    request = as_request(request, **({"target": target} if target else {}), **fields)
    _check_choice("target", request.target, TARGETS)
    return find_suite(request.suite).cells(request.target).catalog(request)


def _check_choice(what: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise BadInput(what, value, ", ".join(allowed))


def plan(request: BenchRequest | str, **fields: Any) -> BenchPlan:
    """Validate the request; every bad value raises :class:`BadInput` naming what is allowed.

    ``request`` is a :class:`BenchRequest`, or a suite name with the request's fields as keywords."""
    r = as_request(request, **fields)
    s = find_suite(r.suite)
    _check_choice("target", r.target, TARGETS)
    given = [k for k, v in {"cni": r.cni, "docker_network": r.docker_network, "kube": r.kube,
                            "storage_classes": r.storage_classes}.items() if v]
    if r.target == "engine" and given:
        raise BadInput("option for the engine target", ", ".join(given), "cni, docker_network, kube and "
                       "storage_classes only with target kind or cluster", fix="drop them, or use target='kind'")
    if r.storage_classes and r.suite != "storage":
        raise BadInput("storage_classes", list(r.storage_classes), "only with suite 'storage'")
    cells_of = s.cells(r.target)
    known = cells_of.catalog(r)
    prof = profiles.get(r.profile)
    names = list(r.cells) if r.cells else list(known)
    for name in names:
        if name not in known:
            raise BadInput(f"{s.name} cell", name, ", ".join(known))
    if len(set(names)) != len(names):
        raise BadInput(f"{s.name} cells", names, "each cell once")
    n = s.reps(prof) if r.reps is None else r.reps
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise BadInput("repetitions", n, "a whole number, 2 or more (6+ for a median CI and a Mann-Whitney test "
                       "that can reach significance)", fix="use --reps 6 or more")
    if r.duration_s is not None and not 0.5 <= r.duration_s <= 600:
        raise BadInput("duration", r.duration_s, "0.5 to 600 seconds")
    if r.tests and len(set(r.tests)) != len(r.tests):
        raise BadInput(f"{s.name} tests", list(r.tests), "each test once")
    if r.impair_cells and not r.impair:
        raise BadInput("impair_cells", list(r.impair_cells), "only together with an impairment",
                       fix="also pass impair=..., or drop impair_cells")
    chosen = [known[n] for n in names]
    if cells_of.check is not None:  # before anything exists: e.g. do the fio files fit?
        cells_of.check(r, chosen)
    tests = s.tests(r, prof)
    imp = impair_mod.parse(r.impair) if r.impair else None
    if imp is not None and imp.suite != s.name:
        raise BadInput("impairment", r.impair,
                       f"a {s.name} impairment: {impair_mod.ALLOWED_BY_SUITE.get(s.name, 'none')}",
                       fix="rate=… shapes network cells; wbps/rbps/wiops/riops throttle storage cells")
    targets = list(r.impair_cells) if r.impair_cells else names
    for name in targets:
        if name not in names:
            raise BadInput("impaired cell", name, f"one of the cells being run: {', '.join(names)}")
    if imp is not None and not r.impair_cells:
        targets = [n for n in targets if impair_mod.can_impair(known[n], imp)]
        if not targets:
            refused = "; ".join(f"{n}: {impair_mod.why_not(known[n], imp)}" for n in names)
            raise BadInput("impairment", r.impair, "a run with at least one cell that can take it",
                           fix=f"none of the selected cells can ({refused}); add e.g. --cells bridge (network) "
                               "or --cells volume (storage)")
    return BenchPlan(r, s, prof, chosen, tests, n, imp, targets if imp else [], bool(r.impair_cells))
