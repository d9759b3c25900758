"""Chapter 05's engine tier without Docker: specs, configs, parts, exporter parsers (cgroup v1 and v2), PromQL frames,
verify checks against a scripted Prometheus, time-to-detect theory, the suites and the CLI's bad input."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit import cli
from labkit.bench.plan import catalog, plan
from labkit.bench.schema import METRICS
from labkit.components.monitoring import checks, configs, detect, parts, promql, verify
from labkit.components.monitoring.spec import RuleFile, ScrapeTarget, StackSpec, scrape_labels, seconds
from labkit.errors import BadInput, PortInUse

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "environments" / "images" / "monitoring" / "agents"


def agent(name: str) -> Any:
    """One of the in-container programs, imported from its file (they are not part of the labkit package)."""
    spec = importlib.util.spec_from_file_location(f"lk_agent_{name}", AGENTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- spec and configs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kw", "named"), [
    ({"scrape_interval": "1.5s"}, "1.5s"), ({"alert_for": "ten seconds"}, "ten seconds"), ({"name": "Lab"}, "Lab"),
    ({"name": "x" * 30}, "x" * 30), ({"parts": ("grafana",)}, "grafana"), ({"parts": ("blackbox",)}, "blackbox"),
    ({"scrape_interval": "5s", "scrape_timeout": "10s"}, "10s"), ({"ports": {"demo": 8000}}, "demo"),
    ({"ports": {"prometheus": 70000}}, "70000"), ({"token": "NOT-HEX"}, "NOT-HEX"),
])
def test_a_bad_stack_is_refused_naming_the_value(kw: dict[str, Any], named: str) -> None:
    with pytest.raises(BadInput) as info:
        StackSpec(**kw)
    assert named in str(info.value)


def test_the_identity_ignores_the_token_and_host_ports_but_not_the_intervals() -> None:
    a = StackSpec(name="lab", token="aaaa")
    assert a.identity == StackSpec(name="lab", token="bbbb", ports={"prometheus": 9091}).identity
    assert a.identity != StackSpec(name="lab", token="aaaa", scrape_interval="2s").identity
    assert a.identity != StackSpec(name="lab", token="aaaa", parts=("demo",)).identity
    assert len(StackSpec().token) == 12 and StackSpec().token != StackSpec().token


def test_prometheus_config_discovers_the_stack_by_label_and_maps_labels() -> None:
    spec = StackSpec(name="lab", token="abc123", extra_targets=(ScrapeTarget("mtail", "lk-x-mtail:3903"),),
                     extra_rules=(RuleFile("logs.yml", ({"name": "logs", "rules": [{"alert": "A", "expr": "1"}]},)),))
    cfg = configs.prometheus_config(spec)
    assert cfg["global"] == {"scrape_interval": "5s", "scrape_timeout": "5s", "evaluation_interval": "5s",
                             "external_labels": {"stack": "lab"}}
    assert cfg["rule_files"] == ["/etc/labkit/rules.yml", "/etc/labkit/logs.yml"]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert list(jobs) == ["prometheus", "docker", "blackbox", "mtail"]
    sd = jobs["docker"]["docker_sd_configs"][0]
    assert sd["host"] == "unix:///var/run/docker.sock" and sd["refresh_interval"] == "5s"
    assert {"name": "label", "values": ["io.labkit.stack=lab"]} in sd["filters"]
    relabel = jobs["docker"]["relabel_configs"]
    assert relabel[0] == {"source_labels": ["__meta_docker_network_name"], "regex": "lkmon-lab-net", "action": "keep"}
    assert {"action": "labelmap", "regex": "__meta_docker_container_label_io_labkit_label_(.+)"} in relabel
    assert any(r.get("target_label") == "docker_container" for r in relabel)  # not `container`: cAdvisor's label
    assert jobs["blackbox"]["static_configs"][0]["labels"] == {"labkit_run": "abc123"}
    assert jobs["mtail"]["static_configs"] == [{"targets": ["lk-x-mtail:3903"]}]
    files = configs.render(spec)
    assert set(files) == {"prometheus.yml", "rules.yml", "alertmanager.yml", "blackbox.yml", "logs.yml"}
    assert configs.render(spec) == files  # the same spec renders the same bytes


def test_the_alert_rule_survives_discovery_dropping_the_stopped_target() -> None:
    groups = configs.demo_rules(job="demo", token="t1", alert_for="10s")["groups"]
    (alert, probe, record) = groups[0]["rules"]
    assert alert["expr"] == 'absent(up{job="demo", labkit_run="t1"} == 1)'  # not `up == 0`: the target vanishes
    assert alert["labels"] == {"severity": "page", "job": "demo", "labkit_run": "t1"}  # absent() returns {}
    assert probe["expr"] == 'probe_success{job="blackbox", labkit_run="t1"} == 0'
    assert record["record"] == "container:cpu_usage:rate1m"
    am = configs.alertmanager_config(StackSpec(name="lab", group_wait="3s"))
    assert am["route"]["group_by"] == ["alertname", "labkit_run"] and am["route"]["group_wait"] == "3s"
    assert am["receivers"][0]["webhook_configs"] == [{"url": "http://lkmon-lab-receiver:9095/alert",
                                                      "send_resolved": True}]


@pytest.mark.parametrize(("kw", "fix"), [
    ({"job": "prometheus", "address": "a:1"}, "own jobs"), ({"job": "mtail", "address": "nohostport"}, "host:port")])
def test_extra_targets_and_rule_files_are_checked(kw: dict[str, str], fix: str) -> None:
    with pytest.raises(BadInput, match=fix):
        ScrapeTarget(**kw)
    with pytest.raises(BadInput, match="rules.yml"):
        RuleFile("rules.yml", ())
    with pytest.raises(BadInput, match="one path per job"):
        StackSpec(extra_targets=(ScrapeTarget("a", "x:1"), ScrapeTarget("a", "y:2", path="/m")))
    two = configs.prometheus_config(StackSpec(extra_targets=(ScrapeTarget("a", "x:1"), ScrapeTarget("a", "y:2"))))
    assert [j for j in two["scrape_configs"] if j["job_name"] == "a"] == [
        {"job_name": "a", "static_configs": [{"targets": ["x:1"]}, {"targets": ["y:2"]}]}]


def test_scrape_labels_are_what_docker_sd_keeps() -> None:
    labels = scrape_labels("lab", 3903, "mtail", path="/m", target_labels={"source": "logs"})
    assert labels == {"io.labkit.stack": "lab", "io.labkit.scrape": "true", "io.labkit.scrape.port": "3903",
                      "io.labkit.job": "mtail", "io.labkit.scrape.path": "/m", "io.labkit.label.source": "logs"}
    assert configs.sd_label("io.labkit.scrape.port") == "__meta_docker_container_label_io_labkit_scrape_port"


def test_durations() -> None:
    assert (seconds("500ms"), seconds("5s"), seconds("2m")) == (0.5, 5.0, 120.0)
    assert configs.duration(0.5) == "500ms" and configs.duration(10) == "10s"


# -- parts: least privilege and the socket ----------------------------------------------------------------------


def test_parts_run_unprivileged_and_only_two_see_the_socket() -> None:
    spec = StackSpec(name="lab", token="t")
    kws = {p: parts.container(spec, p, labels={}, host_port=0 if p in ("prometheus", "receiver") else None)
           for p in spec.all_parts}
    with_socket = {p for p, kw in kws.items() if any(m["bind"] == "/var/run/docker.sock" for m in
                                                    kw.get("volumes", {}).values())}
    assert with_socket == {"prometheus", "container-exporter"}
    for p in with_socket:
        assert [m["mode"] for m in kws[p]["volumes"].values() if m["bind"] == "/var/run/docker.sock"] == ["ro"]
    assert all(kw.get("user") not in (None, "root", "0") for kw in kws.values())
    for p in ("receiver", "demo", "container-exporter"):
        assert kws[p]["cap_drop"] == ["ALL"] and kws[p]["read_only"] is True
    assert kws["prometheus"]["ports"] == {"9090/tcp": ("127.0.0.1", None)}  # loopback only, any free port
    assert "--web.enable-lifecycle" in kws["prometheus"]["command"]
    assert kws["demo"]["labels"]["io.labkit.label.labkit_run"] == "t"
    assert kws["node-exporter"]["volumes"] == {"/": {"bind": "/host", "mode": "ro"}}  # no rslave (refused here)
    line = parts.docker_run_line(kws["prometheus"])
    assert line.startswith("docker run -d --name lkmon-lab-prometheus --network lkmon-lab-net --user prometheus")
    assert "-v /var/run/docker.sock:/var/run/docker.sock:ro" in line and "-p 127.0.0.1::9090" in line


def test_a_broken_scrape_config_is_only_a_wrong_port_label() -> None:
    spec = StackSpec(name="lab", token="t", demo_port_label=8001)
    kw = parts.container(spec, "demo", labels={})
    assert kw["labels"]["io.labkit.scrape.port"] == "8001" and kw["environment"]["PORT"] == "8000"


def test_a_taken_port_is_refused_before_anything_exists() -> None:
    spec = StackSpec(name="lab", ports={"prometheus": 9090, "receiver": 0})
    with pytest.raises(PortInUse) as info:
        checks.check_ports(spec, port_free=lambda port: port != 9090)
    assert info.value.port == 9090 and "port.prometheus" in (info.value.fix or "")
    checks.check_ports(spec, port_free=lambda port: True)


# -- labkit's own exporter: cgroup v1 and v2 ---------------------------------------------------------------------

CID = "c0ffee" + "0" * 58


def _files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


NET_DEV = ("Inter-|   Receive                                                |  Transmit\n"
           " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
           "carrier compressed\n"
           "    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0 "
           "      0          0\n"
           "  eth0:    5000      40    0    0    0     0          0         0     3000      30    0    0    0     0 "
           "      0          0\n")


def test_the_exporter_reads_cgroup_v2_files(tmp_path: Path) -> None:
    exporter = agent("exporter")
    cg, proc = tmp_path / "cgroup", tmp_path / "proc"
    d = f"system.slice/docker-{CID}.scope"
    _files(cg, {"cgroup.controllers": "cpu memory io\n",
                f"{d}/cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n",
                f"{d}/memory.current": "10485760\n", f"{d}/memory.max": "max\n",
                f"{d}/memory.stat": "anon 6291456\nfile 4194304\ninactive_file 1048576\n",
                f"{d}/io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
                f"{d}/cgroup.procs": "4242\n"})
    _files(proc, {"4242/net/dev": NET_DEV})
    _files(tmp_path / "sys", {"dev/block/8:0/uevent": "MAJOR=8\nMINOR=0\nDEVNAME=sda\n"})
    src = exporter.CgroupSource(cg, proc, exporter.DeviceNames(tmp_path / "sys"))
    assert src.version == 2
    st = src.read(exporter.ContainerRef(CID, "web", "img:1"))
    assert st.cgroup_path == f"/{d}"
    assert (st.cpu_usage_s, st.cpu_user_s, st.cpu_system_s) == (2.5, 2.0, 0.5)
    assert (st.mem_usage, st.mem_working_set, st.mem_rss, st.mem_cache) == (10485760, 9437184, 6291456, 4194304)
    assert st.mem_limit is None  # "max": no limit
    assert st.blkio == {"/dev/sda": exporter.BlkIo(4096, 8192, 1, 2)}
    assert list(st.net) == ["eth0"] and st.net["eth0"].rx_bytes == 5000 and st.net["eth0"].tx_packets == 30


def test_the_exporter_reads_cgroup_v1_files_and_names_metrics_like_cadvisor(tmp_path: Path) -> None:
    exporter = agent("exporter")
    cg, proc = tmp_path / "cgroup", tmp_path / "proc"
    _files(cg, {f"cpuacct/docker/{CID}/cpuacct.usage": "3000000000\n",
                f"cpuacct/docker/{CID}/cpuacct.usage_user": "2000000000\n",
                f"cpuacct/docker/{CID}/cpuacct.usage_sys": "1000000000\n",
                f"cpuacct/docker/{CID}/cgroup.procs": "77\n",
                f"memory/docker/{CID}/memory.usage_in_bytes": "2048\n",
                f"memory/docker/{CID}/memory.limit_in_bytes": "9223372036854771712\n",
                f"memory/docker/{CID}/memory.stat": "total_rss 1024\ntotal_cache 512\ntotal_inactive_file 256\n",
                f"blkio/docker/{CID}/blkio.throttle.io_service_bytes_recursive":
                    "8:0 Read 100\n8:0 Write 200\n8:0 Sync 0\nTotal 300\n",
                f"blkio/docker/{CID}/blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 2\nTotal 3\n"})
    _files(proc, {"77/net/dev": NET_DEV})
    src = exporter.CgroupSource(cg, proc, exporter.DeviceNames(tmp_path / "nosys"))
    assert src.version == 1
    ref = exporter.ContainerRef(CID, "web", "img:1")
    st = src.read(ref)
    assert st.cgroup_path == f"/docker/{CID}" and st.cpu_usage_s == 3.0 and st.mem_working_set == 1792
    assert st.mem_limit is None and st.blkio == {"8:0": exporter.BlkIo(100, 200, 1, 2)}
    fams = {f.name: f for f in exporter.families([(ref, st)])}
    assert {"container_cpu_usage_seconds", "container_memory_working_set_bytes", "container_network_receive_bytes",
            "container_fs_reads_bytes"} <= set(fams)  # prometheus-client strips _total from counter family names
    (cpu,) = fams["container_cpu_usage_seconds"].samples
    assert cpu.labels == {"id": f"/docker/{CID}", "name": "web", "image": "img:1", "container": "web", "cpu": "total"}
    with pytest.raises(exporter.SourceError, match="exited"):
        src.read(exporter.ContainerRef("f" * 64, "gone", "img"))


def test_the_receiver_journals_every_notification(tmp_path: Path) -> None:
    receiver = agent("receiver")
    journal = receiver.Journal(tmp_path / "d" / "alerts.jsonl")
    journal.append({"received_at": 1.5, "path": "/alert", "payload": {"status": "firing"}})
    assert journal.read() == [{"received_at": 1.5, "path": "/alert", "payload": {"status": "firing"}}]


# -- PromQL into DataFrames, checks against a scripted Prometheus -------------------------------------------------


def fake_prom(answers: dict[str, Any]) -> promql.PromClient:
    def transport(path: str, params: Any, timeout: float, method: str) -> bytes:
        key = path + ("?" + params["query"] if "query" in params else "") + (f"#{params['state']}" if "state" in
                                                                            params else "")
        value = answers.get(key, answers.get(path))
        if value is None:
            raise AssertionError(f"unscripted Prometheus call {key}")
        return json.dumps(value).encode()
    return promql.PromClient("fake", transport)


def ok(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    return ok({"resultType": "vector", "result": [{"metric": m, "value": [1764500000.5, v]} for m, v in series]})


def test_results_become_tidy_frames() -> None:
    df = promql.to_frame({"resultType": "matrix", "result": [
        {"metric": {"__name__": "up", "job": "a"}, "values": [[1764500000, "1"], [1764500001, "0"]]},
        {"metric": {"job": "b", "extra": "x"}, "values": [[1764500000, "1"]]}]})
    assert list(df.columns) == ["timestamp", "value", "__name__", "extra", "job"]
    assert df["value"].tolist() == [1.0, 0.0, 1.0] and df["extra"].tolist() == ["", "", "x"]
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert promql.to_frame({"resultType": "scalar", "result": [1764500000, "2"]})["value"].tolist() == [2.0]
    assert promql.to_frame({"resultType": "vector", "result": []}).empty


def test_prometheus_errors_carry_its_own_message() -> None:
    prom = fake_prom({"/api/v1/query": {"status": "error", "errorType": "bad_data",
                                        "error": "1:5: parse error: unexpected end of input"}})
    with pytest.raises(promql.PromError, match="bad_data: 1:5: parse error"):
        prom.query("up{")


def test_the_target_check_says_why_a_scrape_failed() -> None:
    down = {"labels": {"job": "demo", "labkit_run": "t"}, "health": "down", "scrapeUrl": "http://10.0.0.5:8001/metrics",
            "lastError": 'Get "http://10.0.0.5:8001/metrics": dial tcp 10.0.0.5:8001: connect: connection refused'}
    c = verify.target_check(fake_prom({"/api/v1/targets#active": ok({"activeTargets": [down]})}), "demo", "t")
    assert not c.ok and "connection refused" in c.why and "8001" in c.why
    none = fake_prom({"/api/v1/targets#active": ok({"activeTargets": []}),
                      "/api/v1/targets#dropped": ok({"droppedTargets": [{}, {}]})})
    c = verify.target_check(none, "demo", "t")
    assert not c.ok and "service discovery produced none (2 dropped" in c.why
    up = {**down, "health": "up", "lastError": ""}
    good = fake_prom({"/api/v1/targets#active": ok({"activeTargets": [up]}),
                      '/api/v1/query?up{job="demo", labkit_run="t"}': vector(({"job": "demo"}, "1"))})
    assert verify.target_check(good, "demo", "t").ok


def test_the_token_check_compares_the_apps_own_label() -> None:
    right = fake_prom({'/api/v1/query?labkit_demo_info{job="demo", token="t"}': vector(({"token": "t"}, "1"))})
    assert verify.token_check(right, "t").ok
    two = fake_prom({'/api/v1/query?labkit_demo_info{job="demo", token="t"}': vector(({"token": "t"}, "1"),
                                                                                   ({"token": "t"}, "1"))})
    assert not verify.token_check(two, "t").ok


def test_the_alert_must_be_firing_for_this_run_and_after_the_stop() -> None:
    def note(at: float, status: str, run: str) -> dict[str, Any]:
        return {"received_at": at, "payload": {"status": status, "alerts": [
            {"status": status, "labels": {"alertname": "DemoAppDown", "labkit_run": run}}]}}
    records = [note(5, "firing", "t"), note(20, "resolved", "t"), note(21, "firing", "other"), note(22, "firing", "t")]
    hit = verify.wait_for_alert(lambda: records, "DemoAppDown", "t", since=10, timeout=0)
    assert hit is not None and hit["received_at"] == 22
    assert verify.wait_for_alert(lambda: records[:3], "DemoAppDown", "t", since=10, timeout=0) is None


# -- time to detect ------------------------------------------------------------------------------------------------


def test_the_theory_is_the_sum_of_the_intervals() -> None:
    fast, default, slow = detect.SETTINGS["fast"], detect.SETTINGS["default"], detect.SETTINGS["slow"]
    assert detect.theory(fast) == {"theory_min_s": 0.0, "theory_mean_s": 2.0, "theory_max_s": 3.0,
                                   "theory_detect_mean_s": 2.0, "theory_for_s": 0.0, "theory_deliver_s": 0.0}
    assert (detect.theory(default)["theory_min_s"], detect.theory(default)["theory_mean_s"],
            detect.theory(default)["theory_max_s"]) == (10.0, 20.0, 25.0)
    assert detect.theory(slow)["theory_max_s"] == 55.0
    assert detect.theory(default, fail_s=0)["theory_mean_s"] == 15.0  # "connection refused": no timeout to wait
    assert detect.parse_time("2026-11-30T10:00:01.123456789Z") == pytest.approx(1796032801.123456)


# -- suites, metrics, CLI ------------------------------------------------------------------------------------------


def test_the_suites_offer_engine_cells_and_refuse_other_targets() -> None:
    assert list(catalog("monitoring")) == ["ttd-fast", "ttd-default", "ttd-slow"]
    cost = catalog("monitoring-cost")
    assert cost["load-100k"].baseline == "load-25k" and cost["s10k-1s"].baseline == "s1k-1s"
    assert cost["exp-labkit"].baseline == "exp-node" and cost["s1k-5s"].baseline is None
    p = plan("monitoring", cells=["ttd-fast"], reps=2)
    assert [t.name for t in p.tests] == ["app-down"] and p.cells[0].config["theory_max_s"] == 3.0
    assert [t.duration_s for t in plan("monitoring-cost", cells=["s1k-1s"], reps=2, duration_s=5).tests] == [5]
    with pytest.raises(BadInput, match="app-down, probe"):
        plan("monitoring", tests=["fast"])
    from labkit.errors import Unavailable

    with pytest.raises(Unavailable, match="engine"):
        catalog("monitoring", "kind")
    assert {"ttd_total_s", "block_bytes_per_sample", "exporter_cpu_ms_per_scrape", "lagging"} <= set(METRICS)


@pytest.mark.parametrize(("argv", "named"), [
    (["monitoring", "up", "--option", "scrape_interval=fast"], "fast"),
    (["monitoring", "up", "--option", "nope=1"], "nope"),
    (["monitoring", "up", "--option", "port.demo=80"], "port.demo"),
    (["monitoring", "up", "--option", "noequals"], "noequals"),
    (["monitoring", "up", "--name", "Bad_Name"], "Bad_Name"),
    (["up", "--monitoring", "prometheus", "--plan"], "--monitoring"),
    (["up", "--monitoring", "kube-prometheus-stack@80.0.0", "--plan"], "80.0.0"),
])
def test_bad_monitoring_input_is_one_clear_error(argv: list[str], named: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # nothing may be made
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code in (1, 2) and named in err and "Traceback" not in err, err


def test_values_yaml_is_data_the_chart_reads() -> None:
    values = yaml.safe_load((ROOT / "environments/monitoring/kube-prometheus-stack/values.yaml").read_text())
    assert values["prometheus-node-exporter"]["hostRootFsMount"]["enabled"] is False
    assert values["alertmanager"]["config"]["route"]["receiver"] == "null"  # a string, not YAML null


def test_every_public_name_resolves() -> None:
    from labkit import monitoring

    missing = [n for n in monitoring._EXPORTS if not hasattr(monitoring, n)]
    assert missing == []
    assert monitoring.COMPONENT.engine_up is not None and monitoring.COMPONENT.live_on == "engine, kind"
