"""Pod network (CNI) options: what each needs from the cluster, how it is installed, how it is proven.

Each option is a small frozen object with the same five answers:

* ``config_needs`` — the kind config it requires (``disableDefaultCNI``, a podSubnet,
  ``kubeProxyMode``); :meth:`check_config` turns a mismatch into a clear error;
* ``install(target, cfg)`` — a :class:`~labkit.steps.Plan`: the exact kubectl / helm /
  docker commands, each with a check so a re-run resumes where it stopped;
* ``verify(target, image)`` — the shared verify plan (:mod:`labkit.components.verify_net`)
  with this CNI's NetworkPolicy expectation;
* ``uninstall(target)`` — what removes it (on kind, deleting the cluster is cleaner:
  pods keep addresses from a CNI that is gone);
* ``manifests(cfg)`` / ``values(cfg)`` — every object labkit writes, for schema tests.

Weave Net is a retired :class:`~labkit.components.base.NotInstalled` entry: asking for it explains and refuses.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components.base import NotInstalled, Option, Options
from labkit.components.kube import appears_step as _appears, nodes_ready_step, rollout_step as _rollout
from labkit.components.network import verify as verify_net
from labkit.errors import BadInput
from labkit.manifests import to_yaml
from labkit.paths import labkit_home
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget
from labkit.versions import environments_dir

TIMEOUT = 300.0


def _pins(name: str) -> dict[str, Any]:
    from labkit.components.base import pin

    return pin("network", name)


def _nodes_ready(target: KubeTarget, timeout: float) -> Step:
    return nodes_ready_step(target, timeout)


@dataclass(frozen=True)
class NetworkOption(Option):
    component = "network"
    enforces_policy: bool = True
    installed_with: str = ""
    between_nodes: str = ""

    # -- what the cluster must look like ------------------------------------------------------------
    def config_needs(self) -> dict[str, Any]:
        return {"disable_default_cni": True}

    def check_config(self, cfg: ClusterConfig) -> None:
        """Raise :class:`BadInput` when ``cfg`` conflicts with this CNI, naming the fix."""
        for key, want in self.config_needs().items():
            have = getattr(cfg, key)
            if have != want:
                raise BadInput(f"kind config {key} for {self.name}", have, repr(want),
                               fix=f"use profile('{self.profile}') or ClusterConfig(..., {key}={want!r}); "
                               f"`labkit up --cni {self.name}` does this for you")

    @property
    def profile(self) -> str:
        return self.name if self.name != "kindnet" else "default"

    def cluster_config(self, **overrides: Any) -> ClusterConfig:
        """A cluster config that suits this CNI (its kind profile + the needs + ``overrides``)."""
        from labkit.targets.kind.config import profile

        cfg = profile(self.profile, **{**self.config_needs(), **overrides})
        self.check_config(cfg)
        return cfg

    # -- plans -------------------------------------------------------------------------------------
    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None,
               cross_node: bool | None = None) -> Plan:
        if cross_node is None:
            cross_node = cfg is None or cfg.control_planes + cfg.workers >= 2
        return verify_net.plan(target, image=image, enforces_policy=self.enforces_policy, cni=self.name,
                               cross_node=cross_node)

    def row(self) -> dict[str, Any]:
        needs = ", ".join(f"{k}={v}" for k, v in self.config_needs().items()) or "-"
        return {"option": self.name, "version": self.version, "installed with": self.installed_with,
                "between nodes": self.between_nodes,
                "NetworkPolicy": "enforced" if self.enforces_policy else "NOT enforced", "kind config needs": needs}


@dataclass(frozen=True)
class Kindnet(NetworkOption):
    name: str = "kindnet"
    title: str = "kindnet (kind's default)"
    version: str = "built into the node image"
    installed_with: str = "built in"
    between_nodes: str = "plain routes"
    design: str = ("kindnetd runs on every node, gives each node a podCIDR slice and adds plain routes to the "
                   "other nodes' slices over the kind Docker network (no overlay, no encapsulation); the `ptp` "
                   "plugin wires each pod with a veth. Since kind v0.24 it also enforces NetworkPolicy "
                   "(kube-network-policies, nfqueue).")

    def config_needs(self) -> dict[str, Any]:
        return {"disable_default_cni": False}

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        return Plan("kindnet: nothing to install, wait until it runs").add(
            _rollout(target, "kube-system", "daemonset/kindnet", timeout, "Wait for kindnet on every node"),
            _nodes_ready(target, timeout))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("kindnet is part of the node image").add(
            Step("Nothing to uninstall", Cmd(target.kubectl("get", "daemonset", "-n", "kube-system", "kindnet")),
                 why="kindnet comes with kind; create the cluster with disableDefaultCNI: true to leave it out"))


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

    def helm_values(self, cfg: ClusterConfig) -> dict[str, Any]:
        import yaml

        key = "values_kpr" if self.kube_proxy_replacement else "values"
        values = yaml.safe_load((environments_dir() / str(_pins("cilium")[key])).read_text())
        if self.kube_proxy_replacement:
            values["k8sServiceHost"] = f"{cfg.name}-control-plane"
        return dict(values)

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        import yaml

        self.check_config(cfg)
        p = _pins("cilium")
        h = target.helm
        values = yaml.safe_dump(self.helm_values(cfg), sort_keys=False)
        why = ("values from environments/" + str(p["values_kpr" if self.kube_proxy_replacement else "values"]) +
               ("; the agent reaches the API server at the control-plane node directly, because without "
                "kube-proxy the `kubernetes` Service IP is not routable until Cilium itself runs"
                if self.kube_proxy_replacement else ""))
        return Plan(f"Install {self.title} {self.version}").add(
            Step("Add Cilium's Helm repository", Cmd((target.helm_bin, "repo", "add", "cilium", str(p["repo"]),
                                                      "--force-update")),
                 why="--force-update makes the step repeatable"),
            Step(f"Install (or upgrade) the cilium chart {self.version}",
                 Cmd(h("upgrade", "--install", "cilium", str(p["chart"]), "--version", self.version,
                       "--namespace", "kube-system", "--values", "-"), stdin=values),
                 why=why, timeout=600),
            _rollout(target, "kube-system", "daemonset/cilium", timeout, "Wait for the Cilium agent on every node"),
            _rollout(target, "kube-system", "deployment/cilium-operator", timeout, "Wait for the Cilium operator"),
            _nodes_ready(target, timeout))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("Remove Cilium").add(
            Step("Uninstall the Helm release", Cmd(target.helm("uninstall", "cilium", "--namespace", "kube-system",
                                                               "--ignore-not-found")),
                 why="eBPF programs stay attached on the nodes until they restart: recreate the cluster "
                     "before benchmarking another CNI"))


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
            Step("Verify the download against it", Cmd(("sh", "-c", f'cd "{cache}" && sha256sum -c {tgz}.sha256')),
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


@dataclass(frozen=True)
class NoCNI(NetworkOption):
    name: str = "none"
    title: str = "no CNI (bring your own)"
    version: str = "-"
    design: str = ("The cluster is made with disableDefaultCNI: true and nothing else: nodes stay NotReady and "
                   "pods Pending until you install a CNI yourself. Useful to install one by hand, step by step.")

    @property
    def profile(self) -> str:
        return "no-cni"

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        self.check_config(cfg)
        return Plan("No CNI: install one yourself").add(
            Step("Show the nodes (NotReady until a CNI runs)", Cmd(target.kubectl("get", "nodes", "-o", "wide"))))

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None,
               cross_node: bool | None = None) -> Plan:
        raise BadInput("CNI to verify", "none", ", ".join(INSTALLABLE),
                       fix="install a CNI first; then `labkit verify --cni NAME`")

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("Nothing to remove")


#: Weave Net: retired. Decision (2026-11): upstream weaveworks/weave is archived (Weaveworks closed in
#: 2024) and has had no release since 2.8.1 (2021); kops dropped it after it stopped working with
#: Kubernetes 1.23 workloads. A community fork (rajch/weave, 2.9.0, Dec 2024) serves its manifest from a
#: personal web app rather than a release we can pin by version and checksum, has one maintainer and
#: nothing since 2024. A lab that teaches production choices should not make that choice look normal,
#: and labkit will not run an unpinned manifest. So ``--cni weave`` explains and refuses.
WEAVE = NotInstalled(
    "weave", "Weave Net",
    "weaveworks/weave was archived when Weaveworks shut down in 2024, with no release since 2.8.1 (2021). labkit "
    "does not install it. The community fork rajch/weave (2.9.0, Dec 2024) serves its manifest from a personal "
    "site, not a pinned release with a checksum.",
    fix="pick calico, cilium, cilium-kpr, flannel or kindnet. To try the fork anyway, at your own risk, on a cluster "
        "made with `labkit up --cni none`: kubectl apply -f https://reweave.azurewebsites.net/k8s/v1.29/net.yaml",
    retired=True,
    design=("Weave Net built a mesh of weave routers, one per node, that learn about each other by gossip; "
            "traffic went through the kernel's Open vSwitch datapath ('fast datapath', VXLAN) or a user-space "
            "'sleeve' fallback, optionally encrypted, and weave-npc enforced NetworkPolicy with iptables. It needed "
            "no etcd and no cloud integration, which made it popular for small clusters."),
    columns={"installed with": "-", "between nodes": "VXLAN (fast datapath) / sleeve",
             "NetworkPolicy": "enforced (weave-npc)", "kind config needs": "-"})

OPTIONS = Options("network", "CNI", {
    "kindnet": Kindnet(),
    "calico": Calico(),
    "cilium": Cilium(),
    "cilium-kpr": Cilium(kube_proxy_replacement=True),
    "flannel": Flannel(),
    "weave": WEAVE,
    "none": NoCNI(),
}, example="e.g. `labkit up --cni calico`")
INSTALLABLE = OPTIONS.installable
CNIS = tuple(k for k in INSTALLABLE if k != "none")  # the ones that give pods a network


def option(name: str, version: str | None = None) -> NetworkOption:
    """The CNI option called ``name`` (``calico@v3.31.2`` names its version too); see :meth:`Options.get`."""
    return OPTIONS.get(name, version)  # type: ignore[return-value]


def options_table() -> Any:
    """The CNI options side by side (pandas DataFrame), for the chapter."""
    table = OPTIONS.table()
    return table[table["option"] != "none"].reset_index(drop=True)
