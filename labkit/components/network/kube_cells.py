"""Network cells on Kubernetes (a kind cluster, or any cluster): N2, N3 and the CNI's own paths.

============== ===== ================================================================= ===========
cell           level path                                                              baseline
============== ===== ================================================================= ===========
kind-bridge    N2    two plain containers on the kind Docker network (the nodes' wire) -
hostnet        N3    ``hostNetwork`` pods on two nodes: node IP to node IP             kind-bridge
pod-same-node        pod IP to pod IP, both pods on one node                           hostnet
pod-cross-node       pod IP to pod IP, the pods on two nodes                           hostnet
clusterip            a ClusterIP Service in front of the server pod, two nodes         hostnet
============== ===== ================================================================= ===========

Every cell's component is the CNI under test, so one stored run per CNI carries its name.
Pods are pinned with ``nodeName`` (workers first; the control plane, tolerated, only
when fewer than two workers exist); a one-node cluster makes the cross-node cells
unavailable with the reason. What a learner would type (applying the pods, ``kubectl exec``
of iperf3 and sockperf, deleting by label) runs through a :class:`~labkit._run.Runner` as
``kubectl`` argv spelled by a :class:`~labkit.targets.kube.KubeTarget`, so the commands a test
records are the commands a learner can paste; reads, readiness waits and diagnostics go through
the API (:class:`labkit.k8s.Cluster`). All nodes of a kind cluster share one kernel: these cells
measure overhead relative to this host, not production throughput.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import Any

from labkit import docker
from labkit.bench import net
from labkit.bench.cells import Cell, Measurement
from labkit.bench.kube import (
    CONTROL_PLANE,
    NAMESPACE,
    BenchCluster,
    LabelledObjects,
    Placement,
    namespace_manifest,
    object_labels as _labels,
    parse_nodes,
    place,
    selector as _selector,
    wait_ready,
)
from labkit.components.network import engine_cells
from labkit.errors import BadInput, CommandError, LabkitError, Unavailable
from labkit.log import log
from labkit.manifests import to_yaml

SUITE = "net"
CNIS = ("kindnet", "calico", "cilium", "cilium-kpr", "flannel")
N2, N3 = "kind-bridge", "hostnet"
DOCKER_CELLS = frozenset({N2})  # cells that run on the Docker engine beside the nodes, not in the cluster
CROSS_NODE = frozenset({N3, "pod-cross-node", "clusterip"})
# hostNetwork servers listen in the node's own namespace: keep clear of ports a node may use.
HOSTNET_IPERF_PORT, HOSTNET_SOCKPERF_PORT = 25201, 21111
POD_TIMEOUT = 180.0


def check_cni(cni: str) -> str:
    """``cni`` if labkit can build a kind cluster with it, else :class:`BadInput` naming the choices."""
    if cni not in CNIS:
        raise BadInput("CNI", cni, ", ".join(CNIS), fix="pick one of them, e.g. --cni kindnet,calico")
    return cni


def cells(cni: str, *, bridge: bool = True, version: str | None = None) -> dict[str, Cell]:
    """The cells measuring ``cni``; ``bridge=False`` drops N2 (a cluster with no kind network here)."""
    config = {"cni": cni, "version": version}

    def cell(name: str, description: str, baseline: str | None, level: str | None, placement: str,
             path: str) -> Cell:
        return Cell(SUITE, name, description, baseline, level, placement, path, component=cni, config=config,
                    no_impair="impairments on cluster cells are not supported yet")

    out = {
        N2: cell(N2, "two plain containers on the kind Docker network (the nodes' own wire)", None, "N2",
                 "same-host", "docker-bridge"),
        N3: cell(N3, "hostNetwork pods on two nodes, node IP to node IP", N2 if bridge else None, "N3",
                 "cross-node", "hostnet"),
        "pod-same-node": cell("pod-same-node", "pod IP to pod IP, both pods on one node", N3, None, "same-node",
                              "pod-ip"),
        "pod-cross-node": cell("pod-cross-node", "pod IP to pod IP across two nodes", N3, None, "cross-node",
                               "pod-ip"),
        "clusterip": cell("clusterip", "client to a ClusterIP Service in front of the server pod, across two nodes",
                          N3, None, "cross-node", "clusterip"),
    }
    if not bridge:
        del out[N2]
    return out


# --- manifests (plain dicts; pure) -----------------------------------------------------------------------


def nodes_for(placement: Placement, cell: str) -> tuple[str, str]:
    """(server node, client node) of a network cell: two nodes for the cross-node cells."""
    return placement.nodes_for(cell, cross_node=cell in CROSS_NODE)


def object_labels(session: str, cell: str, side: str | None = None) -> dict[str, str]:
    return _labels(session, f"bench-{cell}", **({"side": side} if side else {}))


def selector(session: str, cell: str) -> str:
    return _selector(session, f"bench-{cell}")


def pod_name(session: str, cell: str, side: str) -> str:
    return f"lk-{session}-{cell}-{'srv' if side == 'server' else 'cli'}"


def ports(cell: str) -> tuple[int, int]:
    """(iperf3, sockperf) ports of a cell's server."""
    return (HOSTNET_IPERF_PORT, HOSTNET_SOCKPERF_PORT) if cell == N3 else (net.IPERF_PORT, net.SOCKPERF_PORT)


def server_script(iperf_port: int, sockperf_port: int) -> str:
    """iperf3 restarted whenever it exits (a killed client can leave it busy; ``pkill`` resets it),
    then, once iperf3 listens, sockperf in the foreground pinned to CPU 0 like the engine cells."""
    iperf = shlex.join(net.iperf3_server_argv(iperf_port))
    sockperf = shlex.join(["taskset", "--cpu-list", "0", *net.sockperf_server_argv(sockperf_port)])
    return (f"(while :; do {iperf}; sleep 0.2; done) & "
            f"until ss -Hltn | grep -q ':{iperf_port} '; do sleep 0.1; done; exec {sockperf}")


def _pod(cell: str, side: str, *, session: str, image: str, node: str, host_network: bool, tolerate: bool,
         command: list[str], ports_: list[dict[str, Any]] | None = None,
         probe_port: int | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": side, "image": image, "imagePullPolicy": "IfNotPresent",
                                 "command": command}
    if ports_:
        container["ports"] = ports_
    if probe_port is not None:
        container["readinessProbe"] = {"tcpSocket": {"port": probe_port}, "periodSeconds": 2, "failureThreshold": 3}
    spec: dict[str, Any] = {
        "nodeName": node,                      # pinned: placement is the point of the cell
        "restartPolicy": "Never",              # a dead server is a failed cell, not a silent restart
        "terminationGracePeriodSeconds": 1,
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "containers": [container],
    }
    if host_network:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if tolerate:
        spec["tolerations"] = [{"key": CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(session, cell, side), "namespace": NAMESPACE,
                         "labels": object_labels(session, cell, side)},
            "spec": spec}


def service_manifest(cell: str, *, session: str) -> dict[str, Any]:
    iperf, sockperf = ports(cell)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"lk-{session}-{cell}", "namespace": NAMESPACE,
                         "labels": object_labels(session, cell)},
            "spec": {"type": "ClusterIP",
                     "selector": object_labels(session, cell, "server"),
                     "ports": [{"name": "iperf3", "port": iperf, "targetPort": iperf, "protocol": "TCP"},
                               {"name": "iperf3-udp", "port": iperf, "targetPort": iperf, "protocol": "UDP"},
                               {"name": "sockperf", "port": sockperf, "targetPort": sockperf, "protocol": "TCP"}]}}


def cell_manifests(cell: str, *, session: str, image: str, placement: Placement) -> list[dict[str, Any]]:
    """The Pods (and Service, for clusterip) of one cluster cell; raises Unavailable if it cannot be placed."""
    server_node, client_node = nodes_for(placement, cell)
    iperf, sockperf = ports(cell)
    host = cell == N3
    common = {"session": session, "image": image, "host_network": host,
              "tolerate": placement.tolerate_control_plane}
    container_ports = [{"name": "iperf3", "containerPort": iperf, "protocol": "TCP"},
                       {"name": "iperf3-udp", "containerPort": iperf, "protocol": "UDP"},
                       {"name": "sockperf", "containerPort": sockperf, "protocol": "TCP"}]
    out = [_pod(cell, "server", node=server_node, command=["sh", "-c", server_script(iperf, sockperf)],
                ports_=container_ports, probe_port=sockperf, **common),
           _pod(cell, "client", node=client_node, command=["sleep", "infinity"], **common)]
    if cell == "clusterip":
        out.append(service_manifest(cell, session=session))
    return out


def all_manifests(node_list: dict[str, Any], *, session: str = "0123456789", image: str | None = None,
                  cni: str = "kindnet") -> list[dict[str, Any]]:
    """Every object the cluster cells would create on a cluster with these nodes (for schema checks)."""
    from labkit.versions import tools_image

    placement = place(parse_nodes(node_list))
    out = [namespace_manifest()]
    for name in cells(cni):
        if name in DOCKER_CELLS:
            continue
        try:
            out += cell_manifests(name, session=session, image=image or tools_image(), placement=placement)
        except Unavailable:
            continue
    return out


@dataclass
class PodPair:
    """Client and server pods of one cell and the address the client dials."""

    cell: Cell
    cluster: BenchCluster
    session: str
    address: str
    iperf_port: int
    sockperf_port: int
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def client(self) -> str:
        return pod_name(self.session, self.cell.name, "client")

    @property
    def server(self) -> str:
        return pod_name(self.session, self.cell.name, "server")

    def exec_argv(self, pod: str, argv: list[str], *, timeout: float) -> list[str]:
        """``kubectl exec`` of ``argv`` in ``pod``, bounded inside the pod too (a killed kubectl does
        not stop the remote process; coreutils ``timeout`` does)."""
        return list(self.cluster.target.kubectl(
            "exec", "--namespace", NAMESPACE, pod, "--",
            "timeout", "--kill-after=5", f"{timeout:g}", *argv))

    def _exec(self, pod: str, argv: list[str], *, timeout: float, quiet: bool) -> Any:
        return self.cluster.runner.run(self.exec_argv(pod, argv, timeout=timeout), timeout=timeout + 30,
                                       check=False, quiet=quiet)

    def measure(self, test: net.NetTest, *, timeout: float, quiet: bool = False) -> Measurement:
        if test.tool == "sockperf":
            argv = net.sockperf_client_argv(self.address, test, port=self.sockperf_port)
            res = self._exec(self.client, argv, timeout=timeout, quiet=quiet)
            metrics = _parsed(net.parse_sockperf, res.stdout + res.stderr, res)
            return Measurement(metrics, net.sockperf_version(res.stdout + res.stderr), test.scenario())
        argv = net.iperf3_client_argv(self.address, test, port=self.iperf_port)
        res = self._exec(self.client, argv, timeout=timeout, quiet=quiet)
        if "server is busy" in res.stdout:  # a killed client left the server mid-test: the loop restarts it
            self._exec(self.server, ["pkill", "-x", "iperf3"], timeout=10, quiet=True)
            time.sleep(0.5)
            res = self._exec(self.client, argv, timeout=timeout, quiet=quiet)
        if res.timed_out:
            raise net.ParseError(f"iperf3 did not finish within {timeout:g} s")
        return Measurement(_parsed(net.parse_iperf3, res.stdout, res), net.iperf3_version(res.stdout),
                           test.scenario())

    def alive(self) -> str | None:
        """Why the cell's pods can no longer be measured, or None. A failure to *read* them is not
        a verdict (the harness would give up on the cell for good): the measurement will tell."""
        try:
            pods = {p.name: p for p in self.cluster.api.pods(NAMESPACE, selector(self.session, self.cell.name))}
        except LabkitError:
            return None
        for name in (self.server, self.client):
            pod = pods.get(name)
            if pod is None:
                return f"pod {name} is gone (deleted or evicted?)"
            if pod.phase != "Running" or pod.deleting:
                return f"pod {name} is {'being deleted' if pod.deleting else pod.phase or 'Unknown'}"
        return None

    def impair(self, spec: Any, *, calibrate: Any = None) -> str:
        raise Unavailable(f"cannot impair cell {self.cell.name}: impairments on cluster cells are not "
                          "supported yet", fix="impair an engine cell (e.g. bridge), or run without --impair")


def _parsed(parse: Any, text: str, res: Any) -> dict[str, float]:
    """Parse a tool's output; when there is none and kubectl failed, raise kubectl's error instead."""
    try:
        return dict(parse(text))
    except net.ParseError as exc:
        if not res.ok and res.stderr.strip() and not res.stdout.strip():
            raise CommandError(res.argv, res.returncode, res.stdout, res.stderr) from exc
        raise


def _address(cluster: BenchCluster, session: str, cell: str, pods: list[Any]) -> str:
    """What the client dials: the Service's ClusterIP (clusterip), else the server pod's IP as the
    readiness wait saw it (a hostNetwork pod's IP is its node's)."""
    if cell == "clusterip":
        ip = cluster.api.get("v1", "Service", f"lk-{session}-{cell}", NAMESPACE).get("spec", {}).get("clusterIP")
    else:
        server = pod_name(session, cell, "server")
        ip = next((p.ip for p in pods if p.name == server), None)
    if not ip or ip == "None":
        raise Unavailable(f"{cell}: the server has no IP address yet", fix="kubectl get pods,services -n labkit-bench")
    return str(ip)


def open_pods(name: str, scope: docker.Scope, ctx: dict[str, Any]) -> PodPair:
    """Apply a cell's manifests, wait for Ready, find the address to dial."""
    cluster: BenchCluster = ctx["cluster"]
    cell = ctx["cells"][name]
    timeout = float(ctx.get("pod_timeout") or POD_TIMEOUT)
    objects = cell_manifests(name, session=scope.session, image=ctx["image"], placement=cluster.placement)
    scope.adopt(LabelledObjects(cluster, scope.session, f"bench-{name}", "pods,services"))
    try:
        cluster.kubectl("apply", "--filename", "-", stdin=to_yaml(objects))
    except CommandError as exc:
        raise Unavailable(f"{name}: the cluster refused the manifests: {exc.stderr.strip()[-300:]}",
                          fix="read the message (admission policy? quota?); the manifests are in "
                          "labkit.components.network.kube_cells.cell_manifests") from exc
    pods = wait_ready(cluster, name, selector(scope.session, name), count=2, timeout=timeout,
                      fix=f"is {ctx['image']} in the nodes? (labkit.targets.kind.load_images, or "
                          f"`kind load docker-image {ctx['image']} --name {cluster.target.node_prefix}`)")
    iperf, sockperf = ports(name)
    pair = PodPair(cell, cluster, scope.session, _address(cluster, scope.session, name, pods), iperf, sockperf)
    server_node, client_node = nodes_for(cluster.placement, name)
    pair.notes.update(server_node=server_node, client_node=client_node)
    log(f"✓ cell {name}: {cell.description} (server {pair.address} on {server_node}, client on {client_node})")
    return pair


def open_bridge(name: str, scope: docker.Scope, ctx: dict[str, Any]) -> engine_cells.NetPair:
    """N2: two tools containers on the kind Docker network (labelled; the network is not ours to remove)."""
    network = ctx.get("docker_network") or "kind"
    if not docker.network_exists(network):
        raise Unavailable(f"{name}: there is no Docker network {network!r} (kind makes 'kind' with its first "
                          "cluster)", fix="create a kind cluster first, or pass the right docker_network")
    caps = ["NET_ADMIN"] if ctx.get("impair") else []
    srv, cli = engine_cells._boxes(scope, ctx["image"], name, network=network, caps=caps)
    pair = engine_cells.NetPair(ctx["cells"][name], cli, srv, docker.ip_on(srv, network), shaping_dev="eth0")
    pair.start_servers()
    log(f"✓ cell {name}: two containers on Docker network {network} (server {pair.address})")
    return pair


def open_cell(name: str, scope: docker.Scope, ctx: dict[str, Any]) -> Any:
    """Set up one cluster cell; raises :class:`Unavailable` with the reason.

    ``ctx``: ``cells`` (this run's cells by name), ``image`` (pinned tools image), ``cluster``
    (from :func:`prepare`; not needed for N2), ``docker_network``, ``pod_timeout``, ``impair``.
    """
    if name in DOCKER_CELLS:
        return open_bridge(name, scope, ctx)
    if ctx.get("cluster") is None:
        raise Unavailable(f"{name}: no cluster to run pods in", fix="pass a KubeTarget (kube=...)")
    return open_pods(name, scope, ctx)
