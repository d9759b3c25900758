"""Logging on kind: Fluent Bit (a DaemonSet) into Loki (monolithic, filesystem), installed step by step.

``labkit up --logging loki`` composes it after the CNI. Every step cites the upstream file it follows at
the pinned chart tag. Explained, not installed: Promtail (deprecated, end of life), Grafana Alloy (its
current chart could not be read at a tag), Fluentd, and ELK/OpenSearch (full-text indexing that wants
gigabytes of JVM heap and a host sysctl).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit._run import Cmd
from labkit.components.base import NotInstalled, Option, Options, load_values, pin
from labkit.components.kube import rollout_step
from labkit.components.logging import kube_verify, loki
from labkit.errors import Unavailable
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget

TIMEOUT = 600.0
INOTIFY = {"max_user_watches": 524288, "max_user_instances": 512}
KIND_KNOWN_ISSUES = ("https://github.com/kubernetes-sigs/kind/blob/v0.32.0/site/content/docs/user/known-issues.md"
                     "#L212-L226")


def inotify_limits(proc: Path = Path("/proc/sys/fs/inotify")) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for key in INOTIFY:
        try:
            out[key] = int((proc / key).read_text().strip())
        except (OSError, ValueError):
            out[key] = None
    return out


def inotify_problem(limits: dict[str, int | None]) -> str | None:
    """Which inotify limit is below what kind's known issues ask for (log tailers exhaust them first)."""
    low = [f"fs.inotify.{k} = {v} (< {INOTIFY[k]})" for k, v in limits.items() if v is not None and v < INOTIFY[k]]
    return "; ".join(low) or None


@dataclass(frozen=True)
class LokiStack(Option):
    component = "logging"
    name: str = "loki"
    title: str = "Fluent Bit → Loki (monolithic, filesystem)"
    design: str = ("A Fluent Bit pod on every node (a DaemonSet: a node agent, not a sidecar per pod) tails the "
                   "kubelet's CRI log files under /var/log/pods, adds the pod's namespace, name and container from "
                   "the API server, and pushes batches to Loki over HTTP. Loki indexes only those few labels and "
                   "stores the lines compressed in chunks; a query picks streams by label, then scans their lines "
                   "(grep-like). Cheap to ingest and store; a needle in many streams costs a scan.")

    @property
    def fluent_bit(self) -> dict[str, Any]:
        return dict(self.pin["fluent_bit"])

    def tools(self) -> frozenset[str]:
        return frozenset({"helm"})

    def check_host(self) -> None:
        problem = inotify_problem(inotify_limits())
        if problem:
            raise Unavailable(f"log tailers on kind need more inotify watches/instances: {problem} (kind known "
                              f"issues: \"too many open files\", {KIND_KNOWN_ISSUES})",
                              fix="sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 "
                                  "(persist in /etc/sysctl.d/)")

    def helm_values(self, cfg: ClusterConfig | None = None) -> dict[str, Any]:
        return load_values(str(self.pin["values"]))

    def fluent_bit_values(self) -> dict[str, Any]:
        return load_values(str(self.fluent_bit["values"]))

    def row(self) -> dict[str, Any]:
        return {"option": self.name, "version": f"loki chart {self.version} (Loki {self.pin['app_version']}), "
                f"fluent-bit chart {self.fluent_bit['version']} (Fluent Bit {self.fluent_bit['app_version']})",
                "agent": "Fluent Bit DaemonSet", "store": "Loki: label index + compressed chunks",
                "on kind": "yes (inotify limits raised)"}

    def _release(self, target: KubeTarget, spec: dict[str, Any], values: dict[str, Any], source: str,
                 readme: str) -> list[Step]:
        import yaml

        repo_name, chart = str(spec["repo_name"]), str(spec["chart"])
        return [
            Step(f"Add the {repo_name} Helm repository", Cmd((target.helm_bin, "repo", "add", repo_name,
                                                              str(spec["repo"]), "--force-update")),
                 source=readme),
            Step(f"Install (or upgrade) {chart} {spec['version']}",
                 Cmd(target.helm("upgrade", "--install", str(spec.get("release", chart.split("/")[1])), chart,
                                 "--version", str(spec["version"]), "--namespace", loki.NAMESPACE,
                                 "--create-namespace", "--values", "-"),
                     stdin=yaml.safe_dump(values, sort_keys=False)),
                 why=f"values from environments/{spec['values']} (each key explained in values.sources.yaml)",
                 timeout=TIMEOUT, source=source)]

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        gc = "https://github.com/grafana-community/helm-charts/blob/loki-18.11.0/charts/loki"
        fh = "https://github.com/fluent/helm-charts/blob/fluent-bit-0.58.1/charts/fluent-bit"
        lk = loki.Loki.on(target)
        return Plan(f"Install Loki {self.pin['app_version']} and Fluent Bit {self.fluent_bit['app_version']}").add(
            *self._release(target, {**self.pin, "version": self.version}, self.helm_values(), f"{gc}/values.yaml",
                          f"{gc}/README.md#L35-L38"),
            rollout_step(target, loki.NAMESPACE, "statefulset/loki", timeout, "Wait for the Loki pod",
                         source=f"{gc}/templates/monolithic/workload.yaml"),
            Step("Wait until Loki says it is ready", Cmd(lk.argv("/ready")), expect="ready", expect_match=r"^ready",
                 retries=60, retry_delay=2.0, timeout=30, why="the readiness endpoint, through the API server's proxy",
                 source=f"{loki.API}#L1201-L1209"),
            *self._release(target, self.fluent_bit, self.fluent_bit_values(), f"{fh}/values.yaml",
                          f"{fh}/README.md#L42-L46"),
            rollout_step(target, loki.NAMESPACE, "daemonset/fluent-bit", timeout, "Wait for Fluent Bit on every node",
                         source=f"{fh}/templates/daemonset.yaml"),
            Step("Check one Fluent Bit pod per node", Cmd(target.kubectl(
                "get", "-n", loki.NAMESPACE, "daemonset/fluent-bit", "-o",
                "jsonpath={.status.numberReady}/{.status.desiredNumberScheduled}")),
                capture="FLUENT_BIT_READY", capture_match=r"([1-9]\d*)/\1",
                expect="N/N: every node (the control plane too, thanks to the toleration) runs a ready agent",
                source=f"{fh}/values.yaml#L301"))

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None) -> Plan:
        return kube_verify.plan(target, image=image)

    def manifests(self, cfg: ClusterConfig) -> list[dict[str, Any]]:
        objs = kube_verify.manifests("labkit/tools:0.2.0", "labkit-token-0")
        return [o for group in objs.values() for o in group]

    def uninstall(self, target: KubeTarget) -> Plan:
        h = target.helm
        gc = "https://github.com/grafana-community/helm-charts/blob/loki-18.11.0/charts/loki/README.md#L40-L46"
        return Plan("Remove Fluent Bit and Loki").add(
            Step("Uninstall Fluent Bit", Cmd(h("uninstall", "fluent-bit", "--namespace", loki.NAMESPACE,
                                               "--ignore-not-found")), timeout=300,
                 source="https://github.com/fluent/helm-charts/blob/fluent-bit-0.58.1/charts/fluent-bit/README.md"),
            Step("Uninstall Loki", Cmd(h("uninstall", "loki", "--namespace", loki.NAMESPACE, "--ignore-not-found")),
                 timeout=300, source=gc),
            Step("Delete Loki's volume claim", Cmd(target.kubectl("delete", "pvc", "-n", loki.NAMESPACE,
                                                                  "storage-loki-0", "--ignore-not-found")),
                 why="with enableStatefulSetAutoDeletePVC it is already gone; without, it would outlive the chart",
                 source="https://github.com/grafana-community/helm-charts/blob/loki-18.11.0/charts/loki/values.yaml"
                        "#L2091"),
            Step("Delete the namespace", Cmd(target.kubectl("delete", "namespace", loki.NAMESPACE,
                                                            "--ignore-not-found")), timeout=300,
                 source="labkit: the namespace labkit created with --create-namespace"))


def _promtail() -> NotInstalled:
    p = pin("logging", "promtail")
    return NotInstalled(
        "promtail", "Promtail", f"deprecated upstream: chart {p.get('version')} is marked deprecated: true "
        f"({p.get('source')}), and Loki's docs say \"Promtail is end of life (EOL) as of March 2, 2026 ... "
        "All future feature development will occur in Grafana Alloy\" (https://github.com/grafana/loki/blob/v3.7.6/docs/sources/send-data/promtail/"
        "_index.md#L11-L14)", fix="use --logging loki (Fluent Bit ships to Loki), or Grafana Alloy on your own",
        retired=True, columns={"agent": "Promtail (EOL)", "store": "Loki", "on kind": "no: deprecated"})


OPTIONS = Options("logging", "logging option", {
    "loki": LokiStack(),
    "promtail": _promtail(),
    "alloy": NotInstalled(
        "alloy", "Grafana Alloy", "Grafana's recommended agent (an OpenTelemetry Collector distribution with Loki "
        "pipelines), but its current chart version could not be read at a tag here (the stored copy is 0.12.5, "
        "Alloy v1.7.4: old), and labkit pins only what it has read",
        fix="use --logging loki (Fluent Bit); Alloy's chart: https://github.com/grafana/alloy (operations/helm)",
        columns={"agent": "Alloy", "store": "Loki", "on kind": "not pinned"}),
    "fluentd": NotInstalled(
        "fluentd", "Fluentd", "Fluent Bit's older, Ruby-based sibling from the same project: more plugins, more "
        "memory per node; as a node agent Fluent Bit does the same job here. (Docker's fluentd driver has no "
        "receiver on the engine tier either: no Fluentd can be installed on this machine.)",
        fix="use --logging loki (Fluent Bit); Fluentd's chart is fluent/fluentd",
        columns={"agent": "Fluentd", "store": "any", "on kind": "no: Fluent Bit covers it"}),
    "elk": NotInstalled(
        "elk", "Elasticsearch / OpenSearch + Kibana", "a full-text index over every word of every line: fast "
        "needle search, but several GiB of JVM heap per node, vm.max_map_count >= 262144 on the host, and storage "
        "several times Loki's; too heavy for a laptop kind cluster (and none can be installed on this machine)",
        fix="run it on real nodes; Fluent Bit's es output ships to it (the chart's default output)",
        columns={"agent": "Fluent Bit / Logstash", "store": "inverted index (full text)", "on kind": "no: too heavy"}),
}, example="e.g. `labkit up --logging loki`")
INSTALLABLE = OPTIONS.installable


def option(name: str) -> LokiStack:
    return OPTIONS.get(name)  # type: ignore[return-value]


def options_table() -> Any:
    return OPTIONS.table()
