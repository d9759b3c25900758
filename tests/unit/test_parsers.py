"""iperf3, sockperf and fio: parsers against recorded real outputs, and the argv we send them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.bench import net, storage
from labkit.bench.schema import COLUMNS
from labkit.errors import BadInput

# --- iperf3 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["iperf3-tcp-1.json", "iperf3-tcp-2.json"])
def test_iperf3_tcp_is_receiver_throughput_and_sender_retransmits(data_dir: Path, name: str) -> None:
    text = (data_dir / name).read_text()
    end = json.loads(text)["end"]
    assert net.parse_iperf3(text) == {
        "throughput_bps": end["sum_received"]["bits_per_second"],
        "retransmits": end["sum_sent"]["retransmits"],
    }


def test_iperf3_udp_is_receiver_throughput_loss_and_jitter(data_dir: Path) -> None:
    text = (data_dir / "iperf3-udp.json").read_text()
    end = json.loads(text)["end"]
    m = net.parse_iperf3(text)
    assert m == {
        "throughput_bps": end["sum_received"]["bits_per_second"],
        "udp_loss_pct": end["sum"]["lost_percent"],
        "jitter_ms": end["sum"]["jitter_ms"],
    }
    assert m["throughput_bps"] < end["sum_sent"]["bits_per_second"]  # what arrived, not what was sent
    assert m["udp_loss_pct"] > 0


def test_iperf3_version(data_dir: Path) -> None:
    assert net.iperf3_version((data_dir / "iperf3-tcp-1.json").read_text()) == "3.12"
    assert net.iperf3_version("not json") is None


def test_iperf3_error_quotes_the_tools_own_error(data_dir: Path) -> None:
    with pytest.raises(net.ParseError) as info:
        net.parse_iperf3((data_dir / "iperf3-refused.json").read_text())
    assert info.value.message == "iperf3: unable to connect to server: Connection refused"


def test_iperf3_text_instead_of_json_is_quoted() -> None:
    with pytest.raises(net.ParseError, match="iperf3 printed no JSON: 'iperf3: error - unable to send control"):
        net.parse_iperf3("iperf3: error - unable to send control message: Bad file descriptor\n")


def test_iperf3_json_without_a_summary_is_an_interrupted_run(data_dir: Path) -> None:
    data = json.loads((data_dir / "iperf3-tcp-1.json").read_text())
    data["end"] = {}
    with pytest.raises(net.ParseError, match="interrupted"):
        net.parse_iperf3(json.dumps(data))


# --- sockperf -----------------------------------------------------------------------------------

RECORDED_SOCKPERF = {"lat_p50_us": 52.377, "lat_p99_us": 82.311, "lat_p999_us": 139.956, "lat_mean_us": 53.958}


def test_sockperf_percentiles_and_mean(data_dir: Path) -> None:
    assert net.parse_sockperf((data_dir / "sockperf-pingpong-tcp.txt").read_text()) == RECORDED_SOCKPERF


def test_sockperf_ansi_colour_codes_are_ignored(data_dir: Path) -> None:
    text = (data_dir / "sockperf-pingpong-tcp.txt").read_text()
    assert "\x1b[" in text  # the recording has colour codes around avg-rtt
    coloured = "\n".join(f"\x1b[2;35m{line}\x1b[0m" if "percentile" in line else line for line in text.splitlines())
    coloured = coloured.replace("percentile 99.900 =", "percentile \x1b[1m99.900\x1b[0m =")
    assert net.parse_sockperf(coloured) == RECORDED_SOCKPERF


def test_sockperf_version(data_dir: Path) -> None:
    assert net.sockperf_version((data_dir / "sockperf-pingpong-tcp.txt").read_text()) == "3.7-no.git"


def test_sockperf_error_quotes_the_tools_own_error(data_dir: Path) -> None:
    with pytest.raises(net.ParseError) as info:
        net.parse_sockperf((data_dir / "sockperf-refused.txt").read_text())
    assert "Connection refused" in info.value.message and "errno=111" in info.value.message


def test_sockperf_without_the_headline_percentiles_is_an_error(data_dir: Path) -> None:
    text = (data_dir / "sockperf-pingpong-tcp.txt").read_text()
    without_p999 = "\n".join(line for line in text.splitlines() if "percentile 99.900" not in line)
    with pytest.raises(net.ParseError, match="no percentiles"):
        net.parse_sockperf(without_p999)


# --- fio ----------------------------------------------------------------------------------------


def test_fio_throughput_job_reads_iops_and_bandwidth_only(data_dir: Path) -> None:
    text = (data_dir / "fio-randread-4k-qd32.json").read_text()
    read = json.loads(text)["jobs"][0]["read"]
    assert storage.parse_fio(text, storage.JOBS["randread-4k-qd32"]) == {
        "iops": read["iops"], "bw_Bps": read["bw_bytes"]}


@pytest.mark.parametrize(("name", "job", "side", "lat"), [
    ("fio-randread-4k-qd1.json", "randread-4k-qd1", "read", "clat_ns"),
    ("fio-fsync-write.json", "fsync-write-4k", "write", "sync")])
def test_fio_latency_jobs_report_percentiles_in_microseconds(data_dir: Path, name: str, job: str, side: str,
                                                             lat: str) -> None:
    """QD1 reads report completion latency; fsync writes report the fsync latency (what etcd feels)."""
    text = (data_dir / name).read_text()
    data = json.loads(text)["jobs"][0]
    measured = data[side]
    pct = (data["sync"]["lat_ns"] if lat == "sync" else measured["clat_ns"])["percentile"]
    assert storage.parse_fio(text, storage.JOBS[job]) == pytest.approx({
        "iops": measured["iops"],
        "bw_Bps": measured["bw_bytes"],
        "lat_p50_us": pct["50.000000"] / 1000,
        "lat_p99_us": pct["99.000000"] / 1000,
        "lat_p999_us": pct["99.900000"] / 1000,
    })
    assert measured["iops"] > 0


def test_fio_warnings_before_the_json_are_skipped(data_dir: Path) -> None:
    text = (data_dir / "fio-randread-4k-qd1.json").read_text()
    noisy = "fio: io_u error on file /bench/lk-fio.dat: Operation not supported: read offset=0\n" + text
    assert storage.parse_fio(noisy, storage.JOBS["randread-4k-qd1"]) == \
        storage.parse_fio(text, storage.JOBS["randread-4k-qd1"])


def test_fio_version(data_dir: Path) -> None:
    assert storage.fio_version((data_dir / "fio-fsync-write.json").read_text()) == "3.33"
    assert storage.fio_version("fio: command not found") is None


def test_fio_text_error_is_quoted() -> None:
    with pytest.raises(net.ParseError) as info:
        storage.parse_fio("fio: pid=12, err=22/file:filesetup.c:805, func=open, error=Invalid argument\n",
                          storage.JOBS["randread-4k-qd32"])
    assert "no JSON" in info.value.message and "error=Invalid argument" in info.value.message


def test_fio_job_error_names_the_job_and_errno(data_dir: Path) -> None:
    data = json.loads((data_dir / "fio-randread-4k-qd32.json").read_text())
    data["jobs"][0]["error"] = 5
    with pytest.raises(net.ParseError, match="fio job randread failed with errno 5"):
        storage.parse_fio(json.dumps(data), storage.JOBS["randread-4k-qd32"])


def test_fio_json_without_jobs_or_truncated_is_an_error(data_dir: Path) -> None:
    with pytest.raises(net.ParseError, match="no jobs"):
        storage.parse_fio('{"fio version": "fio-3.33", "jobs": []}', storage.JOBS["randread-4k-qd32"])
    text = (data_dir / "fio-randread-4k-qd32.json").read_text()
    with pytest.raises(net.ParseError, match="malformed"):
        storage.parse_fio(text[: len(text) // 2], storage.JOBS["randread-4k-qd32"])


# --- command lines ------------------------------------------------------------------------------


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_iperf3_tcp_client_argv() -> None:
    [test] = net.net_tests(["tcp-N"], duration_s=2, omit_s=1, streams=4)
    argv = net.iperf3_client_argv("10.0.0.2", test, port=5202)
    assert argv[0] == "iperf3" and _value(argv, "--client") == "10.0.0.2" and _value(argv, "--port") == "5202"
    assert "--json" in argv and "--zerocopy" in argv and "--udp" not in argv
    assert (_value(argv, "--time"), _value(argv, "--parallel"), _value(argv, "--omit")) == ("2", "4", "1")


def test_iperf3_without_omit_has_no_omit_flag() -> None:
    [test] = net.net_tests(["tcp-1"], duration_s=10, omit_s=0, streams=4)
    argv = net.iperf3_client_argv("h", test)
    assert "--omit" not in argv and _value(argv, "--parallel") == "1" and _value(argv, "--time") == "10"


def test_iperf3_udp_drops_zerocopy_and_sends_unlimited() -> None:
    [test] = net.net_tests(["udp"], duration_s=2, omit_s=0, streams=4)
    argv = net.iperf3_client_argv("h", test)
    assert "--zerocopy" not in argv and "--json" in argv
    assert argv[-3:] == ["--udp", "--bitrate", "0"]


def test_server_argvs_listen_on_the_default_ports() -> None:
    assert net.iperf3_server_argv() == ["iperf3", "--server", "--port", str(net.IPERF_PORT)]
    sp = net.sockperf_server_argv()
    assert sp[:2] == ["sockperf", "server"] and _value(sp, "--port") == str(net.SOCKPERF_PORT) and "--tcp" in sp


def test_sockperf_client_is_pinned_to_a_cpu_unless_told_not_to() -> None:
    [test] = net.net_tests(["latency"], duration_s=0.4, omit_s=1, streams=2)
    pinned = net.sockperf_client_argv("h", test)
    assert pinned[:3] == ["taskset", "--cpu-list", "0"] and pinned[3:5] == ["sockperf", "ping-pong"]
    assert _value(pinned, "--time") == "1"  # at least one second
    unpinned = net.sockperf_client_argv("h", test, cpu=None)
    assert unpinned[0] == "sockperf" and unpinned == pinned[3:]


def test_net_tests_build_the_named_tests() -> None:
    tests = net.net_tests(["tcp-1", "tcp-N", "udp", "latency"], duration_s=3, omit_s=1, streams=4)
    assert [(t.name, t.tool, t.protocol, t.streams) for t in tests] == [
        ("tcp-1", "iperf3", "tcp", 1), ("tcp-4", "iperf3", "tcp", 4), ("udp", "iperf3", "udp", 1),
        ("latency", "sockperf", "tcp", 1)]
    assert tests[3].omit_s == 0.0  # sockperf has no slow start to omit


def test_unknown_net_test_lists_the_allowed_names() -> None:
    with pytest.raises(BadInput) as info:
        net.net_tests(["tcp-1", "tcp-9"], duration_s=1, omit_s=0, streams=2)
    assert info.value.value == "tcp-9" and info.value.allowed == "latency, tcp-1, tcp-N, udp"


def test_fio_argv_for_a_throughput_job() -> None:
    [job] = storage.fio_jobs(["randread-4k-qd32"], size="64M", runtime_s=2, ramp_s=0.5, numjobs=4)
    argv = storage.fio_argv(job, "/bench/", direct=True)
    assert argv[0] == "fio"
    for flag in ("--direct=1", "--stonewall", "--group_reporting", "--numjobs=4", "--iodepth=32", "--rw=randread",
                 "--bs=4k", "--size=64M", "--runtime=2", "--ramp_time=0.5", "--output-format=json",
                 "--filename=/bench/lk-fio.dat"):
        assert flag in argv, flag
    assert not any(a.startswith("--fsync") for a in argv)
    assert "--direct=0" in storage.fio_argv(job, "/bench", direct=False)


def test_fio_argv_fsyncs_only_the_fsync_job() -> None:
    jobs = storage.fio_jobs(list(storage.JOBS), size="64M", runtime_s=2, ramp_s=0.5, numjobs=4)
    with_fsync = [j.name for j in jobs if "--fsync=1" in storage.fio_argv(j, "/b", direct=True)]
    assert with_fsync == ["fsync-write-4k"]


def test_fio_numjobs_applies_only_to_deep_queue_jobs() -> None:
    jobs = storage.fio_jobs(list(storage.JOBS), size="1G", runtime_s=10, ramp_s=2, numjobs=4)
    assert {j.name: j.numjobs for j in jobs} == {
        "randread-4k-qd32": 4, "randwrite-4k-qd32": 4, "read-1m-qd16": 1, "write-1m-qd16": 1,
        "randread-4k-qd1": 1, "fsync-write-4k": 1}
    assert {j.size for j in jobs} == {"1G"}


def test_precondition_writes_the_whole_data_file() -> None:
    argv = storage.precondition_argv("/bench", size="64M", direct=True)
    assert "--rw=write" in argv and "--size=64M" in argv and "--filename=/bench/lk-fio.dat" in argv


def test_unknown_fio_job_lists_the_allowed_names() -> None:
    with pytest.raises(BadInput) as info:
        storage.fio_jobs(["randread"], size="1M", runtime_s=1, ramp_s=0, numjobs=1)
    assert info.value.value == "randread" and info.value.allowed == ", ".join(storage.JOBS)


def test_scenarios_only_use_schema_columns() -> None:
    """The store refuses rows with unknown columns, so every scenario key must be one."""
    for test in net.net_tests(["tcp-1", "udp", "latency"], duration_s=1, omit_s=0, streams=2):
        assert set(test.scenario()) <= set(COLUMNS)
    for job in storage.JOBS.values():
        assert set(job.scenario(direct=True)) <= set(COLUMNS)
