"""A packet's path per CNI: the datapath facts of each option, and the picture drawn from them.

``option.datapath(cfg)`` answers, for one pod talking to a pod on another node: what the pod's end of
the wire is, what the node does with the packet (plain routes, a bridge, eBPF programs), how it
crosses to the other node (routed, or encapsulated in VXLAN), who translates Service IPs and who
enforces NetworkPolicy. Each fact names the upstream file it comes from, at the pinned version.
:func:`packet_path` draws it; with the live cluster's nodes (``nodes=``) it labels their podCIDRs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit.diagrams import Arrow, Box, Diagram

if TYPE_CHECKING:
    from labkit.targets.kind.config import ClusterConfig

KIND_TAG = "v0.32.0"  # the kind release whose node image (and kindnetd) the default node image comes with
KINDNETD = f"https://github.com/kubernetes-sigs/kind/blob/{KIND_TAG}/images/kindnetd/README.md"


@dataclass(frozen=True)
class Datapath:
    cni: str
    pod_end: str        # the pod's interface
    host_end: str       # the other end of the veth pair, in the node's namespace
    on_node: str        # what forwards the packet on the node
    forwarding: str     # "routes" | "bridge" | "eBPF"
    between: str        # how the packet crosses to the other node
    encapsulated: bool  # is a pod-to-pod packet between two kind nodes wrapped in another header?
    services: str       # who turns a ClusterIP into a pod IP
    policy: str         # who enforces NetworkPolicy ("" = nobody)
    pod_subnet: str
    sources: tuple[str, ...]

    def facts(self) -> dict[str, str]:
        """The facts as a table row (for the chapter and for text-only readers)."""
        return {"CNI": self.cni, "pod side": self.pod_end, "node side": self.host_end, "on the node": self.on_node,
                "between nodes": self.between, "encapsulated here": "yes" if self.encapsulated else "no",
                "Services": self.services, "NetworkPolicy": self.policy or "not enforced",
                "pod subnet": self.pod_subnet}


def _subnet(option: Any, cfg: ClusterConfig | None) -> str:
    if cfg is not None:
        return str(cfg.pod_subnet)
    return str(option.config_needs().get("pod_subnet") or "10.244.0.0/16")


def kindnet(option: Any, cfg: ClusterConfig | None = None) -> Datapath:
    return Datapath(
        option.name, "eth0: one end of a veth pair", "veth…: the pair's node end (ptp plugin, no bridge)",
        "the node's routing table: a /32 route to each local pod; a route to every other node's podCIDR via "
        "that node's IP (kindnetd)", "routes",
        "plain IP routing over the kind Docker network: no encapsulation", False,
        "kube-proxy (iptables rules on every node)", "kindnetd (kube-network-policies, nfqueue)",
        _subnet(option, cfg),
        (KINDNETD, f"https://github.com/kubernetes-sigs/kind/blob/{KIND_TAG}/images/kindnetd/cmd/kindnetd/cni.go"))


def calico(option: Any, cfg: ClusterConfig | None = None) -> Datapath:
    v = option.version
    return Datapath(
        option.name, "eth0: one end of a veth pair", "cali…: the veth's node end (no bridge: Felix routes each "
        "pod's /32 to its veth)", "Felix: routes and iptables rules (policy, NAT)", "routes",
        "VXLANCrossSubnet: routed as is inside one subnet, VXLAN (vxlan.calico, UDP 4789) only across subnets. "
        "The kind nodes share one Docker network, so here packets are routed, not encapsulated", False,
        "kube-proxy (iptables rules on every node)", "Felix (iptables)", _subnet(option, cfg),
        ("environments/cni/calico/custom-resources.yaml (encapsulation: VXLANCrossSubnet)",
         f"https://github.com/projectcalico/calico/blob/{v}/api/pkg/apis/projectcalico/v3/ippool.go",
         f"https://github.com/projectcalico/calico/blob/{v}/felix/config/config_params.go",
         f"https://github.com/projectcalico/calico/blob/{v}/felix/dataplane/linux/dataplanedefs/dataplane_defs.go"))


def cilium(option: Any, cfg: ClusterConfig | None = None) -> Datapath:
    kpr = bool(getattr(option, "kube_proxy_replacement", False))
    return Datapath(
        option.name, "eth0: one end of a veth pair", "lxc…: the veth's node end, with eBPF programs attached (tc)",
        "eBPF programs: forwarding, NAT and policy in the kernel, no iptables chains", "eBPF",
        "VXLAN tunnel (cilium_vxlan, UDP 8472): the chart's default routingMode tunnel, tunnelProtocol vxlan",
        True,
        "Cilium's eBPF load balancer (no kube-proxy)" if kpr else "kube-proxy (iptables rules on every node)",
        "Cilium (eBPF)", _subnet(option, cfg),
        (f"https://github.com/cilium/cilium/blob/v{option.version}/install/kubernetes/cilium/values.yaml",
         f"https://github.com/cilium/cilium/blob/v{option.version}/pkg/datapath/linux/linux_defaults/"
         "linux_defaults.go"))


def flannel(option: Any, cfg: ClusterConfig | None = None) -> Datapath:
    v = option.version
    return Datapath(
        option.name, "eth0: one end of a veth pair", "veth…: the node end, enslaved to the cni0 bridge",
        "the cni0 bridge (the `bridge` plugin flannel delegates to; host-local IPAM), then the node's routes",
        "bridge", "VXLAN (flannel.1, UDP 8472, the kernel's default port): net-conf.json Backend vxlan", True,
        "kube-proxy (iptables rules on every node)", "", _subnet(option, cfg),
        (f"https://github.com/flannel-io/flannel/blob/{v}/Documentation/kube-flannel.yml",
         f"https://github.com/flannel-io/flannel/blob/{v}/Documentation/backends.md",
         "https://github.com/containernetworking/plugins/blob/v1.9.1/plugins/main/bridge/bridge.go"))


FACTS = {"kindnet": kindnet, "calico": calico, "cilium": cilium, "cilium-kpr": cilium, "flannel": flannel}


@dataclass(frozen=True)
class NodeFact:
    name: str
    pod_cidr: str
    internal_ip: str


def packet_path(dp: Datapath, nodes: Sequence[NodeFact] = ()) -> Diagram:
    """Pod A on one node to pod B on another, through what ``dp`` says each hop is."""
    a = nodes[0] if len(nodes) > 0 else None
    b = nodes[1] if len(nodes) > 1 else None

    def side(tag: str, node: NodeFact | None) -> list[Box | None]:
        where = f"pod IP from {node.pod_cidr}" if node and node.pod_cidr else f"pod IP from {dp.pod_subnet}"
        forward_tone = "kernel"
        return [Box(f"pod{tag}", f"pod {tag}", dp.pod_end + "\n" + where, "pod"),
                Box(f"veth{tag}", "veth (node end)", dp.host_end, "kernel"),
                Box(f"fwd{tag}", {"routes": "routing table", "bridge": "bridge cni0", "eBPF": "eBPF programs"}
                    .get(dp.forwarding, dp.forwarding), dp.on_node, forward_tone),
                Box(f"eth{tag}", "node eth0", f"{node.name}: {node.internal_ip}" if node else
                    "on the kind Docker network", "wire")]

    cols = [side("A", a), side("B", b)]
    cross = ("VXLAN: pod packet inside UDP" if dp.encapsulated else "routed, no encapsulation")
    arrows = [Arrow("podA", "vethA", "veth pair"), Arrow("vethA", "fwdA"), Arrow("fwdA", "ethA"),
              Arrow("ethA", "ethB", cross), Arrow("ethB", "fwdB"), Arrow("fwdB", "vethB"),
              Arrow("vethB", "podB", "veth pair")]
    headers = [f"node A{': ' + a.name if a else ''}", f"node B{': ' + b.name if b else ''}"]
    caption = (f"Between nodes: {dp.between}. Services: {dp.services}. NetworkPolicy: "
               f"{dp.policy or 'NOT enforced (' + dp.cni + ' implements none)'}.")
    return Diagram(f"A packet from pod A to pod B on another node, with {dp.cni}", cols, arrows, headers=headers,
                   caption=caption, legend=(("pod", "the pod's namespace"), ("kernel", "the node's kernel"),
                                            ("wire", "between nodes")))


def live_nodes(target: Any) -> list[NodeFact]:
    """The cluster's nodes with their podCIDR and InternalIP, read through the API (workers first)."""
    from labkit.bench import kube as bench_kube

    with bench_kube.connect(target) as api:
        out = []
        for node in api.nodes():
            obj = api.get("v1", "Node", node.name)
            out.append(NodeFact(node.name, str((obj.get("spec") or {}).get("podCIDR") or ""), node.internal_ip))
    return sorted(out, key=lambda n: ("control-plane" in n.name, n.name))


def live_pod_subnet(target: Any) -> str:
    """The cluster's pod CIDR as the cluster itself says it: ``networking.podSubnet`` of the kubeadm-config
    ConfigMap (``kubectl -n kube-system get configmap kubeadm-config -o yaml``)."""
    import yaml

    from labkit.bench import kube as bench_kube

    with bench_kube.connect(target) as api:
        cm = api.get("v1", "ConfigMap", "kubeadm-config", "kube-system")
    cluster = yaml.safe_load((cm.get("data") or {}).get("ClusterConfiguration") or "{}") or {}
    return str((cluster.get("networking") or {}).get("podSubnet") or "")
