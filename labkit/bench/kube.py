"""Benchmarks on Kubernetes, shared by every component's cluster cells: the session, the waits, one diagnose.

A :class:`BenchCluster` is one cluster as cells see it: how to reach it (a
:class:`~labkit.targets.kube.KubeTarget` and a :class:`~labkit._run.Runner` for the ``kubectl`` argv a
learner could paste), where pods go (:class:`Placement`), and the facts for the rows. Objects a cell
makes are labelled and deleted by label (:class:`LabelledObjects`), adopted by the run's scope before
they exist, so errors, Ctrl-C and SIGTERM still remove them. Waits bound the whole wait and, when they
give up, carry what a person looks at next (:func:`diagnose`).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass
from typing import Any

from labkit import docker
from labkit._run import Runner, default_runner
from labkit.errors import BadInput, CommandError, LabkitError, Unavailable
from labkit.log import log
from labkit.manifests import to_yaml
from labkit.targets.kube import KubeTarget

NAMESPACE = "labkit-bench"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
POLL_S = 10.0  # a Job is checked for Failed at least this often while waiting for Complete


def object_labels(session: str, role: str, **extra: str) -> dict[str, str]:
    """Labels of every object a cell makes: ``labkit clean`` finds them, the cell's delete selects them."""
    return docker.labels(session, role, **extra)


def selector(session: str, role: str) -> str:
    return f"{docker.SESSION}={session},{docker.ROLE}={role}"


@dataclass(frozen=True)
class Node:
    name: str
    control_plane: bool
    why_not: str  # "" when pods may run here
    kubelet_version: str = ""

    @property
    def usable(self) -> bool:
        return not self.why_not


def parse_nodes(node_list: dict[str, Any]) -> list[Node]:
    """Nodes from ``kubectl get nodes -o json``, each with why it cannot take bench pods ("" if it can)."""
    out = []
    for item in node_list.get("items", []):
        meta, spec, status = item.get("metadata", {}), item.get("spec", {}), item.get("status", {})
        labels = meta.get("labels") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
        blocking = [t["key"] for t in spec.get("taints") or []
                    if t.get("effect") in ("NoSchedule", "NoExecute") and t.get("key") != CONTROL_PLANE]
        why = ("not Ready" if not ready else "cordoned" if spec.get("unschedulable")
               else f"tainted {', '.join(blocking)}" if blocking else "")
        out.append(Node(meta["name"], CONTROL_PLANE in labels, why,
                        status.get("nodeInfo", {}).get("kubeletVersion", "")))
    return sorted(out, key=lambda n: n.name)


@dataclass(frozen=True)
class Placement:
    """Where the bench pods go: ``first`` holds every server (and the same-node client), ``second``
    the cross-node clients. ``note`` says why a cell cannot run ("" when all can)."""

    first: str | None
    second: str | None
    tolerate_control_plane: bool = False
    note: str = ""

    def nodes_for(self, cell: str, *, cross_node: bool = False) -> tuple[str, str]:
        """(server node, client node) for ``cell`` (two nodes when ``cross_node``), or :class:`Unavailable`."""
        if self.first is None:
            raise Unavailable(f"{cell}: no node can take the bench pods ({self.note})",
                              fix="make a node Ready and schedulable (kubectl get nodes)")
        if cross_node:
            if self.second is None:
                raise Unavailable(f"{cell} needs two nodes: {self.note}",
                                  fix="create the cluster with --workers 2 (or more)")
            return self.first, self.second
        return self.first, self.first


def place(nodes: list[Node]) -> Placement:
    """Pick two nodes: workers first; the control plane (with a toleration) only if fewer than two workers."""
    usable = [n for n in nodes if n.usable]
    workers = [n.name for n in usable if not n.control_plane]
    planes = [n.name for n in usable if n.control_plane]
    picks = (workers + planes)[:2]
    skipped = "; ".join(f"{n.name} {n.why_not}" for n in nodes if not n.usable)
    if not picks:
        return Placement(None, None, note=f"no usable node ({skipped or 'the cluster has no nodes'})")
    tolerate = any(p in planes for p in picks)
    if len(picks) == 1:
        note = f"the cluster has one usable node ({picks[0]})" + (f"; {skipped}" if skipped else "")
        return Placement(picks[0], None, tolerate, note)
    return Placement(picks[0], picks[1], tolerate)


# --- manifests (plain dicts; pure) -----------------------------------------------------------------------


def namespace_manifest() -> dict[str, Any]:
    # hostNetwork pods need the 'privileged' Pod Security level; say so on our own namespace only.
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {docker.MANAGED: "true",
                                                       "pod-security.kubernetes.io/enforce": "privileged"}}}


def check_image(ref: str) -> str:
    """A pinned image reference (a tag other than ``latest``, or a digest), else BadInput."""
    tail = ref.rsplit("/", 1)[-1]
    if "@" not in ref and (":" not in tail or tail.endswith(":latest")):
        raise BadInput("image", ref, "a pinned reference repository:tag (not latest) or repository@sha256:…",
                       fix="use labkit.versions.tools_image()")
    return ref


@dataclass
class BenchCluster:
    """One cluster as the cells see it: how to reach it, where pods go, facts for the rows."""

    target: KubeTarget
    runner: Runner
    placement: Placement
    nodes: list[Node]

    def kubectl(self, *args: str, timeout: float = 60, stdin: str | None = None, check: bool = True,
                quiet: bool = False) -> Any:
        return self.runner.run(list(self.target.kubectl(*args)), timeout=timeout, stdin=stdin, check=check,
                               quiet=quiet)

    def facts(self) -> dict[str, Any]:
        """Cluster columns of the schema (kind and node image are not visible through kubectl)."""
        versions = sorted({n.kubelet_version for n in self.nodes if n.kubelet_version})
        return {"k8s_version": ",".join(versions) or None, "n_nodes": len(self.nodes)}

    def describe(self) -> dict[str, Any]:
        return {"name": self.target.name, "context": self.target.context, "kind_cluster": self.target.kind_cluster,
                "nodes": [{"name": n.name, "control_plane": n.control_plane, "why_not": n.why_not,
                           "kubelet_version": n.kubelet_version} for n in self.nodes],
                "placement": {"first": self.placement.first, "second": self.placement.second,
                              "tolerate_control_plane": self.placement.tolerate_control_plane,
                              "note": self.placement.note}}


def prepare(target: KubeTarget, *, runner: Runner | None = None) -> BenchCluster:
    """Read the nodes, choose the placement and make the bench namespace (idempotent)."""
    run = runner or default_runner()
    res = run.run(list(target.kubectl("get", "nodes", "--output", "json")), timeout=60, quiet=True)
    try:
        nodes = parse_nodes(json.loads(res.stdout))
    except (ValueError, KeyError) as exc:
        raise LabkitError(f"kubectl get nodes gave no node list: {res.stdout[:200]!r}",
                          fix=f"check that `{shlex.join(target.kubectl('get', 'nodes'))}` works") from exc
    cluster = BenchCluster(target, run, place(nodes), nodes)
    cluster.kubectl("apply", "--filename", "-", stdin=to_yaml([namespace_manifest()]))
    p = cluster.placement
    log(f"✓ cluster {target.name}: {len(nodes)} node(s); bench pods on {p.first or '-'} and {p.second or '-'}"
        + (" (control plane tolerated)" if p.tolerate_control_plane else "") + (f"; {p.note}" if p.note else ""))
    return cluster


@dataclass
class LabelledObjects:
    """A cell's objects (``kinds``, e.g. ``pods,services``) found by label; :meth:`remove` deletes them
    without waiting. Adopted by the run's scope *before* they are applied, so a failed start, an error,
    Ctrl-C or SIGTERM still deletes whatever got created."""

    cluster: BenchCluster
    session: str
    role: str
    kinds: str = "pods,services"

    @property
    def name(self) -> str:
        return f"{self.kinds} of {self.role} ({selector(self.session, self.role)})"

    def remove(self) -> None:
        self.cluster.kubectl("delete", self.kinds,
                             "--namespace", NAMESPACE,
                             "--selector", selector(self.session, self.role),
                             "--ignore-not-found",   # nothing made yet is fine
                             "--wait=false",         # the cluster finishes it; the run does not wait
                             timeout=60)


class PodsNotReady(Unavailable):
    """A cell's pods did not become Ready; ``diagnostics`` holds describe and events output."""

    def __init__(self, cell: str, timeout: float, diagnostics: str, *, fix: str) -> None:
        self.cell, self.timeout, self.diagnostics = cell, timeout, diagnostics
        tail = "\n".join(diagnostics.strip().splitlines()[-40:])
        super().__init__(f"{cell}: pods not Ready within {timeout:g} s\n--- diagnostics ---\n{tail}", fix=fix)


class JobFailed(LabkitError):
    """A fio Job ended Failed (or not at all); ``diagnostics`` holds its logs, describe and events."""

    def __init__(self, job: str, reason: str, output: str, diagnostics: str, *, fix: str | None = None) -> None:
        self.job, self.reason, self.output, self.diagnostics = job, reason, output, diagnostics
        tail = "\n".join(diagnostics.strip().splitlines()[-30:])
        out = "\n".join(output.strip().splitlines()[-8:])
        super().__init__(f"fio Job {job} {reason}" + (f"\n--- fio output (last lines) ---\n{out}" if out else "")
                         + f"\n--- diagnostics ---\n{tail}", fix=fix)


class PvcNotBound(Unavailable):
    """A cell's claim did not turn Bound; ``why`` is the telling event, ``diagnostics`` the describe output."""

    def __init__(self, cell: str, claim: str, headline: str, why: str, diagnostics: str, *, fix: str) -> None:
        self.cell, self.claim, self.why, self.diagnostics = cell, claim, why, diagnostics
        tail = "\n".join(diagnostics.strip().splitlines()[-40:])
        super().__init__(f"{cell}: PVC {claim} {headline}: {why}\n--- diagnostics ---\n{tail}", fix=fix)


def events_why(describe: str) -> str:
    """The event that explains a Pending object: the newest Warning, else the newest event."""
    _, _, section = describe.partition("\nEvents:")
    if not section.strip() or section.strip().startswith("<none>"):
        return "no events at all (is the StorageClass's provisioner running?)"
    events = []
    for line in section.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 3 and parts[0] in ("Normal", "Warning"):
            events.append((parts[0], parts[1], parts[-1]))
    if not events:
        return "no events at all (is the StorageClass's provisioner running?)"
    _, reason, message = next((e for e in reversed(events) if e[0] == "Warning"), events[-1])
    return f"{reason}: {message}"


def diagnose(cluster: BenchCluster, *commands: tuple[str, ...]) -> str:
    out = []
    for args in commands:
        shown = shlex.join(cluster.target.kubectl(*args))
        try:
            res = cluster.kubectl(*args, timeout=30, check=False, quiet=True)
            out.append(f"$ {shown}\n{res.stdout}{res.stderr}")
        except LabkitError as exc:
            out.append(f"$ {shown}\n{exc.message}")
    return "\n".join(out)


def _events() -> tuple[str, ...]:
    return ("get", "events", "--namespace", NAMESPACE, "--sort-by=.lastTimestamp")


def _job_failure(cluster: BenchCluster, name: str) -> str | None:
    """``"Failed (DeadlineExceeded: …)"`` once the Job has failed, else None."""
    res = cluster.kubectl("get", "job", name, "--namespace", NAMESPACE, "--output", "json", timeout=30,
                          check=False, quiet=True)
    if not res.ok:
        return f"is gone: {res.stderr.strip()[-200:]}" if "NotFound" in res.stderr else None
    for cond in json.loads(res.stdout or "{}").get("status", {}).get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return f"failed ({cond.get('reason', '?')}: {cond.get('message', '')})"
    return None


def wait_job(cluster: BenchCluster, name: str, *, timeout: float, quiet: bool = False,
             poll: float = POLL_S) -> None:
    """Wait for Job ``name`` to Complete; a Failed Job ends the wait at once with its logs and events.

    ``kubectl wait`` waits for one condition, so it waits in slices of ``poll`` seconds and the
    Job is checked for Failed between them; ``timeout`` bounds the whole wait."""
    slices = max(1, math.ceil(timeout / poll))
    for i in range(slices):
        step = min(poll, timeout - i * poll)
        res = cluster.kubectl("wait", "--for=condition=Complete", f"job/{name}",
                              "--namespace", NAMESPACE,
                              f"--timeout={step:g}s",          # one slice; the loop bounds the whole wait
                              timeout=step + 30, check=False, quiet=quiet)
        if res.ok:
            return
        if "timed out" not in res.stderr + res.stdout:
            raise CommandError(res.argv, res.returncode, res.stdout, res.stderr)
        failure = _job_failure(cluster, name)
        if failure:
            raise _job_error(cluster, name, failure)
    raise _job_error(cluster, name, f"did not complete within {timeout:g} s")


def _job_error(cluster: BenchCluster, name: str, reason: str) -> JobFailed:
    logs = cluster.kubectl("logs", f"job/{name}", "--namespace", NAMESPACE, "--tail=40", timeout=30, check=False,
                           quiet=True)
    diag = diagnose(cluster, ("describe", "pods", "--namespace", NAMESPACE, "--selector",
                               f"batch.kubernetes.io/job-name={name}"), _events())
    return JobFailed(name, reason, logs.stdout + logs.stderr, diag,
                     fix="read fio's output and the pod's events above; `kubectl get jobs,pods -n labkit-bench`")


def wait_bound(cluster: BenchCluster, cell: str, claim: str, info: Any, *,
               consumer: str, timeout: float) -> None:
    """Wait for the claim to be Bound, *after* its first consumer exists; else :class:`PvcNotBound`."""
    res = cluster.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", f"pvc/{claim}",
                          "--namespace", NAMESPACE,
                          f"--timeout={timeout:g}s",
                          timeout=timeout + 30, check=False)
    if res.ok:
        return
    describe = diagnose(cluster, ("describe", "pvc", claim, "--namespace", NAMESPACE))
    diag = describe + "\n" + diagnose(cluster, ("describe", "pods", "--namespace", NAMESPACE, "--selector",
                                                 f"batch.kubernetes.io/job-name={consumer}"), _events())
    mode = info.binding_mode if info else "binding mode unknown"
    sc = info.name if info else "?"
    provisioner = info.provisioner if info else "its provisioner"
    fix = (f"the consumer Job {consumer} exists (WaitForFirstConsumer needs one): is it schedulable (its events "
           "above)? " if mode == "WaitForFirstConsumer" else "") + (
        f"Is {provisioner} running (`kubectl get pods --all-namespaces | grep -i provisioner`)?")
    raise PvcNotBound(cell, claim, f"(StorageClass {sc}, {mode}) not Bound within {timeout:g} s",
                      events_why(describe), diag, fix=fix)


# --- the cells' sessions -----------------------------------------------------------------------------------
