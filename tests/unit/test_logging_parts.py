"""Chapter 06's engine-tier parts offline: log configs checked like dockerd, records parsed from recorded real
output, the harness's cells and metrics, mtail's text format, the rotation space check, the CLI verbs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from labkit.bench.schema import METRICS, SCENARIO
from labkit.components.logging import drivers, engine_cells, faults, measure, mtail, records
from labkit.errors import BadInput, Unavailable

# Recorded on 2026-11-30 from the real collector (rsyslog 8.2302) fed by dockerd 20.10.24's syslog driver: a
# container with labels io.labkit.run=T-0123456789ab and team="blue green|x" wrote two 80-byte lines.
JSON_RECORDS = r'''{"ts":"2026-11-30T09:59:17.106657+00:00", "received":"2026-11-30T09:59:17.106657+00:00", "host":"labkit-probe", "app_name":"labkit-probe", "procid":"-", "msgid":"probe", "sd":"-", "severity":"info", "facility":"user", "container":"labkit-probe", "image":"", "container_id":"", "labels":"", "msg":"a0af47a2bc284d71b66f8e83879bb3d6"}
{"ts":"2026-11-30T09:59:17.584569+00:00", "received":"2026-11-30T09:59:17.586742+00:00", "host":"vm", "app_name":"lk-rec-app|labkit\/logging-emitter:0.1.0|89b2924c7008|io.labkit.run=T-0123456789ab&team=blue+green%7Cx", "procid":"3252", "msgid":"lk-rec-app|labkit\/logging-emitter:0.1.0|89b2924c7008|io.labkit.run=T-0123456789ab&team=blue+green%7Cx", "sd":"-", "severity":"info", "facility":"daemon", "container":"lk-rec-app", "image":"labkit\/logging-emitter:0.1.0", "container_id":"89b2924c7008", "labels":"io.labkit.run=T-0123456789ab&team=blue+green%7Cx", "msg":"T-0123456789ab seq=0 t=1796032757.584080468 level=INFO pad=xxxxxxxxxxxxxxxxxxxx"}
{"ts":"2026-11-30T09:59:17.584698+00:00", "received":"2026-11-30T09:59:17.586742+00:00", "host":"vm", "app_name":"lk-rec-app|labkit\/logging-emitter:0.1.0|89b2924c7008|io.labkit.run=T-0123456789ab&team=blue+green%7Cx", "procid":"3252", "msgid":"lk-rec-app|labkit\/logging-emitter:0.1.0|89b2924c7008|io.labkit.run=T-0123456789ab&team=blue+green%7Cx", "sd":"-", "severity":"info", "facility":"daemon", "container":"lk-rec-app", "image":"labkit\/logging-emitter:0.1.0", "container_id":"89b2924c7008", "labels":"io.labkit.run=T-0123456789ab&team=blue+green%7Cx", "msg":"T-0123456789ab seq=1 t=1796032757.584142200 level=INFO pad=xxxxxxxxxxxxxxxxxxxx"}
'''  # noqa: E501
RFC5424_RECORDS = '''<14>1 2026-11-30T09:59:17.106657+00:00 labkit-probe labkit-probe - probe [labkit@32473 container="labkit-probe" image="" id="" labels="" received="2026-11-30T09:59:17.106657+00:00"] a0af47a2bc284d71b66f8e83879bb3d6
<30>1 2026-11-30T09:59:17.584569+00:00 vm lk-rec-app|labkit/logging-emitter:0.1.0|89b2924c7008|io.labkit.run=T-0123456789ab&team=blue+green%7Cx 3252 lk-rec-app|labkit/logging-emitter:0.1.0|89b2924c7008|io.labkit.run=T-0123456789ab&team=blue+green%7Cx [labkit@32473 container="lk-rec-app" image="labkit/logging-emitter:0.1.0" id="89b2924c7008" labels="io.labkit.run=T-0123456789ab&team=blue+green%7Cx" received="2026-11-30T09:59:17.586742+00:00"] T-0123456789ab seq=0 t=1796032757.584080468 level=INFO pad=xxxxxxxxxxxxxxxxxxxx
<30>1 2026-11-30T09:59:17.584698+00:00 vm lk-rec-app|labkit/logging-emitter:0.1.0|89b2924c7008|io.labkit.run=T-0123456789ab&team=blue+green%7Cx 3252 lk-rec-app|labkit/logging-emitter:0.1.0|89b2924c7008|io.labkit.run=T-0123456789ab&team=blue+green%7Cx [labkit@32473 container="lk-rec-app" image="labkit/logging-emitter:0.1.0" id="89b2924c7008" labels="io.labkit.run=T-0123456789ab&team=blue+green%7Cx" received="2026-11-30T09:59:17.586742+00:00"] T-0123456789ab seq=1 t=1796032757.584142200 level=INFO pad=xxxxxxxxxxxxxxxxxxxx
'''  # noqa: E501
# What dockerd itself sent (captured on a TCP listener by the chapter's prototype, rfc5424micro): SD is "-".
WIRE = ("<27>1 2026-11-30T09:24:51.369177Z vm lkp-wire-tcp-rfc5424micro|labkit-proto/log-emitter:1|6d67f9c44692|"
        "app=hello+world 3252 lkp-wire-tcp-rfc5424micro|labkit-proto/log-emitter:1|6d67f9c44692|app=hello+world - "
        "to stderr")
# A scrape of mtail 3.2.24 after 1,000 lines with every 10th an ERROR (prototype evidence, results/mtail.json).
SCRAPE = '''# TYPE labkit_log_errors_total counter
labkit_log_errors_total{container="lkp-mtail-src",prog="labkit.mtail"} 100
# TYPE labkit_log_lines_total counter
labkit_log_lines_total{container="lkp-mtail-src",prog="labkit.mtail"} 1000
labkit_log_lines_total{container="labkit-probe",prog="labkit.mtail"} 1
'''


# -- log configs ---------------------------------------------------------------------------------------

def test_syslog_config_carries_the_fields_in_the_tag_and_renders_as_cli_flags() -> None:
    cfg = drivers.syslog("tcp://127.0.0.1:5140", mode="non-blocking", max_buffer_size="64k", label_keys=["app"],
                         cache=False)
    assert cfg.sdk() == {"Type": "syslog", "Config": {
        "mode": "non-blocking", "max-buffer-size": "64k", "syslog-address": "tcp://127.0.0.1:5140",
        "syslog-format": "rfc5424micro", "tag": '{{.Name}}|{{.ImageName}}|{{.ID}}|app={{urlquery (index '
        '.ContainerLabels "app")}}', "cache-disabled": "true"}}
    assert cfg.cli()[:4] == ["--log-driver", "syslog", "--log-opt", "mode=non-blocking"]
    assert drivers.json_file(max_size="10m", max_file=3).cli() == [
        "--log-driver", "json-file", "--log-opt", "mode=blocking", "--log-opt", "max-size=10m", "--log-opt",
        "max-file=3"]


@pytest.mark.parametrize("case", [c for c in faults.bad_cases()])
def test_every_bad_configuration_is_refused_before_docker_sees_it(case: str) -> None:
    with pytest.raises(BadInput) as info:
        drivers.check(faults.bad_cases()[case])
    assert "allowed" in str(info.value)


def test_refusals_name_what_is_allowed_and_what_dockerd_would_say() -> None:
    with pytest.raises(BadInput) as info:
        drivers.check(drivers.LogConfig("json-file", {"max-sise": "10m"}))
    assert "max-size" in info.value.allowed and "unknown log opt 'max-sise'" in (info.value.fix or "")
    with pytest.raises(BadInput, match="mode=non-blocking only"):
        drivers.json_file(max_buffer_size="4k")
    with pytest.raises(BadInput, match="label key"):
        drivers.syslog_tag(["has space"])
    drivers.check(drivers.LogConfig("local", {"max-size": "20m", "max-file": "5", "compress": "true"}))


@pytest.mark.parametrize(("text", "size"), [("64k", 65536), ("10m", 10 * 2**20), ("1g", 2**30), ("100", 100),
                                            ("1.5k", 1536), ("20MiB", 20 * 2**20)])
def test_sizes_are_read_as_dockerd_reads_them(text: str, size: int) -> None:
    assert drivers.parse_size(text) == size


def test_journald_is_available_only_where_the_journal_socket_answers(tmp_path: Path) -> None:
    (tmp_path / "proc/1").mkdir(parents=True)
    (tmp_path / "proc/1/comm").write_text("tini\n")
    ok, why = drivers.journald_available(tmp_path)
    assert not ok and "no /run/systemd/journal/socket" in why and "'tini'" in why
    sock = tmp_path / "run/systemd/journal/socket"
    sock.parent.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(sock))
        assert drivers.journald_available(tmp_path)[0]


# -- records ---------------------------------------------------------------------------------------------

@pytest.fixture()
def collector_files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "docker.json").write_text(JSON_RECORDS)
    (tmp_path / "docker.5424").write_text(RFC5424_RECORDS + '<30>1 2026-11-30T09:59:18Z vm half-writ')
    return tmp_path / "docker.json", tmp_path / "docker.5424"


def test_both_record_files_give_the_same_frame(collector_files: tuple[Path, Path]) -> None:
    js, rfc = collector_files
    a, b = records.read_json(js), records.read_rfc5424(rfc)
    assert list(a.columns) == records.COLUMNS and len(a) == 3  # the half-written last line is skipped
    assert a.drop(columns=["sd"]).equals(b.drop(columns=["sd"]))
    app = a.iloc[1]
    assert (app["container"], app["image"], app["container_id"]) == ("lk-rec-app", "labkit/logging-emitter:0.1.0",
                                                                    "89b2924c7008")
    assert app["labels"] == {"io.labkit.run": "T-0123456789ab", "team": "blue green|x"}  # URL-decoded
    assert str(app["ts"].tz) == "UTC" and app["severity"] == "info" and app["procid"] == "3252"


def test_select_filters_by_container_time_labels_and_text(collector_files: tuple[Path, Path]) -> None:
    df = records.read_json(collector_files[0])
    assert len(records.select(df, container="lk-rec-app")) == 2
    assert len(records.select(df, since="2026-11-30T09:59:17.5846Z")) == 1
    assert len(records.select(df, until="2026-11-30T09:59:17.2Z")) == 1
    assert len(records.select(df, labels={"team": "blue green|x"}, contains="seq=1")) == 1
    assert records.select(df, image="nope").empty


def test_what_dockerd_sends_has_no_structured_data_and_splits_on_the_tag() -> None:
    r = records.parse_rfc5424(WIRE)
    assert r.sd == {} and r.msg == "to stderr" and r.severity == "err" and r.facility == "daemon"
    assert r.app_name == r.msgid and r.app_name.split("|")[3] == "app=hello+world"


def test_structured_data_unescapes_and_refuses_broken_elements() -> None:
    sd, end = records.parse_sd(r'[a@1 x="q\"uote" y="b\]r\\"][b@2] rest', 0)
    assert sd == {"a@1": {"x": 'q"uote', "y": "b]r\\"}, "b@2": {}}
    for bad in ('[a@1 x="open', '[a@1 x=unquoted]', "[a@1"):
        with pytest.raises(records.ParseError):
            records.parse_sd(bad, 0)
    with pytest.raises(records.ParseError):
        records.parse_rfc5424("not syslog at all")


def test_emitter_lines_give_token_sequence_and_send_time() -> None:
    assert records.emitter_fields("T-1 seq=7 t=1796032757.584142200 level=INFO pad=x") == ("T-1", 7,
                                                                                           1796032757.5841422)
    assert records.emitter_fields("hello") is None


# -- measurements -----------------------------------------------------------------------------------------

def test_rotation_is_refused_up_front_when_the_disk_cannot_hold_it() -> None:
    with pytest.raises(Unavailable) as info:
        measure.check_rotation_space("100g", 5, free=50 * 2**30, root="/var/lib/docker")
    assert "501.0 GiB" in info.value.message and "nothing was started" in info.value.message
    assert measure.check_rotation_space("100k", 3, free=2 * 2**30, root="/x")["need_bytes"] == 3 * 102400 + 2**30
    with pytest.raises(BadInput):
        measure.check_rotation_space("1m", 0, free=2**40)


def test_percentiles_interpolate_like_numpy() -> None:
    assert measure.percentile([1, 2, 3, 4], 0.5) == 2.5 and measure.percentile([5], 0.99) == 5
    assert measure.percentile([], 0.5) != measure.percentile([], 0.5)  # NaN


def test_cells_have_json_file_as_baseline_and_every_metric_is_in_the_schema() -> None:
    assert engine_cells.CELLS["json-file"].baseline is None
    assert {c.baseline for n, c in engine_cells.CELLS.items() if n != "json-file"} == {"json-file"}
    assert all(c.no_impair for c in engine_cells.CELLS.values())
    emitted = {"delay_p50_ms", "delay_p99_ms", "seen_ratio", "to_collector_p50_ms", "loss_pct", "lost_lines",
               "app_rate", "write_p50_us", "write_p99_us", "write_max_ms", "stored_rate"}
    assert emitted <= set(METRICS)
    for t in engine_cells.log_tests(None, profile="full"):
        assert set(t.scenario()) <= set(SCENARIO) and t.budget_s > 0


def test_tests_follow_the_profile_and_refuse_unknown_names() -> None:
    assert [t.name for t in engine_cells.log_tests(None)] == ["delay", "burst-1k", "burst-10k", "burst-max"]
    short = {t.name: t for t in engine_cells.log_tests(["delay", "burst-1k", "burst-max"], seconds=0.5)}
    assert (short["delay"].count, short["burst-1k"].count, short["burst-max"].count) == (100, 500, 50_000)
    assert engine_cells.log_tests(["burst-max"], seconds=600)[0].count == engine_cells.MAX_LINES
    with pytest.raises(BadInput, match="burst-1k"):
        engine_cells.log_tests(["burst-2k"])


def test_the_harness_plans_the_logging_suite_and_refuses_unknown_cells() -> None:
    from labkit import bench

    p = bench.plan("logging", cells=["json-file", "syslog-tcp"], tests=["burst-1k"], reps=2)
    assert [c.name for c in p.cells] == ["json-file", "syslog-tcp"] and p.reps == 2
    with pytest.raises(BadInput, match="syslog-tcp"):
        bench.plan("logging", cells=["syslog-tls"])
    assert bench.plan("logging").reps == 3  # quick


# -- mtail and the alert ----------------------------------------------------------------------------------

def test_mtail_scrapes_are_read_by_metric_and_labels() -> None:
    assert mtail.value(SCRAPE, "labkit_log_errors_total", container="lkp-mtail-src") == 100
    assert mtail.value(SCRAPE, "labkit_log_lines_total", container="labkit-probe") == 1
    assert mtail.value(SCRAPE, "labkit_log_lines_total", container="nope") is None
    assert len(mtail.samples(SCRAPE, "labkit_log_lines_total")) == 2


def test_the_alert_rule_and_scrape_job_are_the_files_chapter_05_loads() -> None:
    rule = mtail.alert_rules()["groups"][0]["rules"][0]
    assert rule["alert"] == "LabkitContainerLogErrors" and "labkit_log_errors_total" in rule["expr"]
    assert '"lk-logging-mtail:3903"' in mtail.scrape_config("lk-logging-mtail:3903")
    assert "labkit_log_errors_total" in mtail.text(mtail.PROGRAM)


# -- the CLI ----------------------------------------------------------------------------------------------

def test_logging_stack_verbs_are_registered_and_a_taken_port_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    cli = importlib.import_module("labkit.cli.main")
    from labkit.components.logging import collector

    args = cli.parser().parse_args(["logging", "up", "--option", "port=5141"])
    assert (args.component, args.action, args.option) == ("logging", "up", ["port=5141"])
    assert cli.main(["logging", "up", "--option", "colour=blue"]) == 2  # refused, with the choices
    assert "port=N (the collector)" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        monkeypatch.setattr("labkit.docker.container", lambda name: None)
        assert cli.main(["logging", "up", "--option", f"port={taken}"]) == 1
    err = capsys.readouterr().err
    assert f"port 127.0.0.1:{taken} is already in use" in err and "Fix:" in err
    assert collector.check_port(collector.free_port()) > 0
