"""The results store: append-only JSON lines, run status in meta.json, crash safety, run references."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from labkit.bench import store as store_mod
from labkit.bench.schema import COLUMNS, SCHEMA_VERSION
from labkit.bench.store import Store
from labkit.errors import StoreError


def _row(value: float, *, cell: str = "bridge", block: int = 0, **extra: Any) -> dict[str, Any]:
    return {"suite": "net", "cell": cell, "test": "tcp-1", "metric": "throughput_bps", "value": value,
            "status": "ok", "block": block, "repetition": block, **extra}


def _rows_file(store_dir: Path, run_id: str) -> Path:
    return store_dir / "runs" / run_id / "rows.jsonl"


# --- writing and reading ------------------------------------------------------------------------


def test_append_then_load_round_trips_with_exactly_the_schema_columns(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(1e9, block=0), _row(2e9, block=1, error=None, unit="bit/s")])
    df = st.load()
    assert tuple(df.columns) == COLUMNS
    assert list(df["value"]) == [1e9, 2e9] and list(df["block"]) == [0, 1] and list(df["cell"]) == ["bridge"] * 2
    assert df.loc[1, "unit"] == "bit/s" and df["component"].isna().all()  # missing columns come back null


def test_every_stored_line_has_every_column(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(1.0)])
    [line] = _rows_file(store_dir, w.run_id).read_text().splitlines()
    assert tuple(json.loads(line)) == COLUMNS


def test_a_row_with_an_unknown_column_is_refused_and_nothing_is_written(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        with pytest.raises(StoreError) as info:
            w.append([_row(1.0), _row(2.0, throughput=3)])
        assert "throughput" in info.value.message and "schema.py" in (info.value.fix or "")
    assert _rows_file(store_dir, w.run_id).read_text() == "" and w.n_rows == 0


def test_non_finite_values_are_stored_as_null_so_the_file_stays_strict_json(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(math.inf), _row(math.nan, block=1)])

    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    lines = _rows_file(store_dir, w.run_id).read_text().splitlines()
    assert [json.loads(line, parse_constant=refuse)["value"] for line in lines] == [None, None]


def test_new_run_writes_meta_before_any_row(store_dir: Path) -> None:
    st = Store(store_dir)
    w = st.new_run({"suite": "storage", "profile": "quick"})
    meta = st.meta(w.run_id)
    assert meta["status"] == "running" and meta["schema_version"] == SCHEMA_VERSION
    assert meta["suite"] == "storage" and meta["run_id"] == w.run_id and "ts_start_utc" in meta
    w.finish("complete")


def test_finish_records_the_row_count_and_end_time(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(1.0), _row(2.0)])
        w.append([])
        w.append([_row(3.0)])
    meta = st.meta(w.run_id)
    assert meta["n_rows"] == 3 and meta["status"] == "complete" and meta["error"] is None
    assert meta["ts_end_utc"] >= meta["ts_start_utc"]


def test_load_of_an_empty_store_has_the_schema_columns(store_dir: Path) -> None:
    df = Store(store_dir).load()
    assert df.empty and tuple(df.columns) == COLUMNS
    assert Store(store_dir).runs().empty


def test_ratio_to_baseline_pairs_rows_of_the_same_repetition(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(10.0, cell="loopback", block=0), _row(5.0, cell="bridge", block=0, baseline_cell="loopback"),
                  _row(20.0, cell="loopback", block=1), _row(5.0, cell="bridge", block=1, baseline_cell="loopback"),
                  _row(30.0, cell="loopback", block=2, status="failed"),
                  _row(5.0, cell="bridge", block=2, baseline_cell="loopback")])
    bridge = st.load().query("cell == 'bridge'")
    assert list(bridge["baseline_value"])[:2] == [10.0, 20.0] and list(bridge["ratio_to_baseline"])[:2] == [0.5, 0.25]
    assert math.isnan(bridge["ratio_to_baseline"].iloc[2])  # a failed baseline row is no baseline


def test_load_returns_exactly_the_rows_written_even_with_repeated_keys(store_dir: Path) -> None:
    # plan(tests=["tcp-1", "tcp-1"]) is accepted, and it writes rows like these
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(10.0, cell="loopback"), _row(11.0, cell="loopback"),
                  _row(5.0, cell="bridge", baseline_cell="loopback"),
                  _row(6.0, cell="bridge", baseline_cell="loopback")])
    assert len(st.load()) == w.n_rows == 4


# --- how runs end ---------------------------------------------------------------------------------


def test_runs_show_how_each_run_ended(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(1.0)])
    with pytest.raises(RuntimeError, match="daemon went away"), st.new_run({"suite": "net"}) as w:
        w.append([_row(2.0)])
        raise RuntimeError("daemon went away")
    with pytest.raises(KeyboardInterrupt), st.new_run({"suite": "storage"}):
        raise KeyboardInterrupt
    st.new_run({"suite": "storage"}).append([_row(3.0)])  # never finished
    runs = st.runs()
    assert list(runs["status"]) == ["complete", "failed", "interrupted", "incomplete"]
    assert list(runs["error"])[1:3] == ["RuntimeError: daemon went away", "KeyboardInterrupt"]
    assert list(runs["suite"]) == ["net", "net", "storage", "storage"]
    assert list(runs["n_rows"])[:3] == [1, 1, 0]
    assert len(st.load()) == 3  # rows of failed and unfinished runs are kept


def test_a_run_whose_meta_is_unreadable_is_skipped_by_runs(store_dir: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as good:
        pass
    with st.new_run({"suite": "net"}) as bad:
        pass
    (store_dir / "runs" / bad.run_id / "meta.json").write_text('{"status": "compl')
    assert list(st.runs()["run_id"]) == [good.run_id]
    assert bad.run_id in capsys.readouterr().out
    with pytest.raises(StoreError, match="not valid JSON"):
        st.meta(bad.run_id)


# --- torn writes and a real SIGKILL ---------------------------------------------------------------


def test_a_torn_last_line_is_skipped_and_earlier_rows_load(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(1.0), _row(2.0)])
    full_line = _rows_file(store_dir, w.run_id).read_text().splitlines()[0]
    with open(_rows_file(store_dir, w.run_id), "a") as fh:
        fh.write(full_line[: len(full_line) // 2])
    assert list(st.load()["value"]) == [1.0, 2.0]


def test_a_line_that_is_json_but_not_a_row_is_skipped(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(1.0)])
    with open(_rows_file(store_dir, w.run_id), "a") as fh:
        fh.write("[1, 2, 3]\n\n")
    assert list(st.load()["value"]) == [1.0]


WRITER = """
import sys
from labkit.bench.store import Store

def row(i):
    return {"suite": "net", "cell": "bridge", "test": "tcp-1", "metric": "throughput_bps", "value": float(i),
            "status": "ok", "block": i, "error": "x" * 4000}

st = Store(sys.argv[1])
with st.new_run({"suite": "net", "run_id": "A"}) as w:
    for i in range(30):
        w.append([row(i)])
w = st.new_run({"suite": "net", "run_id": "B"})
i = 0
while True:
    w.append([row(i), row(i + 1)])
    i += 2
"""


def test_sigkill_mid_run_keeps_every_complete_row(store_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store_dir)], stdout=subprocess.DEVNULL)
    rows_b = _rows_file(store_dir, "B")
    try:
        deadline = time.monotonic() + 60
        while not (rows_b.is_file() and rows_b.read_bytes().count(b"\n") >= 40):
            assert proc.poll() is None, "the writer died on its own"
            assert time.monotonic() < deadline, "the writer never got going"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    st = Store(store_dir)
    runs = st.runs().set_index("run_id")
    assert runs.loc["A", "status"] == "complete" and runs.loc["B", "status"] == "incomplete"
    assert list(st.load(["A"])["value"]) == [float(i) for i in range(30)]

    raw = rows_b.read_bytes()
    complete = raw.count(b"\n")  # a line is complete once its newline is on disk
    b_values = list(st.load(["B"])["value"])
    assert complete >= 40 and b_values == [float(i) for i in range(complete)]


# --- run references -------------------------------------------------------------------------------

IDS = {"20261101T090000.000Z-aaaaaa": "net", "20261101T090000.000Z-aabbbb": "storage",
       "20261102T100000.000Z-cccccc": "net", "20261103T110000.000Z-dddddd": "storage"}


@pytest.fixture()
def four_runs(store_dir: Path) -> Store:
    st = Store(store_dir)
    for i, (run_id, suite) in enumerate(IDS.items()):
        with st.new_run({"suite": suite, "run_id": run_id}) as w:
            w.append([_row(float(i))])
    return st


@pytest.mark.parametrize(("ref", "run_id"), [
    ("20261102T100000.000Z-cccccc", "20261102T100000.000Z-cccccc"),
    ("20261102", "20261102T100000.000Z-cccccc"),
    ("20261101T090000.000Z-aab", "20261101T090000.000Z-aabbbb"),
    ("latest", "20261103T110000.000Z-dddddd"),
    ("latest:storage", "20261103T110000.000Z-dddddd"),
    ("latest:net", "20261102T100000.000Z-cccccc"),
])
def test_resolve(four_runs: Store, ref: str, run_id: str) -> None:
    assert four_runs.resolve(ref) == run_id


def test_unknown_run_id_says_which_runs_exist(four_runs: Store) -> None:
    with pytest.raises(StoreError) as info:
        four_runs.resolve("20250101T000000.000Z-ffffff")
    assert "20250101T000000.000Z-ffffff" in info.value.message
    assert "labkit runs" in (info.value.fix or "") and "20261103T110000.000Z-dddddd" in (info.value.fix or "")


def test_ambiguous_prefix_lists_the_candidates(four_runs: Store) -> None:
    with pytest.raises(StoreError) as info:
        four_runs.resolve("20261101")
    assert "ambiguous" in info.value.message
    assert "20261101T090000.000Z-aaaaaa" in info.value.message and "20261101T090000.000Z-aabbbb" in info.value.message


def test_latest_of_a_suite_with_no_runs(four_runs: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no runs of suite kind-net"):
        four_runs.resolve("latest:kind-net")
    with pytest.raises(StoreError, match="no runs in"):
        Store(tmp_path / "empty").resolve("latest")


def test_load_by_reference_loads_only_those_runs(four_runs: Store) -> None:
    assert list(four_runs.load(["latest:net"])["value"]) == [2.0]
    assert list(four_runs.load(["latest", "20261101T090000.000Z-aaa"])["value"]) == [3.0, 0.0]
    assert list(four_runs.load()["value"]) == [0.0, 1.0, 2.0, 3.0]


def test_run_ids_sort_by_start_time_even_within_one_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "_last_id_time", None)
    now = dt.datetime(2026, 11, 26, 18, 9, 12, 123456, tzinfo=dt.UTC)
    first, second = store_mod.new_run_id(now), store_mod.new_run_id(now)
    assert first.startswith("20261126T180912.123Z-") and second.startswith("20261126T180912.124Z-")
    assert first < second


def test_run_ids_made_in_the_same_millisecond_differ_in_their_time_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "_last_id_time", None)
    early = dt.datetime(2026, 11, 26, 18, 9, 12, 123100, tzinfo=dt.UTC)
    late = early.replace(microsecond=123900)
    first, second = store_mod.new_run_id(early), store_mod.new_run_id(late)
    assert first.split("-")[0] < second.split("-")[0]  # sorting by id sorts by start, random suffix aside
