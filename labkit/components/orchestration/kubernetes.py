"""The orchestrator API on Kubernetes: the same app as a Deployment, the same operations through kubectl."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from labkit._run import Cmd, Runner
from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.steps import Step
from labkit.targets.kube import KubeTarget
from labkit.components.orchestration.driver import _Driver, _step, parse_pods
from labkit.components.orchestration.model import (
    SUITE,
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


# --- Kubernetes -------------------------------------------------------------------------------------------

def manifests(app: App, *, namespace: str) -> list[dict[str, Any]]:
    """Namespace, Deployment (maxSurge 1, maxUnavailable 0, HTTP readiness) and Service for ``app``."""
    from labkit import docker

    labels = {"app.kubernetes.io/name": app.name, "app.kubernetes.io/managed-by": "labkit",
              docker.MANAGED: "true", docker.ROLE: SUITE}
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
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {docker.MANAGED: "true"}}},
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
        from labkit.manifests import to_yaml

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
