"""Harness pieces that need no Docker: parsers on recorded real output, plans, impairments, the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit.bench import impair, net, storage
from labkit.bench.runner import plan
from labkit.bench.schema import COLUMNS
from labkit.bench.store import Store
from labkit.errors import BadInput, StoreError, Unavailable

# --- parsers against recorded real outputs (tests/data, recorded on the CI machine kind) ---------


def test_iperf3_tcp_is_receiver_throughput_and_sender_retransmits(data_dir: Path) -> None:
    text = (data_dir / "iperf3-tcp-1.json").read_text()
    end = json.loads(text)["end"]
    m = net.parse_iperf3(text)
    assert m["throughput_bps"] == end["sum_received"]["bits_per_second"]
    assert m["retransmits"] == end["sum_sent"]["retransmits"]
    assert net.iperf3_version(text) == "3.12"


def test_iperf3_udp_reports_loss_and_jitter(data_dir: Path) -> None:
    m = net.parse_iperf3((data_dir / "iperf3-udp.json").read_text())
    assert set(m) == {"throughput_bps", "udp_loss_pct", "jitter_ms"} and m["throughput_bps"] > 0


def test_iperf3_error_quotes_the_tool(data_dir: Path) -> None:
    with pytest.raises(net.ParseError, match="Connection refused"):
        net.parse_iperf3((data_dir / "iperf3-refused.json").read_text())
    with pytest.raises(net.ParseError, match="no JSON"):
        net.parse_iperf3("iperf3: error - unable to connect")


def test_sockperf_percentiles_despite_ansi_codes(data_dir: Path) -> None:
    m = net.parse_sockperf((data_dir / "sockperf-pingpong-tcp.txt").read_text())
    assert m["lat_p50_us"] == 52.377 and m["lat_p99_us"] == 82.311 and m["lat_p999_us"] == 139.956
    assert m["lat_mean_us"] == 53.958
    with pytest.raises(net.ParseError, match="Connection refused"):
        net.parse_sockperf((data_dir / "sockperf-refused.txt").read_text())


def test_fio_iops_bandwidth_and_latency_in_microseconds(data_dir: Path) -> None:
    text = (data_dir / "fio-randread-4k-qd1.json").read_text()
    job = storage.JOBS["randread-4k-qd1"]
    read = json.loads(text)["jobs"][0]["read"]
    m = storage.parse_fio(text, job)
    assert m["iops"] == read["iops"] and m["bw_Bps"] == read["bw_bytes"]
    assert m["lat_p99_us"] == read["clat_ns"]["percentile"]["99.000000"] / 1000
    fsync = storage.parse_fio((data_dir / "fio-fsync-write.json").read_text(), storage.JOBS["fsync-write-4k"])
    assert fsync["iops"] > 0 and "lat_p999_us" in fsync
    assert storage.fio_version(text) == "3.33"
    with pytest.raises(net.ParseError, match="no JSON"):
        storage.parse_fio("fio: pid=1, err=22/file:filesetup.c", job)


def test_argv_builders() -> None:
    tcp, udp = net.net_tests(["tcp-1", "udp"], duration_s=2, omit_s=1, streams=4)
    a = net.iperf3_client_argv("10.0.0.2", tcp)
    assert "--json" in a and "--zerocopy" in a and a[a.index("--omit") + 1] == "1"
    u = net.iperf3_client_argv("10.0.0.2", udp)
    assert "--zerocopy" not in u and u[-3:] == ["--udp", "--bitrate", "0"]
    jobs = storage.fio_jobs(["randread-4k-qd32", "fsync-write-4k"], size="64M", runtime_s=2, ramp_s=0.5, numjobs=4)
    rr, fs = (storage.fio_argv(j, "/bench", direct=True) for j in jobs)
    assert "--direct=1" in rr and "--stonewall" in rr and "--group_reporting" in rr and "--numjobs=4" in rr
    assert not any(x.startswith("--fsync") for x in rr) and "--fsync=1" in fs and "--numjobs=1" in fs
    assert "--direct=0" in storage.fio_argv(jobs[0], "/bench", direct=False)


def test_unknown_tests_name_the_allowed_ones() -> None:
    with pytest.raises(BadInput, match="tcp-1"):
        net.net_tests(["tcp-9"], duration_s=1, omit_s=0, streams=2)
    with pytest.raises(BadInput, match="randread-4k-qd32"):
        storage.fio_jobs(["randread"], size="1M", runtime_s=1, ramp_s=0, numjobs=1)


# --- impairments --------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "kind", "value", "relative"), [
    ("rate=90%", "rate", 0.9, True), ("rate=5gbit", "rate", 5e9, False), ("wbps=50mb", "wbps", 5e7, False),
    ("riops=2000", "riops", 2000, False)])
def test_impairment_specs(spec: str, kind: str, value: float, relative: bool) -> None:
    imp = impair.parse(spec)
    assert (imp.kind, imp.value, imp.relative) == (kind, pytest.approx(value), relative)


@pytest.mark.parametrize("spec", ["rate=150%", "rate=abc", "foo=1", "", "wbps=-3mb", "rate=0%"])
def test_bad_impairment_specs_say_what_is_allowed(spec: str) -> None:
    with pytest.raises(BadInput, match="allowed"):
        impair.parse(spec)


def test_tbf_burst_holds_gso_packets() -> None:
    argv = impair.tbf_argv("eth0", 1e6)
    assert int(argv[argv.index("burst") + 1]) >= 256 * 1024 and "tbf" in argv


# --- plan validation (no Docker touched) --------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"cells": ["nope"]}, "allowed: loopback"),
    ({"cells": ["bridge", "bridge"]}, "each cell once"),
    ({"reps": 1}, "2 or more"),
    ({"profile": "turbo"}, "quick, full"),
    ({"impair": "wbps=10mb"}, "net impairment"),
    ({"cells": ["bridge"], "impair": "rate=90%", "impair_cells": ["host"]}, "one of the cells being run"),
    ({"duration_s": 0.1}, "0.5 to 600"),
])
def test_plan_rejects_bad_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(BadInput, match=match):
        plan("net", **kwargs)  # type: ignore[arg-type]


def test_plan_rejects_unknown_suite_and_target_not_yet_built() -> None:
    with pytest.raises(BadInput, match="net, storage"):
        plan("disk")
    with pytest.raises(Unavailable, match="--target engine"):
        plan("net", target="kind")


def test_good_plan_describes_itself() -> None:
    p = plan("storage", cells=["hostfs", "volume"], tests=["randread-4k-qd1"], reps=6, size="32M")
    assert p.describe() == ("storage on engine, profile quick: cells [hostfs, volume] × tests [randread-4k-qd1] "
                            "× 6 repetitions, interleaved")
    assert plan("net").reps >= 6


# --- the store ----------------------------------------------------------------------------------


def _row(i: int, cell: str = "bridge") -> dict[str, object]:
    return {"suite": "net", "cell": cell, "test": "tcp-1", "metric": "throughput_bps", "value": 1e9 + i,
            "status": "ok", "block": i, "repetition": i}


def test_round_trip_with_schema_columns(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(0), _row(1)])
    df = st.load()
    assert list(df.columns) == list(COLUMNS) and list(df["value"]) == [1e9, 1e9 + 1]
    assert (df["run_id"].isna()).all()  # rows carry what the writer gave; the runner sets run_id
    assert st.runs().iloc[0]["status"] == "complete"


def test_unknown_column_is_refused(store_dir: Path) -> None:
    with Store(store_dir).new_run({}) as w, pytest.raises(StoreError, match="outside the schema"):
        w.append([{"bogus": 1}])


def test_run_status_records_how_it_ended(store_dir: Path) -> None:
    st = Store(store_dir)
    with pytest.raises(RuntimeError), st.new_run({"suite": "net"}):
        raise RuntimeError("daemon went away")
    with pytest.raises(KeyboardInterrupt), st.new_run({"suite": "net"}):
        raise KeyboardInterrupt
    st.new_run({"suite": "storage"})  # never finished
    assert list(st.runs()["status"]) == ["failed", "interrupted", "incomplete"]
    assert "daemon went away" in st.meta(st.run_ids()[0])["error"]


def test_torn_last_line_is_skipped_and_earlier_rows_load(store_dir: Path) -> None:
    st = Store(store_dir)
    with st.new_run({"suite": "net"}) as w:
        w.append([_row(0), _row(1)])
    rows = store_dir / "runs" / w.run_id / "rows.jsonl"
    with open(rows, "a") as fh:
        fh.write('{"suite": "net", "cell": "bri')
    assert len(st.load()) == 2


def test_resolve_ids_prefixes_and_latest(store_dir: Path) -> None:
    st = Store(store_dir)
    ids = []
    for suite in ("net", "storage", "net"):
        with st.new_run({"suite": suite}) as w:
            ids.append(w.run_id)
        time.sleep(0.01)
    assert st.resolve(ids[1]) == ids[1] and st.resolve("latest") == max(ids)
    assert st.resolve("latest:storage") == ids[1]
    with pytest.raises(StoreError, match="labkit runs"):
        st.resolve("19990101T000000Z-abcdef")
    with pytest.raises(StoreError, match="ambiguous"):
        st.resolve(ids[0][:4])


WRITER = """
import sys, time
from labkit.bench.store import Store
st = Store(sys.argv[1])
with st.new_run({"suite": "net", "run_id": "A"}) as w:
    w.append([{"suite": "net", "cell": "bridge", "test": "tcp-1", "metric": "throughput_bps", "value": float(i),
               "status": "ok"} for i in range(50)])
w = st.new_run({"suite": "net", "run_id": "B"})
i = 0
while True:
    w.append([{"suite": "net", "cell": "bridge", "test": "tcp-1", "metric": "throughput_bps", "value": float(i),
               "status": "ok", "error": "x" * 2000}])
    i += 1
"""


def test_sigkill_mid_write_loses_at_most_the_in_flight_row(store_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store_dir)])
    rows_b = store_dir / "runs" / "B" / "rows.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not rows_b.exists() or rows_b.stat().st_size < 200_000):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    st = Store(store_dir)
    runs = st.runs().set_index("run_id")
    assert runs.loc["A", "status"] == "complete" and runs.loc["B", "status"] == "incomplete"
    assert len(st.load(["A"])) == 50
    lines = rows_b.read_text().splitlines()
    complete = sum(1 for line in lines if line.endswith("}"))
    assert len(st.load(["B"])) >= complete - 1 >= 50
