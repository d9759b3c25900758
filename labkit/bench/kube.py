"""Benchmarks on Kubernetes, shared by every component's cluster cells: the session, the waits, one diagnose.

A :class:`BenchCluster` is one cluster as cells see it, through both of labkit's ways in: a
:class:`~labkit.targets.kube.KubeTarget` and a :class:`~labkit._run.Runner` for what a learner could
type (``kubectl apply`` of the manifests, ``kubectl exec`` of a measurement, ``kubectl delete``), and the
API (a :class:`labkit.k8s.Cluster` on the same kubeconfig file and context) for every read, wait and
diagnosis (DESIGN §2). It also knows where pods go (:class:`Placement`) and the facts for the rows.
Objects a cell makes are labelled and deleted by label (:class:`LabelledObjects`), adopted by the run's
scope before they exist, so errors, Ctrl-C and SIGTERM still remove them. Waits bound the whole wait
and, when they give up, carry what a person looks at next (:meth:`labkit.k8s.Cluster.diagnose`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from labkit import docker, k8s
from labkit._run import Runner, default_runner
from labkit.errors import BadInput, LabkitError, Unavailable, WaitTimeout
from labkit.k8s import JobFailed, PvcPending
from labkit.log import log
from labkit.manifests import to_yaml
from labkit.targets.kube import KubeTarget

NAMESPACE = "labkit-bench"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
POLL_S = 2.0  # how often a wait reads the object it waits for (a GET: cheap)


def object_labels(session: str, role: str, **extra: str) -> dict[str, str]:
    """Labels of every object a cell makes: ``labkit clean`` finds them, the cell's delete selects them."""
    return docker.labels(session, role, **extra)


def selector(session: str, role: str) -> str:
    return f"{docker.SESSION}={session},{docker.ROLE}={role}"


def connect(target: KubeTarget) -> k8s.Cluster:
    """The API of ``target``'s cluster: the same kubeconfig file and context as its kubectl argv (a kind
    target has no ``--context``: both then use the file's current-context)."""
    return k8s.connect(context=target.context, kubeconfig=target.kubeconfig)


@dataclass(frozen=True)
class Node:
    name: str
    control_plane: bool
    why_not: str  # "" when pods may run here
    kubelet_version: str = ""

    @property
    def usable(self) -> bool:
        return not self.why_not


def bench_nodes(infos: list[k8s.NodeInfo]) -> list[Node]:
    """Nodes by name, each with why it cannot take bench pods ("" if it can)."""
    out = []
    for n in infos:
        blocking = [t.rsplit(":", 1)[0] for t in n.taints
                    if t.rsplit(":", 1)[-1] in ("NoSchedule", "NoExecute") and t.rsplit(":", 1)[0] != CONTROL_PLANE]
        why = ("not Ready" if not n.ready else "cordoned" if n.unschedulable
               else f"tainted {', '.join(blocking)}" if blocking else "")
        out.append(Node(n.name, "control-plane" in n.roles, why, n.kubelet_version))
    return sorted(out, key=lambda n: n.name)


def parse_nodes(node_list: dict[str, Any]) -> list[Node]:
    """:func:`bench_nodes` of a NodeList (``GET /api/v1/nodes``, ``kubectl get nodes -o json``)."""
    return bench_nodes(k8s.node_infos(node_list))


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
    """One cluster as the cells see it: kubectl argv for what a learner types, the API for reads and waits,
    where pods go, facts for the rows."""

    target: KubeTarget
    runner: Runner
    api: Any  # labkit.k8s.Cluster (tests: one over a fake API server, tests/fakes.py)
    placement: Placement
    nodes: list[Node]

    def kubectl(self, *args: str, timeout: float = 60, stdin: str | None = None, check: bool = True,
                quiet: bool = False) -> Any:
        return self.runner.run(list(self.target.kubectl(*args)), timeout=timeout, stdin=stdin, check=check,
                               quiet=quiet)

    def facts(self) -> dict[str, Any]:
        """Cluster columns of the schema (kind and node image are not visible through the API)."""
        versions = sorted({n.kubelet_version for n in self.nodes if n.kubelet_version})
        return {"k8s_version": ",".join(versions) or None, "n_nodes": len(self.nodes)}

    def describe(self) -> dict[str, Any]:
        return {"name": self.target.name, "context": self.target.context, "kind_cluster": self.target.kind_cluster,
                "nodes": [{"name": n.name, "control_plane": n.control_plane, "why_not": n.why_not,
                           "kubelet_version": n.kubelet_version} for n in self.nodes],
                "placement": {"first": self.placement.first, "second": self.placement.second,
                              "tolerate_control_plane": self.placement.tolerate_control_plane,
                              "note": self.placement.note}}


def prepare(target: KubeTarget, *, runner: Runner | None = None, api: Any = None) -> BenchCluster:
    """Read the nodes (API), choose the placement and make the bench namespace (kubectl apply; idempotent).

    ``api`` defaults to :func:`connect` of ``target``."""
    run = runner or default_runner()
    client = api if api is not None else connect(target)
    nodes = bench_nodes(client.nodes())
    cluster = BenchCluster(target, run, client, place(nodes), nodes)
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
    """A cell's pods did not become Ready; ``diagnostics`` holds the pods' reasons, events and logs."""

    def __init__(self, cell: str, timeout: float, diagnostics: str, *, fix: str) -> None:
        self.cell, self.timeout, self.diagnostics = cell, timeout, diagnostics
        tail = "\n".join(diagnostics.strip().splitlines()[-40:])
        super().__init__(f"{cell}: pods not Ready within {timeout:g} s\n--- diagnostics ---\n{tail}", fix=fix)


class PvcNotBound(Unavailable):
    """A cell's claim did not turn Bound; ``why`` is the telling event, ``diagnostics`` the claim's events,
    its consumer's pods and the namespace's events."""

    def __init__(self, cell: str, claim: str, headline: str, why: str, diagnostics: str, *, fix: str) -> None:
        self.cell, self.claim, self.why, self.diagnostics = cell, claim, why, diagnostics
        tail = "\n".join(diagnostics.strip().splitlines()[-40:])
        super().__init__(f"{cell}: PVC {claim} {headline}: {why}\n--- diagnostics ---\n{tail}", fix=fix)


def wait_ready(cluster: BenchCluster, cell: str, pods: str, *, count: int, timeout: float, fix: str) -> list[Any]:
    """Wait until ``count`` pods matching the selector ``pods`` are Ready (the API; the timeout covers the
    whole wait); else :class:`PodsNotReady` with the pods' reasons, warnings first, crashed containers' logs."""
    try:
        return list(cluster.api.wait_pods_ready(NAMESPACE, pods, count=count, timeout=timeout))
    except WaitTimeout as exc:
        raise PodsNotReady(cell, timeout, exc.diagnostics, fix=fix) from exc


def wait_job(cluster: BenchCluster, name: str, *, timeout: float) -> None:
    """Wait for Job ``name`` to Complete; a Failed or vanished Job ends the wait at once, and every way of
    not completing is :class:`JobFailed` with the pods' output (fio's own words), events and reasons."""
    try:
        cluster.api.wait_job(NAMESPACE, name, timeout=timeout, poll=POLL_S)
    except JobFailed as exc:
        raise JobFailed(name, exc.reason, exc.diagnostics, output=_output(cluster, name),
                        fix="read the Job's output and its pods' events above; "
                            f"`{shlex.join(cluster.target.kubectl('get', 'jobs,pods', '-n', NAMESPACE))}`") from exc


def _output(cluster: BenchCluster, job: str) -> str:
    """The last lines each pod of ``job`` wrote (never raises: a failure to read is a line saying so)."""
    try:
        pods = cluster.api.pods(NAMESPACE, k8s.job_pods(job))
    except LabkitError as exc:
        return f"(could not list the pods of Job {job}: {exc.message})"
    return "\n".join(cluster.api.logs(p.name, NAMESPACE, tail=40) for p in pods)


def wait_bound(cluster: BenchCluster, cell: str, claim: str, info: Any, *,
               consumer: str, timeout: float) -> None:
    """Wait for the claim to be Bound, *after* its first consumer exists; else :class:`PvcNotBound`."""
    try:
        cluster.api.wait_pvc_bound(NAMESPACE, claim, timeout=timeout, consumers=k8s.job_pods(consumer), poll=POLL_S)
        return
    except PvcPending as exc:
        why, diag = exc.why, exc.diagnostics
        if why == "no events at all":
            why += " (is the StorageClass's provisioner running?)"
    mode = info.binding_mode if info else "binding mode unknown"
    sc = info.name if info else "?"
    provisioner = info.provisioner if info else "its provisioner"
    fix = (f"the consumer Job {consumer} exists (WaitForFirstConsumer needs one): is it schedulable (its events "
           "above)? " if mode == "WaitForFirstConsumer" else "") + (
        f"Is {provisioner} running "
        f"(`{shlex.join(cluster.target.kubectl('get', 'pods', '--all-namespaces'))} | grep -i provisioner`)?")
    raise PvcNotBound(cell, claim, f"(StorageClass {sc}, {mode}) not Bound within {timeout:g} s", why, diag, fix=fix)
