"""What labkit applies to a cluster for the monitoring verify, and the verify itself as a plan of steps.

Namespace ``labkit-monitoring``: labkit's demo app (a Deployment + Service carrying the run's token as label
``labkit_run``), its webhook receiver, a ServiceMonitor (``release: kps``; ``targetLabels`` copies
``labkit_run`` onto the target), a PrometheusRule with the same rule groups as the engine tier, and one
Grafana dashboard as a ConfigMap the Grafana sidecar loads. The verify asks Prometheus through the API
server's service proxy (``kubectl get --raw``), the same path :meth:`PromClient.through_api_server` takes
from Python, so it runs on any cluster you may proxy to (``labkit.connect()``).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from labkit._run import Cmd
from labkit.components.kube import rollout_step
from labkit.components.monitoring import images
from labkit.components.monitoring.configs import DEMO_ALERT, RUN_LABEL, demo_rules
from labkit.components.monitoring.kind import KIND_DOCS, KPS, names
from labkit.components.monitoring.promql import PromClient
from labkit.components.monitoring.spec import new_token
from labkit.steps import Plan, Step
from labkit.targets.kube import KubeTarget

NAMESPACE = "labkit-monitoring"
DEMO, RECEIVER = "labkit-demo", "labkit-alert-receiver"
MANAGED = {"io.labkit.managed": "true", "io.labkit.role": "monitoring-verify"}
PROM_API = "https://github.com/prometheus/prometheus/blob/v3.14.0/docs/querying/api.md"
GRAFANA_SIDECAR = "https://github.com/grafana-community/helm-charts/blob/grafana-12.11.1/charts/grafana/README.md#L198-L221"
PROMTOOL = "https://github.com/prometheus/prometheus/blob/v2.53.3/docs/command-line/promtool.md"
ALERT_FOR = "10s"


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": {**MANAGED, **labels}}


def _container(name: str, image: str, command: list[str], port: int, env: dict[str, str] | None = None,
               probe: str = "/healthz") -> dict[str, Any]:
    box: dict[str, Any] = {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent", "command": command,
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"httpGet": {"path": probe, "port": port}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}}
    if env:
        box["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return box


def _deployment(name: str, box: dict[str, Any], volumes: list[dict[str, Any]] | None = None,
                **labels: str) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [box]}
    if volumes:
        pod["volumes"] = volumes
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, app=name, **labels),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {**MANAGED, "app": name, **labels}}, "spec": pod}}}


def _service(name: str, port_name: str, port: int, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, app=name, **labels),
            "spec": {"selector": {"app": name}, "ports": [{"name": port_name, "port": port, "targetPort": port}]}}


def dashboard() -> dict[str, Any]:
    """One Grafana dashboard (the kps datasource has uid ``prometheus``): the panels the notebook draws."""
    ds = {"type": "prometheus", "uid": "prometheus"}

    def panel(i: int, title: str, expr: str) -> dict[str, Any]:
        return {"id": i + 1, "type": "timeseries", "title": title, "datasource": ds,
                "targets": [{"refId": "A", "expr": expr, "legendFormat": "{{" + RUN_LABEL + "}}"}],
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}}

    return {"uid": "labkit-demo", "title": "labkit demo", "schemaVersion": 39, "time": {"from": "now-15m", "to": "now"},
            "panels": [panel(0, "demo target up", f'up{{job="{DEMO}"}}'),
                       panel(1, "demo work per second", "rate(labkit_demo_work_total[1m])"),
                       panel(2, "CPU per container (recording rule)", "container:cpu_usage:rate1m"),
                       panel(3, "alerts firing", 'ALERTS{alertstate="firing"}')]}


def kind_manifests(*, token: str, image: str | None = None, broken: bool = False,
              release: str = "kps") -> list[dict[str, Any]]:
    """Everything the verify applies; ``broken``: the ServiceMonitor names a port the Service lacks."""
    image = image or images.ref("monitoring-py")
    demo = _container("demo", image, ["python3", "/opt/labkit/demo_app.py"], 8000,
                      env={"LABKIT_RUN_TOKEN": token, "PORT": "8000"}, probe="/")
    receiver = _container("receiver", image, ["python3", "/opt/labkit/receiver.py", "--port", "9095", "--out",
                                              "/data/alerts.jsonl"], 9095)
    receiver["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    rules = demo_rules(job=DEMO, token=token, alert_for=ALERT_FOR, probe=False)
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(MANAGED)}},
        _deployment(RECEIVER, receiver, [{"name": "data", "emptyDir": {"sizeLimit": "16Mi"}}]),
        _service(RECEIVER, "http", 9095),
        _deployment(DEMO, demo, **{RUN_LABEL: token}),
        _service(DEMO, "metrics", 8000, **{RUN_LABEL: token}),
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": _meta(DEMO, release=release),
         "spec": {"selector": {"matchLabels": {"app": DEMO}}, "targetLabels": [RUN_LABEL],
                  "endpoints": [{"port": "nope" if broken else "metrics", "path": "/metrics", "interval": "5s"}]}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": _meta(DEMO, release=release),
         "spec": {"groups": rules["groups"]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("labkit-demo-dashboard", grafana_dashboard="1"),
         "data": {"labkit-demo.json": json.dumps(dashboard(), separators=(",", ":"))}},
    ]


def image_plan() -> Plan:
    """Build labkit's Python image (demo app, receiver) before the cluster exists; skipped when present."""
    cmd = images.build_cmd("monitoring-py")
    return Plan(f"Build {images.ref('monitoring-py')} (labkit's demo app and webhook receiver)").add(
        Step("Build the image from the local base image", cmd, check=Cmd(("docker", "image", "inspect",
                                                                          images.ref("monitoring-py"))),
             why="the verify's demo app and receiver; kind nodes get it with `kind load` (no registry needed)",
             timeout=1200, source="labkit: its own image (environments/images/monitoring/Dockerfile)"))


def _raw(path: str, **query: str) -> str:
    return path + ("?" + urllib.parse.urlencode(query) if query else "")


def verify_plan(target: KubeTarget, *, token: str | None = None, load: bool = True, broken: bool = False,
                release: str = "kps", namespace: str = "monitoring", retries: int = 40) -> Plan:
    """Apply the verify objects, then prove: target up with the token, the token in the app's own metric,
    a range of samples, the alert at the receiver after the app is scaled to 0; and the dashboard loaded."""
    from labkit.manifests import to_yaml

    token = token or new_token()
    k, n = target.kubectl, names(release)
    prom = f"/api/v1/namespaces/{namespace}/services/{n['prometheus_svc']}:http-web/proxy"
    recv = f"/api/v1/namespaces/{NAMESPACE}/services/{RECEIVER}:9095/proxy"
    objs = kind_manifests(token=token, broken=broken, release=release)
    rule_groups = to_yaml({"groups": objs[6]["spec"]["groups"]})
    sel = f'job="{DEMO}", {RUN_LABEL}="{token}"'

    def query(title: str, expr: str, match: str, why: str, **kw: Any) -> Step:
        return Step(title, Cmd(k("get", "--raw", _raw(f"{prom}/api/v1/query", query=expr))), why=why,
                    expect=f"Prometheus answers {match}", expect_match=match, retries=retries, retry_delay=5,
                    timeout=30, source=f"{PROM_API}#L160", **kw)

    plan = Plan(f"Verify monitoring on {target.name}: run token {token}")
    if load and target.kind_cluster:
        plan.add(Step("Load labkit's Python image into the kind nodes",
                      Cmd((target.kind, "load", "docker-image", images.ref("monitoring-py"), "--name",
                           target.kind_cluster)),
                      timeout=300, source=f"{KIND_DOCS}/quick-start.md#L233-L248"))
    plan.add(
        Step("Check the rule groups with promtool before applying them", Cmd(
            ("docker", "run", "--rm", "-i", "--network", "none", "--label", "io.labkit.managed=true",
             "--entrypoint", "promtool", images.ref("monitoring-prometheus"), "check", "rules"), stdin=rule_groups),
             why="the operator's admission webhook would reject bad PromQL, but its failurePolicy renders as Ignore",
             expect="SUCCESS", expect_match=r"SUCCESS: \d+ rules found", source=PROMTOOL),
        Step("Apply the demo app, the receiver, the ServiceMonitor, the PrometheusRule and the dashboard",
             Cmd(k("apply", "-f", "-"), stdin=to_yaml(objs)),
             source=f"{KPS}/charts/crds/crds/crd-servicemonitors.yaml"),
        rollout_step(target, NAMESPACE, f"deployment/{RECEIVER}", 300, "Wait for the receiver",
                     source="labkit: its own webhook receiver, which records each alert it gets"),
        rollout_step(target, NAMESPACE, f"deployment/{DEMO}", 300, "Wait for the demo app",
                     source="labkit: its own demo app (notebooks' PromQL target; not an upstream object)"),
        query("The demo target is up, with the run's token as a target label", f"up{{{sel}}}",
              r'"value":\[[0-9.]+,"1"\]', "the ServiceMonitor selected the Service, the operator wrote the scrape "
              "config, Prometheus scraped it",
              diagnose=(Cmd(k("get", "--raw", _raw(f"{prom}/api/v1/targets", state="active"))),)),
        query("The app's own metric carries the token", f'labkit_demo_info{{token="{token}"}}',
              f'"token":"{token}"', "the value came from the app, through the scrape, into the TSDB"),
        query("A range of samples comes back (what a dashboard or a DataFrame reads)",
              f'labkit_demo_work_total{{token="{token}"}}[1m]', r'"resultType":"matrix".*"values":\[\[',
              "the same data a query_range returns"),
        Step("Stop the demo app (scale to 0)", Cmd(k("scale", "-n", NAMESPACE, f"deployment/{DEMO}", "--replicas=0")),
             source="labkit: the alert path's trigger"),
        Step(f"The receiver records a firing {DEMO_ALERT} with the run's token",
             Cmd(k("get", "--raw", f"{recv}/received")),
             why="rule → for → Alertmanager (route labkit_run =~ .+) → webhook", retries=retries, retry_delay=5,
             expect=f"alertname {DEMO_ALERT} and {RUN_LABEL} {token} in a firing notification",
             expect_match=rf'"alertname":\s?"{DEMO_ALERT}"[^}}]*"{RUN_LABEL}":\s?"{token}"', timeout=30,
             source="https://github.com/prometheus/alertmanager/blob/v0.34.0/docs/configuration.md#webhook_config",
             diagnose=(Cmd(k("get", "--raw", f"{prom}/api/v1/alerts")),)),
        Step("Start the demo app again", Cmd(k("scale", "-n", NAMESPACE, f"deployment/{DEMO}", "--replicas=1")),
             source="labkit: back to where the verify started"),
        Step("Grafana's sidecar loaded labkit's dashboard",
             Cmd(k("exec", "-n", namespace, n["grafana"], "-c", "grafana", "--", "ls", "/tmp/dashboards")),
             expect="labkit-demo.json", expect_match=r"labkit-demo\.json", retries=12, retry_delay=5,
             source=GRAFANA_SIDECAR))
    return plan


def cluster_prom(conn_or_target: Any, *, namespace: str = "monitoring", release: str = "kps") -> PromClient:
    """A :class:`PromClient` for kube-prometheus-stack on any cluster (a ``labkit.connect()`` result or a
    KubeTarget), through the API server's service proxy."""
    target = getattr(conn_or_target, "target", conn_or_target)
    return PromClient.through_api_server(target, namespace, f"{names(release)['prometheus_svc']}:http-web")
