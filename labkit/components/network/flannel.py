"""Flannel from its release manifest, plus the CNI `bridge` plugin kind's nodes lack."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components.kube import rollout_step as _rollout
from labkit.components.network.options import TIMEOUT, NetworkOption, _nodes_ready, _pins
from labkit.paths import labkit_home
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget


@dataclass(frozen=True)
class Flannel(NetworkOption):
    name: str = "flannel"
    title: str = "Flannel"
    enforces_policy: bool = False
    installed_with: str = "kubectl apply + bridge plugin"
    between_nodes: str = "VXLAN"
    design: str = ("flanneld leases a /24 per node from the Network in its ConfigMap and carries pod traffic "
                   "between nodes in VXLAN; on the node it delegates to the standard `bridge` plugin (cni0) "
                   "and host-local IPAM. It implements no NetworkPolicy at all: policies are accepted by the "
                   "API server and silently ignored (pair it with Calico for policy: 'Canal').")

    def tools(self) -> frozenset[str]:
        return frozenset({"curl", "tar", "sha256sum"})

    def config_needs(self) -> dict[str, Any]:
        return {"disable_default_cni": True, "pod_subnet": str(_pins("flannel")["pod_subnet"])}

    @property
    def manifest_url(self) -> str:
        return str(_pins("flannel")["manifest"]).format(version=self.version)

    def plugins_tarball(self, arch: str | None = None) -> tuple[str, str]:
        """(URL, file name) of the containernetworking plugins release for the nodes' architecture."""
        arch = arch or {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "amd64")
        cni = _pins("flannel")["cni_plugins"]
        url = str(cni["url"]).format(version=cni["version"], arch=arch)
        return url, url.rsplit("/", 1)[1]

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        self.check_config(cfg)
        url, tgz = self.plugins_tarball()
        cache = labkit_home() / "cache" / "cni-plugins"
        path = f"{cache}/{tgz}"
        nodes = cfg.node_names()
        plan = Plan(f"Install Flannel {self.version} (and the bridge plugin kind lacks)").add(
            Step("Download the CNI reference plugins", Cmd(("curl", "-fsSL", "--retry", "3", "--create-dirs",
                                                            "-o", path, url)),
                 why="kind's nodes carry only host-local, loopback, ptp and portmap; flannel delegates to `bridge`",
                 check=Cmd(("tar", "-tzf", path, "./bridge")), timeout=300),
            Step("Download the checksum the release publishes beside it",
                 Cmd(("curl", "-fsSL", "-o", f"{path}.sha256", f"{url}.sha256")), timeout=60),
            Step("Verify the download against it",
                 Cmd(("sh", "-c", 'cd "$1" && sha256sum -c "$2"', "sh", str(cache), f"{tgz}.sha256")),
                 why="on macOS: `shasum -a 256 -c`"),
            Step("Extract the bridge plugin", Cmd(("tar", "-xzf", path, "-C", str(cache), "./bridge")), timeout=60))
        for node in nodes:
            plan.add(Step(f"Copy bridge into node {node}",
                          Cmd(("docker", "cp", f"{cache}/bridge", f"{node}:/opt/cni/bin/bridge")),
                          check=Cmd(("docker", "exec", node, "test", "-x", "/opt/cni/bin/bridge")), timeout=60))
        return plan.add(
            Step("Apply the flannel manifest", Cmd(target.kubectl("apply", "-f", self.manifest_url)),
                 why=f"namespace kube-flannel, the kube-flannel-ds DaemonSet, RBAC and net-conf.json "
                     f"(Network {cfg.pod_subnet}, backend vxlan)", timeout=120),
            _rollout(target, "kube-flannel", "daemonset/kube-flannel-ds", timeout, "Wait for flannel on every node"),
            _nodes_ready(target, timeout))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("Remove Flannel").add(
            Step("Delete the flannel manifest", Cmd(target.kubectl("delete", "--ignore-not-found", "-f",
                                                                    self.manifest_url)), timeout=180))
