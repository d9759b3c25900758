"""Plain data out of the API server's JSON: nodes, pods, Jobs, claims, StorageClasses, events, and REST paths
without discovery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from labkit.errors import BadInput, LabkitError, Unavailable

Obj = dict[str, Any]

# Kinds labkit applies without an apiVersion (anything else must carry one).
API_VERSIONS = {
    "Namespace": "v1", "Node": "v1", "Pod": "v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1",
    "ServiceAccount": "v1", "PersistentVolume": "v1", "PersistentVolumeClaim": "v1", "Endpoints": "v1",
    "Deployment": "apps/v1", "DaemonSet": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1",
    "NetworkPolicy": "networking.k8s.io/v1", "Ingress": "networking.k8s.io/v1", "StorageClass": "storage.k8s.io/v1",
    "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1", "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
}
# Everything else is namespaced. Installation and APIServer are Calico's (operator.tigera.io/v1).
CLUSTER_SCOPED = frozenset({"Namespace", "Node", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                            "PersistentVolume", "CustomResourceDefinition", "Installation", "APIServer"})
PLURALS = {"endpoints": "endpoints"}


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ready: bool
    roles: tuple[str, ...]
    internal_ip: str
    kubelet_version: str
    taints: tuple[str, ...]  # "key:effect"
    unschedulable: bool = False  # cordoned (``kubectl cordon``/``drain``)


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    node: str
    ip: str
    phase: str
    ready: bool
    restarts: int
    reason: str  # first waiting/terminated reason (ImagePullBackOff, CrashLoopBackOff, ...), "" when fine
    message: str
    deleting: bool = False  # has a deletionTimestamp (terminating)


@dataclass(frozen=True)
class JobInfo:
    """A Job's outcome so far: ``state`` is ``Complete`` or ``Failed`` once a terminal condition is True,
    else ``Running``; ``reason``/``message`` are that condition's."""

    name: str
    namespace: str
    state: str
    reason: str
    message: str
    active: int
    succeeded: int
    failed: int


@dataclass(frozen=True)
class PvcInfo:
    """A PersistentVolumeClaim: its phase (Pending, Bound, Lost), class and volume."""

    name: str
    namespace: str
    phase: str
    storage_class: str
    volume: str
    deleting: bool


@dataclass(frozen=True)
class StorageClassInfo:
    name: str
    provisioner: str
    binding_mode: str  # Immediate or WaitForFirstConsumer
    reclaim_policy: str
    default: bool


class DaemonSetInfo(NamedTuple):
    namespace: str
    name: str
    desired: int
    ready: int


def rest_path(api_version: str, kind: str, name: str, namespace: str | None = None) -> str:
    """The REST path of one object, without discovery: ``rest_path("apps/v1", "Deployment", "web", "demo")``."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    scope = "" if kind in CLUSTER_SCOPED else f"/namespaces/{quote(namespace or 'default', safe='')}"
    return f"{base}{scope}/{_plural(kind)}/{quote(name, safe='')}"


def _plural(kind: str) -> str:
    low = kind.lower()
    if low in PLURALS:
        return PLURALS[low]
    if low.endswith(("s", "x", "ch", "sh")):
        return low + "es"
    if low.endswith("y") and low[-2:-1] not in tuple("aeiou"):
        return low[:-1] + "ies"
    return low + "s"


def _required(what: str, value: str | None) -> str:
    if not value:
        raise BadInput(what, value, "a non-empty name")
    return value


def _q(segment: str | None) -> str:
    return quote(segment or "", safe="")


def _pods_path(namespace: str | None) -> str:
    return f"/api/v1/namespaces/{_q(namespace)}/pods" if namespace else "/api/v1/pods"


def _digits(text: object) -> str:
    s = str(text or "")
    head = s[: len(s) - len(s.lstrip("0123456789"))]
    if not head:
        raise Unavailable(f"the API server's /version has no number: {text!r}", fix="is this a Kubernetes API server?")
    return head


def _first_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, LabkitError) else f"{type(exc).__name__}: {exc}"
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _condition(obj: Obj, kind: str) -> Obj:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") == kind), {})


def _node_info(n: Obj) -> NodeInfo:
    meta, status = n["metadata"], n.get("status", {})
    prefix = "node-role.kubernetes.io/"
    return NodeInfo(
        name=meta["name"],
        ready=_condition(n, "Ready").get("status") == "True",
        roles=tuple(sorted(k[len(prefix):] for k in meta.get("labels") or {} if k.startswith(prefix))),
        internal_ip=next((a["address"] for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), ""),
        kubelet_version=status.get("nodeInfo", {}).get("kubeletVersion", ""),
        taints=tuple(f"{t['key']}:{t['effect']}" for t in n.get("spec", {}).get("taints") or []),
        unschedulable=bool(n.get("spec", {}).get("unschedulable")),
    )


def node_infos(node_list: Obj) -> list[NodeInfo]:
    """The nodes of a NodeList (``GET /api/v1/nodes``, or ``kubectl get nodes -o json``)."""
    return [_node_info(n) for n in node_list.get("items") or []]


def job_pods(job: str) -> str:
    """The label selector of a Job's pods (the Job controller sets it since Kubernetes 1.27)."""
    return f"batch.kubernetes.io/job-name={job}"


def _job_info(j: Obj) -> JobInfo:
    meta, status = j["metadata"], j.get("status", {})
    # Complete and Failed are terminal; SuccessCriteriaMet/FailureTarget (1.31+) come just before them
    done = next((c for c in status.get("conditions") or [] if c.get("type") in ("Complete", "Failed")
                 and c.get("status") == "True"), {})
    return JobInfo(meta["name"], meta.get("namespace", ""), done.get("type", "Running"), done.get("reason", ""),
                   done.get("message", ""), int(status.get("active", 0)), int(status.get("succeeded", 0)),
                   int(status.get("failed", 0)))


def _pvc_info(c: Obj) -> PvcInfo:
    meta = c["metadata"]
    return PvcInfo(meta["name"], meta.get("namespace", ""), c.get("status", {}).get("phase", "Pending"),
                     c.get("spec", {}).get("storageClassName") or "", c.get("spec", {}).get("volumeName") or "",
                     bool(meta.get("deletionTimestamp")))


def storage_class_infos(class_list: Obj) -> dict[str, StorageClassInfo]:
    """A StorageClassList by name (``volumeBindingMode`` and ``reclaimPolicy`` have API defaults)."""
    out = {}
    for item in class_list.get("items") or []:
        meta = item.get("metadata", {})
        notes = meta.get("annotations") or {}
        out[meta["name"]] = StorageClassInfo(
            meta["name"], str(item.get("provisioner", "")), str(item.get("volumeBindingMode", "Immediate")),
            str(item.get("reclaimPolicy", "Delete")),
            notes.get("storageclass.kubernetes.io/is-default-class") == "true")
    return out


def _statuses(p: Obj) -> list[tuple[Obj, bool]]:
    """(container status, is an init container), init containers first, as the kubelet runs them."""
    s = p.get("status", {})
    return ([(c, True) for c in s.get("initContainerStatuses") or []] +
            [(c, False) for c in s.get("containerStatuses") or []])


def _pod_info(p: Obj) -> PodInfo:
    meta, status = p["metadata"], p.get("status", {})
    reason, message = "", ""
    for c, init in _statuses(p):
        state = c.get("state") or {}
        stuck = state.get("waiting") or state.get("terminated")
        if stuck and not (init and state.get("terminated", {}).get("exitCode") == 0):
            reason, message = stuck.get("reason", ""), stuck.get("message", "")
            break
    if not reason:
        sched = _condition(p, "PodScheduled")
        if status.get("reason"):  # Evicted, NodeLost, ...
            reason, message = status["reason"], status.get("message", "")
        elif sched.get("status") == "False":  # Unschedulable
            reason, message = sched.get("reason", ""), sched.get("message", "")
    return PodInfo(
        name=meta["name"], namespace=meta.get("namespace", ""), node=p.get("spec", {}).get("nodeName", ""),
        ip=status.get("podIP", ""), phase=status.get("phase", ""),
        ready=_condition(p, "Ready").get("status") == "True",
        restarts=sum(int(c.get("restartCount", 0)) for c, _ in _statuses(p)),
        reason=reason, message=message, deleting=bool(meta.get("deletionTimestamp")),
    )


def _pods_report(pods: list[PodInfo], where: str) -> list[str]:
    if not pods:
        return [f"no pods in {where}"]
    bad = [p for p in pods if not p.ready]
    if not bad:
        return [f"all {len(pods)} pod(s) in {where} are ready"]
    lines = [f"{len(bad)} of {len(pods)} pod(s) in {where} not ready:"]
    for p in bad:
        why = "".join([f", {p.reason}" if p.reason else "", f": {p.message}" if p.message else ""])
        lines.append(f"  pod/{p.name} on {p.node or '(no node)'}: {p.phase}{why} (restarts {p.restarts})")
    return lines


def _crashed_containers(items: list[Obj]) -> list[tuple[str, str, bool]]:
    """(pod, container, previous) whose log is worth reading: the previous run of a container that restarted
    or is in CrashLoopBackOff, and the only run of one that ended with a non-zero exit code and was not
    restarted (a Job's pod with ``restartPolicy: Never``)."""
    out = []
    for p in items:
        for c, _ in _statuses(p):
            state = c.get("state") or {}
            if c.get("restartCount", 0) > 0 or state.get("waiting", {}).get("reason") == "CrashLoopBackOff":
                out.append((p["metadata"]["name"], c["name"], True))
            elif state.get("terminated", {}).get("exitCode", 0) != 0:
                out.append((p["metadata"]["name"], c["name"], False))
    return out


def _event_time(e: Obj) -> datetime:
    """When an event last happened: core events fill lastTimestamp, events.k8s.io ones eventTime (microseconds)."""
    stamp = (e.get("lastTimestamp") or (e.get("series") or {}).get("lastObservedTime") or e.get("eventTime")
             or e.get("firstTimestamp") or e.get("metadata", {}).get("creationTimestamp"))
    try:
        return datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=UTC)


def telling_event(events: list[Obj]) -> str | None:
    """``"Reason: message"`` of the event that explains a waiting object: its newest Warning, else its newest
    event (``events`` oldest first); None when there are none."""
    if not events:
        return None
    e = next((e for e in reversed(events) if e.get("type") == "Warning"), events[-1])
    return f"{e.get('reason', '')}: {str(e.get('message', '')).strip()}"


def _event_line(e: Obj) -> str:
    obj = e.get("involvedObject") or {}
    count = e.get("count") or (e.get("series") or {}).get("count") or 1
    times = f" (x{count})" if count > 1 else ""
    return (f"{e.get('type', '')}  {e.get('reason', '')}  {str(obj.get('kind', '')).lower()}/{obj.get('name', '')}: "
            f"{str(e.get('message', '')).strip()}{times}")
