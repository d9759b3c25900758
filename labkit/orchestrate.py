"""One small API over two orchestrators: the same operations, timed the same way, on Swarm and Kubernetes.

An :class:`Orchestrator` runs a small web app (:class:`App`: busybox httpd answering
``version V on HOST (node N)``) and performs the chapter's operations on it: deploy,
scale, rolling update, kill a replica, drain a node, lose a node, remove. Each returns an
:class:`OpResult` whose ``seconds`` run on a monotonic clock from the disruptive command
until a real check holds: for Swarm, every task IP answers HTTP from a probe container on
the overlay; for Kubernetes, pods pass their HTTP readiness probe. Nothing sleeps in place
of a check. Every operation can :meth:`~Orchestrator.explain` itself as the commands it runs.

>>> for orch in (swarm_orch, kube_orch):                          # doctest: +SKIP
...     print(orch.explain("scale", replicas=3))
...     results.append(perform(orch, "scale", replicas=3))
>>> write_run(results)                                            # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from labkit._run import Cmd, Runner, default_runner
from labkit.errors import BadInput, LabkitError, Unavailable, WaitTimeout
from labkit.log import log
from labkit.steps import Plan, Step, substitute
from labkit.target import KubeTarget
from labkit.versions import tools_image

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

OPS = ("deploy", "scale", "rolling_update", "kill_replica", "drain_node", "lose_node", "remove")
SUITE = "orchestration"

#: The app: writes its page, then serves it; ``trap`` makes SIGTERM stop it at once (sh is PID 1).
SERVE = ('mkdir -p /tmp/www; echo "version $APP_VERSION on $(hostname) (node $APP_NODE)" > /tmp/www/index.html; '
         'trap "exit 0" TERM INT; busybox httpd -f -p "$APP_PORT" -h /tmp/www & wait')
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$")
_BODY = re.compile(r"version (\S+) on (\S+) \(node (\S*)\)")


@dataclass(frozen=True)
class App:
    """The web app both orchestrators run: the tools image's busybox httpd, one page naming its version."""

    name: str = "web"
    image: str = field(default_factory=tools_image)
    version: str = "1"
    replicas: int = 1
    port: int = 8080

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise BadInput("app name", self.name, "a DNS label: lower-case letters, digits, '-', 1-32 characters")
        _check_version(self.version)
        _check_replicas(self.replicas)
        if not 1024 <= self.port <= 65535:
            raise BadInput("app port", self.port, "1024-65535 (the app runs unprivileged)")


def _check_version(version: str) -> None:
    if not _VERSION.match(str(version)):
        raise BadInput("app version", version, "letters, digits, '.', '_' or '-' (it becomes an env value)")


def _check_replicas(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 50:
        raise BadInput("replicas", n, "an integer from 0 to 50")


@dataclass(frozen=True)
class Replica:
    """One serving replica: its id (task IP or pod name), the version it serves, its node."""

    id: str
    version: str
    node: str
    host: str = ""


@dataclass(frozen=True)
class Want:
    """What "done" means for an operation: exactly ``replicas`` serving ``version``, none on ``avoid_nodes``."""

    replicas: int
    version: str | None
    avoid_nodes: frozenset[str] = frozenset()
    avoid_ids: frozenset[str] = frozenset()

    def met(self, seen: Sequence[Replica]) -> bool:
        return (len({r.id for r in seen}) == self.replicas
                and all(self.version is None or r.version == self.version for r in seen)
                and not any(r.node in self.avoid_nodes or r.id in self.avoid_ids for r in seen))

    def describe(self) -> str:
        out = f"exactly {self.replicas} replica(s) serving" + (f" version {self.version}" if self.version else "")
        if self.avoid_nodes:
            out += f", none on {', '.join(sorted(self.avoid_nodes))}"
        if self.avoid_ids:
            out += f", not {', '.join(sorted(self.avoid_ids))}"
        return out


@dataclass(frozen=True)
class OpResult:
    """One timed operation. ``seconds`` is None when it failed (``error`` says why)."""

    op: str
    orchestrator: str
    seconds: float | None
    detail: str
    ok: bool = True
    error: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    started_utc: str = ""
    ended_utc: str = ""
    polls: int = 0


@dataclass(frozen=True)
class Operation:
    """An operation as data: untimed ``prepare`` steps (a ``capture`` fills ``${VAR}``; ``choose`` picks
    from the first one's output), timed ``act`` steps, then ``wait`` polled until ``want`` holds."""

    op: str
    title: str
    act: tuple[Step, ...]
    wait: Step
    want: Want
    prepare: tuple[Step, ...] = ()
    choose: Callable[[dict[str, str]], dict[str, str]] | None = None
    avoid_var: str | None = None  # a chosen value the result must not contain (the killed pod)
    note: str = ""

    def explain(self) -> str:
        text = Plan(self.title, [*self.prepare, *self.act, self.wait]).explain()
        return text + (f"\n{self.note}\n" if self.note else "")


class Orchestrator(Protocol):
    name: str

    def explain(self, op: str, **params: Any) -> str: ...
    def deploy(self, app: App | None = None, *, timeout: float | None = None) -> OpResult: ...
    def scale(self, replicas: int, *, timeout: float | None = None) -> OpResult: ...
    def rolling_update(self, version: str, *, image: str | None = None,
                       timeout: float | None = None) -> OpResult: ...
    def kill_replica(self, *, timeout: float | None = None) -> OpResult: ...
    def drain_node(self, node: str, *, timeout: float | None = None) -> OpResult: ...
    def lose_node(self, node: str, *, timeout: float | None = None) -> OpResult: ...
    def remove(self, *, timeout: float | None = None) -> OpResult: ...
    def replicas(self) -> list[Replica]: ...
    def config(self) -> dict[str, Any]: ...


def perform(orch: Orchestrator, op: str, **params: Any) -> OpResult:
    """Run ``op`` and return its result; a failure of the run (a timeout, a dead node, a feature this
    target lacks) becomes a failed result with the error, not a crash. Bad input still raises."""
    if op not in OPS:
        raise BadInput("operation", op, ", ".join(OPS))
    from labkit.bench.store import utcnow

    started = utcnow()
    try:
        return getattr(orch, op)(**params)  # type: ignore[no-any-return]
    except BadInput:
        raise
    except LabkitError as exc:
        log(f"✗ {orch.name} {op}: {exc.message.splitlines()[0]}")
        return OpResult(op, orch.name, None, exc.message.splitlines()[0], ok=False, error=str(exc),
                        params=_plain(params), started_utc=started, ended_utc=utcnow())


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (asdict(v) if isinstance(v, App) else v) for k, v in params.items()}


def busiest_node(seen: Sequence[Replica], *, exclude: Sequence[str] = ()) -> str | None:
    """The node serving the most replicas, skipping ``exclude`` (the manager, the control plane)."""
    counts: dict[str, int] = {}
    for r in seen:
        if r.node not in exclude:
            counts[r.node] = counts.get(r.node, 0) + 1
    return max(sorted(counts), key=lambda n: counts[n]) if counts else None


# --- the shared engine: run steps, time, poll -----------------------------------------------------------------

class _Driver:
    name = ""
    tool = ""

    def __init__(self, *, runner: Runner | None, timeout: float, poll: float,
                 clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.runner = runner or default_runner()
        self.timeout, self.poll, self.clock, self.sleep = timeout, poll, clock, sleep
        self.app: App | None = None

    # subclasses build these
    def operation(self, op: str, **params: Any) -> Operation:
        raise NotImplementedError

    def parse(self, stdout: str) -> list[Replica]:
        raise NotImplementedError

    def diagnose(self) -> list[Cmd]:
        return []

    def explain(self, op: str, **params: Any) -> str:
        """Markdown: the exact commands ``op`` runs and the check it waits for."""
        if op not in OPS:
            raise BadInput("operation", op, ", ".join(OPS))
        return self.operation(op, **params).explain()

    def replicas(self) -> list[Replica]:
        """The replicas serving right now (one poll of the readiness check)."""
        app = self.app or App()
        res = self.runner.run(list(self._wait_step(app).cmd.argv), timeout=60, check=False, quiet=True)
        return self.parse(res.stdout) if res.ok else []

    def _wait_step(self, app: App) -> Step:
        raise NotImplementedError

    def _perform(self, operation: Operation, params: Mapping[str, Any], timeout: float | None,
                 acted: Callable[[], None] | None = None) -> OpResult:
        from labkit.bench.store import utcnow

        values: dict[str, str] = {}
        for i, step in enumerate(operation.prepare):
            out = self._step(step, values).strip()
            if step.capture:
                if not out:
                    raise LabkitError(f"{self.name} {operation.op}: `{step.title}` found nothing",
                                      fix="check that the app is deployed and its replicas run")
                values[step.capture] = out
            if i == 0 and operation.choose is not None:  # choose picks from the first step's output
                values.update(operation.choose(values))
        want = operation.want
        if operation.avoid_var:
            want = replace(want, avoid_ids=frozenset({values[operation.avoid_var]}))
        started = utcnow()
        t0 = self.clock()
        for step in operation.act:
            self._step(step, values)
        if acted is not None:
            acted()
        limit = self.timeout if timeout is None else timeout
        seconds, polls, seen = self._wait(operation.wait, want, values, t0, limit)
        where = ", ".join(sorted(f"{r.host or r.id}@{r.node}" for r in seen))
        detail = f"{operation.title}: {want.describe()} after {seconds:.2f} s ({polls} polls) [{where}]"
        log(f"✓ {self.name} {operation.op}: {seconds:.2f} s")
        return OpResult(operation.op, self.name, seconds, detail, params=_plain(params), started_utc=started,
                        ended_utc=utcnow(), polls=polls)

    def _step(self, step: Step, values: dict[str, str]) -> str:
        argv = substitute(step.cmd.argv, values)
        return self.runner.run(argv, stdin=step.cmd.stdin, env=dict(step.cmd.env), timeout=step.timeout).stdout

    def _wait(self, step: Step, want: Want, values: dict[str, str], t0: float,
              timeout: float) -> tuple[float, int, list[Replica]]:
        """Poll ``step`` until ``want`` holds; the timeout covers the whole wait, not each poll."""
        argv = substitute(step.cmd.argv, values)
        polls, seen, last = 0, [], ""
        while True:
            polls += 1
            try:
                res = self.runner.run(argv, timeout=min(30.0, max(timeout, 1.0)), check=False, quiet=True)
                seen, last = (self.parse(res.stdout) if res.ok else []), (res.stdout + res.stderr)
            except LabkitError as exc:  # a poll that hangs or a node that vanished: not ready yet
                seen, last = [], exc.message
            elapsed = self.clock() - t0
            if want.met(seen):
                return elapsed, polls, seen
            if elapsed > timeout:
                raise WaitTimeout(f"{self.name}: {want.describe()}", timeout,
                                  f"last check:\n{last.strip()[-1500:]}\n\n" + self._diagnostics(),
                                  fix="look at the diagnostics; a lost node is noticed only after the "
                                      "orchestrator's heartbeat/grace period")
            self.sleep(self.poll)

    def _diagnostics(self) -> str:
        out = []
        for cmd in self.diagnose():
            try:
                res = self.runner.run(list(cmd.argv), timeout=30, check=False, quiet=True)
                out.append(f"$ {cmd.shell()}\n{(res.stdout + res.stderr).strip()[-2000:]}")
            except LabkitError as exc:
                out.append(f"$ {cmd.shell()}\n(could not run: {exc.message})")
        return "\n\n".join(out)

    def _app(self) -> App:
        if self.app is None:
            raise LabkitError(f"{self.name}: no app deployed yet", fix="call deploy(App()) first")
        return self.app

    # the operations, the same on every orchestrator -------------------------------------------------------------
    # The app's state changes as soon as the command has run, so a timed-out wait leaves it right for the next op.
    def deploy(self, app: App | None = None, *, timeout: float | None = None) -> OpResult:
        app = app or App()
        return self._perform(self.operation("deploy", app=app), {"app": app}, timeout,
                             acted=lambda: setattr(self, "app", app))

    def scale(self, replicas: int, *, timeout: float | None = None) -> OpResult:
        new = replace(self._app(), replicas=replicas)
        return self._perform(self.operation("scale", replicas=replicas), {"replicas": replicas}, timeout,
                             acted=lambda: setattr(self, "app", new))

    def rolling_update(self, version: str, *, image: str | None = None, timeout: float | None = None) -> OpResult:
        new = replace(self._app(), version=version, image=image or self._app().image)
        return self._perform(self.operation("rolling_update", version=version, image=image),
                             {"version": version, "image": image}, timeout, acted=lambda: setattr(self, "app", new))

    def kill_replica(self, *, timeout: float | None = None) -> OpResult:
        self._app()
        return self._perform(self.operation("kill_replica"), {}, timeout)

    def drain_node(self, node: str, *, timeout: float | None = None) -> OpResult:
        self._app()
        return self._perform(self.operation("drain_node", node=node), {"node": node}, timeout)

    def lose_node(self, node: str, *, timeout: float | None = None) -> OpResult:
        self._app()
        return self._perform(self.operation("lose_node", node=node), {"node": node}, timeout)

    def remove(self, *, timeout: float | None = None) -> OpResult:
        self._app()
        return self._perform(self.operation("remove"), {}, timeout, acted=lambda: setattr(self, "app", None))

    def config(self) -> dict[str, Any]:
        return {}


def _step(title: str, argv: Sequence[str], *, why: str = "", stdin: str | None = None, capture: str | None = None,
          expect: str = "", timeout: float = 120.0) -> Step:
    return Step(title, Cmd(tuple(argv), stdin=stdin), why=why, capture=capture, expect=expect, timeout=timeout)


def parse_probe(stdout: str) -> list[Replica]:
    """Lines ``IP version V on HOST (node N)`` from the Swarm probe; an IP without a page is not serving."""
    out = []
    for line in stdout.splitlines():
        ip, _, body = line.strip().partition(" ")
        m = _BODY.search(body)
        if ip and m:
            out.append(Replica(ip, m.group(1), m.group(3), m.group(2)))
    return out


def parse_pods(stdout: str) -> list[Replica]:
    """Pods from ``kubectl get pods -o json`` that are Ready and not terminating, with their app version."""
    try:
        items = json.loads(stdout or "{}").get("items", [])
    except ValueError:
        return []
    out = []
    for pod in items:
        meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
        if not ready or meta.get("deletionTimestamp"):
            continue
        env = {e.get("name"): e.get("value") for c in spec.get("containers", [])[:1] for e in c.get("env", [])}
        out.append(Replica(meta.get("name", ""), str(env.get("APP_VERSION", "")), spec.get("nodeName", ""),
                           meta.get("name", "")))
    return out


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
        from labkit import engine

        return ["service", "create", "--detach", "--name", app.name,
                "--no-resolve-image",                        # nodes have the image; no registry lookup
                "--network", self.swarm.network,
                "--endpoint-mode", self.endpoint_mode,       # dnsrr: VIPs need IPVS
                "--replicas", str(app.replicas),
                "--update-order", "start-first",             # like maxSurge 1 / maxUnavailable 0 on Kubernetes
                "--hostname", "{{.Service.Name}}-{{.Task.Slot}}",
                "--env", f"APP_VERSION={app.version}", "--env", f"APP_PORT={app.port}",
                "--env", "APP_NODE={{.Node.Hostname}}",
                "--label", f"{engine.MANAGED}=true",
                "--container-label", f"{engine.MANAGED}=true",
                "--container-label", f"{engine.SESSION}={self.swarm.session}",
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


# --- Kubernetes -------------------------------------------------------------------------------------------

def manifests(app: App, *, namespace: str) -> list[dict[str, Any]]:
    """Namespace, Deployment (maxSurge 1, maxUnavailable 0, HTTP readiness) and Service for ``app``."""
    from labkit import engine

    labels = {"app.kubernetes.io/name": app.name, "app.kubernetes.io/managed-by": "labkit",
              engine.MANAGED: "true", engine.ROLE: SUITE}
    select = {"app.kubernetes.io/name": app.name}
    container = {
        "name": app.name, "image": app.image, "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", SERVE],
        "env": [{"name": "APP_VERSION", "value": app.version}, {"name": "APP_PORT", "value": str(app.port)},
                {"name": "APP_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "ports": [{"name": "http", "containerPort": app.port}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1, "failureThreshold": 1},
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {engine.MANAGED: "true"}}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": app.name, "namespace": namespace, "labels": labels},
         "spec": {"replicas": app.replicas, "selector": {"matchLabels": select},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"terminationGracePeriodSeconds": 5, "enableServiceLinks": False,
                                        "automountServiceAccountToken": False, "containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": app.name, "namespace": namespace, "labels": labels},
         "spec": {"type": "ClusterIP", "selector": select,
                  "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}},
    ]


class KubernetesOrchestrator(_Driver):
    """The operations as ``kubectl`` commands against one :class:`~labkit.target.KubeTarget`.

    The app's image must already be on the nodes (``labkit.cluster.load_images`` on kind).
    """

    name = "kubernetes"
    tool = "kubectl"

    def __init__(self, target: KubeTarget, *, namespace: str = "labkit-orchestration", runner: Runner | None = None,
                 timeout: float = 300.0, poll: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(runner=runner, timeout=timeout, poll=poll, clock=clock, sleep=sleep)
        self.target, self.namespace = target, namespace

    def lose_node(self, node: str, *, timeout: float | None = None) -> OpResult:
        """Kill a kind node; the default timeout allows for the 300 s not-ready toleration."""
        return super().lose_node(node, timeout=max(self.timeout, 600.0) if timeout is None else timeout)

    def config(self) -> dict[str, Any]:
        return {"cluster": self.target.name, "kind": bool(self.target.kind_cluster), "namespace": self.namespace,
                "strategy": "RollingUpdate maxSurge=1 maxUnavailable=0"}

    def _k(self, *args: str) -> tuple[str, ...]:
        return self.target.kubectl(*args)

    def _wait_step(self, app: App) -> Step:
        return _step("wait: pods pass their HTTP readiness probe",
                     self._k("get", "pods", "--namespace", self.namespace,
                             "--selector", f"app.kubernetes.io/name={app.name}", "--output", "json"),
                     why="Ready and not terminating, counted by labkit")

    def parse(self, stdout: str) -> list[Replica]:
        return parse_pods(stdout)

    def diagnose(self) -> list[Cmd]:
        return [Cmd(self._k("get", "pods", "--namespace", self.namespace, "--output", "wide")),
                Cmd(self._k("get", "events", "--namespace", self.namespace, "--sort-by", ".lastTimestamp"))]

    def operation(self, op: str, **params: Any) -> Operation:
        from labkit.components import to_yaml

        app = params.get("app") or self.app or App()
        ns, name, k = self.namespace, app.name, self._k
        wait = self._wait_step(app)
        if op == "deploy":
            act = _step("apply Namespace, Deployment, Service", k("apply", "--filename", "-"),
                        stdin=to_yaml(manifests(app, namespace=ns)))
            return Operation(op, f"deploy {name} ×{app.replicas}", (act,), wait, Want(app.replicas, app.version))
        if op == "scale":
            n = params["replicas"]
            _check_replicas(n)
            act = _step(f"scale to {n}", k("scale", f"deployment/{name}", f"--replicas={n}", "--namespace", ns))
            return Operation(op, f"scale {name} {app.replicas} → {n}", (act,), wait, Want(n, app.version))
        if op == "rolling_update":
            version, image = params["version"], params.get("image")
            _check_version(version)
            set_env = _step(f"set version {version}", k("set", "env", f"deployment/{name}",
                                                          f"APP_VERSION={version}", "--namespace", ns))
            acts: tuple[Step, ...] = (set_env,)
            if image:  # both changes in one rollout: pause, change, resume
                acts = (_step("pause rollouts", k("rollout", "pause", f"deployment/{name}", "--namespace", ns)),
                        _step(f"set image {image}", k("set", "image", f"deployment/{name}", f"{name}={image}",
                                                      "--namespace", ns)),
                        set_env,
                        _step("resume: one rollout", k("rollout", "resume", f"deployment/{name}", "--namespace", ns)))
            return Operation(op, f"rolling update {name} → {version}", acts, wait, Want(app.replicas, version))
        if op == "kill_replica":
            pods = _step("list pods", wait.cmd.argv, capture="PODS", expect="labkit picks a Ready pod → POD")
            kill = _step("delete it", k("delete", "pod", "${POD}", "--namespace", ns, "--wait=false"),
                         why="its ReplicaSet makes a replacement at once")

            def choose(values: dict[str, str]) -> dict[str, str]:
                ready = parse_pods(values["PODS"])
                if not ready:
                    raise LabkitError(f"no Ready pod of {name} to kill", fix="deploy or scale up first")
                return {"POD": ready[0].id}
            return Operation(op, f"kill a replica of {name}", (kill,), wait, Want(app.replicas, app.version),
                             prepare=(pods,), choose=choose, avoid_var="POD")
        if op in ("drain_node", "lose_node"):
            node = params["node"]
            want = Want(app.replicas, app.version, avoid_nodes=frozenset({node}))
            if op == "drain_node":
                act = _step(f"drain {node}", k("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                                                "--timeout", f"{self.timeout:g}s"),
                            why="cordon, then evict its pods", timeout=self.timeout + 30)
                return Operation(op, f"drain {node}", (act,), wait, want,
                                 note=f"Undo with `{' '.join(k('uncordon', node))}`.")
            if not self.target.kind_cluster:
                raise Unavailable(f"losing node {node} needs a kind cluster (its nodes are containers)",
                                  fix="on a real cluster, power the node off yourself and time the recovery")
            act = _step(f"kill node {node}", ("docker", "kill", node), why="the kind node container dies")
            return Operation(op, f"lose {node}", (act,), wait, want,
                             note="Pods on a lost node are replaced only after it is NotReady (~40-50 s) and "
                                  "their 300 s not-ready toleration expires (the wait allows 600 s).")
        if op == "remove":
            act = _step("delete the namespace", k("delete", "namespace", ns, "--wait=false"))
            return Operation(op, f"remove {name}", (act,), wait, Want(0, None))
        raise BadInput("operation", op, ", ".join(OPS))


# --- results: rows for the store, a frame, a chart ------------------------------------------------------------

def rows(results: Sequence[OpResult], *, run_id: str, session_id: str | None = None,
         configs: Mapping[str, Mapping[str, Any]] | None = None, common: Mapping[str, Any] | None = None,
         targets: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Tidy rows (labkit.bench.schema): suite ``orchestration``, cell = operation, component = orchestrator,
    metric ``seconds``. ``repetition`` counts repeats of one operation on one orchestrator."""
    from labkit import __version__

    seen: dict[tuple[str, str], int] = {}
    out = []
    for r in results:
        rep = seen.get((r.orchestrator, r.op), 0)
        seen[(r.orchestrator, r.op)] = rep + 1
        cfg = {**(configs or {}).get(r.orchestrator, {}), "params": dict(r.params), "detail": r.detail,
               "polls": r.polls}
        nodes = (configs or {}).get(r.orchestrator, {}).get("nodes")
        out.append({**(common or {}), "run_id": run_id, "session_id": session_id, "n_nodes": nodes,
                    "repetition": rep, "block": rep,
                    "ts_start_utc": r.started_utc or None, "ts_end_utc": r.ended_utc or None,
                    "lab_version": __version__, "status": "ok" if r.ok else "failed", "error": r.error,
                    "target": (targets or {}).get(r.orchestrator), "suite": SUITE, "component": r.orchestrator,
                    "component_config": json.dumps(cfg, default=str, sort_keys=True), "cell": r.op,
                    "test": r.orchestrator, "tool": {"swarm": "docker", "kubernetes": "kubectl"}.get(r.orchestrator),
                    "metric": "seconds", "value": r.seconds, "unit": "s", "higher_is_better": False})
    return out


def write_run(results: Sequence[OpResult], *, orchestrators: Sequence[Orchestrator] = (), store: Any = None,
              notebook: str | None = None) -> str:
    """Store ``results`` as one run of suite ``orchestration``; returns its run id."""
    from labkit import engine
    from labkit.bench import host
    from labkit.bench.store import Store, new_run_id
    from labkit.paths import results_dir

    st = store if isinstance(store, Store) else Store(store or results_dir())
    docker = engine.available()
    facts = host.facts(docker_version=engine.server_version() if docker else None)
    configs = {o.name: o.config() for o in orchestrators}
    targets = {o.name: ("engine" if o.name == "swarm" else
                        "kind" if getattr(getattr(o, "target", None), "kind_cluster", None) else "cluster")
               for o in orchestrators}
    run_id = new_run_id()
    meta = {"run_id": run_id, "suite": SUITE, "target": ",".join(sorted(set(targets.values()))) or None,
            "profile": None, "notebook": notebook, "host": facts, "host_class": facts["host_class"],
            "orchestrators": configs}
    with st.new_run(meta) as writer:
        writer.append(rows(results, run_id=run_id, configs=configs, targets=targets,
                           common={**facts, "notebook": notebook}))
    log(f"✓ orchestration run {run_id} stored in {st.root} ({len(results)} rows)")
    return run_id


def frame(results: Sequence[OpResult]) -> pd.DataFrame:
    """One row per result: orchestrator, op, seconds, ok, detail (what a notebook shows and charts)."""
    import pandas as pd

    return pd.DataFrame([{"orchestrator": r.orchestrator, "op": r.op, "seconds": r.seconds, "ok": r.ok,
                          "detail": r.detail} for r in results],
                        columns=["orchestrator", "op", "seconds", "ok", "detail"])


def figure(data: pd.DataFrame) -> go.Figure:
    """Operation times side by side, one bar group per operation (a store load or :func:`frame`)."""
    import pandas as pd
    import plotly.graph_objects as go

    if "orchestrator" not in data.columns:  # rows loaded from the store
        data = data.rename(columns={"component": "orchestrator", "cell": "op", "value": "seconds"})
    data = data.assign(seconds=pd.to_numeric(data["seconds"], errors="coerce"))
    order = [op for op in OPS if op in set(data["op"])]
    fig = go.Figure()
    for orch, g in data.groupby("orchestrator", sort=False):
        med = g.groupby("op")["seconds"].median().reindex(order).to_list()
        ran = set(g["op"])
        text = [f"{v:.1f} s" if v == v else ("failed" if op in ran else "") for op, v in zip(order, med, strict=True)]
        fig.add_bar(name=str(orch), x=order, y=med, text=text)
    fig.update_layout(barmode="group", title="Orchestration operations: time until the app is back as wanted",
                      xaxis_title="operation", yaxis_title="seconds (lower is better)")
    return fig


__all__ = ["App", "OpResult", "Replica", "Want", "Operation", "Orchestrator", "SwarmOrchestrator",
           "KubernetesOrchestrator", "manifests", "perform", "busiest_node", "parse_probe", "parse_pods", "rows",
           "write_run", "frame", "figure", "OPS", "SUITE"]
