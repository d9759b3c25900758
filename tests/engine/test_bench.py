"""Engine tier: the benchmark harness end to end on the real Docker engine (small matrices)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes import leftovers, sdk_client

from labkit import bench, docker as engine
from labkit.bench import stats
from labkit.bench.compare import compare
from labkit.errors import Unavailable

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]


def _nothing_left(store: Path | None = None) -> None:
    """Nothing of the runs in ``store`` is left (by session label); without a store, nothing labelled at all."""
    from labkit.targets import host as hoststate

    if store is None:
        assert engine.managed(include_images=False) == []
        assert [h for h in hoststate.find() if h.kind != "scratch file" or "lk-" in h.name] == []
        return
    sessions = [str(m["session_id"]) for m in (json.loads(p.read_text()) for p in store.glob("runs/*/meta.json"))
                if m.get("session_id")]
    assert sessions, "the runs recorded no session id"
    assert {s: leftovers(s) for s in sessions} == {s: [] for s in sessions}
    # host state of these runs only (veths, loop devices, scratch files carry the session's first characters):
    # another labkit user of the same machine may have objects of its own right now
    ours = [h.name for h in hoststate.find() if any(s[:6] in h.name for s in sessions)]
    ours += [dev for dev, backing in hoststate.loop_devices() if any(s[:6] in str(backing) for s in sessions)]
    assert ours == []


def test_net_matrix_gives_median_ci_cv_and_ratio(store_dir: Path) -> None:
    res = bench.run("net", cells=["loopback", "bridge", "ipvlan"], tests=["tcp-1", "latency"], reps=3,
                    duration_s=1, store=str(store_dir))
    s = res.summary()
    tput = s[(s.metric == "throughput_bps")].set_index("cell")
    for cell in ("loopback", "bridge"):
        row = tput.loc[cell]
        assert row["n"] == 3
        assert row["ci_lo"] <= row["median"] <= row["ci_hi"]
        assert row["median"] > 1e8 and math.isfinite(row["cv"])
    assert tput.loc["bridge", "baseline_cell"] == "loopback"
    assert 0 < tput.loc["bridge", "ratio"] < 5
    lat = s[(s.metric == "lat_p99_us") & (s.cell == "bridge")].iloc[0]
    assert lat["n"] == 3 and lat["median"] > 0
    ipvlan = s[s.cell == "ipvlan"]
    assert not ipvlan.empty  # never silently dropped
    if (ipvlan["n"] == 0).all():
        assert "ipvlan" in ipvlan["note"].iloc[0]
    rows = res.rows()
    assert set(rows.loc[rows.cell == "ipvlan", "status"]) <= {"ok", "unavailable"}
    assert res.meta()["status"] == "complete"
    _nothing_left(store_dir)


def test_storage_matrix_records_direct_io_and_ratios_to_s0(store_dir: Path) -> None:
    res = bench.run("storage", cells=["hostfs", "volume", "tmpfs"], tests=["randread-4k-qd32", "randread-4k-qd1"],
                    reps=2, duration_s=1, size="32M", store=str(store_dir))
    rows = res.rows()
    ok = rows[rows.status == "ok"]
    assert set(ok.cell) == {"hostfs", "volume", "tmpfs"}
    assert ok["direct"].notna().all()
    s = res.summary()
    iops = s[(s.metric == "iops") & (s.test == "randread-4k-qd32")].set_index("cell")
    assert (iops["median"] > 100).all()
    assert iops.loc["volume", "baseline_cell"] == "hostfs" and math.isfinite(iops.loc["volume", "ratio"])
    assert not s[(s.metric == "lat_p999_us") & (s.cell == "tmpfs")].empty
    _nothing_left(store_dir)


def test_unimpairable_cell_named_explicitly_is_refused(store_dir: Path) -> None:
    with pytest.raises(Unavailable, match="host"):
        bench.run("net", cells=["host"], tests=["tcp-1"], reps=2, duration_s=1, impair="rate=50%",
                  impair_cells=["host"], store=str(store_dir))
    _nothing_left(store_dir)


def test_injected_rate_limit_is_caught_and_aa_is_not(store_dir: Path) -> None:
    kw = dict(cells=["bridge"], tests=["tcp-1"], reps=6, duration_s=1, store=str(store_dir))
    a, b = bench.run_ab("net", **kw)
    assert a.meta()["interleaved_with"] == b.run_id and b.meta()["arm"] == "B"
    aa = compare(a.rows(), b.rows())
    assert "regression" not in set(aa.verdict), aa.to_string()
    a, c = bench.run_ab("net", **kw, impair="rate=2gbit")  # far below any bridge: robust on a noisy host
    assert "tbf rate" in c.rows()["impairment"].dropna().iloc[0]
    assert a.rows()["impairment"].isna().all()
    ac = compare(a.rows(), c.rows()).set_index("metric")
    assert ac.loc["throughput_bps", "verdict"] == "regression", ac.to_string()
    _nothing_left(store_dir)


def _interactive() -> None:
    # as from a terminal: a shell's background job (CI run with `&` or nohup) ignores SIGINT, and the child would
    # inherit that, so Ctrl-C could not be tested
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _bench_proc(store: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "labkit.cli", "bench", "net", "--store", str(store), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_interactive)


def _wait_rows(store: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list((store / "runs").glob("*/rows.jsonl")) if (store / "runs").exists() else []
        if files and sum(1 for f in files for _ in f.open()) >= n:
            return
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.2)
    raise AssertionError("benchmark produced no rows in time")


def test_container_killed_mid_run_marks_cell_failed_and_run_goes_on(store_dir: Path) -> None:
    proc = _bench_proc(store_dir, "--cells", "loopback,bridge", "--tests", "tcp-1", "--reps", "5", "--duration", "1")
    _wait_rows(store_dir, 4, proc)
    victims = sdk_client().containers.list(filters={"name": "-bridge-srv", "label": f"{engine.MANAGED}=true"})
    assert victims, "bridge server container not found"
    victims[0].kill()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    rows = bench.Store(store_dir).load()
    bridge = rows[rows.cell == "bridge"]
    assert "failed" in set(bridge.status)
    errors = bridge.loc[bridge.status == "failed", "error"]
    # The measurement in flight when the kill landed fails with the tool's own error; every later
    # repetition is skipped with the reason.
    assert errors.iloc[1:].str.contains("gone|stopped|killed").all(), errors.to_list()
    loop = rows[(rows.cell == "loopback") & (rows.metric == "throughput_bps")]
    assert (loop.status == "ok").sum() == 5
    _nothing_left(store_dir)


def test_sigkill_mid_run_keeps_earlier_runs_and_clean_removes_leftovers(store_dir: Path) -> None:
    first = bench.run("net", cells=["loopback"], tests=["tcp-1"], reps=2, duration_s=1, store=str(store_dir))
    n_first = len(first.rows())
    proc = _bench_proc(store_dir, "--cells", "loopback,bridge", "--tests", "tcp-1", "--reps", "20",
                       "--duration", "1")
    _wait_rows(store_dir, n_first + 3, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    st = bench.Store(store_dir)
    runs = st.runs().set_index("run_id")
    assert runs.loc[first.run_id, "status"] == "complete"
    assert (runs["status"] == "incomplete").sum() == 1
    assert len(st.load([first.run_id])) == n_first
    assert len(st.load()) >= n_first + 3
    # The killed process could not clean up: its containers are still there, found by label and owner.
    killed = next(str(m["session_id"]) for m in (json.loads(p.read_text()) for p in (store_dir / "runs").glob(
        "*/meta.json")) if m["status"] == "running")
    assert leftovers(killed)
    done = subprocess.run([sys.executable, "-m", "labkit.cli", "clean", "--dead"], capture_output=True,
                          text=True, timeout=300)  # only what dead processes left: other sessions stay
    assert done.returncode == 0, done.stderr
    assert "its labkit process" in done.stdout and leftovers(killed) == []
    _nothing_left(store_dir)


def test_report_is_offline_html(store_dir: Path, tmp_path: Path) -> None:
    res = bench.run("net", cells=["loopback", "bridge"], tests=["tcp-1"], reps=2, duration_s=1, store=str(store_dir))
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "report", res.run_id, "--store", str(store_dir),
                          "-o", str(tmp_path / "rep")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "rep" / "report.html").read_text()
    assert (tmp_path / "rep" / "plotly.min.js").is_file()
    assert "cdn" not in html.lower() and 'src="http' not in html
    assert "bridge" in html
    s = stats.aggregate(res.rows())
    assert json.loads(s.to_json(orient="records"))


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["ctrl-c", "sigterm", "sighup"])
def test_a_signal_mid_run_removes_workloads_and_marks_the_run_interrupted(store_dir: Path, sig: int,
                                                                          code: int) -> None:
    """Ctrl-C, a kernel restart or `timeout` (SIGTERM) and a closed terminal (SIGHUP) end a run the same way."""
    proc = _bench_proc(store_dir, "--cells", "loopback,bridge", "--tests", "tcp-1", "--reps", "20", "--duration", "1")
    _wait_rows(store_dir, 2, proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, out
    assert "labkit clean" in out and "Traceback" not in out
    runs = bench.Store(store_dir).runs()
    assert list(runs["status"]) == ["interrupted"]
    _nothing_left(store_dir)


@pytest.mark.parametrize("when", ["while the cells are set up", "while measuring"])
def test_sigterm_during_an_ab_run_leaves_nothing_and_both_arms_interrupted(store_dir: Path, when: str) -> None:
    proc = _bench_proc(store_dir, "--ab", "--impair", "rate=2gbit", "--cells", "bridge", "--tests", "tcp-1",
                       "--reps", "20", "--duration", "1")
    if when == "while measuring":
        _wait_rows(store_dir, 2, proc)
    else:
        _wait_for_containers(store_dir, proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, out
    runs = bench.Store(store_dir).runs()
    assert set(runs["status"]) == {"interrupted"} and len(runs) == (2 if when == "while measuring" else len(runs))
    assert runs["error"].str.contains("SIGTERM").all()
    _nothing_left(store_dir)


def _wait_for_containers(store: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until the run's first container exists (its session id is in the run's meta)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metas = list((store / "runs").glob("*/meta.json")) if (store / "runs").exists() else []
        sessions = [json.loads(m.read_text()).get("session_id") for m in metas]
        if any(s and leftovers(s) for s in sessions):
            return
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.1)
    raise AssertionError("the run made no container in time")


def test_comparing_runs_from_another_host_class_warns(store_dir: Path) -> None:
    from labkit.bench import report

    a = bench.run("net", cells=["loopback"], tests=["tcp-1"], reps=2, duration_s=1, store=str(store_dir))
    b = bench.run("net", cells=["loopback"], tests=["tcp-1"], reps=2, duration_s=1, store=str(store_dir))
    meta_path = store_dir / "runs" / b.run_id / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["host_class"], meta["schema_version"] = "64c-512g-other", 0
    meta_path.write_text(json.dumps(meta))
    result, warnings = report.compare_runs(bench.Store(store_dir), a.run_id, b.run_id)
    assert any("host classes" in w for w in warnings) and any("schema version" in w for w in warnings)
    assert not result.empty  # warned, still compared, never silently
