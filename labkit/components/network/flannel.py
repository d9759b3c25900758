"""Flannel from its release manifest, plus the CNI `bridge` plugin kind's nodes lack."""

from __future__ import annotations

import platform
import re
import shutil
from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components.kube import rollout_step as _rollout
from labkit.components.network.base import TIMEOUT, NetworkOption, _nodes_ready, _pins
from labkit.errors import Unavailable
from labkit.paths import labkit_home
from labkit.steps import Plan, Step
from labkit.targets.kind import sources as src
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kernel import BR_NETFILTER_FIX, BR_NETFILTER_PATH, br_netfilter_support
from labkit.targets.kube import KubeTarget


def sha256_tool() -> tuple[str, ...]:
    """``sha256sum -c -`` (GNU coreutils) where it exists, else ``shasum -a 256 -c -`` (macOS)."""
    return ("sha256sum", "-c", "-") if shutil.which("sha256sum") or platform.system() == "Linux" else \
        ("shasum", "-a", "256", "-c", "-")


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
        return frozenset({"curl", "tar", "cat", sha256_tool()[0]})

    def config_needs(self) -> dict[str, Any]:
        return {"disable_default_cni": True, "pod_subnet": str(_pins("flannel")["pod_subnet"])}

    def check_host(self) -> None:
        """flanneld exits at start without br_netfilter (kind nodes share the host's kernel): refuse first."""
        ok, why = br_netfilter_support()
        if ok is False:
            raise Unavailable(f"Flannel cannot start on this host: {why}. flanneld exits when "
                              f"{BR_NETFILTER_PATH} is missing ({self.doc('main.go')}#L288-L300)",
                              fix=BR_NETFILTER_FIX + "; or choose another CNI (--cni kindnet, calico, cilium)")

    def doc(self, path: str) -> str:
        return f"https://github.com/flannel-io/flannel/blob/{self.version}/{path}"

    @property
    def manifest_url(self) -> str:
        return str(_pins("flannel")["manifest"]).format(version=self.version)

    @staticmethod
    def arch() -> str:
        return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "amd64")

    def plugins_tarball(self, arch: str | None = None) -> tuple[str, str]:
        """(URL, file name) of the containernetworking plugins release for the nodes' architecture."""
        cni = _pins("flannel")["cni_plugins"]
        url = str(cni["url"]).format(version=cni["version"], arch=arch or self.arch())
        return url, url.rsplit("/", 1)[1]

    def plugins_sha256(self, arch: str | None = None) -> str:
        """The tarball's sha256 pinned in versions.yaml (from flannel's own e2e script at its tag)."""
        return str(_pins("flannel")["cni_plugins"]["sha256"][arch or self.arch()])

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        self.check_config(cfg)
        url, tgz = self.plugins_tarball()
        pinned = self.plugins_sha256()
        cni = _pins("flannel")["cni_plugins"]
        release = f"https://github.com/containernetworking/plugins/blob/{cni['version']}/.github/workflows/release.yaml"
        e2e = self.doc("e2e/run-e2e-tests.sh") + "#L22-L40"
        cache = labkit_home() / "cache" / "cni-plugins"
        path = f"{cache}/{tgz}"
        nodes = cfg.node_names()
        plan = Plan(f"Install Flannel {self.version} (and the bridge plugin kind lacks)").add(
            Step("Check br_netfilter in the nodes' kernel",
                 Cmd(("docker", "exec", nodes[0], "cat", BR_NETFILTER_PATH)),
                 why="flanneld stats this file at start and exits without it; kind nodes share the host kernel, "
                     "and Docker >= 27.3 no longer loads br_netfilter by default. Flannel's own kind CI runs "
                     "`modprobe br_netfilter` first", expect="0 or 1: the module is loaded",
                 expect_match=r"\A[01]\s*\Z", fix=BR_NETFILTER_FIX + ", then run `labkit up` again",
                 timeout=30, source=self.doc("main.go") + "#L288-L300"),
            Step("Download the CNI reference plugins", Cmd(("curl", "-fsSL", "--retry", "3", "--create-dirs",
                                                            "-o", path, url)),
                 why="kind's nodes carry only host-local, loopback, ptp and portmap; flannel delegates to `bridge` "
                     f"({src.kind('images/base/Dockerfile', cfg.kubernetes, 'L182-L185')})",
                 check=Cmd(("tar", "-tzf", path, "./bridge")), timeout=300, source=e2e),
            Step("Download the checksum the release publishes beside it",
                 Cmd(("curl", "-fsSL", "-o", f"{path}.sha256", f"{url}.sha256")), timeout=60, source=release),
            Step("The published checksum is the one labkit pins", Cmd(("cat", f"{path}.sha256")),
                 why="versions.yaml pins the sha256 flannel's own e2e script checks; both sources must agree",
                 expect=f"{pinned}  {tgz}", expect_match=rf"(?m)^{pinned}\s+\*?{re.escape(tgz)}\s*$",
                 source=e2e),
            Step("Verify the download against it", Cmd(sha256_tool(), stdin=f"{pinned}  {path}\n"),
                 why="a download that does not hash to the pinned value is never unpacked",
                 expect=f"{path}: OK", expect_match=rf"{re.escape(path)}: OK", source=e2e),
            Step("Extract the bridge plugin", Cmd(("tar", "-xzf", path, "-C", str(cache), "./bridge")), timeout=60,
                 source=release + "#L40-L42"))
        for node in nodes:
            plan.add(Step(f"Copy bridge into node {node}",
                          Cmd(("docker", "cp", f"{cache}/bridge", f"{node}:/opt/cni/bin/bridge")),
                          why="flannel's CI mounts the host's /opt/cni/bin into its kind nodes instead; copying "
                              "keeps the host unchanged",
                          check=Cmd(("docker", "exec", node, "test", "-x", "/opt/cni/bin/bridge")), timeout=60,
                          source=self.doc("e2e/kind-config.yaml")))
        return plan.add(
            Step("Apply the flannel manifest", Cmd(target.kubectl("apply", "-f", self.manifest_url)),
                 why=f"the release's kube-flannel.yml at the pinned tag (upstream's README points at 'latest'): "
                     f"namespace kube-flannel, the kube-flannel-ds DaemonSet, RBAC and net-conf.json "
                     f"(Network {cfg.pod_subnet}, backend vxlan)", timeout=120, source=self.doc("README.md")),
            _rollout(target, "kube-flannel", "daemonset/kube-flannel-ds", timeout, "Wait for flannel on every node",
                     source=self.doc("Documentation/kube-flannel.yml"), logs=("app=flannel", "kube-flannel")),
            *_nodes_ready(target, timeout, cfg))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("Remove Flannel").add(
            Step("Delete the flannel manifest", Cmd(target.kubectl("delete", "--ignore-not-found", "-f",
                                                                    self.manifest_url)), timeout=180,
                 source=self.doc("README.md")))
