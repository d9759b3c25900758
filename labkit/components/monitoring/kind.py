"""kube-prometheus-stack on kind: pinned chart, values for kind, install and uninstall as plans of steps.

The option answers ``labkit up``'s questions (:mod:`labkit.components.base`): it needs the ``monitoring``
kind profile's ``metrics_bind_all`` (kubeadm binds the controller-manager, scheduler, etcd and kube-proxy
metrics to 127.0.0.1, so their targets would be DOWN; the profile patches them to 0.0.0.0 and the scrapes
stay on), refuses a host whose inotify limits are below kind's known-issues values, builds labkit's Python
image before the cluster exists (the demo app and receiver of the verify), installs the chart with Helm
from the OCI registry the chart's README names, waits for what the operator creates, verifies
(:mod:`labkit.components.monitoring.kind_objects`) and uninstalls, naming what Helm leaves behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit._run import Cmd
from labkit.components.base import NotInstalled, Option, Options, load_values, pin
from labkit.components.kube import appears_step, rollout_step
from labkit.errors import Unavailable
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget

TIMEOUT = 600.0
KPS = "https://github.com/prometheus-community/helm-charts/blob/kube-prometheus-stack-88.5.3/charts/kube-prometheus-stack"
SUB = "https://github.com/prometheus-community/helm-charts/blob/{chart}-{version}/charts/{chart}"
GRAFANA = "https://github.com/grafana-community/helm-charts/blob/grafana-12.11.1/charts/grafana"
OPERATOR = "https://github.com/prometheus-operator/prometheus-operator/blob/v0.93.0"
KIND_DOCS = "https://github.com/kubernetes-sigs/kind/blob/v0.32.0/site/content/docs/user"
INOTIFY = {"max_user_watches": 524288, "max_user_instances": 512}  # kind known-issues, "too many open files"
CRDS = ("alertmanagerconfigs", "alertmanagers", "podmonitors", "probes", "prometheusagents", "prometheuses",
        "prometheusrules", "scrapeconfigs", "servicemonitors", "thanosrulers")


def _pin() -> dict[str, Any]:
    return pin("monitoring", "kube-prometheus-stack")


def names(release: str = "kps") -> dict[str, str]:
    """Object names the chart and the operator make for ``release`` (fullname truncates at 26: _helpers.tpl)."""
    full = f"{release}-kube-prometheus-stack"[:26]
    return {"operator": f"deployment/{full}-operator", "ksm": f"deployment/{release}-kube-state-metrics",
            "node_exporter": f"daemonset/{release}-prometheus-node-exporter",
            "grafana": f"deployment/{release}-grafana",
            "prometheus": f"statefulset/prometheus-{full}-prometheus",
            "alertmanager": f"statefulset/alertmanager-{full}-alertmanager",
            "prometheus_svc": f"{full}-prometheus", "alertmanager_svc": f"{full}-alertmanager",
            "grafana_svc": f"{release}-grafana", "kubelet_svc": f"{full}-kubelet"}


def inotify_limits(root: Path = Path("/proc/sys/fs/inotify")) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for key in INOTIFY:
        try:
            out[key] = int((root / key).read_text().strip())
        except (OSError, ValueError):
            out[key] = None
    return out


@dataclass(frozen=True)
class KubePrometheusStack(Option):
    name: str = "kube-prometheus-stack"
    title: str = "kube-prometheus-stack (Helm): Prometheus Operator, Prometheus, Alertmanager, Grafana, exporters"
    design: str = ("The Prometheus Operator watches Prometheus, Alertmanager, ServiceMonitor and PrometheusRule "
                   "objects and writes the scrape configs and rule files for you: an app is monitored by "
                   "creating a ServiceMonitor that selects its Service, and alerted on by a PrometheusRule. The "
                   "chart adds node-exporter (a DaemonSet), kube-state-metrics, the kubelet's built-in cAdvisor "
                   "as targets, ~30 Grafana dashboards and the default alerting rules. It runs Prometheus 3.x "
                   "with its new web UI; the engine tier here runs Debian's 2.53 with the classic UI.")

    component = "monitoring"

    @property
    def release(self) -> str:
        return str(self.pin["release"])

    @property
    def namespace(self) -> str:
        return str(self.pin["namespace"])

    def config_needs(self) -> dict[str, Any]:
        return {"metrics_bind_all": True}

    def check_host(self) -> None:
        have = inotify_limits()
        low = {k: v for k, v in have.items() if v is not None and v < INOTIFY[k]}
        if low:
            raise Unavailable("inotify limits are below what kind needs for a cluster with a monitoring stack "
                              f"({', '.join(f'fs.inotify.{k}={v}' for k, v in low.items())}): pods fail with "
                              "\"too many open files\" (kind known issues)",
                              fix=" && ".join(f"sudo sysctl fs.inotify.{k}={INOTIFY[k]}" for k in low)
                              + "  (these are host-wide, not namespaced)")

    def tools(self) -> frozenset[str]:
        return frozenset({"helm"})

    def helm_values(self, cfg: ClusterConfig | None = None) -> dict[str, Any]:
        return load_values(str(self.pin["values"]))

    def before_create(self, cfg: ClusterConfig) -> list[Plan]:
        from labkit.components.monitoring import kind_objects

        return [kind_objects.image_plan()]

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        from labkit.manifests import to_yaml

        n, ns, p = names(self.release), self.namespace, self.pin
        sub = p["subcharts"]
        return Plan(f"Install kube-prometheus-stack {self.version} (release {self.release}, namespace {ns})").add(
            Step(f"Install (or upgrade) the chart {self.version} with labkit's values for kind",
                 Cmd(target.helm("upgrade", "--install", self.release, str(p["chart"]), "--version", self.version,
                                 "--namespace", ns, "--create-namespace", "--values", "-", "--timeout",
                                 f"{timeout:g}s"), stdin=to_yaml(self.helm_values())),
                 why="installs the CRDs (first install only), the operator, the Prometheus and Alertmanager "
                     f"objects, the exporters and Grafana; values from environments/{p['values']}",
                 timeout=timeout + 60, source=f"{KPS}/README.md#L23-L31",
                 fix="read the error above; `helm status kps -n monitoring` and `kubectl get pods -n monitoring` "
                     "show how far it got; running the plan again upgrades in place"),
            rollout_step(target, ns, n["operator"], timeout, "Wait for the Prometheus Operator",
                         source=f"{KPS}/templates/prometheus-operator/deployment.yaml"),
            rollout_step(target, ns, n["ksm"], timeout, "Wait for kube-state-metrics",
                         source=SUB.format(chart="kube-state-metrics", version=sub["kube-state-metrics"])
                         + "/templates/deployment.yaml"),
            rollout_step(target, ns, n["node_exporter"], timeout, "Wait for node-exporter on every node",
                         source=SUB.format(chart="prometheus-node-exporter", version=sub["prometheus-node-exporter"])
                         + "/templates/daemonset.yaml"),
            rollout_step(target, ns, n["grafana"], timeout, "Wait for Grafana",
                         source=f"{GRAFANA}/templates/deployment.yaml"),
            appears_step(target, ns, n["prometheus"], timeout, "the operator",
                         source=f"{OPERATOR}/pkg/prometheus/operator.go#L97-L101"),
            rollout_step(target, ns, n["prometheus"], timeout, "Wait for Prometheus",
                         source=f"{KPS}/templates/prometheus/prometheus.yaml"),
            appears_step(target, ns, n["alertmanager"], timeout, "the operator",
                         source=f"{OPERATOR}/pkg/alertmanager/statefulset.go#L865"),
            rollout_step(target, ns, n["alertmanager"], timeout, "Wait for Alertmanager",
                         source=f"{KPS}/templates/alertmanager/alertmanager.yaml"))

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None,
               token: str | None = None) -> Plan:
        from labkit.components.monitoring import kind_objects

        return kind_objects.verify_plan(target, token=token, load=target.kind_cluster is not None,
                                        release=self.release, namespace=self.namespace)

    def uninstall(self, target: KubeTarget, *, crds: bool | None = None) -> Plan:
        from labkit.components.monitoring.kind_objects import NAMESPACE

        k, n, ns = target.kubectl, names(self.release), self.namespace
        crds = target.kind_cluster is not None if crds is None else crds
        plan = Plan("Remove kube-prometheus-stack and what Helm leaves behind").add(
            Step("Remove labkit's verify objects (demo, receiver, ServiceMonitor, PrometheusRule, dashboard)",
                 Cmd(k("delete", "namespace", NAMESPACE, "--ignore-not-found", f"--timeout={TIMEOUT:g}s")),
                 timeout=TIMEOUT + 30, source="labkit: the verify's own namespace"),
            Step("Uninstall the Helm release", Cmd(target.helm("uninstall", self.release, "--namespace", ns,
                                                               "--ignore-not-found")),
                 timeout=TIMEOUT, source=f"{KPS}/README.md#L55-L63"),
            Step("Delete the kubelet Service the operator made (Helm does not own it)",
                 Cmd(k("delete", "service", "--namespace", "kube-system", n["kubelet_svc"], "--ignore-not-found")),
                 why="a later install under another release name would scrape every kubelet twice",
                 source=f"{KPS}/templates/prometheus-operator/deployment.yaml#L61"),
            Step(f"Delete the namespace {ns} (also the admission webhook's Secret that uninstall leaves)",
                 Cmd(k("delete", "namespace", ns, "--ignore-not-found", f"--timeout={TIMEOUT:g}s")),
                 timeout=TIMEOUT + 30, source="labkit: the namespace `helm install --create-namespace` made"))
        if crds:
            plan.add(Step("Delete the monitoring.coreos.com CRDs (every ServiceMonitor, PrometheusRule, … in the "
                          "cluster goes with them)",
                          Cmd(k("delete", "crd", *[f"{c}.monitoring.coreos.com" for c in CRDS], "--ignore-not-found")),
                          why="the chart never removes its CRDs; on a shared cluster leave them for other users",
                          source=f"{KPS}/README.md#L65-L77"))
        return plan

    def manifests(self, cfg: ClusterConfig) -> list[dict[str, Any]]:
        from labkit.components.monitoring import kind_objects

        return kind_objects.kind_manifests(token="0123456789ab")

    def grafana_access(self, target: KubeTarget) -> list[str]:
        """How a learner opens Grafana (port-forward) and reads its generated admin password."""
        from labkit.steps import shell

        n = names(self.release)
        return [shell(Cmd(target.kubectl("--namespace", self.namespace, "port-forward", f"svc/{n['grafana_svc']}",
                                         "3000:80"))),
                shell(Cmd(target.kubectl("--namespace", self.namespace, "get", "secret", n["grafana_svc"], "-o",
                                         "jsonpath={.data.admin-password}"))) + " | base64 -d",
                "open http://127.0.0.1:3000 (user admin), dashboard 'labkit demo'"]

    def row(self) -> dict[str, Any]:
        return {"option": self.name, "version": self.version, "installed with": "Helm (OCI chart)",
                "Prometheus": "v3.14.0 (operator v0.93.1)", "kind config needs": "metrics_bind_all=True"}


OPTIONS = Options("monitoring", "--monitoring option", {
    "kube-prometheus-stack": KubePrometheusStack(),
    "victoria-metrics-k8s-stack": NotInstalled(
        "victoria-metrics-k8s-stack", "VictoriaMetrics k8s stack",
        "not pinned or tested by labkit: its chart was not part of the sources read for this chapter (the engine "
        "tier's Debian bookworm has VictoriaMetrics 1.79.5, newer ones need a libzstd upgrade)",
        fix="use --monitoring kube-prometheus-stack; the PromQL and verify here also run against a VictoriaMetrics "
            "cluster through labkit.connect() (its API is Prometheus-compatible)",
        columns={"installed with": "-", "Prometheus": "-", "kind config needs": "-"}),
}, example="e.g. `labkit up --monitoring kube-prometheus-stack`")
INSTALLABLE = OPTIONS.installable


def option(name: str) -> KubePrometheusStack:
    return OPTIONS.get(name)  # type: ignore[return-value]


def options_table() -> Any:
    return OPTIONS.table()
