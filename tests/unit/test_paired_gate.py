"""The paired A/B analysis of the regression gate (labkit.bench.paired) and its rows → verdict glue."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from labkit.bench import paired
from labkit.bench.gate import CapController, GateSettings
from labkit.errors import BadInput


def _blocks(n: int, sd: float, effect: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A drifting host (both arms share it) plus independent noise; B = A × (1 − effect)."""
    rng = np.random.default_rng(seed)
    drift = np.exp(rng.normal(0, 0.3, n))  # large shared drift: pairing must cancel it
    a = 10e9 * drift * np.exp(rng.normal(0, sd, n))
    b = 10e9 * drift * np.exp(rng.normal(0, sd, n)) * (1 - effect)
    return a, b


def test_block_orders_are_balanced_and_random() -> None:
    orders = paired.block_orders(20, 1)
    assert orders.count("AB") == orders.count("BA") == 10
    assert orders != paired.block_orders(20, 2)
    assert len(paired.block_orders(7, 0)) == 7


def test_aa_with_shared_drift_is_not_a_regression() -> None:
    a, b = _blocks(40, 0.03, seed=3)
    res = paired.paired_verdict(a, b)
    assert res.verdict == "equivalent", res
    assert 0.97 < res.ratio < 1.03 and res.mde < 0.10


def test_a_clear_cut_is_detected_with_its_mde() -> None:
    a, b = _blocks(30, 0.03, effect=0.15, seed=4)
    res = paired.paired_verdict(a, b)
    assert res.verdict == "regression"
    assert res.ci_hi < 0.95 and res.p_worse < 0.05
    assert "MDE" in res.note


def test_lower_is_better_metrics_flip_the_sense() -> None:
    a, b = _blocks(30, 0.03, seed=5)
    res = paired.paired_verdict(a, b * 1.3, higher_is_better=False, threshold=0.10)
    assert res.verdict == "regression" and res.ratio > 1.2


def test_too_few_pairs_is_inconclusive_and_states_the_mde() -> None:
    a, b = _blocks(4, 0.03, effect=0.5, seed=6)
    res = paired.paired_verdict(a, b, min_pairs=6)
    assert res.verdict == "inconclusive"
    assert "need at least 6" in res.note and "MDE" in res.note and math.isfinite(res.mde)
    assert paired.paired_verdict(a[:2], b[:2]).verdict == "inconclusive"


def test_noisy_aa_false_alarms_stay_rare() -> None:
    """60 noisy A/A gates at their first look (10 pairs, sd 0.4 per arm as on this host under load, 98 % CI):
    at most 3 false alarms (the target is ≤ 1 in 20)."""
    verdicts = [d.result for s in range(60)
                if (d := paired.sequential_decision(*_blocks(10, 0.4, seed=s), elapsed_s=30)).result is not None]
    assert len(verdicts) == 60
    assert sum(v.verdict == "regression" for v in verdicts) <= 3
    assert all(v.mde > 0.10 for v in verdicts)  # and each says it could not see a 10 % change


def test_a_failed_repetition_drops_its_pair_and_says_so() -> None:
    a, b = _blocks(12, 0.03, seed=8)
    b[3] = float("nan")
    a[5] = 0.0
    res = paired.paired_verdict(a, b)
    assert res.n == 10 and res.n_dropped == 2
    assert "2 pair(s) dropped" in res.note


def test_mde_falls_with_n_and_pairs_needed_inverts_it() -> None:
    assert paired.mde(0.2, 10) > paired.mde(0.2, 40) > 0.05
    n = paired.pairs_needed(0.2, 0.10, power=0.8)
    assert n is not None and paired.mde(0.2, n) <= 0.10 < paired.mde(0.2, n - 1)
    assert paired.pairs_needed(0.2, 0.04) is None  # inside the ±5 % band: never flagged


def test_noise_check_says_what_budget_a_noisy_host_needs() -> None:
    rng = np.random.default_rng(9)
    msg = paired.noise_check(rng.normal(0, 0.4, 20), seconds_per_pair=3.0, budget_s=270)
    assert "too noisy" in msg and "pairs" in msg and " s)" in msg
    assert paired.noise_check(rng.normal(0, 0.02, 20), seconds_per_pair=3.0, budget_s=270) == ""


def test_sequential_rule_stops_when_decided_and_at_the_budget() -> None:
    a, b = _blocks(10, 0.02, effect=0.3, seed=10)
    d = paired.sequential_decision(a, b, elapsed_s=40)
    assert d.stop and d.result is not None and d.result.verdict == "regression"
    a, b = _blocks(9, 0.02, seed=11)
    assert not paired.sequential_decision(a, b, elapsed_s=40).stop  # below the first look
    d = paired.sequential_decision(a, b, elapsed_s=299, seconds_per_pair=3)
    assert d.stop and d.reason == "time budget spent"


def _rows(values: list[float], *, failed: tuple[int, ...] = (), delivered: float | None = None) -> pd.DataFrame:
    out = []
    for i, v in enumerate(values):
        base = {"suite": "net", "cell": "bridge", "test": "tcp-1", "block": i, "unit": "bit/s",
                "higher_is_better": True, "impair_delivered": delivered}
        out.append({**base, "status": "failed", "metric": "", "value": None} if i in failed else
                   {**base, "status": "ok", "metric": "throughput_bps", "value": v})
    return pd.DataFrame(out)


def test_compare_paired_pairs_rows_by_block_and_reports_drops() -> None:
    a, b = _blocks(16, 0.02, effect=0.2, seed=12)
    res = paired.compare_paired(_rows(list(a)), _rows(list(b), failed=(2,), delivered=0.8))
    r = res.iloc[0]
    assert r.verdict == "regression" and r.n_pairs == 15 and r.n_dropped == 1
    assert r.delivered == pytest.approx(0.8) and 0 < r.mde < 0.2
    assert list(res.columns) == list(paired.PAIRED_COLUMNS)


def test_cap_controller_converges_on_a_steady_cell() -> None:
    ctl = CapController(0.9)
    ctl.a_hist.append(10e9)
    for _ in range(40):
        cap = ctl.cap()
        assert cap is not None
        ctl.observe(10e9, min(10e9, 0.93 * cap))  # tbf delivers 93 % of its rate as goodput
    assert statistics_median(ctl.delivered[-10:]) == pytest.approx(0.9, abs=0.02)


@pytest.mark.parametrize("goodput", ["steady", "noisy"])
@pytest.mark.parametrize("target", [0.9, 0.8])
def test_cap_controller_delivers_the_target_in_a_duet_from_the_first_block(target: float, goodput: str) -> None:
    """The duet couples the arms: a capped B leaves CPU to A, which then runs faster than beside an uncapped B
    (and than alone at warm-up, on another scale). A is noisy (CV 10 %), and so is what a cap lets through
    (0.72-0.95 of it per round, as measured in duets here). After the
    calibration rounds, the blocks' delivered B/A must sit at the target without bias: over many gates 0.90 ±
    0.015 (issue 13). One gate's median B/A still follows A's noise (a 12-block median of 10 % noise: ± 0.05)."""
    from labkit.bench.gate import CALIBRATION_ROUNDS

    rng = np.random.default_rng(7)
    natural = 8e9  # each arm beside an uncapped other

    def duet(cap: float) -> tuple[float, float]:
        g = 0.93 if goodput == "steady" else rng.uniform(0.72, 0.95)  # what tbf lets through, per round
        b = min(natural * rng.normal(1, 0.03), g * cap)
        a = (natural + 0.8 * (natural - b)) * rng.normal(1, 0.10)
        return a, b

    medians = []
    for _trial in range(40):
        ctl = CapController(target)
        ctl.a_hist.append(2 * natural)  # the warm-up measured A alone: twice the duet's share
        for _ in range(CALIBRATION_ROUNDS):
            ctl.observe(*duet(ctl.cap() or 0))
        blocks = [ctl.observe(*duet(ctl.cap() or 0)) for _ in range(12)]  # a gate decided at the first looks
        medians.append(statistics_median(blocks))
    assert statistics_median(medians) == pytest.approx(target, abs=0.015)
    assert np.percentile(medians, 5) > target - 0.08 and np.percentile(medians, 95) < target + 0.08


def statistics_median(x: list[float]) -> float:
    return float(np.median(x))


def test_gate_settings_refuse_nonsense() -> None:
    with pytest.raises(BadInput, match="--design"):
        GateSettings(design="parallel")
    with pytest.raises(BadInput, match="--budget"):
        GateSettings(budget_s=0)
    with pytest.raises(BadInput, match="--effect"):
        GateSettings(effect=10)


def test_only_the_two_arms_of_one_gate_are_analysed_as_pairs() -> None:
    from labkit.bench.report import is_paired

    a = {"run_id": "A1", "interleaved_with": "B1", "arm": "A", "gate": {"design": "duet"}}
    b = {"run_id": "B1", "interleaved_with": "A1", "arm": "B", "gate": {"design": "duet"}}
    assert is_paired(a, b)
    assert not is_paired(b, a)  # candidate as baseline: unpaired rule
    assert not is_paired(a, {**b, "gate": None})  # an interleaved run from before the gate
    assert not is_paired({"run_id": "X"}, {"run_id": "Y"})  # two stored runs
