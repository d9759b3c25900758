"""The orchestrator API on Docker Swarm (a local one-node swarm or a Docker-in-Docker swarm)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from labkit._run import Cmd, Runner
from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.steps import Step
from labkit.components.orchestration.driver import _Driver, _step, parse_probe
from labkit.components.orchestration.model import (
    OPS,
    SERVE,
    App,
    Operation,
    OpResult,
    Replica,
    Want,
    _check_replicas,
    _check_version,
)


# --- Swarm ------------------------------------------------------------------------------------------------

class Swarm(Protocol):
    """What :class:`SwarmOrchestrator` needs from :class:`~labkit.swarm.LocalSwarm` or ``DindSwarm``."""

    session: str
    network: str
    manager: str
    probe: str
    features: Any
    node_names: list[str]

    def docker(self, *args: str, node: str | None = None) -> tuple[str, ...]: ...
    def node_container(self, node: str) -> str | None: ...


class SwarmOrchestrator(_Driver):
    """The operations as ``docker service``/``docker node`` commands on a swarm's manager."""

    name = "swarm"
    tool = "docker"

    def __init__(self, swarm: Swarm, *, runner: Runner | None = None, timeout: float = 180.0, poll: float = 0.25,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(runner=runner, timeout=timeout, poll=poll, clock=clock, sleep=sleep)
        self.swarm = swarm
        self.lost: set[str] = set()

    @property
    def endpoint_mode(self) -> str:
        return str(getattr(self.swarm.features, "endpoint_mode", "dnsrr"))

    def config(self) -> dict[str, Any]:
        return {"swarm": type(self.swarm).__name__, "nodes": len(self.swarm.node_names),
                "endpoint_mode": self.endpoint_mode, "update_order": "start-first"}

    def _wait_step(self, app: App) -> Step:
        script = (f'for ip in $(getent ahostsv4 tasks.{app.name} | cut -d" " -f1 | sort -u); do '
                  f'printf "%s " "$ip"; curl -s --connect-timeout 1 -m 2 "http://$ip:{app.port}/"; echo; done')
        return _step("wait: every task answers HTTP", self.swarm.docker("exec", self.swarm.probe, "sh", "-c", script),
                     why="a probe container on the overlay resolves the tasks and fetches each page")

    def parse(self, stdout: str) -> list[Replica]:
        return parse_probe(stdout)

    def diagnose(self) -> list[Cmd]:
        name = (self.app or App()).name
        return [Cmd(self.swarm.docker("service", "ps", name, "--no-trunc")), Cmd(self.swarm.docker("node", "ls"))]

    def operation(self, op: str, **params: Any) -> Operation:
        app = params.get("app") or self.app or App()
        d, name = self.swarm.docker, app.name
        wait = self._wait_step(app)
        if op == "deploy":
            want = Want(app.replicas, app.version)
            why = "IPVS present: one virtual IP" if self.endpoint_mode == "vip" else "no IPVS here: DNS round-robin"
            act = _step("create the service", d(*self.create_args(app)), why=why)
            return Operation(op, f"deploy {name} ×{app.replicas}", (act,), wait, want)
        if op == "scale":
            n = params["replicas"]
            _check_replicas(n)
            act = _step(f"scale to {n}", d("service", "scale", "--detach", f"{name}={n}"))
            return Operation(op, f"scale {name} {app.replicas} → {n}", (act,), wait, Want(n, app.version))
        if op == "rolling_update":
            version, image = params["version"], params.get("image")
            _check_version(version)
            act = _step(f"update to version {version}", d("service", "update", "--detach", "--env-add",
                                                          f"APP_VERSION={version}",
                                                          *(["--image", image] if image else []), name),
                        why="one task at a time, the new one started before the old one stops")
            return Operation(op, f"rolling update {name} → {version}", (act,), wait, Want(app.replicas, version))
        if op == "kill_replica":
            return self._kill(app, wait)
        if op in ("drain_node", "lose_node"):
            node = params["node"]
            if node not in self.swarm.node_names:
                raise BadInput("node", node, ", ".join(self.swarm.node_names))
            want = Want(app.replicas, app.version, avoid_nodes=frozenset({node}))
            if op == "drain_node":
                act = _step(f"drain {node}", d("node", "update", "--availability", "drain", node),
                            why="the manager moves the node's tasks elsewhere")
                return Operation(op, f"drain {node}", (act,), wait, want)
            return Operation(op, f"lose {node}", (self._node_kill(node),), wait, want,
                             note="A lost node is noticed after the dispatcher heartbeat (5 s) and its grace "
                                  "period; then its tasks are rescheduled (after --restart-delay, 5 s).")
        if op == "remove":
            act = _step("remove the service", d("service", "rm", name))
            return Operation(op, f"remove {name}", (act,), wait, Want(0, None))
        raise BadInput("operation", op, ", ".join(OPS))

    def create_args(self, app: App) -> list[str]:
        """``docker service create`` arguments: dnsrr without IPVS, never resolving the image against a registry."""
        from labkit import docker

        return ["service", "create", "--detach", "--name", app.name,
                "--no-resolve-image",                        # nodes have the image; no registry lookup
                "--network", self.swarm.network,
                "--endpoint-mode", self.endpoint_mode,       # dnsrr: VIPs need IPVS
                "--replicas", str(app.replicas),
                "--update-order", "start-first",             # like maxSurge 1 / maxUnavailable 0 on Kubernetes
                "--hostname", "{{.Service.Name}}-{{.Task.Slot}}",
                "--env", f"APP_VERSION={app.version}", "--env", f"APP_PORT={app.port}",
                "--env", "APP_NODE={{.Node.Hostname}}",
                "--label", f"{docker.MANAGED}=true",
                "--container-label", f"{docker.MANAGED}=true",
                "--container-label", f"{docker.SESSION}={self.swarm.session}",
                app.image, "sh", "-c", SERVE]

    def _node_kill(self, node: str) -> Step:
        box = self.swarm.node_container(node)
        if box is None:
            raise Unavailable(f"{type(self.swarm).__name__} cannot lose node {node}: it is this machine",
                              fix="use DindSwarm(nodes=3), whose nodes are containers")
        if node == self.swarm.manager:
            raise BadInput("node to lose", node, "a worker (the manager holds the only copy of the swarm's state)")
        return _step(f"kill node {node}", ("docker", "kill", box), why="the whole node dies, like a power cut")

    def _kill(self, app: App, wait: Step) -> Operation:
        d = self.swarm.docker
        tasks = _step("list running tasks", d("service", "ps", app.name, "--filter", "desired-state=running",
                                              "--no-trunc", "--format", "{{.ID}} {{.Node}} {{.CurrentState}}"),
                      capture="TASKS", expect="labkit picks a Running task → TASK, NODE")
        find = _step("find its container", d("ps", "--quiet", "--filter", "label=com.docker.swarm.task.id=${TASK}",
                                             node="${NODE}"), capture="CONTAINER")
        kill = _step("kill it", d("kill", "${CONTAINER}", node="${NODE}"), why="SIGKILL: the task fails")

        def choose(values: dict[str, str]) -> dict[str, str]:
            for line in values["TASKS"].splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "Running" and self._alive(parts[1]):
                    return {"TASK": parts[0], "NODE": parts[1]}
            raise LabkitError(f"no running task of {app.name} on a live node to kill", fix="deploy or scale up first")
        return Operation("kill_replica", f"kill a replica of {app.name}", (kill,), wait,
                         Want(app.replicas, app.version), prepare=(tasks, find), choose=choose,
                         note="Swarm replaces a failed task after --restart-delay (default 5 s).")

    def lose_node(self, node: str, *, timeout: float | None = None) -> OpResult:
        self._app()
        operation = self.operation("lose_node", node=node)  # bad input raises before anything is killed
        try:
            return self._perform(operation, {"node": node}, timeout)
        finally:
            self.lost.add(node)

    def _alive(self, node: str) -> bool:
        """Whether a node's container still runs (a node killed behind our back is skipped, not exec'd into)."""
        box = self.swarm.node_container(node)
        if box is None or node in self.lost:
            return node not in self.lost
        res = self.runner.run(["docker", "inspect", "--format", "{{.State.Running}}", box], timeout=30, check=False,
                              quiet=True)
        if res.stdout.strip() != "true":
            self.lost.add(node)
            return False
        return True
