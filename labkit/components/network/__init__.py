"""Component: the pod network (chapter 03) — CNI options on kind, their verify, and the network benchmarks.

========================= =====================================================================
options.py                kindnet, Calico, Cilium (± kube-proxy replacement), Flannel; Weave retired
verify.py                 the same proof for every CNI: DNS, pod to pod, Services, NetworkPolicy
detect.py                 which CNI an existing cluster runs
engine_cells.py           the N0-N2 ladder and Docker's drivers on the local engine
swarm_cells.py            Swarm's VXLAN overlay on Docker-in-Docker nodes
kube_cells.py             N2, N3 and the CNI's own paths on a kind cluster or any cluster
compare.py                CNI against CNI, a fresh kind cluster each; the ladder of ratios
datapath.py               a packet's path per CNI (facts with sources) and the picture of it
========================= =====================================================================
"""

from __future__ import annotations

from typing import Any

from labkit.components.base import Component, lazy_exports


def _options() -> Any:
    from labkit.components.network.options import OPTIONS

    return OPTIONS


def _suites() -> list[Any]:
    from labkit.bench import net
    from labkit.bench.registry import Suite, TargetCells
    from labkit.components.network import engine_cells, kube_cells
    from labkit.components.network.options import OPTIONS

    def tests(request: Any, prof: Any) -> list[Any]:
        chosen = list(request.tests) if request.tests else list(prof.net_tests)
        return net.net_tests(chosen, duration_s=request.duration_s or prof.net_duration_s, omit_s=prof.net_omit_s,
                             streams=prof.streams)

    def on_kind(request: Any) -> Any:
        cni = kube_cells.check_cni(request.cni or "kindnet")
        return kube_cells.cells(cni, version=OPTIONS.get(cni).version)

    def on_cluster(request: Any) -> Any:
        return kube_cells.cells(request.cni or "unknown", bridge=request.docker_network is not None)

    return [Suite("net", "network", "network paths: iperf3 throughput, sockperf latency", tests, {
        "engine": TargetCells(lambda r: dict(engine_cells.CELLS), engine_cells.open_cell),
        "kind": TargetCells(on_kind, kube_cells.open_cell, local=kube_cells.DOCKER_CELLS),
        "cluster": TargetCells(on_cluster, kube_cells.open_cell, local=kube_cells.DOCKER_CELLS)})]


COMPONENT = Component("network", "Network (CNI)", "03-network", options=_options, up_flag="cni", up_order=10,
                      suites=_suites,
                      summary="kindnet, Calico, Cilium, Flannel, Weave Net (retired)",
                      live_on="kind, cluster", binder="plans only")


_MODULES = ("options", "calico", "cilium", "flannel", "verify", "detect", "engine_cells", "swarm_cells", "kube_cells",
            "compare", "datapath")

#: Public names of this component and the module that defines each (imported on first use).
_EXPORTS = {
    "OPTIONS": "options",
    "INSTALLABLE": "options",
    "CNIS": "options",
    "option": "options",
    "options_table": "options",
    "NetworkOption": "options",
    "Kindnet": "options",
    "Calico": "calico",
    "Cilium": "cilium",
    "Flannel": "flannel",
    "NoCNI": "options",
    "WEAVE": "options",
    "CniComparison": "compare",
    "cluster_name": "compare",
    "compare_cnis": "compare",
    "ladder": "compare",
    "run_on_cluster": "compare",
    "summary": "compare",
    "detect_cni": "detect",
    "cell_manifests": "kube_cells",
    "CNI_DAEMONSETS": "detect",
    "Datapath": "datapath",
    "NodeFact": "datapath",
    "packet_path": "datapath",
    "live_nodes": "datapath",
    "live_pod_subnet": "datapath",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, _MODULES)
