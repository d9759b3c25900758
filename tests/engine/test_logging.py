"""Chapter 06 on the real engine: the rsyslog collector, a token found and a token missing, what non-blocking loses
and blocking costs, faults, mtail and the alert rule, the harness with a collector killed mid-run, the CLI stack.
Every test checks what its session left behind (by session label: other people's containers exist here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit import bench, docker
from labkit.components.logging import (
    Collector,
    drivers,
    emitter,
    faults,
    measure,
    mtail,
    records,
    verify,
)
from tests.fakes import leftovers, sdk_client

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]


@pytest.fixture(scope="module")
def lab() -> tuple[docker.Scope, Collector]:
    """One collector for the module's tests (each test leaves it running)."""
    with docker.Scope() as scope:
        yield scope, Collector.up(scope)
    assert leftovers(scope.session) == []
    assert not list(Path("/var/tmp/labkit").glob(f"lk-{scope.session}-*"))  # its record directories went too


def test_a_token_is_found_with_its_fields_and_both_files_agree(lab: tuple[docker.Scope, Collector]) -> None:
    scope, col = lab
    check = verify.verify_token(scope, col, within_s=10)
    assert check.ok, check.verdict()
    assert check.got["container"] == check.container and check.got["labels"]["io.labkit.run"] == check.token
    assert check.got["image"] == "labkit/logging-emitter:0.1.0" and len(check.got["container_id"]) == 12
    a, b = col.records("json"), col.records("rfc5424")
    assert not a.empty and a.drop(columns=["sd"]).equals(b.drop(columns=["sd"]))
    mine = records.select(a, container=check.container, labels={"io.labkit.run": check.token})
    assert len(mine) == 1 and check.token in mine.iloc[0]["msg"]
    table = col.lnav("SELECT container, count(*) AS n FROM labkit_docker_json GROUP BY container")
    assert check.container in table


def test_a_token_written_after_the_collector_stopped_is_missing_not_late(lab: tuple[docker.Scope, Collector]) -> None:
    scope, col = lab
    down, after = verify.verify_missing_after_stop(scope, col, within_s=3, write_after_ms=2500)
    assert not down.found and not after.found
    assert down.verdict().startswith("MISSING") and after.verdict().startswith("MISSING")
    assert col.alive() is None  # running again


def test_a_stopped_collector_makes_the_plain_verify_fail(lab: tuple[docker.Scope, Collector]) -> None:
    scope, col = lab
    col.stop()
    try:
        check = verify.verify_token(scope, col, within_s=2)
    finally:
        col.start()
    assert not check.ok and "connection refused" in (check.start_error or "") and check.verdict().startswith("MISSING")


def test_non_blocking_drops_lines_where_blocking_keeps_them(lab: tuple[docker.Scope, Collector]) -> None:
    """The theory, measured small: a 4 KiB ring overflows at full speed; blocking mode loses nothing."""
    scope, _ = lab
    nb = measure.LogPath("nb-4k", "json-file", "non-blocking", "4k", reader="json-file")
    lost = measure.burst(scope, nb, rate=0, count=50_000)
    kept = measure.burst(scope, measure.PATHS["json-file"], rate=0, count=50_000)
    assert kept["loss_pct"] == 0 and kept["stored_rate"] > 0
    assert lost["loss_pct"] > 0, lost
    assert {"app_rate", "write_p99_us", "write_max_ms"} <= set(lost)


def test_delay_is_measured_on_the_syslog_path(lab: tuple[docker.Scope, Collector]) -> None:
    scope, col = lab
    m = measure.delay(scope, measure.PATHS["syslog-tcp"], rate=200, count=40, collector=col)
    assert m["seen_ratio"] == 1.0 and 0 < m["delay_p50_ms"] <= m["delay_p99_ms"] and m["to_collector_p50_ms"] > 0


def test_rotation_keeps_the_newest_contiguous_tail(lab: tuple[docker.Scope, Collector]) -> None:
    scope, _ = lab
    r = measure.rotation(scope, "json-file", max_size="100k", max_file=3, count=5000)
    assert 0 < r["kept"] < 5000 and r["newest_kept"] and r["contiguous"] and r["files"] == 3


def test_faults_show_dockerd_s_own_behaviour(lab: tuple[docker.Scope, Collector]) -> None:
    scope, col = lab
    rows = {(r["transport"], r["mode"]): r for r in faults.down_at_start(scope, col)}
    assert not rows["tcp", "blocking"]["started"] and "connection refused" in rows["tcp", "blocking"]["dockerd says"]
    assert not rows["tcp", "non-blocking"]["started"]  # the ring wraps the driver only after it dialled
    assert rows["udp", "blocking"]["started"] and rows["udp", "non-blocking"]["started"]
    bad = faults.bad_inputs(scope, cases=["unknown driver", "unknown option (syslog)"])
    assert [r["docker run exit"] for r in bad] == [125, 125]
    assert "plugin \"nope\" not found" in bad[0]["dockerd says"] and "syslog-adress" in bad[1]["dockerd says"]
    assert all(r["labkit"].startswith("bad ") for r in bad)
    assert col.alive() is None


def test_the_collector_killed_mid_stream_loses_the_downtime_and_comes_back(lab: tuple[docker.Scope,
                                                                                      Collector]) -> None:
    scope, col = lab
    r = faults.mid_stream(scope, col, action="kill", mode="blocking", rate=1000, seconds=4, at=1.0, back_after=1.0)
    assert 0 < r["lost"] < r["sent"] and r["gaps (s of emission)"] and col.alive() is None


def test_mtail_counts_lines_and_errors_and_the_alert_rule_passes_promtool(lab: tuple[docker.Scope,
                                                                                     Collector]) -> None:
    scope, col = lab
    m = mtail.Mtail.up(scope, col)
    run = emitter.emit(scope, drivers.syslog(col.address(), label_keys=[emitter.RUN_LABEL]), count=200, rate=2000,
                       error_every=10, summary=False)
    run.wait(timeout=60)
    assert m.wait_value("labkit_log_lines_total", 200, container=run.name)[0] == 200
    assert m.wait_value("labkit_log_errors_total", 20, container=run.name)[0] == 20
    run.remove()
    rule = mtail.check_alert_rule(scope)
    assert rule["ok"], rule
    assert rule["check rules"][0] == 0 and "SUCCESS" in rule["test rules"][1] and rule["a wrong expectation"][0] != 0


def test_a_collector_killed_during_a_run_fails_its_repetitions_with_the_reason(tmp_path: Path) -> None:
    def kill_collectors(done: int, total: int) -> None:
        if done == 4:  # progress units: 2 warm-ups, then block 0 (json-file, syslog-tcp); kill before block 1
            for c in sdk_client().containers.list(filters={"label": [f"io.labkit.owner={docker.owner()}",
                                                                    "io.labkit.role=logging-collector"]}):
                c.kill()

    res = bench.run("logging", cells=["json-file", "syslog-tcp"], tests=["burst-1k"], reps=2, duration_s=0.5,
                    store=str(tmp_path), progress=kill_collectors)
    rows = res.rows()
    syslog = rows[rows.cell == "syslog-tcp"]
    assert set(syslog[syslog.repetition == 0].status) == {"ok"}
    failed = syslog[syslog.repetition == 1]
    assert set(failed.status) == {"failed"} and failed.error.str.contains("exited").all()
    ok = rows[(rows.cell == "json-file") & (rows.metric == "loss_pct")]
    assert set(ok.status) == {"ok"} and (ok.value == 0).all()
    assert leftovers(res.meta()["session_id"]) == []


def test_sigterm_removes_the_collector_and_its_records(tmp_path: Path) -> None:
    code = ("from labkit import docker; from labkit.signals import terminating; import time, sys\n"
            "from labkit.components.logging import Collector\n"
            "with terminating(), docker.Scope() as s:\n"
            "    c = Collector.up(s); print('READY', s.session, c.log_dir, flush=True); time.sleep(120)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith("READY "):
            line = proc.stdout.readline()
            assert line, "the child ended before its collector was up"
        session, log_dir = line.split()[1:]
        assert leftovers(session) and Path(log_dir).exists()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert leftovers(session) == [] and not Path(log_dir).exists()


def test_the_cli_stack_starts_reports_and_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.components.logging import collector, stack

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    if docker.container(stack.COLLECTOR) is not None:
        pytest.skip("someone's `labkit logging up` stack is running on this machine")
    port = collector.free_port()
    env = {**os.environ, "LABKIT_HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "labkit.cli", "logging", *args], capture_output=True, text=True,
                              env=env, timeout=300)

    try:
        up = cli("up", "--option", f"port={port}", "--option", f"port.mtail={collector.free_port()}")
        assert up.returncode == 0, up.stderr
        assert f"syslog-address=tcp://127.0.0.1:{port}" in up.stdout and "job_name: labkit-mtail" in up.stdout
        status = cli("status")
        assert "lk-logging-collector   running" in status.stdout and "lk-logging-mtail       running" in status.stdout
        again = cli("up")  # idempotent: the running stack is reported, not duplicated
        assert again.returncode == 0
    finally:
        down = cli("down")
    assert down.returncode == 0 and "removed" in down.stdout
    assert docker.container(stack.COLLECTOR) is None and docker.container(stack.MTAIL) is None
    time.sleep(0.1)
