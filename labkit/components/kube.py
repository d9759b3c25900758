"""kubectl steps every component's plans share: wait for a rollout, for an object to appear, for nodes."""

from __future__ import annotations

from labkit._run import Cmd
from labkit.steps import Step
from labkit.targets.kube import KubeTarget


def rollout_step(target: KubeTarget, namespace: str, what: str, timeout: float, title: str,
                 source: str = "", *, why: str = "", logs: tuple[str, str] | None = None) -> Step:
    """``kubectl rollout status`` as a step, with pods, the object and the namespace's events on failure.

    ``logs`` = (label selector, container): also show the last log lines of those containers, now and from
    their previous run, which is where a crash-looping daemon names its cause."""
    k = target.kubectl
    diagnose = [Cmd(k("get", "pods", "-n", namespace, "-o", "wide")), Cmd(k("describe", what, "-n", namespace)),
                Cmd(k("get", "events", "-n", namespace, "--sort-by=.lastTimestamp"))]
    if logs is not None:
        selector, container = logs
        for previous in ((), ("--previous",)):
            diagnose.append(Cmd(k("logs", "-n", namespace, "-l", selector, "-c", container, "--prefix",
                                  "--tail=30", *previous)))
    return Step(title, Cmd(k("rollout", "status", "-n", namespace, what, f"--timeout={timeout:g}s")),
                why=why, timeout=timeout + 30, source=source, diagnose=tuple(diagnose))


def appears_step(target: KubeTarget, namespace: str | None, what: str | tuple[str, ...], timeout: float, who: str,
                 source: str = "") -> Step:
    """``kubectl wait --for=create`` (kubectl >= 1.31): an operator or controller makes ``what`` later."""
    ns = ("-n", namespace) if namespace else ()
    names = (what,) if isinstance(what, str) else what
    return Step(f"Wait for {who} to create {' and '.join(names)}",
                Cmd(target.kubectl("wait", *ns, "--for=create", *names, f"--timeout={timeout:g}s")),
                why="it is created asynchronously; `rollout status` or `wait --for=condition` would fail on a "
                    "missing object", timeout=timeout + 30, source=source)


def nodes_ready_step(target: KubeTarget, timeout: float, source: str = "") -> Step:
    k = target.kubectl
    return Step("Wait for every node to be Ready", Cmd(k("wait", "--for=condition=Ready", "nodes", "--all",
                                                         f"--timeout={timeout:g}s")),
                why="a node turns Ready once its CNI config is in /etc/cni/net.d", timeout=timeout + 30,
                source=source,
                diagnose=(Cmd(k("get", "nodes", "-o", "wide")),
                          Cmd(k("get", "pods", "-A", "-o", "wide", "--field-selector=status.phase!=Running"))))
