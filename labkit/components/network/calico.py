"""Calico, installed by the Tigera operator and configured by custom resources (Calico's kind guide)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components.kube import appears_step as _appears, rollout_step as _rollout
from labkit.components.network.base import TIMEOUT, NetworkOption, _nodes_ready, _pins, tested_note
from labkit.errors import BadInput
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget
from labkit.versions import environments_dir

#: The operator's CRDs labkit's custom resources and waits use (all in the CRD manifest at the pinned tag).
OPERATOR_CRDS = ("installations", "apiservers", "goldmanes", "whiskers", "tigerastatuses")
#: TigeraStatus objects the operator reports for labkit's custom resources (calico = the Installation).
STATUSES = ("calico", "apiserver", "goldmane", "whisker")


@dataclass(frozen=True)
class Calico(NetworkOption):
    name: str = "calico"
    title: str = "Calico (Tigera operator)"
    installed_with: str = "Tigera operator + custom resources"
    between_nodes: str = "VXLAN across subnets"
    design: str = ("The Tigera operator installs calico-node on every node: Felix programs routes, iptables/"
                   "nftables (or eBPF) and policy; IPAM hands out /26 blocks per node from the IP pool; "
                   "between nodes packets go VXLAN-encapsulated (VXLANCrossSubnet: plain routing inside one "
                   "subnet, VXLAN across). Calico enforces Kubernetes NetworkPolicy and its own richer "
                   "(Global)NetworkPolicy.")

    def config_needs(self) -> dict[str, Any]:
        return {"disable_default_cni": True, "pod_subnet": str(_pins("calico")["pod_subnet"])}

    def check_config(self, cfg: ClusterConfig) -> None:
        if not cfg.disable_default_cni:
            raise BadInput("kind config disable_default_cni for calico", False, "True",
                           fix="kindnet and Calico would fight over every pod; ClusterConfig(..., "
                           "disable_default_cni=True) or `labkit up --cni calico`")
        # labkit writes the IP pool from the cluster's podSubnet, so any subnet works; the default must match

    def _url(self, key: str) -> str:
        return str(_pins("calico")[key]).format(version=self.version)

    @property
    def crds_url(self) -> str:
        return self._url("crds_manifest")

    @property
    def operator_url(self) -> str:
        return self._url("operator_manifest")

    def doc(self, path: str) -> str:
        """A page of Calico's docs for this minor (tigera/docs is not tagged per release: pinned by commit)."""
        return f"{_pins('calico')['docs']}/{path}"

    def manifests(self, cfg: ClusterConfig) -> list[dict[str, Any]]:
        return self.custom_resources(cfg.pod_subnet)

    def custom_resources(self, pod_subnet: str) -> list[dict[str, Any]]:
        """environments/cni/calico/custom-resources.yaml with the IP pool set to ``pod_subnet``."""
        import yaml

        text = (environments_dir() / str(_pins("calico")["custom_resources"])).read_text()
        return [d for d in yaml.safe_load_all(text.replace("{pod_subnet}", pod_subnet)) if d]

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        self.check_config(cfg)
        k = target.kubectl
        crs = to_yaml(self.manifests(cfg))
        guide = self.doc("getting-started/kubernetes/kind.mdx")
        upgrade = self.doc("operations/upgrading/kubernetes-upgrade.mdx")
        operator = str(_pins("calico")["operator_version"])
        return Plan(f"Install Calico {self.version} with the Tigera operator").add(
            Step("Install Calico's CRDs (operator and projectcalico.org)",
                 Cmd(k("apply", "--server-side", "--force-conflicts", "-f", self.crds_url)),
                 why="Calico's kind guide creates the CRD manifest first and the operator second. The CRDs are "
                     "in their own file (the operator manifest holds none); its Installation CRD alone is over "
                     "600 kB, beyond the 256 KiB annotation client-side `apply` writes, so the guide uses "
                     "`create`. Server-side apply has no such annotation and can be re-run (Calico's upgrade "
                     f"page uses it: {upgrade}), so an interrupted install resumes." + tested_note("calico", cfg),
                 check=Cmd(k("get", "crd", "installations.operator.tigera.io")), timeout=180, source=guide),
            Step("Wait for the operator's CRDs to be established",
                 Cmd(k("wait", "--for=condition=Established", *(f"crd/{c}.operator.tigera.io" for c in OPERATOR_CRDS),
                       "--timeout=60s")),
                 why="the custom resources below are of these kinds; the API server serves a kind only once its "
                     "CRD is Established", timeout=90, source=self.crds_url),
            Step(f"Install the Tigera operator {operator}",
                 Cmd(k("apply", "--server-side", "--force-conflicts", "-f", self.operator_url)),
                 why="namespace tigera-operator, its RBAC and the operator Deployment (manifest at the pinned tag)",
                 check=Cmd(k("get", "deployment", "-n", "tigera-operator", "tigera-operator")), timeout=180,
                 source=guide),
            _rollout(target, "tigera-operator", "deployment/tigera-operator", timeout, "Wait for the operator",
                     source=self.operator_url, logs=("name=tigera-operator", "tigera-operator")),
            Step("Tell the operator what to install (custom resources)", Cmd(k("apply", "-f", "-"), stdin=crs),
                 why=f"Calico's custom-resources.yaml at the tag with one change: the IP pool is {cfg.pod_subnet} "
                     "(the cluster's podSubnet). Installation 'default' (VXLAN across subnets), the Calico API "
                     "server, Goldmane and Whisker", source=self._url("custom_resources_upstream")),
            _appears(target, "calico-system", ("daemonset/calico-node", "deployment/calico-kube-controllers"),
                     timeout, "the operator", source=self._operator_source("pkg/render/node.go")),
            _rollout(target, "calico-system", "daemonset/calico-node", timeout, "Wait for calico-node on every node",
                     source=self._operator_source("pkg/render/node.go"), logs=("k8s-app=calico-node", "calico-node")),
            _rollout(target, "calico-system", "deployment/calico-kube-controllers", timeout,
                     "Wait for calico-kube-controllers",
                     source=self._operator_source("pkg/render/kubecontrollers/kube-controllers.go")),
            _appears(target, None, tuple(f"tigerastatus/{s}" for s in STATUSES), timeout,
                     "the operator's status reports", source=self.doc("getting-started/kubernetes/quickstart.mdx")),
            Step("Wait until the operator reports every component Available",
                 Cmd(k("wait", "--for=condition=Available", *(f"tigerastatus/{s}" for s in STATUSES),
                       f"--timeout={timeout:g}s")),
                 why="upstream's own completion signal: `kubectl get tigerastatus` shows AVAILABLE True for each",
                 timeout=timeout + 30, source=self.doc("getting-started/kubernetes/quickstart.mdx"),
                 diagnose=(Cmd(k("get", "tigerastatus", "-o", "wide")),
                           Cmd(k("get", "pods", "-n", "calico-system", "-o", "wide")))),
            *_nodes_ready(target, timeout, cfg))

    def _operator_source(self, path: str) -> str:
        return f"https://github.com/tigera/operator/blob/{_pins('calico')['operator_version']}/{path}"

    def uninstall(self, target: KubeTarget) -> Plan:
        k = target.kubectl
        crs = to_yaml(self.custom_resources(str(_pins("calico")["pod_subnet"])))  # deleted by name
        return Plan("Remove Calico").add(
            Step("Delete the custom resources (the operator tears Calico down)",
                 Cmd(k("delete", "--ignore-not-found", "-f", "-"), stdin=crs), timeout=300,
                 source=self._url("custom_resources_upstream")),
            Step("Delete the operator", Cmd(k("delete", "--ignore-not-found", "-f", self.operator_url)),
                 timeout=300, source=self.operator_url),
            Step("Delete Calico's CRDs", Cmd(k("delete", "--ignore-not-found", "-f", self.crds_url)),
                 why="they are in their own manifest, which the operator manifest does not remove",
                 timeout=300, source=self.crds_url))
