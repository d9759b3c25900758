"""The only module that imports the ``kubernetes`` client (lazily: ``import labkit`` never loads it).

A :class:`Cluster` wraps one ``ApiClient``: kubectl-like reads (nodes, pods, events, logs), a
readiness wait whose timeout carries the diagnostics, and server-side apply/delete of plain dicts.
Every request goes through :meth:`Cluster._request`, which turns client errors into labkit errors.
Discovery is never used: REST paths come from the object's apiVersion and kind.

>>> api = connect(context="kind-labkit")                     # doctest: +SKIP
>>> [n.name for n in api.nodes() if n.ready]                 # doctest: +SKIP
>>> api.wait_pods_ready("kube-system", "k8s-app=kube-dns")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from labkit._run import Result
from labkit.errors import BadInput, CommandError, LabkitError, Unavailable, WaitTimeout

__all__ = ["ApiError", "Cluster", "DaemonSetInfo", "NodeInfo", "PodInfo", "connect", "rest_path"]

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
# DaemonSet name -> CNI; the default CNI (kindnet) last, so a CNI installed over it wins.
CNI_DAEMONSETS = (("cilium", "cilium"), ("calico-node", "calico"), ("kube-flannel-ds", "flannel"),
                  ("weave-net", "weave"), ("kindnet", "kindnet"))


class ApiError(LabkitError):
    """The API server refused a request: the verb, path, HTTP status and the server's own message."""

    def __init__(self, method: str, path: str, status: int, server_message: str, *, fix: str | None = None) -> None:
        self.method, self.path, self.status, self.server_message = method, path, status, server_message
        super().__init__(f"{method} {path} failed with HTTP {status}: {server_message}", fix=fix)


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


def connect(context: str | None = None, kubeconfig: str | os.PathLike[str] | None = None, *,
            timeout: float = 10) -> Cluster:
    """A :class:`Cluster` for a kubeconfig context, probed with ``GET /version`` (the file is only read).

    ``kubeconfig`` defaults to ``$KUBECONFIG`` (a path list, merged) or ``~/.kube/config``, as kubectl does;
    ``context`` defaults to the file's current-context.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    spec = os.fspath(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or str(Path.home() / ".kube/config")
    paths = [os.path.expanduser(p) for p in spec.split(os.pathsep) if p]
    existing = [p for p in paths if os.path.isfile(p)]
    if not existing:
        raise BadInput("kubeconfig", spec, "an existing kubeconfig file",
                       fix="pass kubeconfig=PATH or set KUBECONFIG (labkit's clusters keep theirs in "
                           "~/.local/share/labkit/kube/<name>.yaml)")
    names, current = _contexts(existing)
    context = context or current
    if not context or context not in names:
        raise BadInput("context", context, ", ".join(names) or f"(no contexts in {spec})",
                       fix=f"pass context=NAME, one of those (`kubectl --kubeconfig {shlex.quote(spec)} "
                           f"config get-contexts`)")
    cfg = client.Configuration()
    cfg.retries = 1  # one retry, not urllib3's three: an unreachable server is reported within ~2 timeouts
    try:  # persist_config=False: token refreshes stay in memory, the kubeconfig is never written
        api = config.new_client_from_config(config_file=spec, context=context, persist_config=False,
                                            client_configuration=cfg)
    except ConfigException as exc:
        raise BadInput("kubeconfig", spec, f"a usable entry for context {context!r}",
                       fix=f"repair the context's cluster/user entries ({exc})") from exc
    cluster = Cluster(api, context=context, kubeconfig=spec, timeout=timeout)
    try:
        cluster.version()
    except LabkitError:
        cluster.close()
        raise
    return cluster


def _contexts(paths: Sequence[str]) -> tuple[list[str], str | None]:
    """Context names in merged kubeconfig files and the current-context (the first file to set it wins)."""
    import yaml

    names: list[str] = []
    current: str | None = None
    for path in paths:
        try:
            doc = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise BadInput("kubeconfig", path, "a readable YAML kubeconfig",
                           fix=f"repair or remove it ({exc})") from exc
        names += [c["name"] for c in doc.get("contexts") or [] if c.get("name") and c["name"] not in names]
        current = current or doc.get("current-context") or None
    return names, current


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


class Cluster:
    """One API server. Build it with :func:`connect`, or :meth:`from_host` (no auth; tests)."""

    def __init__(self, api: Any, *, context: str | None = None, kubeconfig: str | None = None,
                 timeout: float = 10) -> None:
        self._api = api
        self.context, self.kubeconfig, self.timeout = context, kubeconfig, timeout
        self.server: str = api.configuration.host

    @classmethod
    def from_host(cls, url: str, *, timeout: float = 10) -> Cluster:
        """A cluster at ``url`` without credentials (a loopback test server, ``kubectl proxy``)."""
        from kubernetes import client

        cfg = client.Configuration(host=url.rstrip("/"))
        cfg.retries = 1
        return cls(client.ApiClient(cfg), timeout=timeout)

    def __repr__(self) -> str:
        return f"Cluster(context={self.context!r}, server={self.server!r})"

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._api.close()

    # -- requests ---------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, query: Sequence[tuple[str, str]] = (), body: Any = None,
                 content_type: str | None = None, accept: str = "application/json") -> bytes:
        """One HTTP request through the client's auth and TLS; labkit errors instead of client ones."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": accept, **({"Content-Type": content_type} if content_type else {})}
        try:
            resp = self._api.call_api(path, method, query_params=list(query), header_params=headers, body=body,
                                      auth_settings=["BearerToken"], _preload_content=False,
                                      _request_timeout=self.timeout)
        except ApiException as exc:
            shown = f"{path}?{urlencode(list(query))}" if query else path
            raise self._api_error(method, shown, exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(getattr(exc, "reason", None) or exc) from exc
        except AttributeError as exc:  # the client's TLS error path: ApiException(status=0) whose body is None
            if isinstance(exc.__context__, ApiException):
                raise self._unreachable(exc.__context__.reason) from exc.__context__
            raise
        try:
            return bytes(resp.data)
        finally:
            resp.release_conn()

    def _get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Obj:
        return json.loads(self._request("GET", path, query=query))

    def _items(self, path: str, selector: str | None = None) -> list[Obj]:
        return list(self._get(path, [("labelSelector", selector)] if selector else ()).get("items") or [])

    def _api_error(self, method: str, path: str, exc: Any) -> LabkitError:
        if not exc.status:  # status 0: the client's wrapper for a TLS failure
            return self._unreachable(exc.reason)
        try:
            msg = json.loads(exc.body).get("message") or exc.body
        except (TypeError, ValueError, AttributeError):
            msg = exc.body or exc.reason
        fixes = {401: f"the credentials of context {self.context!r} were rejected: refresh them "
                      f"(kind: `kind export kubeconfig --name NAME --kubeconfig {self.kubeconfig or 'FILE'}`) "
                      f"or pick another context",
                 403: f"the user of context {self.context!r} lacks RBAC permission: "
                      f"`{self._kubectl()} auth can-i --list` shows what it may do",
                 404: "check the name, namespace and apiVersion (is the CRD installed?)"}
        return ApiError(method, path, exc.status, str(msg).strip(), fix=fixes.get(exc.status))

    def _unreachable(self, reason: object) -> Unavailable:
        return Unavailable(f"cannot reach the Kubernetes API at {self.server}: {reason}",
                           fix=f"is the cluster running? `{self._kubectl()} cluster-info`")

    def _kubectl(self, *args: str) -> str:
        """The kubectl line a person can paste to look at the same cluster."""
        argv = ["kubectl"]
        argv += ["--kubeconfig", self.kubeconfig] if self.kubeconfig else []
        argv += ["--context", self.context] if self.context else []
        argv += [] if (self.kubeconfig or self.context) else ["--server", self.server]
        return shlex.join([*argv, *args])

    # -- reads ------------------------------------------------------------------------------------

    def version(self) -> tuple[int, int]:
        """(major, minor) of the API server; managed clusters' ``"30+"`` minors are read as 30."""
        v = self._get("/version")
        return int(_digits(v.get("major"))), int(_digits(v.get("minor")))

    def nodes(self) -> list[NodeInfo]:
        return [_node_info(n) for n in self._items("/api/v1/nodes")]

    def pods(self, namespace: str | None = None, selector: str | None = None) -> list[PodInfo]:
        """Pods in ``namespace`` (all namespaces when None) matching a label ``selector`` like ``app=web``."""
        return [_pod_info(p) for p in self._items(_pods_path(namespace), selector)]

    def daemonsets(self, namespace: str | None = None) -> list[DaemonSetInfo]:
        path = f"/apis/apps/v1/namespaces/{_q(namespace)}/daemonsets" if namespace else "/apis/apps/v1/daemonsets"
        return [DaemonSetInfo(d["metadata"].get("namespace", ""), d["metadata"]["name"],
                              int(d.get("status", {}).get("desiredNumberScheduled", 0)),
                              int(d.get("status", {}).get("numberReady", 0))) for d in self._items(path)]

    def storage_classes(self) -> list[str]:
        return [s["metadata"]["name"] for s in self._items("/apis/storage.k8s.io/v1/storageclasses")]

    def detect_cni(self) -> str | None:
        """The CNI, recognised by its DaemonSet in any namespace (kindnet, calico, cilium, flannel, weave)."""
        names = {d.name for d in self.daemonsets()}
        return next((cni for ds, cni in CNI_DAEMONSETS if ds in names), None)

    def events(self, namespace: str, *, involved: str | None = None, limit: int = 20) -> list[str]:
        """The newest ``limit`` events (newest last): ``Warning  FailedScheduling  pod/x: 0/3 nodes ...``."""
        return [_event_line(e) for e in self._events(namespace, involved)[-limit:]]

    def _events(self, namespace: str, involved: str | None = None) -> list[Obj]:
        query = [("fieldSelector", f"involvedObject.name={involved}")] if involved else []
        items = self._get(f"/api/v1/namespaces/{_q(_required('namespace', namespace))}/events", query)["items"]
        return sorted(items or [], key=_event_time)

    def logs(self, pod: str, namespace: str, *, container: str | None = None, tail: int = 40,
             previous: bool = False) -> str:
        """The last ``tail`` lines of a container's log; on any error, a line saying why (never raises)."""
        query = [("container", container)] if container else []
        query += [("tailLines", str(tail))] + ([("previous", "true")] if previous else [])
        what = f"pod/{pod}" + (f" container {container}" if container else "")
        try:
            path = f"/api/v1/namespaces/{_q(_required('namespace', namespace))}/pods/{_q(_required('pod', pod))}/log"
            return self._request("GET", path, query=query, accept="*/*").decode(errors="replace")
        except Exception as exc:  # diagnostics must explain, not add a second failure
            why = exc.server_message if isinstance(exc, ApiError) else _first_line(exc)
            return f"(no logs for {what}: {why})"

    # -- waits and diagnostics --------------------------------------------------------------------

    def wait_pods_ready(self, namespace: str, selector: str, *, count: int | None = None, timeout: float = 180,
                        poll: float = 2, clock: Callable[[], float] = time.monotonic,
                        sleep: Callable[[float], None] = time.sleep) -> list[PodInfo]:
        """Poll until at least ``count`` (default 1) pods match ``selector`` and all of them are Ready.

        The timeout covers the whole wait; on timeout :class:`WaitTimeout` carries :meth:`diagnose`.
        """
        want = count if count is not None else 1
        deadline = clock() + timeout
        pods: list[PodInfo] = []
        last_error = ""
        while True:
            try:
                pods, last_error = self.pods(namespace, selector), ""
            except Unavailable as exc:  # an API server restarting (a CNI install) is worth waiting out
                last_error = exc.message
            if not last_error and len(pods) >= want and all(p.ready for p in pods):
                return pods
            if clock() >= deadline:
                break
            sleep(max(0.0, min(poll, deadline - clock())))
        ready = sum(p.ready for p in pods)
        what = (f"{want}+ ready pod(s) {selector!r} in namespace {namespace} "
                f"(last seen: {len(pods)} matched, {ready} ready)")
        diag = (f"last poll failed: {last_error}\n" if last_error else "") + self.diagnose(namespace, selector)
        describe = self._kubectl("-n", namespace, "describe", "pods", "-l", selector)
        raise WaitTimeout(what, timeout, diag, fix=f"read the reasons above; `{describe}`")

    def diagnose(self, namespace: str, selector: str | None = None, *, events: int = 10, tail: int = 40) -> str:
        """What a person looks at next: pods not ready, recent events (warnings first), logs of crashed containers.

        Never raises: a part that cannot be fetched becomes a line saying why.
        """
        out: list[str] = []
        items: list[Obj] = []
        shown = f" matching {selector!r}" if selector else ""
        try:
            items = self._items(_pods_path(_required("namespace", namespace)), selector)
            out += _pods_report([_pod_info(p) for p in items], f"{namespace}{shown}")
        except Exception as exc:  # diagnostics must explain, not add a second failure
            out.append(f"(could not list pods in {namespace}{shown}: {_first_line(exc)})")
        try:
            evs = self._events(namespace)[-events:]
            evs.sort(key=lambda e: e.get("type") != "Warning")  # stable: each group stays oldest -> newest
            out.append(f"events in {namespace} (last {len(evs)}, warnings first):" if evs
                       else f"no events in {namespace}")
            out += ["  " + _event_line(e) for e in evs]
        except Exception as exc:  # as above
            out.append(f"(could not list events in {namespace}: {_first_line(exc)})")
        for pod, container in _crashed_containers(items)[:5]:
            out.append(f"previous logs of pod/{pod} container {container} (last {tail} lines):")
            text = self.logs(pod, namespace, container=container, tail=tail, previous=True)
            out += ["  " + line for line in text.rstrip("\n").splitlines()] or ["  (empty)"]
        return "\n".join(out)

    # -- writes -----------------------------------------------------------------------------------

    def apply(self, obj: Obj, *, field_manager: str = "labkit") -> Obj:
        """Server-side apply of one object given as a dict (``kubectl apply --server-side --force-conflicts``)."""
        kind = obj.get("kind") or ""
        api_version = obj.get("apiVersion") or API_VERSIONS.get(kind)
        if not api_version:
            raise BadInput("kind", kind or None, f"an object with apiVersion, or one of {', '.join(API_VERSIONS)}",
                           fix='add "apiVersion" to the object (e.g. "apps/v1")')
        meta = obj.get("metadata") or {}
        path = rest_path(api_version, kind, _required(f"{kind} metadata.name", meta.get("name")), meta.get("namespace"))
        body = {**obj, "apiVersion": api_version}
        data = self._request("PATCH", path, query=[("fieldManager", field_manager), ("force", "true")], body=body,
                             content_type="application/apply-patch+yaml")
        return json.loads(data)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete one object; False if it did not exist."""
        try:
            self._request("DELETE", rest_path(api_version, _required("kind", kind), _required("name", name), namespace))
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def exec(self, pod: str, namespace: str, argv: Sequence[str], *, container: str | None = None,
             timeout: float = 60) -> Result:
        """Run ``argv`` in a pod like ``kubectl exec`` and return its result (a non-zero exit does not raise).

        Uses the client's websocket stream, so the loopback HTTP tests do not cover it. ``Result.argv`` is the
        equivalent kubectl line; a timeout raises :class:`CommandError`.
        """
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream
        from kubernetes.stream.ws_client import ERROR_CHANNEL

        shown = ("kubectl", *shlex.split(self._kubectl())[1:], "exec", "-n", namespace, pod,
                 *(["-c", container] if container else []), "--", *argv)
        kwargs = {"container": container} if container else {}
        try:
            ws = stream(client.CoreV1Api(self._api).connect_get_namespaced_pod_exec, _required("pod", pod), namespace,
                        command=list(argv), stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False,
                        **kwargs)
        except ApiException as exc:
            raise self._api_error("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/exec", exc) from exc
        except OSError as exc:
            raise self._unreachable(exc) from exc
        out: list[str] = []
        err: list[str] = []
        deadline = time.monotonic() + timeout
        while ws.is_open() and time.monotonic() < deadline:
            ws.update(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            out.append(ws.read_stdout(timeout=0))
            err.append(ws.read_stderr(timeout=0))
        if ws.is_open():
            ws.close()
            raise CommandError(shown, None, "".join(out), "".join(err), timeout=timeout)
        out.append(ws.read_stdout(timeout=0))
        err.append(ws.read_stderr(timeout=0))
        status = json.loads(ws.read_channel(ERROR_CHANNEL) or "{}")
        code = 0 if status.get("status") == "Success" else 1
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                code = int(cause.get("message", 1))
        if code and status.get("message") and not status.get("details"):
            err.append(status["message"])
        return Result(tuple(shown), code, "".join(out), "".join(err))


# -- parsing --------------------------------------------------------------------------------------


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
