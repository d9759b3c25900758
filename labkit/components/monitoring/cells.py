"""The chapter's benchmark suites on the engine target, run by the harness (repetitions, interleaving, store).

========================= ============================================================ ==============
suite / cell              what one measurement is                                      baseline
========================= ============================================================ ==============
monitoring / ttd-fast     stop → alert at scrape 1s, eval 1s, for 0s, group_wait 0s    -
monitoring / ttd-default  the same at 5s / 5s / 10s / 0s                               -
monitoring / ttd-slow     the same at 10s / 10s / 20s / 5s                             -
monitoring-cost / sN-I    N synthetic series every I: CPU, RSS, WAL, block B/sample    s1k-<I>
monitoring-cost / *-10k-1s mixed (few change) or gauge (random floats) values at 10k   s10k-1s
monitoring-cost / load-N  N series at 1 s (pre-rendered bodies): does ingestion lag?   load-25k
monitoring-cost / exp-*   node-exporter vs labkit's exporter: CPU and time per scrape  exp-node
========================= ============================================================ ==============

Tests: ``app-down`` / ``probe`` (which alert the time-to-detect cells wait for) and ``window`` (the cost
cells' measuring window, ``duration_s``). A TTD cell keeps its stack between repetitions; if a part dies
(Prometheus killed mid-measurement), that repetition fails with the reason and the stack is rebuilt for
the next one. Every cost measurement runs on a fresh stack, so cells never load each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit.bench.cells import Cell, Measurement
from labkit.components.monitoring import detect
from labkit.components.monitoring.cost import Load, measure_exporter, measure_load
from labkit.components.monitoring.engine import EngineStack
from labkit.components.monitoring.spec import StackSpec
from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.log import log

VERSION = "2.53.3"  # Prometheus on the engine tier (images.monitoring-prometheus)
NO_IMPAIR = "monitoring cells take no network or disk impairment"


def _cell(suite: str, name: str, description: str, baseline: str | None, path: str, config: dict[str, Any]) -> Cell:
    return Cell(suite, name, description, baseline, None, placement="same-host", path=path, component="prometheus",
                config={"version": VERSION, **config}, no_impair=NO_IMPAIR)


TTD_CELLS = {f"ttd-{k}": _cell("monitoring", f"ttd-{k}", f"stop → alert at {s.describe()}", None,
                               "stop>scrape>rule>for>alertmanager>webhook",
                               {"setting": k, **{f: getattr(s, f) for f in ("scrape_interval", "evaluation_interval",
                                                                          "alert_for", "group_wait", "sd_refresh")},
                                **detect.theory(s)})
             for k, s in detect.SETTINGS.items()}

LOADS = {"s1k-5s": Load(1_000, "5s"), "s10k-5s": Load(10_000, "5s"), "s1k-1s": Load(1_000, "1s"),
         "s10k-1s": Load(10_000, "1s"), "s50k-1s": Load(50_000, "1s"),
         "mixed-10k-1s": Load(10_000, "1s", kind="mixed"), "gauge-10k-1s": Load(10_000, "1s", kind="gauge"),
         "load-25k": Load(25_000, "1s", precomputed=True), "load-50k": Load(50_000, "1s", precomputed=True),
         "load-100k": Load(100_000, "1s", precomputed=True), "load-200k": Load(200_000, "1s", precomputed=True)}
EXPORTERS = {"exp-node": "node-exporter", "exp-labkit": "container-exporter"}


def _load_base(name: str, load: Load) -> str | None:
    base = "load-25k" if name.startswith("load-") else "s10k-1s" if load.kind != "counter" else f"s1k-{load.interval}"
    return None if base == name else base


COST_CELLS = {name: _cell("monitoring-cost", name, f"{load.series:,} series every {load.interval}"
                          + (" (pre-rendered bodies)" if load.precomputed else "")
                          + (f", {load.kind} values" if load.kind != "counter" else ""), _load_base(name, load),
                          "target>scrape>TSDB head>WAL>block",
                          {"series": load.series, "interval": load.interval, "kind": load.kind,
                           "targets": load.targets, "precomputed": load.precomputed})
              for name, load in LOADS.items()}
COST_CELLS.update({name: _cell("monitoring-cost", name, f"{part}: CPU and time per scrape at 1 s",
                               None if name == "exp-node" else "exp-node", "exporter>scrape", {"exporter": part})
                   for name, part in EXPORTERS.items()})


@dataclass(frozen=True)
class MonitoringTest:
    """``app-down`` / ``probe`` (TTD) or ``window`` (cost: measure ``duration_s`` seconds)."""

    name: str
    duration_s: float = 0.0

    @property
    def budget_s(self) -> float:
        return 60.0 + self.duration_s

    def scenario(self, **_: Any) -> dict[str, Any]:
        return {"tool": "prometheus", "test": self.name, "duration_s": self.duration_s or None, "protocol": "",
                "streams_or_numjobs": None, "ramp_s": None}


@dataclass
class DetectSession:
    cell: Cell
    setting: detect.DetectSetting
    session: str
    stack: EngineStack | None = None

    def open(self) -> DetectSession:
        name = f"{self.cell.name}-{self.session[:6]}"
        self.stack = EngineStack(self.setting.spec(name), session=self.session).__enter__()
        return self

    def measure(self, test: MonitoringTest, *, timeout: float, quiet: bool = False) -> Measurement:
        assert self.stack is not None
        try:
            metrics = detect.one_detection(self.stack, self.setting, test.name)
        except LabkitError as exc:
            reason = self.stack.alive()
            if reason:
                raise LabkitError(f"{reason} mid-measurement: this repetition failed ({exc.message.splitlines()[0]}); "
                                  "the stack is rebuilt for the next one") from exc
            raise
        return Measurement(metrics, f"prometheus {VERSION}", test.scenario())

    def alive(self) -> str | None:
        """None while the stack runs; a dead part is rebuilt (None on success, the reason if that fails)."""
        if self.stack is None:
            return "the stack was never started"
        reason = self.stack.alive()
        if reason is None:
            return None
        log(f"! {self.cell.name}: {reason}; rebuilding the stack")
        try:
            self.stack.down()
            self.open()
        except LabkitError as exc:
            return f"{reason}; rebuilding failed: {exc.message}"
        return None

    def impair(self, spec: Any, **_: Any) -> str:
        raise Unavailable(NO_IMPAIR)

    def remove(self) -> None:
        if self.stack is not None:
            self.stack.down()


@dataclass
class CostSession:
    cell: Cell
    session: str
    measured: list[str] = field(default_factory=list)

    def measure(self, test: MonitoringTest, *, timeout: float, quiet: bool = False) -> Measurement:
        name = f"{self.cell.name}-{self.session[:6]}"
        duration = test.duration_s or 20.0
        if self.cell.name in EXPORTERS:
            metrics = measure_exporter(EXPORTERS[self.cell.name], duration_s=duration, name=name, session=self.session)
        else:
            metrics = measure_load(LOADS[self.cell.name], duration_s=duration, name=name, session=self.session)
        return Measurement(metrics, f"prometheus {VERSION}", test.scenario())

    def alive(self) -> str | None:
        return None  # a fresh stack per measurement

    def impair(self, spec: Any, **_: Any) -> str:
        raise Unavailable(NO_IMPAIR)

    def remove(self) -> None:
        EngineStack(StackSpec(name=f"{self.cell.name}-{self.session[:6]}")).down()  # after an interruption


def open_ttd(name: str, scope: Any, ctx: Any) -> DetectSession:
    cell = TTD_CELLS[name]
    session = DetectSession(cell, detect.SETTINGS[cell.config["setting"]], scope.session)
    scope.adopt(session)  # removed when the run ends, however it ends
    session.open()
    return session


def open_cost(name: str, scope: Any, ctx: Any) -> CostSession:
    session = CostSession(COST_CELLS[name], scope.session)
    scope.adopt(session)
    return session


def suites() -> list[Any]:
    from labkit.bench.registry import Suite, TargetCells

    def ttd_tests(request: Any, prof: Any) -> list[MonitoringTest]:
        names = list(request.tests) if request.tests else ["app-down"]
        for n in names:
            if n not in detect.ALERTS:
                raise BadInput("monitoring test", n, ", ".join(detect.ALERTS))
        return [MonitoringTest(n) for n in names]

    def cost_tests(request: Any, prof: Any) -> list[MonitoringTest]:
        for n in request.tests or ():
            if n != "window":
                raise BadInput("monitoring-cost test", n, "window")
        return [MonitoringTest("window", request.duration_s or (20.0 if prof.name == "quick" else 120.0))]

    def elsewhere(request: Any) -> Any:
        raise Unavailable("the monitoring measurements run on the engine tier; on kind the same time-to-detect "
                          "loop needs the demo scaled to 0 through kubectl (the kind verify plan shows it)",
                          fix="use target='engine'")

    none = TargetCells(elsewhere, open_ttd)
    return [Suite("monitoring", "monitoring", "time to detect: a stopped container until the alert arrives",
                  ttd_tests, {"engine": TargetCells(lambda r: dict(TTD_CELLS), open_ttd), "kind": none,
                              "cluster": none}),
            Suite("monitoring-cost", "monitoring", "what monitoring costs: CPU, memory, bytes per sample, headroom",
                  cost_tests, {"engine": TargetCells(lambda r: dict(COST_CELLS), open_cost),
                               "kind": TargetCells(elsewhere, open_cost),
                               "cluster": TargetCells(elsewhere, open_cost)})]


def recordings() -> Any:
    """The chapter's recorded real runs (replay mode): ``environments/monitoring/recordings``."""
    from labkit.bench.store import Store
    from labkit.versions import environments_dir

    return Store(environments_dir() / "monitoring" / "recordings")
