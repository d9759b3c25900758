"""Progress you can see: the ETA follows the plan, then the measured pace; lines are rate-limited."""

from __future__ import annotations

import pytest

from labkit import log as logmod
from labkit.progress import Progress, duration
from tests.fakes import Clock


@pytest.fixture()
def lines(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    out: list[str] = []
    monkeypatch.setattr("labkit.progress.log", out.append)
    return out


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (59.4, "59 s"), (75, "1 min 15 s"),
                                               (3700, "1 h 01 min"), (-3, "0 s")])
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_before_anything_ends_the_eta_is_the_plan(lines: list[str]) -> None:
    clock = Clock()
    p = Progress("network", [10, 10, 40], clock=clock, widget=False).start()
    assert p.eta() == 60
    assert "0/3 (0 %)" in lines[0] and "about 1 min 00 s planned" in lines[0]


def test_the_eta_scales_the_rest_of_the_plan_by_the_measured_pace(lines: list[str]) -> None:
    clock = Clock()
    p = Progress("network", [10, 10, 40], clock=clock, widget=False, every_s=0)
    clock.advance(20)  # the first 10 s unit took 20 s: the host runs at half the planned pace
    p.step("calico tcp-1 repetition 1/6")
    assert p.eta() == pytest.approx(100)
    assert lines[-1] == ("network: 1/3 (33 %) · 20 s elapsed · about 1 min 40 s left · "
                         "calico tcp-1 repetition 1/6")


def test_lines_are_rate_limited_but_the_last_one_always_shows(lines: list[str]) -> None:
    clock = Clock()
    p = Progress("storage", [1] * 10, clock=clock, widget=False, every_s=30)
    for _ in range(9):
        clock.advance(1)
        p.step()
    assert lines == []                      # 9 s in: nothing yet
    clock.advance(1)
    p.step()
    assert len(lines) == 1 and "10/10 (100 %)" in lines[0]


def test_the_callback_gets_every_unit(lines: list[str]) -> None:
    seen: list[tuple[int, int]] = []
    p = Progress("x", [1, 1, 1], clock=Clock(), widget=False, callback=lambda d, t: seen.append((d, t)))
    for _ in range(3):
        p.step()
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_bar_in_a_kernel_updates_in_place(monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> None:
    pytest.importorskip("ipywidgets")
    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    clock = Clock()
    p = Progress("network", [5, 5], clock=clock, widget=True)
    assert len(shown) == 1
    clock.advance(5)
    p.step("kindnet latency")
    bar, label = p._bar
    assert bar.value == 1 and bar.max == 2 and "kindnet latency" in label.value and "about 5 s left" in label.value
    p.close("interrupted")
    assert bar.bar_style == "danger" and "interrupted" in label.value


def test_quiet_mode_silences_the_lines(capsys: pytest.CaptureFixture[str]) -> None:
    logmod.set_quiet(True)
    try:
        Progress("x", [1], clock=Clock(), widget=False).start().step()
    finally:
        logmod.set_quiet(False)
    assert capsys.readouterr().out == ""


def test_the_measuring_loop_counts_every_warm_up_and_measurement(lines: list[str]) -> None:
    """Two arms, two live cells (one dead in arm B), two tests, three repetitions: the bar's total is the
    work that really happens, and it ends full."""
    from types import SimpleNamespace

    from labkit.bench import schedule
    from labkit.bench.cells import Cell, Measurement

    class Session:
        def alive(self) -> str | None:
            return None

        def measure(self, test: object, *, timeout: float, quiet: bool) -> Measurement:
            return Measurement({"throughput_bps": 1.0})

    class Writer:
        def __init__(self) -> None:
            self.rows: list[dict[str, object]] = []

        def append(self, rows: list[dict[str, object]]) -> None:
            self.rows += rows

    tests = [SimpleNamespace(name=n, budget_s=2.0, scenario=dict) for n in ("tcp-1", "latency")]
    cells = [Cell("net", n, n) for n in ("loopback", "bridge")]
    plan = SimpleNamespace(cells=cells, tests=tests, reps=3, suite=SimpleNamespace(name="net"))
    arms = [schedule.Arm(plan, Writer(), {}, None, {"loopback": Session(), "bridge": Session()}, {}, {}),
            schedule.Arm(plan, Writer(), {}, None, {"loopback": Session()}, {}, {})]
    seen: list[tuple[int, int]] = []
    schedule.measure(arms, None, lambda d, t: seen.append((d, t)))  # type: ignore[arg-type]
    total = 3 * 2 + 3 * 3 * 2  # warm-ups (3 sessions × 2 tests) + repetitions × (3 sessions × 2 tests)
    assert seen[-1] == (total, total) and len(seen) == total
    assert sum(len(a.writer.rows) for a in arms) == 3 * 3 * 2
    assert any("net A/B: 24/24 (100 %)" in line for line in lines)
