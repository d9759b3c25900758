"""kind clusters as plans: create (idempotent), delete; each with its own kubeconfig.

labkit never touches ``~/.kube/config``: every cluster gets ``<labkit home>/kube/<name>.yaml``
(mode 0600, as kind writes it) and every kubectl/helm step passes ``--kubeconfig``.
"""

from __future__ import annotations

from labkit._run import Cmd
from labkit.config import ClusterConfig
from labkit.steps import Plan, Step
from labkit.target import kubeconfig_path


def create_plan(cfg: ClusterConfig, *, kind: str = "kind", kubectl: str = "kubectl", wait_s: int = 180) -> Plan:
    """Create the cluster from ``cfg`` (skipped if a cluster of that name answers), then wait for its nodes."""
    kc = str(kubeconfig_path(cfg.name))
    argv = [kind, "create", "cluster",
            "--name", cfg.name,                  # labkit's clusters all start with "labkit"
            "--config", "-",                     # the config below, on stdin
            "--kubeconfig", kc]                  # a kubeconfig of the lab's own (0600)
    if not cfg.disable_default_cni:
        argv += ["--wait", f"{wait_s}s"]         # until the control plane is Ready (needs a CNI)
    plan = Plan(f"Create kind cluster {cfg.name}").add(
        Step("Create the kind cluster", Cmd(tuple(argv), stdin=cfg.to_yaml()),
             why=f"{cfg.control_planes} control plane(s) and {cfg.workers} worker(s) as Docker containers, "
                 f"node image {cfg.image}",
             check=Cmd((kubectl, "--kubeconfig", kc, "get", "--raw", "/readyz")),
             timeout=wait_s + 600,
             diagnose=(Cmd(("docker", "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={cfg.name}")),
                       Cmd((kind, "export", "logs", "--name", cfg.name)))))
    if not cfg.disable_default_cni:  # without a CNI nodes stay NotReady until the network chapter installs one
        plan.add(Step("Wait for every node to be Ready",
                      Cmd((kubectl, "--kubeconfig", kc, "wait", "--for=condition=Ready", "nodes", "--all",
                           f"--timeout={wait_s}s")),
                      why="kubelet, kube-proxy and the CNI are up on every node",
                      timeout=wait_s + 30,
                      diagnose=(Cmd((kubectl, "--kubeconfig", kc, "get", "nodes", "-o", "wide")),
                                Cmd((kubectl, "--kubeconfig", kc, "get", "events", "-A",
                                     "--sort-by=.lastTimestamp")))))
    return plan


def delete_plan(name: str, *, kind: str = "kind") -> Plan:
    return Plan(f"Delete kind cluster {name}").add(
        Step("Delete the kind cluster", Cmd((kind, "delete", "cluster", "--name", name,
                                             "--kubeconfig", str(kubeconfig_path(name)))),
             why="removes its node containers and network; the lab's kubeconfig entry goes with it"))
