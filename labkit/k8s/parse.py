"""Plain data out of the API server's JSON: nodes, pods, events, and REST paths without discovery."""

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
    )


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
        reason=reason, message=message,
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


def _crashed_containers(items: list[Obj]) -> list[tuple[str, str]]:
    """(pod, container) whose previous run is worth reading: restarted or in CrashLoopBackOff."""
    return [(p["metadata"]["name"], c["name"]) for p in items for c, _ in _statuses(p)
            if c.get("restartCount", 0) > 0
            or (c.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"]


def _event_time(e: Obj) -> datetime:
    """When an event last happened: core events fill lastTimestamp, events.k8s.io ones eventTime (microseconds)."""
    stamp = (e.get("lastTimestamp") or (e.get("series") or {}).get("lastObservedTime") or e.get("eventTime")
             or e.get("firstTimestamp") or e.get("metadata", {}).get("creationTimestamp"))
    try:
        return datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=UTC)


def _event_line(e: Obj) -> str:
    obj = e.get("involvedObject") or {}
    count = e.get("count") or (e.get("series") or {}).get("count") or 1
    times = f" (x{count})" if count > 1 else ""
    return (f"{e.get('type', '')}  {e.get('reason', '')}  {str(obj.get('kind', '')).lower()}/{obj.get('name', '')}: "
            f"{str(e.get('message', '')).strip()}{times}")
