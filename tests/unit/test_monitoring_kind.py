"""Chapter 05's kind tier offline: the plans labkit up composes, every step's source at the pinned tags, strict
schemas for every manifest, values with their sources, and the PromQL path through the API server proxy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from labkit.components import up
from labkit.components.base import pin
from labkit.components.monitoring import configs, kind, kind_objects
from labkit.errors import BadInput, Unavailable
from labkit.manifests import to_yaml
from labkit.steps import Plan
from labkit.targets.kube import KubeTarget
from labkit.versions import pins
from tests.fakes import ScriptedRunner

ROOT = Path(__file__).resolve().parents[2]
KPS_DIR = ROOT / "environments" / "monitoring" / "kube-prometheus-stack"
K8S_VERSIONS = ("1.34.0", "1.35.0", "1.36.0", "1.37.0")
TOKEN = "0123456789ab"


def target() -> KubeTarget:
    return KubeTarget.for_kind("labkit-mon")


def all_plans() -> list[Plan]:
    opt = kind.option("kube-prometheus-stack")
    cfg = up.cluster_config(monitoring="kube-prometheus-stack", name="labkit-mon")
    return [*opt.before_create(cfg), opt.install(target(), cfg), opt.verify(target(), image="x", token=TOKEN),
            opt.uninstall(target())]


def allowed_tags() -> list[str]:
    p = pin("monitoring", "kube-prometheus-stack")
    tags = [f"kube-prometheus-stack-{p['version']}", *[f"{c}-{v}" for c, v in p["subcharts"].items()],
            p["operator_source_tag"], *[f"v{v.lstrip('v')}" for v in p["images"].values()],
            f"v{pins()['components']['monitoring']['engine']['prometheus'].split('+')[0]}"]
    kind_sources = " ".join(str(v) for v in pins()["tools"]["kind"]["node_images"]["1.36"]["sources"])
    tags += re.findall(r"/blob/(v[0-9.]+)/", kind_sources)  # the kind tag the project's own kind facts cite
    return tags


def test_labkit_up_picks_the_monitoring_kubeadm_patches() -> None:
    cfg = up.cluster_config(monitoring="kube-prometheus-stack")
    assert cfg.metrics_bind_all is True
    text = cfg.to_yaml()
    assert "bind-address" in text and "http://0.0.0.0:2381" in text and "0.0.0.0:10249" in text
    script = up.up_script(monitoring="kube-prometheus-stack", workers=1)
    parts = [p.part for p in script.plans]
    assert parts[0] == "monitoring" and parts[-2:] == ["monitoring", "monitoring"]  # build first; install, verify last
    with pytest.raises(BadInput, match="metrics_bind_all"):
        kind.option("kube-prometheus-stack").check_config(up.cluster_config())


def test_unknown_or_unpinned_options_are_refused() -> None:
    with pytest.raises(BadInput, match="kube-prometheus-stack"):
        kind.option("prometheus")
    with pytest.raises(BadInput, match="88.5.3"):
        kind.OPTIONS.get("kube-prometheus-stack", "80.0.0")
    with pytest.raises(Unavailable, match="not pinned"):
        kind.option("victoria-metrics-k8s-stack")
    assert list(kind.options_table()["option"]) == ["kube-prometheus-stack", "victoria-metrics-k8s-stack"]


def test_low_inotify_limits_are_refused_with_the_sysctls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "max_user_watches").write_text("8192\n")
    (tmp_path / "max_user_instances").write_text("128\n")
    limits = kind.inotify_limits(tmp_path)
    assert limits == {"max_user_watches": 8192, "max_user_instances": 128}
    monkeypatch.setattr(kind, "inotify_limits", lambda: limits)
    with pytest.raises(Unavailable) as info:
        kind.option("kube-prometheus-stack").check_host()
    assert "sudo sysctl fs.inotify.max_user_watches=524288" in (info.value.fix or "")
    monkeypatch.setattr(kind, "inotify_limits", lambda: {"max_user_watches": 524288, "max_user_instances": 8192})
    kind.option("kube-prometheus-stack").check_host()


def test_every_step_cites_its_source_at_the_pinned_version() -> None:
    tags = allowed_tags()
    for plan in all_plans():
        for step in plan.steps:
            assert step.source, f"{plan.title} / {step.title}: no source"
            if step.source.startswith("labkit:"):
                assert len(step.source) > len("labkit: ") + 10, step.source  # says why it is labkit's own
                continue
            assert step.source.startswith("https://github.com/") and "/blob/" in step.source, step.source
            tag = step.source.split("/blob/", 1)[1].split("/", 1)[0]
            assert tag in tags, f"{step.title}: {step.source} cites {tag}, not a pinned version ({tags})"


def test_the_install_waits_for_what_the_operator_creates() -> None:
    opt = kind.option("kube-prometheus-stack")
    plan = opt.install(target(), up.cluster_config(monitoring="kube-prometheus-stack", name="labkit-mon"))
    helm = plan.steps[0].cmd.argv
    assert helm[:8] == ("helm", "upgrade", "--install", "kps",
                        "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack", "--version", "88.5.3",
                        "--namespace")
    assert yaml.safe_load(plan.steps[0].cmd.stdin or "") == opt.helm_values()
    argv = [" ".join(s.cmd.argv) for s in plan.steps]
    i_create = next(i for i, a in enumerate(argv) if "--for=create statefulset/prometheus-kps-kube-prometheus-stack"
                    "-prometheus" in a)
    assert "rollout status -n monitoring statefulset/prometheus-kps-kube-prometheus-stack-prometheus" \
        in argv[i_create + 1]
    assert any("statefulset/alertmanager-kps-kube-prometheus-stack-alertmanager" in a for a in argv)


def test_the_verify_compares_values_and_runs_the_same_rules_as_the_engine() -> None:
    plan = kind.option("kube-prometheus-stack").verify(target(), image="x", token=TOKEN)
    checks = [s for s in plan.steps if s.retries > 1 or s.expect]
    assert len(checks) >= 6 and all(s.expect_match for s in checks)
    promtool = next(s for s in plan.steps if "promtool" in s.cmd.argv)
    engine_rules = configs.demo_rules(job="labkit-demo", token=TOKEN, alert_for=kind_objects.ALERT_FOR, probe=False)
    assert yaml.safe_load(promtool.cmd.stdin or "") == engine_rules
    up_step = next(s for s in plan.steps if s.title.startswith("The demo target is up"))
    raw = up_step.cmd.argv[up_step.cmd.argv.index("--raw") + 1]
    assert raw.startswith("/api/v1/namespaces/monitoring/services/kps-kube-prometheus-stack-prometheus:http-web/proxy"
                          "/api/v1/query?query=up%7Bjob%3D%22labkit-demo%22")
    assert re.search(up_step.expect_match or "", '{"value":[1764500000.1,"1"]}')
    assert not re.search(up_step.expect_match or "", '{"value":[1764500000.1,"0"]}')
    alert = next(s for s in plan.steps if s.title.startswith("The receiver records"))
    received = json.dumps([{"payload": {"status": "firing", "alerts": [{"labels": {
        "alertname": "DemoAppDown", "job": "labkit-demo", "labkit_run": TOKEN, "severity": "page"}}]}}])
    assert re.search(alert.expect_match or "", received)
    assert not re.search(alert.expect_match or "", received.replace(TOKEN, "another"))
    assert plan.steps[0].cmd.argv[:3] == ("kind", "load", "docker-image")


def test_the_uninstall_names_what_helm_leaves_behind() -> None:
    argv = [" ".join(s.cmd.argv) for s in kind.option("kube-prometheus-stack").uninstall(target()).steps]
    assert any("helm uninstall kps --namespace monitoring --ignore-not-found" in a for a in argv)
    assert any("service --namespace kube-system kps-kube-prometheus-stack-kubelet" in a for a in argv)
    assert any("delete crd" in a and "servicemonitors.monitoring.coreos.com" in a for a in argv)
    elsewhere = kind.option("kube-prometheus-stack").uninstall(KubeTarget("x", "/tmp/kc", "x"))
    assert not any("crd" in s.cmd.argv for s in elsewhere.steps)  # never on a shared cluster by default


def _schema(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((KPS_DIR / "schemas" / name).read_text()))


@pytest.mark.parametrize("broken", [False, True])
def test_every_manifest_is_valid_under_a_strict_schema(broken: bool) -> None:
    objs = kind_objects.kind_manifests(token=TOKEN, broken=broken)
    custom = {"ServiceMonitor": _schema("servicemonitor-v1.subset.yaml"),
              "PrometheusRule": _schema("prometheusrule-v1.subset.yaml")}
    for obj in objs:
        assert obj["metadata"].get("labels", {}).get("io.labkit.managed") == "true"
        if obj["kind"] in custom:
            jsonschema.Draft4Validator(custom[obj["kind"]]).validate(obj)
            continue
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    assert sorted(o["kind"] for o in objs) == ["ConfigMap", "Deployment", "Deployment", "Namespace", "PrometheusRule",
                                              "Service", "Service", "ServiceMonitor"]


def test_the_subset_schemas_reject_what_the_crds_reject() -> None:
    sm = next(o for o in kind_objects.kind_manifests(token=TOKEN) if o["kind"] == "ServiceMonitor")
    validator = jsonschema.Draft4Validator(_schema("servicemonitor-v1.subset.yaml"))
    bad = json.loads(json.dumps(sm))
    del bad["spec"]["selector"]
    assert any("'selector' is a required property" in e.message for e in validator.iter_errors(bad))
    bad = json.loads(json.dumps(sm))
    bad["spec"]["endpoints"][0]["interval"] = "5 s"
    assert list(validator.iter_errors(bad))
    rule = next(o for o in kind_objects.kind_manifests(token=TOKEN) if o["kind"] == "PrometheusRule")
    bad = json.loads(json.dumps(rule))
    del bad["spec"]["groups"][0]["rules"][0]["expr"]
    errors = [e.message for e in jsonschema.Draft4Validator(_schema("prometheusrule-v1.subset.yaml")).iter_errors(bad)]
    assert "'expr' is a required property" in errors


def test_the_broken_variant_differs_only_in_the_scrape_port() -> None:
    good, bad = kind_objects.kind_manifests(token=TOKEN), kind_objects.kind_manifests(token=TOKEN, broken=True)
    diffs = [(g["kind"], g["spec"]["endpoints"]) for g, b in zip(good, bad, strict=True) if g != b]
    assert diffs == [("ServiceMonitor", [{"port": "metrics", "path": "/metrics", "interval": "5s"}])]


def test_the_demo_carries_the_token_and_the_dashboard_is_provisioned_by_label() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in kind_objects.kind_manifests(token=TOKEN)}
    svc = objs[("Service", "labkit-demo")]
    sm = objs[("ServiceMonitor", "labkit-demo")]
    assert svc["metadata"]["labels"]["labkit_run"] == TOKEN and sm["spec"]["targetLabels"] == ["labkit_run"]
    assert sm["metadata"]["labels"]["release"] == "kps"  # also picked up by a stack installed with defaults
    cm = objs[("ConfigMap", "labkit-demo-dashboard")]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(cm["data"]["labkit-demo.json"])
    assert board["uid"] == "labkit-demo" and all(p["datasource"]["uid"] == "prometheus" for p in board["panels"])
    demo = objs[("Deployment", "labkit-demo")]["spec"]["template"]["spec"]["containers"][0]
    assert demo["securityContext"]["runAsNonRoot"] and {"name": "LABKIT_RUN_TOKEN", "value": TOKEN} in demo["env"]


def test_every_value_is_sourced_at_the_chart_tag_with_its_default() -> None:
    values = yaml.safe_load((KPS_DIR / "values.yaml").read_text())
    sources = yaml.safe_load((KPS_DIR / "values.sources.yaml").read_text())

    def leaves(d: dict[str, Any], pre: str = "") -> list[str]:
        out = []
        for k, v in d.items():
            key = f"{pre}{k}"
            out += leaves(v, key + ".") if isinstance(v, dict) and key not in sources else [key]
        return out

    assert sorted(leaves(values)) == sorted(sources)
    tags = allowed_tags()
    for key, entry in sources.items():
        assert set(entry) == {"source", "default", "why"} and entry["why"], key
        tag = entry["source"].split("/blob/", 1)[1].split("/", 1)[0]
        assert tag in tags and re.search(r"values\.yaml#L\d+$", entry["source"]), (key, entry["source"])


def test_promql_reaches_any_cluster_through_the_api_server_proxy() -> None:
    answer = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"job": "labkit-demo", "labkit_run": TOKEN}, "value": [1764500000.0, "1"]}]}})
    runner = ScriptedRunner({("get", "--raw"): answer})
    prom = kind_objects.PromClient.through_api_server(target(), "monitoring",
                                                      "kps-kube-prometheus-stack-prometheus:http-web", runner=runner)
    df = prom.query(f'up{{labkit_run="{TOKEN}"}}')
    assert df["value"].tolist() == [1.0] and df["labkit_run"].tolist() == [TOKEN]
    (call,) = runner.calls
    assert call.argv[:3] == ["kubectl", "--kubeconfig", target().kubeconfig]
    assert call.argv[-1].startswith("/api/v1/namespaces/monitoring/services/kps-kube-prometheus-stack-prometheus:"
                                    "http-web/proxy/api/v1/query?query=up%7Blabkit_run")
    where = kind_objects.cluster_prom(target()).where
    assert where.endswith("monitoring/kps-kube-prometheus-stack-prometheus:http-web")


def test_grafana_is_reached_through_a_port_forward() -> None:
    lines = kind.option("kube-prometheus-stack").grafana_access(target())
    assert "port-forward svc/kps-grafana 3000:80" in lines[0] and "admin-password" in lines[1]
    assert to_yaml(kind_objects.kind_manifests(token=TOKEN)).count("kind: ") == 8
