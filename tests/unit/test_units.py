"""Readable numbers: one scale per series, units people say, every row shown."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from labkit import units


@pytest.mark.parametrize(("value", "unit", "text"), [
    (2.165606e10, "bit/s", "21.7 Gbit/s"), (9.41e8, "bit/s", "941 Mbit/s"), (512.3, "us", "512 µs"),
    (23456.0, "us", "23.5 ms"), (123456, "IO/s", "123 k IOPS"), (5400, "IO/s", "5,400 IOPS"),
    (3.2e8, "B/s", "320 MB/s"), (0.01234, "s", "0.0123 s"), (5, "count", "5"), (1.5, "%", "1.50 %"),
    (float("nan"), "bit/s", ""), (None, "bit/s", ""), (7.0, "furlongs", "7 furlongs"),
])
def test_one_value_reads_as_people_say_it(value: float, unit: str, text: str) -> None:
    assert units.fmt(value, unit) == text


def test_no_number_is_ever_shown_with_an_exponent() -> None:
    for x in (2.165606e10, 1e-7, 123456789.0, 0.5, -3.25e5):
        assert "e" not in units.number(x).lower()


def test_a_series_shares_one_scale_chosen_from_its_largest_value() -> None:
    assert units.scale("bit/s", [2e10, 5e8, math.nan]) == (1e-9, "Gbit/s")
    assert units.scale("us", [12.0, 30.0]) == (1, "µs")


def test_readable_scales_per_metric_and_leaves_the_stored_frame_alone() -> None:
    df = pd.DataFrame({"metric": ["throughput_bps", "throughput_bps", "lat_p99_us"],
                       "unit": ["bit/s", "bit/s", "us"], "median": [2.165606e10, 9.1e8, 23456.0],
                       "ci_lo": [2e10, 8e8, 2e4], "ci_hi": [2.2e10, 1e9, 2.5e4], "ratio": [1.0, 0.042, 1.2],
                       "ratio_ci_lo": [1.0, 0.04, 1.1], "cv": [0.02, 0.1, math.nan]})
    out = units.readable(df)
    assert list(out["unit"]) == ["Gbit/s", "Gbit/s", "ms"]
    assert list(out["median"]) == ["21.7", "0.910", "23.5"]
    assert list(out["ratio"]) == ["1.000×", "0.042×", "1.200×"] and out["ratio_ci_lo"][1] == "0.040"
    assert list(out["cv"]) == ["2.0 %", "10.0 %", ""]
    assert df["median"][0] == 2.165606e10 and df["unit"][0] == "bit/s"


def test_show_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    df = pd.DataFrame({"cell": [f"cell-{i}" for i in range(75)], "metric": "iops", "unit": "IO/s",
                       "median": range(75)})
    units.show(df)
    out = capsys.readouterr().out
    assert "cell-37" in out and "..." not in out and "IOPS" in out
