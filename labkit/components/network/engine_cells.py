"""Network cells on the Docker engine target: the N0-N2 ladder and Docker's drivers.

=============== ===== ========================================================== ========
cell            level path                                                       baseline
=============== ===== ========================================================== ========
loopback        N0    client and server in one container, over ``lo``            -
veth            N1    host network namespace -> veth pair -> a container netns   loopback
bridge          N2    two containers on a user-defined bridge                    loopback
host                  two ``--network host`` containers over the host's loopback loopback
default-bridge        two containers on Docker's default ``bridge``             bridge
macvlan               two containers on macvlan (bridge mode) over a local veth  bridge
ipvlan                two containers on ipvlan L2 over a local veth              bridge
dind-bridge,          Swarm's VXLAN overlay on a 2-node Docker-in-Docker swarm   bridge
overlay-same-node,    (see labkit.bench.swarm_net)
overlay-cross-node
=============== ===== ========================================================== ========

Parents for macvlan/ipvlan are veth links made here (``lkp…``), so no traffic ever
leaves the machine. A driver the kernel lacks (ipvlan on our CI kernel) makes the
cell *unavailable* with the reason; the other cells run on.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from labkit import docker
from labkit.bench import impair, net
from labkit.targets import host as hoststate
from labkit.bench.cells import Cell, Measurement, engine_cell
from labkit.errors import Unavailable
from labkit.log import log

SUITE = "net"


def _cell(name: str, description: str, baseline: str | None, level: str | None, path: str,
          no_impair: str = "") -> Cell:
    return engine_cell(SUITE, name, description, baseline, level, path, no_impair=no_impair)


CELLS: dict[str, Cell] = {
    "loopback": _cell("loopback", "client and server in one container, over lo", None, "N0", "loopback"),
    "veth": _cell("veth", "host netns to a container netns over a veth pair", "loopback", "N1", "veth",
                  "its client is in the host's network namespace: shaping it would shape the host"),
    "bridge": _cell("bridge", "two containers on a user-defined bridge", "loopback", "N2", "bridge"),
    "host": _cell("host", "two --network host containers over 127.0.0.1", "loopback", None, "hostnet",
                  "shaping would throttle the host's own loopback"),
    "default-bridge": _cell("default-bridge", "two containers on the default bridge", "bridge", None, "bridge"),
    "macvlan": _cell("macvlan", "macvlan (bridge mode) over a local veth parent", "bridge", None, "macvlan"),
    "ipvlan": _cell("ipvlan", "ipvlan L2 over a local veth parent", "bridge", None, "ipvlan"),
}


def _overlay_cells() -> dict[str, Cell]:
    from labkit.components.network import swarm_cells as swarm_net

    return swarm_net.CELLS


CELLS.update(_overlay_cells())  # Swarm overlay (same node, across DinD nodes) and the nested-bridge reference


def _octet(session: str, salt: str) -> int:
    return int(hashlib.sha256((session + salt).encode()).hexdigest()[:4], 16) % 250 + 2


def on_host(argv: list[str]) -> str:
    """Run ``argv`` in the host's network namespace, printing the one ``docker run`` that does the same by hand.

    labkit runs it in a short-lived helper container (:func:`labkit.targets.host.host_exec`: create, exec,
    remove); the helper is gone afterwards, so the line printed is the equivalent a learner can type."""
    from labkit.versions import tools_image

    shown = docker.commands.run_argv(tools_image(), command=argv, detach=False, auto_remove=True,
                                     network_mode="host", pid_mode="host", cap_add=["NET_ADMIN", "SYS_ADMIN"],
                                     labels=docker.labels(role="host-helper"))
    log("$ " + shown.shell())
    return hoststate.host_exec(argv, quiet=True)


@dataclass
class HostLink:
    """A veth link in the host namespace; removing it deletes the pair."""

    name: str

    def remove(self) -> None:
        on_host(["sh", "-c", f"ip link del {self.name} 2>/dev/null || true"])


@dataclass
class NetPair:
    """Client and server containers (possibly one) and the address the client dials."""

    cell: Cell
    client: Any
    server: Any
    address: str
    iperf_port: int = net.IPERF_PORT
    sockperf_port: int = net.SOCKPERF_PORT
    shaping_dev: str | None = None
    no_shaping_reason: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def start_servers(self, *, timeout: float = 20) -> None:
        docker.exec_detached(self.server, net.iperf3_server_argv(self.iperf_port))
        docker.exec_detached(self.server, ["taskset", "--cpu-list", "0", *net.sockperf_server_argv(self.sockperf_port)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = docker.exec_in(self.server, ["ss", "-Hltn"], timeout=10, quiet=True)
            if f":{self.iperf_port} " in res.stdout and f":{self.sockperf_port} " in res.stdout:
                return
            time.sleep(0.25)
        raise Unavailable(f"{self.cell.name}: servers did not start listening within {timeout:g} s",
                          fix="see `docker logs` of the server container")

    def alive(self) -> str | None:
        for box in {id(self.client): self.client, id(self.server): self.server}.values():
            if not docker.is_running(box):
                return f"container {box.name} is gone or stopped (killed?)"
        return None

    def measure(self, test: net.NetTest, *, timeout: float, quiet: bool = False) -> Measurement:
        if test.tool == "sockperf":
            res = docker.exec_in(self.client, net.sockperf_client_argv(self.address, test, port=self.sockperf_port),
                                 timeout=timeout, quiet=quiet)
            metrics = net.parse_sockperf(res.stdout + res.stderr)
            return Measurement(metrics, net.sockperf_version(res.stdout + res.stderr), test.scenario())
        argv = net.iperf3_client_argv(self.address, test, port=self.iperf_port)
        res = docker.exec_in(self.client, argv, timeout=timeout, quiet=quiet)
        if "server is busy" in res.stdout:  # a killed client left the server mid-test: restart it
            docker.exec_in(self.server, ["pkill", "-x", "iperf3"], timeout=10, quiet=True)
            docker.exec_detached(self.server, net.iperf3_server_argv(self.iperf_port))
            time.sleep(0.5)
            res = docker.exec_in(self.client, argv, timeout=timeout, quiet=quiet)
        if res.timed_out:
            raise net.ParseError(f"iperf3 did not finish within {timeout:g} s")
        return Measurement(net.parse_iperf3(res.stdout), net.iperf3_version(res.stdout), test.scenario())

    def impair(self, spec: impair.Impairment, *, calibrate: Any = None) -> str:
        """Cap the client's egress with tbf. A relative cap (``rate=90%``) is calibrated on this cell:
        throughput measured unimpaired, the cap set, throughput measured again and the cap corrected
        once if the achieved rate is more than 10 % off target (tbf at multi-Gbit rates costs CPU of
        its own). The description records target and achieved rates."""
        if spec.suite != SUITE:
            raise Unavailable(f"{spec.spec!r} is a storage impairment; cell {self.cell.name} is a network cell")
        if self.shaping_dev is None:
            raise Unavailable(f"cannot impair cell {self.cell.name}: {self.no_shaping_reason}",
                              fix="impair a cell whose client has its own network namespace (e.g. bridge)")
        if not spec.relative:
            self._shape(spec.value)
            return f"tbf rate {impair.describe_rate(spec.value)} on {self.shaping_dev}"
        base = calibrate()
        target = spec.value * base
        rate = target
        self._shape(rate)
        achieved = calibrate()
        if abs(achieved / target - 1) > 0.10:  # one correction, bounded: noise must not run it away
            rate = min(max(rate * target / achieved, 0.5 * target), 1.2 * base)
            self._shape(rate)
            achieved = calibrate()
        return (f"tbf rate {impair.describe_rate(rate)} on {self.shaping_dev}: target {spec.value:.0%} of "
                f"{impair.describe_rate(base)} measured unimpaired, {impair.describe_rate(achieved)} achieved")

    def _shape(self, rate: float) -> None:
        res = docker.exec_in(self.client, impair.tbf_argv(self.shaping_dev or "eth0", rate), timeout=20, quiet=True)
        if not res.ok:
            raise Unavailable(f"tc refused the rate limit on {self.cell.name}: {res.stderr.strip()}",
                              fix="the kernel needs sch_tbf")


def _boxes(scope: docker.Scope, image: str, name: str, *, network: str | None = None,
           caps: list[str] | None = None, **kw: Any) -> tuple[Any, Any]:
    srv = scope.container(image, name=f"lk-{scope.session}-{name}-srv", network=network,
                          cap_add=caps or [], role=f"bench-{name}", **kw)
    cli = scope.container(image, name=f"lk-{scope.session}-{name}-cli", network=network,
                          cap_add=caps or [], role=f"bench-{name}", **kw)
    return srv, cli


def _unsupported(exc: Exception, cell: str, what: str) -> Unavailable | None:
    text = str(getattr(exc, "explanation", None) or exc)
    if "operation not supported" in text or "Unknown device type" in text or "not supported" in text:
        detail = text.strip().splitlines()[-1].split("unable to start container process: ")[-1][:200]
        return Unavailable(f"{cell}: the kernel has no {what} support ({detail})",
                           fix=f"use a kernel built with {what}; the other cells are unaffected")
    return None


def open_cell(name: str, scope: docker.Scope, ctx: dict[str, Any]) -> NetPair:
    """Set up the workloads of one network cell; raises :class:`Unavailable` with the reason."""
    image: str = ctx["image"]
    caps = ["NET_ADMIN"] if ctx.get("impair") else []
    cell = CELLS[name]
    if name in _overlay_cells():
        from labkit.components.network import swarm_cells as swarm_net

        return swarm_net.open_cell(name, scope, ctx)  # type: ignore[return-value]
    sid = scope.session[:6]
    if name == "loopback":
        box = scope.container(image, name=f"lk-{scope.session}-loopback", network_mode="none",
                              cap_add=caps, role="bench-loopback")
        pair = NetPair(cell, box, box, "127.0.0.1", shaping_dev="lo")
    elif name == "veth":
        srv = scope.container(image, name=f"lk-{scope.session}-veth-srv", network_mode="none",
                              cap_add=["NET_ADMIN"], role="bench-veth")
        cli = scope.container(image, name=f"lk-{scope.session}-veth-cli", network_mode="host", role="bench-veth")
        pid, k = docker.attrs(srv)["State"]["Pid"], _octet(scope.session, "veth")
        host_end, ns_end = f"lkv{sid}a", f"lkv{sid}b"
        scope.adopt(HostLink(host_end))
        for argv in (["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end, "netns", str(pid)],
                     ["ip", "addr", "add", f"10.213.{k}.1/30", "dev", host_end], ["ip", "link", "set", host_end, "up"]):
            on_host(argv)  # argv, no shell: nothing is spliced into a command line
        for cmd in (["ip", "addr", "add", f"10.213.{k}.2/30", "dev", ns_end], ["ip", "link", "set", ns_end, "up"],
                    ["ip", "link", "set", "lo", "up"]):
            docker.exec_in(srv, cmd, timeout=10)
        pair = NetPair(cell, cli, srv, f"10.213.{k}.2", no_shaping_reason="its client is in the host namespace")
    elif name == "host":
        from labkit.targets.engine import port_free

        ports = [p for p in range(15201, 15400) if port_free(p)][:2]
        srv, cli = _boxes(scope, image, name, network_mode="host")
        pair = NetPair(cell, cli, srv, "127.0.0.1", iperf_port=ports[0], sockperf_port=ports[1],
                       no_shaping_reason="shaping would throttle the host's own loopback")
    elif name in ("bridge", "default-bridge"):
        network = scope.network(f"lk-{scope.session}-bridge").name if name == "bridge" else "bridge"
        srv, cli = _boxes(scope, image, name, network=network, caps=caps)
        pair = NetPair(cell, cli, srv, docker.ip_on(srv, network), shaping_dev="eth0")
    elif name in ("macvlan", "ipvlan"):
        parent, k = f"lkp{sid}{name[0]}", _octet(scope.session, name)
        scope.adopt(HostLink(parent))
        try:
            for argv in (["ip", "link", "add", parent, "type", "veth", "peer", "name", f"{parent}x"],
                         ["ip", "link", "set", parent, "up"], ["ip", "link", "set", f"{parent}x", "up"]):
                on_host(argv)
        except Exception as exc:  # noqa: BLE001 - classified below
            raise (_unsupported(exc, name, "veth") or exc) from exc
        opts = {"parent": parent, **({"ipvlan_mode": "l2"} if name == "ipvlan" else {})}
        network = scope.network(f"lk-{scope.session}-{name}", driver=name, options=opts, subnet=f"10.214.{k}.0/24",
                                gateway=f"10.214.{k}.1").name
        try:
            srv, cli = _boxes(scope, image, name, network=network, caps=caps)
        except docker.DockerError as exc:
            raise (_unsupported(exc, name, name) or exc) from exc
        pair = NetPair(cell, cli, srv, docker.ip_on(srv, network), shaping_dev="eth0")
    else:  # pragma: no cover - names are validated by the runner
        raise KeyError(name)
    pair.start_servers()
    log(f"✓ cell {name}: {cell.description} (server {pair.address})")
    return pair
