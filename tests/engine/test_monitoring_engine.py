"""Chapter 05 on the real engine: the stack up and verified (the alert really fires), a broken scrape config failing
the verify with Prometheus's reason, time to detect through the harness with Prometheus killed mid-run, the
faults refused before anything exists, the CLI's detached stack, and nothing left behind by session."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit import bench, docker
from labkit.components.monitoring import cli, detect
from labkit.components.monitoring.checks import PromtoolRejected, StackConflict
from labkit.components.monitoring.engine import EngineStack, stack_containers
from labkit.components.monitoring.spec import RuleFile, ScrapeTarget, StackSpec, scrape_labels
from labkit.components.monitoring.verify import VerifyFailed, verify_stack, wait_for_alert
from labkit.errors import PortInUse
from tests.fakes import leftovers, sdk_client

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]
FAST = {"scrape_interval": "1s", "evaluation_interval": "1s", "alert_for": "0s", "group_wait": "0s",
        "sd_refresh": "1s"}


def unique(prefix: str) -> str:
    return f"{prefix}-{docker.new_session_id()[:6]}"


@pytest.fixture(scope="module")
def stack() -> Iterator[EngineStack]:
    """One stack for the module: every part, plus an extra static target and rule file (chapter 06's way in)."""
    name = unique("t")
    extra = RuleFile("extra.yml", ({"name": "extra", "rules": [
        {"alert": "ExtraTargetSeen", "expr": 'up{job="static-demo"} == 1', "labels": {"labkit_run": "extra1"}}]},))
    spec = StackSpec(name=name, **FAST, extra_targets=(ScrapeTarget("static-demo", f"lkmon-{name}-demo:8000"),),
                     extra_rules=(extra,))
    with EngineStack(spec) as st:
        yield st
    assert leftovers(st.session) == []


def test_the_stack_verifies_and_the_alert_really_fires(stack: EngineStack) -> None:
    checks = verify_stack(stack, alert=True)
    assert [c.name for c in checks] == ["target", "token", "frame", "alert"] and all(c.ok for c in checks)
    assert f"labkit_run={stack.spec.token}" in checks[-1].observed
    with urllib.request.urlopen(stack.prometheus_url + "/", timeout=10) as resp:  # classic UI of 2.53
        assert resp.url.endswith("/classic/graph") and b"Prometheus" in resp.read()


def test_labkits_exporter_reads_this_hosts_cgroups_with_cadvisor_names(stack: EngineStack) -> None:
    prom = stack.prom
    info = prom.query("labkit_container_exporter_info")
    assert len(info) == 1 and info["cgroup_version"].iloc[0] in ("1", "2")
    cpu = prom.query('container_cpu_usage_seconds_total{cpu="total"}')
    assert stack.spec.host("prometheus") in set(cpu["container"]) and (cpu["value"] > 0).all()
    mem = prom.query(f'container_memory_working_set_bytes{{container="{stack.spec.host("prometheus")}"}}')
    assert 10e6 < float(mem["value"].iloc[0]) < 2e9


def test_extra_targets_rule_files_and_labelled_containers_are_monitored_too(stack: EngineStack) -> None:
    """What chapter 06 uses: its exporter as a static target or a labelled container on the stack's network, and its
    own rule file, checked by promtool and evaluated, its alert delivered to the receiver."""
    hit = wait_for_alert(stack.received, "ExtraTargetSeen", "extra1", since=0, timeout=60)
    assert hit is not None and hit["alert"]["labels"]["job"] == "static-demo"
    with docker.Scope() as scope:
        scope.container(_py_image(), name=f"lk-{scope.session}-foreign",
                        command=["python3", "/opt/labkit/demo_app.py"], role="monitoring-test", network=stack.network,
                        labels=scrape_labels(stack.spec.name, 8000, "foreign"), user="65534:65534")
        deadline = time.time() + 60
        while time.time() < deadline and not stack.prom.value('up{job="foreign"} == 1'):
            time.sleep(0.5)
        assert stack.prom.value('up{job="foreign"} == 1') == 1.0


def _py_image() -> str:
    from labkit.components.monitoring import images

    return images.ref("monitoring-py")


def test_the_same_stack_is_reused_and_another_config_refused(stack: EngineStack) -> None:
    again = EngineStack(stack.spec.with_token("ffff"))
    with again:
        assert again.reused and again.spec.token == stack.spec.token and not again.owned
    assert all(c.status == "running" for c in stack_containers(stack.spec.name))  # the reuse removed nothing
    other = EngineStack(StackSpec(name=stack.spec.name, scrape_interval="2s"))
    with pytest.raises(StackConflict, match="another config"), other:
        pass
    assert len(stack_containers(stack.spec.name)) == len(stack.spec.all_parts)


def test_a_rule_promtool_rejects_is_refused_before_anything_exists() -> None:
    bad = RuleFile("bad.yml", ({"name": "bad", "rules": [{"alert": "Broken", "expr": "up == (0"}]},))
    st = EngineStack(StackSpec(name=unique("bad"), parts=(), extra_rules=(bad,)))
    with pytest.raises(PromtoolRejected) as info, st:
        pass
    assert "unclosed left parenthesis" in info.value.message and "bad.yml" in info.value.message
    assert leftovers(st.session) == [] and stack_containers(st.spec.name) == []


def test_a_taken_port_is_refused_before_anything_exists() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        st = EngineStack(StackSpec(name=unique("port"), parts=(), ports={"prometheus": port}))
        with pytest.raises(PortInUse) as info, st:
            pass
    assert info.value.port == port and leftovers(st.session) == []


def test_a_broken_scrape_config_fails_the_verify_and_says_why() -> None:
    spec = StackSpec(name=unique("broken"), parts=("demo",), demo_port_label=8001, **FAST)
    with EngineStack(spec) as st, pytest.raises(VerifyFailed) as info:
        verify_stack(st, alert=False, settle=20)
    text = info.value.message
    assert "target: expected health up" in text and ":8001/metrics" in text
    assert "connection refused" in text
    assert leftovers(st.session) == []


def test_time_to_detect_with_prometheus_killed_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ttd-fast, 2 repetitions; Prometheus is killed during the first: that repetition fails with the reason, the
    stack is rebuilt, the second succeeds, and nothing is left."""
    real = detect.one_detection
    calls = {"n": 0}

    def killing(stack: EngineStack, setting: Any, test: str) -> dict[str, float]:
        calls["n"] += 1
        if calls["n"] == 2:  # 1: the harness's warm-up, 2: repetition 1
            sdk_client().containers.get(stack.spec.host("prometheus")).kill()
        return real(stack, setting, test)

    monkeypatch.setattr(detect, "one_detection", killing)
    run = bench.run("monitoring", cells=["ttd-fast"], reps=2, store=str(tmp_path / "store"))
    rows = run.rows()
    by_rep = {rep: g for rep, g in rows.groupby("repetition")}
    assert set(by_rep[1]["status"]) == {"ok"}
    failed = by_rep[0]
    assert set(failed["status"]) == {"failed"} and "prometheus" in failed["error"].iloc[0]
    assert "not running" in failed["error"].iloc[0]
    ok = rows[(rows["status"] == "ok") & (rows["metric"] == "ttd_total_s")]["value"]
    theory = detect.theory(detect.SETTINGS["fast"])
    assert ((ok > 0) & (ok < theory["theory_max_s"] + 10)).all()
    assert leftovers(run.meta()["session_id"]) == []


def test_the_cli_stack_is_detached_reused_and_removed() -> None:
    name = unique("cli")
    ports = {f"port.{p}": "0" for p in ("prometheus", "alertmanager", "receiver")}
    opts = {"parts": "demo", "verify": "false", **ports, **FAST}
    try:
        assert "started" in cli.up(name, opts)
        boxes = stack_containers(name)
        assert boxes and all(docker.OWNER not in b.labels for b in boxes)  # the reaper leaves a detached stack alone
        assert "reused" in cli.up(name, opts)
        assert "prometheus" in cli.status(name, {})
    finally:
        assert "removed" in cli.down(name, {})
    assert stack_containers(name) == [] and "no monitoring stack" in cli.status(name, {})


def test_sigterm_removes_an_attached_stack() -> None:
    """A notebook kernel restart or CI's timeout sends SIGTERM: the stack goes, as on Ctrl-C."""
    name = unique("sig")
    code = ("import time\nfrom labkit.signals import terminating\n"
            "from labkit.components.monitoring import EngineStack, StackSpec\n"
            f"with terminating(), EngineStack(StackSpec(name={name!r}, parts=())):\n"
            "    print('up', flush=True)\n    time.sleep(300)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.time() + 180
        while time.time() < deadline and (proc.stdout.readline().strip() != "up"):
            pass
        assert len(stack_containers(name)) == 3
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert stack_containers(name) == [] and not docker.networks_named(f"lkmon-{name}-net")
