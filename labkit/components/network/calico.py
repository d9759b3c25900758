"""Calico, installed by the Tigera operator and configured by custom resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components.kube import appears_step as _appears, rollout_step as _rollout
from labkit.components.network.options import TIMEOUT, NetworkOption, _nodes_ready, _pins
from labkit.errors import BadInput
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget
from labkit.versions import environments_dir


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

    @property
    def operator_url(self) -> str:
        return str(_pins("calico")["operator_manifest"]).format(version=self.version)

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
        return Plan(f"Install Calico {self.version} with the Tigera operator").add(
            Step("Install the Tigera operator and Calico's CRDs",
                 Cmd(k("apply", "--server-side", "--force-conflicts", "-f", self.operator_url)),
                 why="upstream's docs say `kubectl create -f`: the CRD bundle is too large for client-side "
                     "`apply` (its last-applied annotation overflows). Server-side apply has no such annotation "
                     "and can be re-run, so an interrupted install resumes",
                 check=Cmd(k("get", "deployment", "-n", "tigera-operator", "tigera-operator")), timeout=180),
            Step("Wait for the operator's CRDs to be established",
                 Cmd(k("wait", "--for=condition=Established", "crd/installations.operator.tigera.io",
                       "crd/apiservers.operator.tigera.io", "--timeout=60s")), timeout=90),
            _rollout(target, "tigera-operator", "deployment/tigera-operator", timeout, "Wait for the operator"),
            Step("Tell the operator what to install (custom resources)", Cmd(k("apply", "-f", "-"), stdin=crs),
                 why=f"Installation 'default' with one IP pool {cfg.pod_subnet} (the cluster's podSubnet), "
                     "VXLAN across subnets, plus the Calico API server, Goldmane and Whisker"),
            _appears(target, "calico-system", "daemonset/calico-node", timeout, "the operator"),
            _rollout(target, "calico-system", "daemonset/calico-node", timeout, "Wait for calico-node on every node"),
            _rollout(target, "calico-system", "deployment/calico-kube-controllers", timeout,
                     "Wait for calico-kube-controllers"),
            _nodes_ready(target, timeout))

    def uninstall(self, target: KubeTarget) -> Plan:
        k = target.kubectl
        crs = to_yaml(self.custom_resources(str(_pins("calico")["pod_subnet"])))  # deleted by name
        return Plan("Remove Calico").add(
            Step("Delete the custom resources (the operator tears Calico down)",
                 Cmd(k("delete", "--ignore-not-found", "-f", "-"), stdin=crs), timeout=300),
            Step("Delete the operator and CRDs", Cmd(k("delete", "--ignore-not-found", "-f", self.operator_url)),
                 timeout=300))
