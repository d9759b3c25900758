"""The A/B regression gate's measuring loop: paired blocks, duet or interleaved, adaptive repetitions.

``labkit bench net --ab`` (and notebook 20) measure a baseline A and a candidate B in *blocks*: per
block, cell and test, one A and one B measurement. Designs (recorded in every row as ``design``):

- ``duet`` (default): A and B run at the same moment, on separate cells, both launched together in a
  random order. On this 2-core shared VM the arms see the same bursts of other load, which cancel in
  B/A: the per-block log-ratio variance per second of measuring was 4-10x lower than interleaved
  (issue 13 prototype, NOTES §3). Each arm gets about half the CPU, and the arms are coupled (whatever
  slows B frees CPU for A), so B/A reads "B next to a competing A".
- ``interleaved``: A then B or B then A (``arm_order``, balanced random), each alone.

Repetitions adapt (:class:`labkit.bench.paired.StoppingRule`): blocks go on until every gated series
is decided (regression, improvement, equivalent) or the time budget (setup included) is spent; the
verdict states the minimum detectable effect. A relative network cap (``rate=90%``) is calibrated in a few
unrecorded rounds of the design before the first block, then set before every block from the A arm's own
recent blocks and the cap's measured goodput (:class:`CapController`); the cap and the delivered B/A are
stored in the B rows (``impair_cap``, ``impair_delivered``).
"""

from __future__ import annotations

import functools
import math
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from labkit.bench import impair as imp
from labkit.bench.schedule import Arm, budget, one, record_unavailable
from labkit.bench.schema import GATED_METRICS
from labkit.errors import BadInput, DockerUnavailable
from labkit.log import log
from labkit.progress import Progress

if TYPE_CHECKING:
    from labkit.bench import paired

DESIGNS = ("duet", "interleaved")
T = TypeVar("T")


@dataclass(frozen=True)
class GateSettings:
    """How an A/B gate measures: design, time budget (seconds, setup included), target effect."""

    design: str = "duet"
    budget_s: float = 300.0
    effect: float = 0.10
    max_pairs: int = 200
    min_pairs: int = 10  # first look; never decisive below it
    look_every: int = 4  # then a look every 4 pairs, at a 98 % CI (95 % at the final look)

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise BadInput("--design", self.design, " or ".join(DESIGNS))
        if not self.budget_s > 0:
            raise BadInput("--budget", self.budget_s, "seconds > 0", fix="e.g. --budget 300")
        if not 0 < self.effect < 1:
            raise BadInput("--effect", self.effect, "a fraction between 0 and 1", fix="e.g. --effect 0.10")

    def stopping(self) -> paired.StoppingRule:
        from labkit.bench import paired

        return paired.StoppingRule(min_pairs=self.min_pairs, look_every=self.look_every, max_pairs=self.max_pairs,
                                   max_seconds=self.budget_s)


@dataclass
class CapController:
    """Per-block tbf cap so that B delivers ``target`` × A: cap = target × A / goodput.

    - ``A``: the median of the A arm's last 5 values *in the same design* (a duet A runs beside a capped B,
      which leaves it more CPU than A alone gets: the warm-up's A-alone value only seeds the first round);
    - ``goodput``: what the cap really lets through, B/cap, the median of the last 5 rounds (kept in 0.6-1.0).
      tbf counts wire bytes, iperf3 goodput: 0.91-0.94 alone (NOTES §4.1), but in a duet at multi-Gbit/s it
      varied 0.70-0.95 per round (median 0.85-0.89; TCP backs off on tbf's drops). Leaving out the low rounds as
      "did not bind" biased the cap low: delivered 0.86 for a 0.90 target (6 gates, 2026-11-30). A round whose
      cap did not bind cannot run away: its lower B/cap raises the next cap by at most target × A/B < 1 of
      itself, back to binding.

    The first round's cap comes from the warm-up's A alone (another regime: it has the CPU to itself), so that
    round gives only its A. Nothing steers on the delivered B/A itself: it follows A's noise (CV 4-17 % per
    block here), and a slow step on its median added a bias of its own in simulation
    (tests/unit/test_paired_gate.py).

    :meth:`observe` takes each round: the unrecorded calibration rounds before the first block (so the
    blocks start at the right cap rather than converge during the gate) and then every block."""

    target: float
    a_hist: list[float] = field(default_factory=list)
    goodput: list[float] = field(default_factory=list)
    delivered: list[float] = field(default_factory=list)
    last_cap: float | None = None
    rounds: int = 0

    GOODPUT_SEED = 0.92

    def cap(self) -> float | None:
        if not self.a_hist:
            return None
        g = min(1.0, max(0.6, statistics.median(self.goodput[-5:]))) if self.goodput else self.GOODPUT_SEED
        self.last_cap = self.target * statistics.median(self.a_hist[-5:]) / g
        return self.last_cap

    def observe(self, a: float, b: float) -> float:
        """Record a round; returns the delivered B/A (NaN if a side failed)."""
        if not (a > 0 and b > 0):
            return math.nan
        ratio = b / a
        seeded = self.rounds == 0 and len(self.a_hist) == 1  # this cap came from the warm-up's A alone (another
        if seeded:                                           # regime than A in the design): keep only this A
            self.a_hist.clear()
        self.rounds += 1
        self.a_hist.append(a)
        if not seeded:
            self.delivered.append(ratio)
            if self.last_cap:
                self.goodput.append(b / self.last_cap)
        return ratio


def _headline(test: Any) -> str:
    """The metric a per-block cap is calibrated on: iperf3 throughput (fio IOPS for a storage cell)."""
    tool = getattr(test, "tool", None) or test.scenario().get("tool")
    return {"iperf3": "throughput_bps", "fio": "iops"}.get(str(tool), "")


def _value(rowset: list[dict[str, Any]], metric: str) -> float:
    for r in rowset:
        if r.get("metric") == metric and r.get("status") == "ok":
            return float(r["value"])
    return math.nan


def measure_ab(arms: list[Arm], timeout: float | None, settings: GateSettings, t_start: float,
               progress: Any = None) -> dict[str, Any]:
    """Measure A and B (``arms``) in paired blocks until decided or the budget is spent; rows go to each
    arm's writer as they come. Returns what the gate did (stored in both runs' meta)."""
    from labkit.bench import paired

    a_arm, b_arm = arms
    live = [c for c in a_arm.plan.cells if c.name in a_arm.sessions and c.name in b_arm.sessions]
    record_unavailable(arms)
    spec = b_arm.plan.impairment
    ctl = {c.name: CapController(spec.value) for c in live
           if spec is not None and spec.relative and c.name in b_arm.plan.impair_cells}
    rng = random.Random()
    _warm(arms, live, timeout, ctl)
    _calibrate(arms, live, settings.design, timeout, ctl)
    setup_s = time.monotonic() - t_start
    rule = settings.stopping()
    per_block = sum(t.budget_s + 1.0 for t in a_arm.plan.tests) * len(live) * (1 if settings.design == "duet" else 2)
    n_plan = max(1, min(settings.max_pairs, int((settings.budget_s - setup_s) // max(per_block, 0.1))))
    bar = Progress(f"{a_arm.plan.suite.name} A/B gate ({settings.design})", [per_block] * n_plan,
                   callback=progress if callable(progress) else None).start()
    series: dict[tuple[str, str, str], tuple[list[float], list[float]]] = {}
    decided: dict[tuple[str, str, str], paired.Decision] = {}
    noise: dict[str, str] = {}
    blocks, reason = 0, "budget spent before the first block"
    orders = paired.block_orders(settings.max_pairs, rng.randrange(2**32))
    try:
        while blocks < settings.max_pairs:
            elapsed = time.monotonic() - t_start
            spent = elapsed - setup_s
            spp = spent / blocks if blocks else per_block
            if elapsed + spp > settings.budget_s and blocks:
                reason = "time budget spent"
                break
            if elapsed + spp > settings.budget_s:
                break
            for cell in live[blocks % len(live):] + live[:blocks % len(live)]:
                for test in a_arm.plan.tests:
                    _block(arms, cell, test, blocks, orders[blocks], settings.design, timeout, ctl.get(cell.name),
                           series)
            blocks += 1
            bar.step(f"block {blocks}")
            dead = next((f"{c.name} ({arm.plan.suite.name} arm {'AB'[i]}): {why}" for c in live
                         for i, arm in enumerate(arms) if (why := arm.sessions[c.name].alive())), None)
            if dead:  # a killed cell only breaks pairs from now on: stop, the verdict uses the pairs so far
                reason = f"stopped: cell {dead}"
                log(f"! gate {reason}")
                break
            elapsed = time.monotonic() - t_start
            spp = (elapsed - setup_s) / blocks
            for key, (xa, xb) in series.items():
                if key in decided or key[2] not in GATED_METRICS:
                    continue
                hib = key[2] not in ("lat_p50_us", "lat_p99_us", "lat_p999_us", "udp_loss_pct", "start_latency_s")
                thr = rule.threshold if hib else 0.10
                r = paired.StoppingRule(**{**rule.__dict__, "threshold": thr})
                d = paired.sequential_decision(xa, xb, elapsed_s=elapsed, rule=r, higher_is_better=hib,
                                               seconds_per_pair=spp)
                if d.result is not None and len(xa) == rule.min_pairs and "/".join(key) not in noise:
                    msg = paired.noise_check(paired.pairs(xa, xb, higher_is_better=hib).d, effect=settings.effect,
                                             threshold=thr, seconds_per_pair=spp,
                                             budget_s=settings.budget_s - setup_s)
                    if msg:
                        noise["/".join(key)] = msg
                        log(f"! {'/'.join(key)}: {msg}")
                if d.stop:
                    decided[key] = d
            gated = [k for k in series if k[2] in GATED_METRICS]
            if gated and all(k in decided for k in gated):
                budgeted = [d.reason for d in decided.values() if not d.reason.startswith("decided")]
                reason = budgeted[0] if budgeted else "decided"
                break
        else:
            reason = "pair limit reached"
    except BaseException:
        bar.close("interrupted")
        raise
    bar.close()
    log(f"gate: {blocks} blocks ({settings.design}), {reason}, {time.monotonic() - t_start:.0f} s")
    return {"design": settings.design, "budget_s": settings.budget_s, "effect": settings.effect,
            "blocks": blocks, "stop_reason": reason, "setup_s": round(setup_s, 1),
            "gate_s": round(time.monotonic() - t_start, 1), "noise": noise,
            "decided": {"/".join(k): d.reason for k, d in decided.items()}}


def _unrecorded(arm: Arm, cell: Any, test: Any, timeout: float | None, metric: str, what: str) -> float:
    """One measurement kept out of the rows (a warm-up, a calibration round): its ``metric``, NaN when it failed
    (a failing cell shows up in the measured blocks); a lost daemon still ends the gate."""
    try:
        m = arm.sessions[cell.name].measure(test, timeout=budget(test, timeout), quiet=True)
        return float(m.metrics.get(metric, math.nan))
    except DockerUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing cell shows up in the measured blocks
        log(f"! {what} of {cell.name}/{test.name} failed: {getattr(exc, 'message', exc)}")
        return math.nan


def _both(design: str, first: list[Arm], run: Callable[[Arm], T]) -> dict[int, T]:
    """``run`` on each arm (keyed by ``id(arm)``): at the same moment in a duet, launched in ``first``'s order;
    one after the other, in that order, when interleaved."""
    if design == "duet":
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {id(arm): pool.submit(run, arm) for arm in first}
            return {k: f.result() for k, f in futures.items()}
    return {id(arm): run(arm) for arm in first}


def _set_cap(b_arm: Arm, cell: Any, cap: float) -> None:
    b_arm.sessions[cell.name].impair(imp.Impairment("rate", cap, spec=f"rate={int(cap)}bit"))


def _warm(arms: list[Arm], live: list[Any], timeout: float | None, ctl: dict[str, CapController]) -> None:
    """One unrecorded run per cell (its first test): the first run of a fresh cell is low (NOTES §1).
    The A arm's warm-up value seeds the B arm's cap where the impairment is relative."""
    for cell in live:
        test = arms[0].plan.tests[0]
        for i, arm in enumerate(arms):
            value = _unrecorded(arm, cell, test, timeout, _headline(test), "warm-up")
            if i == 0 and cell.name in ctl and not math.isnan(value):
                ctl[cell.name].a_hist.append(value)


CALIBRATION_ROUNDS = 4


def _calibrate(arms: list[Arm], live: list[Any], design: str, timeout: float | None,
               ctl: dict[str, CapController]) -> None:
    """Unrecorded rounds of the design with the cap on, before the first block, for each cell whose B arm
    gets a relative cap: the A values and the cap's goodput they give set the blocks' first cap. Counted in
    the gate's setup time (and so in its budget)."""
    a_arm, b_arm = arms
    for cell in live:
        c = ctl.get(cell.name)
        test = next((t for t in a_arm.plan.tests if _headline(t) == "throughput_bps"), None)
        if c is None or test is None:
            continue
        run = functools.partial(_unrecorded, cell=cell, test=test, timeout=timeout, metric="throughput_bps",
                                what="calibration")
        for _ in range(CALIBRATION_ROUNDS):
            cap = c.cap()
            if cap is None:
                break
            _set_cap(b_arm, cell, cap)
            got = _both(design, [a_arm, b_arm], run)
            c.observe(got[id(a_arm)], got[id(b_arm)])
        if c.delivered:
            log(f"  calibrated the cap on {cell.name}: {len(c.delivered)} rounds, B/A "
                f"{', '.join(f'{r:.2f}' for r in c.delivered)}, cap goodput {c.goodput[-1]:.2f}")


def _block(arms: list[Arm], cell: Any, test: Any, block: int, order: str, design: str, timeout: float | None,
           ctl: CapController | None, series: dict[tuple[str, str, str], tuple[list[float], list[float]]]) -> None:
    """One A and one B measurement of ``cell``/``test`` in ``block``; rows written, series extended."""
    a_arm, b_arm = arms
    cap = ctl.cap() if ctl is not None and _headline(test) == "throughput_bps" else None
    if cap is not None:
        _set_cap(b_arm, cell, cap)

    def run(arm: Arm) -> list[dict[str, Any]]:
        return one(cell, test, arm.sessions[cell.name], arm.common, block, None, arm.impaired.get(cell.name, ""),
                   timeout, quiet=block > 0)

    got = _both(design, [a_arm, b_arm] if order == "AB" else [b_arm, a_arm], run)
    ra, rb = got[id(a_arm)], got[id(b_arm)]
    delivered = math.nan
    if ctl is not None:
        delivered = ctl.observe(_value(ra, _headline(test)), _value(rb, _headline(test)))
    extra = {"design": design, "arm_order": order if design == "interleaved" else "duet-" + order,
             "warmup_runs": 1}
    for r in ra:
        r.update(extra)
    for r in rb:
        r.update(extra, impair_cap=cap, impair_delivered=None if math.isnan(delivered) else delivered)
    a_arm.writer.append(ra)
    b_arm.writer.append(rb)
    for r in rb:
        if r.get("metric"):
            key = (cell.name, test.name, r["metric"])
            xa, xb = series.setdefault(key, ([], []))
            xa.append(_value(ra, r["metric"]))
            xb.append(_value(rb, r["metric"]) if r.get("status") == "ok" else math.nan)
    if rb and not rb[0].get("metric") and ra:  # B failed: its pair is broken for every metric A has
        for r in ra:
            if r.get("metric"):
                xa, xb = series.setdefault((cell.name, test.name, r["metric"]), ([], []))
                xa.append(_value(ra, r["metric"]))
                xb.append(math.nan)
