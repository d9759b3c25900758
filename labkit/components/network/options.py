"""Pod network (CNI) options: what each needs from the cluster, how it is installed, how it is proven.

Each option is a small frozen object with the same five answers:

* ``config_needs`` — the kind config it requires (``disableDefaultCNI``, a podSubnet,
  ``kubeProxyMode``); :meth:`check_config` turns a mismatch into a clear error;
* ``install(target, cfg)`` — a :class:`~labkit.steps.Plan`: the exact kubectl / helm /
  docker commands, each with a check so a re-run resumes where it stopped;
* ``verify(target, image)`` — the shared verify plan (:mod:`labkit.components.network.verify`)
  with this CNI's NetworkPolicy expectation;
* ``uninstall(target)`` — what removes it (on kind, deleting the cluster is cleaner:
  pods keep addresses from a CNI that is gone);
* ``manifests(cfg)`` / ``values(cfg)`` — every object labkit writes, for schema tests.

Weave Net is a retired :class:`~labkit.components.base.NotInstalled` entry: asking for it explains and refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components.base import NotInstalled, Options
from labkit.components.kube import rollout_step as _rollout
from labkit.components.network.base import TIMEOUT, NetworkOption, _nodes_ready, _pins, tested_note  # noqa: F401
from labkit.errors import BadInput
from labkit.steps import Plan, Step
from labkit.targets.kind import sources as src
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget


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
            _rollout(target, "kube-system", "daemonset/kindnet", timeout, "Wait for kindnet on every node",
                     source=src.kind("pkg/build/nodeimage/const_cni.go", cfg.kubernetes, "L83-L86"),
                     logs=("app=kindnet", "kindnet-cni")),
            *_nodes_ready(target, timeout, cfg))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("kindnet is part of the node image").add(
            Step("Nothing to uninstall", Cmd(target.kubectl("get", "daemonset", "-n", "kube-system", "kindnet")),
                 why="kindnet comes with kind; create the cluster with disableDefaultCNI: true to leave it out",
                 source=src.kind(src.KIND_CONFIGURATION, None, "L200-L216")))


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
            Step("Show the nodes (NotReady until a CNI runs)", Cmd(target.kubectl("get", "nodes", "-o", "wide")),
                 why="kind's docs: disabling the default CNI is \"a power user feature with limited support\"",
                 source=src.kind(src.KIND_CONFIGURATION, cfg.kubernetes, "L200-L216")))

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

def _options() -> Options:
    from labkit.components.network.calico import Calico
    from labkit.components.network.cilium import Cilium
    from labkit.components.network.flannel import Flannel

    return Options("network", "CNI", {
        "kindnet": Kindnet(),
        "calico": Calico(),
        "cilium": Cilium(),
        "cilium-kpr": Cilium(kube_proxy_replacement=True),
        "flannel": Flannel(),
        "weave": WEAVE,
        "none": NoCNI(),
    }, example="e.g. `labkit up --cni calico`")


OPTIONS = _options()
INSTALLABLE = OPTIONS.installable
CNIS = tuple(k for k in INSTALLABLE if k != "none")  # the ones that give pods a network


def option(name: str, version: str | None = None) -> NetworkOption:
    """The CNI option called ``name`` (``calico@v3.32.1`` names its version too); see :meth:`Options.get`."""
    return OPTIONS.get(name, version)  # type: ignore[return-value]


def options_table() -> Any:
    """The CNI options side by side (pandas DataFrame), for the chapter."""
    table = OPTIONS.table()
    return table[table["option"] != "none"].reset_index(drop=True)
