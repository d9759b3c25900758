"""Cilium from its Helm chart, with or without kube-proxy replacement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components.base import load_values, values_why
from labkit.components.kube import rollout_step as _rollout
from labkit.components.network.base import TIMEOUT, NetworkOption, _nodes_ready, _pins, tested_note
from labkit.errors import BadInput
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget


@dataclass(frozen=True)
class Cilium(NetworkOption):
    name: str = "cilium"
    title: str = "Cilium (Helm)"
    installed_with: str = "Helm"
    between_nodes: str = "VXLAN (eBPF)"
    kube_proxy_replacement: bool = False
    design: str = ("Cilium's agent attaches eBPF programs to each pod's veth and to the node's devices: "
                   "forwarding, NAT and NetworkPolicy (L3/L4, and L7 through an Envoy proxy) run in the "
                   "kernel without iptables chains; between nodes it tunnels with VXLAN by default. With "
                   "kube-proxy replacement its eBPF Service load balancer also takes over ClusterIP/NodePort "
                   "from kube-proxy (the cluster is then made without kube-proxy).")

    def __post_init__(self) -> None:
        if self.kube_proxy_replacement and not self.name.endswith("-kpr"):
            object.__setattr__(self, "name", "cilium-kpr")
            object.__setattr__(self, "title", "Cilium with kube-proxy replacement (Helm)")
            object.__setattr__(self, "installed_with", "Helm (kube-proxy replacement)")
            object.__setattr__(self, "between_nodes", "VXLAN (eBPF), eBPF Services")
        super().__post_init__()

    @property
    def pin(self) -> dict[str, Any]:
        return _pins("cilium")

    def tools(self) -> frozenset[str]:
        return frozenset({"helm"})

    @property
    def profile(self) -> str:
        return self.name

    def config_needs(self) -> dict[str, Any]:
        needs: dict[str, Any] = {"disable_default_cni": True}
        if self.kube_proxy_replacement:
            needs["kube_proxy_mode"] = "none"
        return needs

    def check_config(self, cfg: ClusterConfig) -> None:
        super().check_config(cfg)
        if not self.kube_proxy_replacement and cfg.kube_proxy_mode == "none":
            raise BadInput("kind config kube_proxy_mode for cilium", "none", "iptables, nftables or ipvs",
                           fix="without kube-proxy nothing serves ClusterIPs: use --cni cilium-kpr, "
                           "which turns on Cilium's kube-proxy replacement")

    def values_files(self) -> tuple[str, ...]:
        return (str(_pins("cilium")["values_kpr" if self.kube_proxy_replacement else "values"]),)

    def helm_values(self, cfg: ClusterConfig | None = None) -> dict[str, Any]:
        values = load_values(self.values_files()[0])
        if self.kube_proxy_replacement:
            values["k8sServiceHost"] = f"{(cfg or self.cluster_config()).name}-control-plane"
        return values

    def doc(self, path: str) -> str:
        """A file of cilium/cilium at the pinned release (its docs live beside the chart's source)."""
        return f"https://github.com/cilium/cilium/blob/v{self.version}/{path}"

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        import yaml

        self.check_config(cfg)
        p = _pins("cilium")
        h = target.helm
        values = self.helm_values(cfg)
        why = (f"values from environments/{self.values_files()[0]}: " + values_why(values, self.values_sources()) +
               ("; without kube-proxy the `kubernetes` Service IP is not routable until Cilium itself runs, so the "
                "agent reaches the API server at the control-plane node's name on the kind network"
                if self.kube_proxy_replacement else "") + tested_note("cilium", cfg))
        guide = "Documentation/network/kubernetes/kubeproxy-free.rst" if self.kube_proxy_replacement else \
            "Documentation/installation/kind.rst"
        chart = "install/kubernetes/cilium/templates"
        return Plan(f"Install {self.title} {self.version}").add(
            Step("Add Cilium's Helm repository", Cmd((target.helm_bin, "repo", "add", "cilium", str(p["repo"]),
                                                      "--force-update")),
                 why="--force-update makes the step repeatable",
                 source=self.doc("Documentation/installation/k8s-install-helm.rst")),
            Step(f"Install (or upgrade) the cilium chart {self.version}",
                 Cmd(h("upgrade", "--install", "cilium", str(p["chart"]), "--version", self.version,
                       "--namespace", "kube-system", "--values", "-"),
                     stdin=yaml.safe_dump(values, sort_keys=False)),
                 why=why, timeout=600, source=self.doc(guide)),
            _rollout(target, "kube-system", "daemonset/cilium", timeout, "Wait for the Cilium agent on every node",
                     source=self.doc(f"{chart}/cilium-agent/daemonset.yaml"),
                     logs=("k8s-app=cilium", "cilium-agent")),
            _rollout(target, "kube-system", "deployment/cilium-operator", timeout, "Wait for the Cilium operator",
                     source=self.doc(f"{chart}/cilium-operator/deployment.yaml")),
            *_nodes_ready(target, timeout, cfg))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("Remove Cilium").add(
            Step("Uninstall the Helm release", Cmd(target.helm("uninstall", "cilium", "--namespace", "kube-system",
                                                               "--ignore-not-found")),
                 why="eBPF programs stay attached on the nodes until they restart: recreate the cluster "
                     "before benchmarking another CNI",
                 source=self.doc("Documentation/installation/k8s-install-helm.rst")))
