"""The only module that talks to the API server (the ``kubernetes`` client, imported lazily).

A :class:`Cluster` wraps one ``ApiClient``: kubectl-like reads (nodes, pods, Jobs, claims, StorageClasses,
events, logs), waits whose timeout carries the diagnostics (:mod:`labkit.k8s.waits`), and server-side
apply/delete of plain dicts. Every request goes through :meth:`Cluster._request`, which turns client errors into
labkit errors. Discovery is never used: REST paths come from the object's apiVersion and kind.
Plans do not come here: they go through ``kubectl`` so a learner can read and type them.

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
from typing import Any
from urllib.parse import urlencode

from labkit._run import Result
from labkit.errors import BadInput, CommandError, LabkitError, Unavailable
from labkit.k8s.parse import (
    API_VERSIONS,
    PvcInfo,
    DaemonSetInfo,
    JobInfo,
    NodeInfo,
    Obj,
    PodInfo,
    StorageClassInfo,
    _pvc_info,
    _digits,
    _event_line,
    _event_time,
    _first_line,
    _job_info,
    _node_info,
    _pod_info,
    _pods_path,
    _q,
    _required,
    rest_path,
    storage_class_infos,
)
from labkit.k8s.errors import ApiError
from labkit.k8s.waits import Waits
from labkit.kubeconfig import resolve



def connect(context: str | None = None, kubeconfig: str | os.PathLike[str] | None = None, *,
            timeout: float = 10) -> Cluster:
    """A :class:`Cluster` for a kubeconfig context, probed with ``GET /version`` (the file is only read).

    ``kubeconfig`` defaults to ``$KUBECONFIG`` (a path list) or ``~/.kube/config``, as kubectl does, and
    ``context`` to the current-context; :func:`labkit.kubeconfig.resolve` picks the file that defines it.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    where = resolve(kubeconfig, context)
    spec, context = where.path, where.context
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




class Cluster(Waits):
    """One API server. Build it with :func:`connect`, or :meth:`from_host` (no auth; tests).

    ``timeout`` bounds each request; ``clock`` and ``sleep`` are what the waits measure time with
    (tests pass a fake clock, so a three-minute timeout takes no time)."""

    def __init__(self, api: Any, *, context: str | None = None, kubeconfig: str | None = None,
                 timeout: float = 10, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._api = api
        self.context, self.kubeconfig, self.timeout = context, kubeconfig, timeout
        self.clock, self.sleep = clock, sleep
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
                 content_type: str | None = None, accept: str = "application/json",
                 timeout: float | None = None) -> bytes:
        """One HTTP request through the client's auth and TLS; labkit errors instead of client ones.

        ``timeout`` (a wait's remaining time) may only shorten the cluster's request timeout."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": accept, **({"Content-Type": content_type} if content_type else {})}
        try:
            resp = self._api.call_api(path, method, query_params=list(query), header_params=headers, body=body,
                                      auth_settings=["BearerToken"], _preload_content=False,
                                      _request_timeout=self.timeout if timeout is None
                                      else min(self.timeout, timeout))
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

    def _get(self, path: str, query: Sequence[tuple[str, str]] = (), *, timeout: float | None = None) -> Obj:
        return json.loads(self._request("GET", path, query=query, timeout=timeout))

    def _items(self, path: str, selector: str | None = None, *, timeout: float | None = None) -> list[Obj]:
        query = [("labelSelector", selector)] if selector else []
        return list(self._get(path, query, timeout=timeout).get("items") or [])

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
        return list(self.storage_class_infos())

    def storage_class_infos(self) -> dict[str, StorageClassInfo]:
        """Every StorageClass by name, with its provisioner, binding mode and whether it is the default."""
        return storage_class_infos(self._get("/apis/storage.k8s.io/v1/storageclasses"))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        """One object as the API server returns it (``kubectl get KIND NAME -o json``); 404 is :class:`ApiError`."""
        return self._get(rest_path(api_version, _required("kind", kind), _required("name", name), namespace))

    def job(self, name: str, namespace: str, *, timeout: float | None = None) -> JobInfo:
        return _job_info(self._get(rest_path("batch/v1", "Job", _required("Job name", name),
                                             _required("namespace", namespace)), timeout=timeout))

    def pvc(self, name: str, namespace: str, *, timeout: float | None = None) -> PvcInfo:
        """A PersistentVolumeClaim's phase, class and volume."""
        return _pvc_info(self._get(rest_path("v1", "PersistentVolumeClaim", _required("PVC name", name),
                                               _required("namespace", namespace)), timeout=timeout))

    def pvcs(self, namespace: str | None = None, selector: str | None = None) -> list[PvcInfo]:
        """PersistentVolumeClaims in ``namespace`` (all namespaces when None) matching a label ``selector``."""
        path = f"/api/v1/namespaces/{_q(namespace)}/persistentvolumeclaims" if namespace else \
            "/api/v1/persistentvolumeclaims"
        return [_pvc_info(c) for c in self._items(path, selector)]

    def events(self, namespace: str, *, involved: str | None = None, limit: int = 20) -> list[str]:
        """The newest ``limit`` events (newest last): ``Warning  FailedScheduling  pod/x: 0/3 nodes ...``."""
        return [_event_line(e) for e in self._events(namespace, involved)[-limit:]]

    def _events(self, namespace: str, involved: str | None = None, *, kind: str | None = None,
                timeout: float | None = None) -> list[Obj]:
        fields = ([f"involvedObject.kind={kind}"] if kind else []) + ([f"involvedObject.name={involved}"]
                                                                     if involved else [])
        query = [("fieldSelector", ",".join(fields))] if fields else []
        items = self._get(f"/api/v1/namespaces/{_q(_required('namespace', namespace))}/events", query,
                          timeout=timeout)["items"]
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
