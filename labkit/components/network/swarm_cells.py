"""Overlay cells: Docker Swarm's VXLAN overlay, same node and across nodes, on a 2-node DinD swarm.

================== ============================================================ ========
cell               path                                                         baseline
================== ============================================================ ========
dind-bridge        two containers on the default bridge *inside* one DinD node   bridge
overlay-same-node  two containers on the swarm overlay, both on node1            bridge
overlay-cross-node client on node1, server on node2: VXLAN between the nodes     bridge
================== ============================================================ ========

The three cells share one swarm per run (set up by the first, removed with the run's
scope). ``dind-bridge`` separates the cost of nesting (a container inside a container
adds a veth and a bridge) from the cost of VXLAN: compare the overlay cells with it, and
all three with ``bridge`` (N2). The swarm needs no ``--privileged`` (see labkit.swarm).
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from dataclasses import dataclass
from typing import Any

from labkit import docker
from labkit.bench import net
from labkit.bench.cells import Cell, Measurement, engine_cell
from labkit.errors import LabkitError, Unavailable
from labkit.log import log

SUITE = "net"
CELLS: dict[str, Cell] = {
    "dind-bridge": engine_cell(SUITE, "dind-bridge", "two containers on the bridge inside one DinD node", "bridge",
                               None, "bridge"),
    "overlay-same-node": engine_cell(SUITE, "overlay-same-node", "swarm overlay (VXLAN), both ends on one node",
                                     "bridge", None, "overlay"),
    "overlay-cross-node": engine_cell(SUITE, "overlay-cross-node", "swarm overlay (VXLAN) between two DinD nodes",
                                      "bridge", None, "overlay"),
}
CELLS["overlay-cross-node"] = dataclasses.replace(CELLS["overlay-cross-node"], placement="cross-node")
CELLS = {k: dataclasses.replace(c, no_impair="its client runs inside a Docker-in-Docker node, where labkit does not "
                                              "shape traffic") for k, c in CELLS.items()}
_swarms: dict[str, Any] = {}  # scope session -> DindSwarm


@dataclass
class SwarmCloser:
    session: str

    def remove(self) -> None:
        swarm = _swarms.pop(self.session, None)
        if swarm is not None:
            swarm.close()


def _swarm(scope: docker.Scope, image: str) -> Any:
    from labkit.targets import swarm as swarm_mod

    if scope.session not in _swarms:
        sw = swarm_mod.DindSwarm(nodes=2, images=(image,), session=scope.session)  # the run's label: found with it
        scope.adopt(SwarmCloser(scope.session))
        _swarms[scope.session] = sw
        try:
            sw.up()
        except LabkitError as exc:  # a bug is a bug: only labkit's own failures make the cells unavailable
            raise Unavailable(f"the DinD swarm for the overlay cells did not come up: "
                              f"{getattr(exc, 'message', exc)}", fix="see labkit.swarm; `labkit clean` removes "
                              "what is left") from exc
    return _swarms[scope.session]


@dataclass
class NestedPair:
    """Client and server containers run by DinD nodes' inner daemons."""

    cell: Cell
    client_node: Any
    server_node: Any
    client: str
    server: str
    address: str = ""

    def _in(self, node: Any, inner: str, argv: list[str], *, timeout: float, quiet: bool = True) -> Any:
        return docker.exec_in(node, ["docker", "exec", inner, *argv], timeout=timeout, quiet=quiet)

    def start_servers(self, *, timeout: float = 30) -> None:
        for argv in (net.iperf3_server_argv(), ["taskset", "--cpu-list", "0", *net.sockperf_server_argv()]):
            docker.exec_in(self.server_node, ["docker", "exec", "-d", self.server, *argv], timeout=30, quiet=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self._in(self.server_node, self.server, ["ss", "-Hltn"], timeout=10).stdout
            if f":{net.IPERF_PORT} " in out and f":{net.SOCKPERF_PORT} " in out:
                return
            time.sleep(0.25)
        raise Unavailable(f"{self.cell.name}: servers did not start listening within {timeout:g} s")

    def alive(self) -> str | None:
        for node in (self.client_node, self.server_node):
            if not docker.is_running(node):
                return f"DinD node {node.name} is gone or stopped (killed?)"
        return None

    def measure(self, test: net.NetTest, *, timeout: float, quiet: bool = False) -> Measurement:
        if test.tool == "sockperf":
            res = self._in(self.client_node, self.client, net.sockperf_client_argv(self.address, test),
                           timeout=timeout, quiet=quiet)
            text = res.stdout + res.stderr
            return Measurement(net.parse_sockperf(text), net.sockperf_version(text), test.scenario())
        res = self._in(self.client_node, self.client, net.iperf3_client_argv(self.address, test), timeout=timeout,
                       quiet=quiet)
        if res.timed_out:
            raise net.ParseError(f"iperf3 did not finish within {timeout:g} s")
        return Measurement(net.parse_iperf3(res.stdout), net.iperf3_version(res.stdout), test.scenario())

    def impair(self, spec: Any, **_: Any) -> str:
        raise Unavailable(f"cannot impair {self.cell.name}: its client runs inside a DinD node")


def run_inner(node: Any, name: str, network: str, image: str) -> None:
    argv = ["docker", "run", "--detach", "--name", name, "--network", network, image, "sleep", "infinity"]
    res = docker.exec_in(node, argv, timeout=60, quiet=True)
    if not res.ok:
        raise Unavailable(f"could not start {name} in {node.name}: `{shlex.join(argv)}`: "
                          f"{(res.stderr or res.stdout).strip()[-300:]}")


def inner_ip(node: Any, name: str, network: str) -> str:
    fmt = "{{(index .NetworkSettings.Networks \"" + network + "\").IPAddress}}"
    return str(docker.exec_in(node, ["docker", "inspect", "--format", fmt, name], timeout=30, quiet=True)
               .stdout.strip())


def open_cell(name: str, scope: docker.Scope, ctx: dict[str, Any]) -> NestedPair:
    image: str = ctx["image"]
    sw = _swarm(scope, image)
    n1 = docker.container(str(sw.node_container("node1")))
    n2 = docker.container(str(sw.node_container("node2")))
    if n1 is None or n2 is None:
        raise Unavailable(f"{name}: a DinD swarm node vanished right after it was made",
                          fix="run `labkit clean`, then run the benchmark again")
    tag = name.replace("overlay-", "ov-").replace("-node", "")
    network = "bridge" if name == "dind-bridge" else sw.network
    server_node = n2 if name == "overlay-cross-node" else n1
    srv, cli = f"lk-{tag}-srv", f"lk-{tag}-cli"
    run_inner(server_node, srv, network, image)
    run_inner(n1, cli, network, image)
    pair = NestedPair(CELLS[name], n1, server_node, cli, srv)
    pair.address = inner_ip(server_node, srv, network)
    pair.start_servers()
    log(f"✓ cell {name}: {CELLS[name].description} (server {pair.address})")
    return pair
