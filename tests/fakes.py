"""The test doubles every test shares: one scripted runner, one clock, one fake cluster, kind's nodes, fake
cluster lifecycles, and the Docker-inspection helpers.

Every fake answers only what it knows (DESIGN §6.4). A :class:`ScriptedRunner` answers the commands it
was told about (by argv prefix, or by a run of argv anywhere in the command); any other command raises
:class:`UnknownCommand` and fails the test, so a flow test notices a command it did not expect. A
:class:`FakeCluster` is one Kubernetes cluster in memory, seen the two ways labkit sees one: kubectl argv
(apply, delete, and what the test scripts) and the API (a real :class:`labkit.k8s.Cluster` whose transport
is the fake: it serves GETs of the objects it holds, and nothing else).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from labkit._run import Result
from labkit.errors import CommandError

# int (exit code) | str (stdout, exit 0) | (rc, stdout[, stderr]) | Result | Exception | Callable[[Call], Answer]
Answer = Any


@dataclass
class Call:
    argv: list[str]
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 0.0
    check: bool = True
    quiet: bool = False

    @property
    def args(self) -> list[str]:
        """kubectl's own arguments (after ``--kubeconfig X [--context Y]``), else argv[1:]."""
        out = self.argv[1:]
        while out and out[0] in ("--kubeconfig", "--context"):
            out = out[2:]
        return out


class UnknownCommand(AssertionError):
    """The code under test ran a command (or sent a request) the test did not script."""


def _contains(argv: Sequence[str], part: Sequence[str]) -> bool:
    n = len(part)
    return any(tuple(argv[i:i + n]) == tuple(part) for i in range(len(argv) - n + 1))


class Replies:
    """Successive answers to one scripted command; the last one repeats (a state that has settled)."""

    def __init__(self, *answers: Answer) -> None:
        if not answers:
            raise ValueError("Replies needs at least one answer")
        self.left = list(answers)

    def __call__(self, call: Call) -> Answer:
        return self.left.pop(0) if len(self.left) > 1 else self.left[0]


class ScriptedRunner:
    """A :class:`~labkit._run.Runner` that answers scripted commands and records every call.

    ``script`` maps an argv prefix (or, when ``anywhere``, a run of argv anywhere in the command) to an
    :data:`Answer`; the first match wins, in insertion order. An unscripted command raises
    :class:`UnknownCommand` (the test fails).
    """

    def __init__(self, script: dict[tuple[str, ...], Answer] | None = None, *, anywhere: bool = True) -> None:
        self.script = dict(script or {})
        self.anywhere = anywhere
        self.calls: list[Call] = []

    def answer(self, prefix: tuple[str, ...], value: Answer) -> ScriptedRunner:
        self.script[prefix] = value
        return self

    def _lookup(self, call: Call) -> Answer:
        for prefix, value in self.script.items():
            if tuple(call.argv[:len(prefix)]) == prefix or (self.anywhere and _contains(call.argv, prefix)):
                return value
        raise UnknownCommand(f"unscripted command: {call.argv!r} (script: {list(self.script)})")

    def run(self, argv: Sequence[str], *, timeout: float = 0, stdin: str | None = None, env: Any = None,
            check: bool = True, quiet: bool = False) -> Result:
        call = Call([str(a) for a in argv], stdin, dict(env or {}), timeout, check, quiet)
        self.calls.append(call)
        value = self._lookup(call)
        while callable(value) and not isinstance(value, BaseException):
            value = value(call)
        if isinstance(value, BaseException):
            raise value
        res = value if isinstance(value, Result) else _result(call, value)
        if check and not res.ok:
            raise CommandError(call.argv, res.returncode, res.stdout, res.stderr or "scripted failure")
        return res

    def argvs(self) -> list[list[str]]:
        return [c.argv for c in self.calls]


def _result(call: Call, value: Answer) -> Result:
    if isinstance(value, bool) or value is None:
        value = 0
    if isinstance(value, int):
        return Result(tuple(call.argv), value, "", "")
    if isinstance(value, str):
        return Result(tuple(call.argv), 0, value, "")
    rc, out, err = (tuple(value) + ("",))[:3]
    return Result(tuple(call.argv), rc, out, err)


class Clock:
    """A fake monotonic clock that advances only when the code under test sleeps (or a fake says so)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @property
    def elapsed(self) -> float:
        return self.now - self.start


# --- one Kubernetes cluster in memory ------------------------------------------------------------------------

KINDS = {  # plural -> (apiVersion, kind): what the fake API serves; any other resource is UnknownCommand
    "nodes": ("v1", "Node"), "namespaces": ("v1", "Namespace"), "pods": ("v1", "Pod"), "services": ("v1", "Service"),
    "events": ("v1", "Event"), "persistentvolumeclaims": ("v1", "PersistentVolumeClaim"),
    "jobs": ("batch/v1", "Job"), "storageclasses": ("storage.k8s.io/v1", "StorageClass"),
}
PLURAL = {kind: plural for plural, (_, kind) in KINDS.items()}
CLUSTER_SCOPED = {"Node", "Namespace", "StorageClass"}
KUBECTL_KINDS = {"pods": "Pod", "pod": "Pod", "services": "Service", "service": "Service", "jobs": "Job",
                 "job": "Job", "persistentvolumeclaims": "PersistentVolumeClaim", "pvc": "PersistentVolumeClaim"}
_PATH = re.compile(r"^/(?:api/v1|apis/(?P<gv>[^/]+/[^/]+))(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)"
                   r"(?:/(?P<name>[^/]+))?(?P<log>/log)?$")


@dataclass
class Request:
    """One request the fake API server received."""

    method: str
    path: str
    query: dict[str, str]
    timeout: float | None  # the client's request timeout
    at: float  # the fake clock when it arrived


def api_status(code: int, message: str, reason: str = "") -> Exception:
    """The client's exception for an API server's Status answer (403 Forbidden, 404 NotFound, 500 ...)."""
    from kubernetes.client.exceptions import ApiException

    exc = ApiException(status=code, reason=reason or {403: "Forbidden", 404: "Not Found"}.get(code, "Error"))
    exc.body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": message, "reason": reason or exc.reason.replace(" ", ""), "code": code})
    return exc


def unreachable() -> Exception:
    """What the client raises when the API server cannot be reached (the connection reset mid-request)."""
    import urllib3

    reset = ConnectionResetError(104, "Connection reset by peer")
    return urllib3.exceptions.ProtocolError("Connection aborted.", reset)


def matches(labels: dict[str, str], selector: str) -> bool:
    """An equality label selector (``a=b,c=d``), the only kind labkit sends; any other is UnknownCommand."""
    terms = [t for t in selector.split(",") if t]
    if any(not re.fullmatch(r"[\w./-]+=[\w.-]*", t) for t in terms):
        raise UnknownCommand(f"the fakes know only equality selectors, not {selector!r}")
    return all(labels.get(k) == v for k, v in (t.split("=", 1) for t in terms))


class FakeCluster(ScriptedRunner):
    """One cluster in memory. As a runner it is kubectl for one kubeconfig and context: ``apply`` (YAML on
    stdin) and ``delete`` (by name, or kinds by ``--selector``) change what it holds; every other verb
    answers only as scripted (``fake.answer(("exec",), ...)``, matched on kubectl's own arguments); a
    command for another cluster is :class:`UnknownCommand`. As an API (:attr:`api`, a real
    :class:`labkit.k8s.Cluster` on the fake's :class:`Clock`) it serves GET of what it holds, lists filtered
    by label and field selectors, and pod logs from :attr:`pod_logs`; every request is in :attr:`requests`,
    and each of :attr:`hooks` sees it first (to change the cluster, or raise).

    ``settle(obj)`` plays the controllers: it is called with every applied object (a stored copy) to fill
    in its status, make a Job's pod, or record events (:meth:`event`). Deleting an object deletes what it
    owns (``ownerReferences``)."""

    def __init__(self, nodes: dict[str, Any], *, kubeconfig: str, context: str | None = None,
                 clock: Clock | None = None, settle: Callable[[FakeCluster, dict[str, Any]], None] | None = None,
                 pod_logs: Callable[[dict[str, Any], str | None, bool], str] | None = None) -> None:
        super().__init__(anywhere=False)
        from labkit import k8s

        self.kubeconfig, self.context = kubeconfig, context
        self.clock = clock or Clock()
        self.settle, self.pod_logs = settle, pod_logs
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {kind: {} for kind in PLURAL}
        self.requests: list[Request] = []
        self.timeline: list[str] = []  # "kubectl VERB …" and "GET /path", in the order they came
        self.hooks: list[Callable[[Request], None]] = []
        self._serial = 0
        for node in nodes["items"]:
            self.put(node)
        transport = SimpleNamespace(configuration=SimpleNamespace(host="https://127.0.0.1:6443"),
                                    call_api=self._call_api, close=lambda: None)
        self.api = k8s.Cluster(transport, context=context, kubeconfig=kubeconfig, clock=self.clock,
                               sleep=self.clock.sleep)

    # -- what it holds --------------------------------------------------------------------------------------

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as the API server would (uid, namespace, creationTimestamp) and return the stored copy."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if obj["kind"] not in CLUSTER_SCOPED:
            meta.setdefault("namespace", "default")
        self._serial += 1
        meta.setdefault("uid", f"00000000-0000-4000-8000-{self._serial:012d}")
        meta.setdefault("creationTimestamp", self.stamp())
        self.objects[obj["kind"]][(meta.get("namespace", ""), meta["name"])] = obj
        return obj

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        """The objects of one kind by name (e.g. ``fake.of("Pod")``)."""
        return {name: o for (_, name), o in self.objects[kind].items()}

    def stamp(self) -> str:
        """A timestamp that grows by a second with every object and event (events sort by it)."""
        return f"2026-11-30T09:{self._serial // 60 % 60:02d}:{self._serial % 60:02d}Z"

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, *, source: str = "kubelet",
              count: int = 1) -> None:
        """A core/v1 Event about ``obj``, as the kubelet or a controller records it."""
        meta = obj["metadata"]
        self._serial += 1
        stamp = self.stamp()
        self.put({"apiVersion": "v1", "kind": "Event",
                  "metadata": {"name": f"{meta['name']}.{self._serial:016x}", "namespace": meta.get("namespace")},
                  "involvedObject": {"kind": obj["kind"], "namespace": meta.get("namespace"), "name": meta["name"],
                                     "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion", "v1")},
                  "reason": reason, "message": message, "source": {"component": source}, "type": type_,
                  "count": count, "firstTimestamp": stamp, "lastTimestamp": stamp, "eventTime": None,
                  "reportingComponent": source, "reportingInstance": ""})

    def remove(self, kind: str, namespace: str, name: str) -> bool:
        obj = self.objects[kind].pop((namespace, name), None)
        if obj is None:
            return False
        uid = obj["metadata"]["uid"]
        for other_kind, table in self.objects.items():  # the garbage collector: what it owned goes too
            for (ns, n), o in list(table.items()):
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or []):
                    self.remove(other_kind, ns, n)
        return True

    # -- kubectl --------------------------------------------------------------------------------------------

    def _lookup(self, call: Call) -> Answer:
        where = ["kubectl", "--kubeconfig", self.kubeconfig] + (["--context", self.context] if self.context else [])
        if call.argv[:len(where)] != where or call.argv[len(where):len(where) + 1] == ["--context"]:
            raise UnknownCommand(f"not kubectl for this cluster ({' '.join(where)}): {call.argv!r}")
        self.timeline.append(" ".join(["kubectl", *call.args]))
        for prefix, value in self.script.items():
            if tuple(call.args[:len(prefix)]) == prefix:
                return value
        builtin = {"apply": self.apply, "delete": self.delete}.get(call.args[0] if call.args else "")
        if builtin is None:
            raise UnknownCommand(f"unscripted kubectl command: {call.args!r} (script: {list(self.script)})")
        return builtin

    def apply(self, call: Call) -> Result:
        """``kubectl apply --filename -``: store every document of stdin, then let ``settle`` act on it."""
        if call.args != ["apply", "--filename", "-"]:
            raise UnknownCommand(f"kubectl apply the fake does not know: {call.args!r}")
        out = []
        for doc in yaml.safe_load_all(call.stdin or ""):
            meta = doc["metadata"]
            known = (meta.get("namespace", "" if doc["kind"] in CLUSTER_SCOPED else "default"), meta["name"])
            verb = "configured" if known in self.objects[doc["kind"]] else "created"
            stored = self.put(doc)
            if self.settle is not None:
                self.settle(self, stored)
            out.append(f"{doc['kind'].lower()}/{meta['name']} {verb}\n")
        return Result(tuple(call.argv), 0, "".join(out), "")

    def delete(self, call: Call) -> Result:
        """``kubectl delete KINDS --selector S`` or ``kubectl delete KIND NAME``, in ``--namespace``."""
        args, flags = call.args[1:], {}
        known = {"--namespace", "--selector", "--ignore-not-found", "--wait=false", "--cascade=background"}
        words = []
        while args:
            a = args.pop(0)
            if a in ("--namespace", "--selector"):
                flags[a] = args.pop(0)
            elif a in known:
                flags[a] = "true"
            elif a.startswith("-"):
                raise UnknownCommand(f"kubectl delete flag the fake does not know: {a}")
            else:
                words.append(a)
        ns = flags.get("--namespace", "default")
        kinds = [KUBECTL_KINDS.get(k) or _unknown(k) for k in words[0].split(",")]
        if "--selector" in flags:
            gone = [(k, n) for k in kinds for (o_ns, n), o in list(self.objects[k].items())
                    if o_ns == ns and matches(o["metadata"].get("labels") or {}, flags["--selector"])]
        else:
            gone = [(kinds[0], n) for n in words[1:]]
        out = [f'{k.lower()} "{n}" deleted\n' for k, n in gone if self.remove(k, ns, n)]
        if len(out) < len(gone) and "--ignore-not-found" not in flags:
            return Result(tuple(call.argv), 1, "".join(out), "Error from server (NotFound): not found")
        return Result(tuple(call.argv), 0, "".join(out) or "No resources found\n", "")

    def verbs(self) -> list[str]:
        return [c.args[0] for c in self.calls]

    def kubectl(self, verb: str) -> list[Call]:
        """The kubectl calls of one verb."""
        return [c for c in self.calls if c.args[:1] == [verb]]

    # -- the API server -------------------------------------------------------------------------------------

    def connect(self, target: Any) -> Any:
        """Stands in for :func:`labkit.bench.kube.connect`: the API, for a target of this very cluster only."""
        if (target.kubeconfig, target.context) != (self.kubeconfig, self.context):
            raise UnknownCommand(f"a client for another cluster: {target.kubeconfig} / {target.context}")
        return self.api

    def serve(self, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
        """Make the bench connect to this fake (as kubectl, the runner, already does when passed)."""
        from labkit.bench import kube

        monkeypatch.setattr(kube, "connect", self.connect)
        return self

    def gets(self, path: str) -> list[Request]:
        """The requests for ``path`` (a suffix: ``"/persistentvolumeclaims/x"``, ``"/events"``)."""
        return [r for r in self.requests if r.path.endswith(path)]

    def _call_api(self, path: str, method: str, query_params: Sequence[tuple[str, str]] = (), header_params: Any = None,
                  body: Any = None, auth_settings: Any = None, _preload_content: bool = False,
                  _request_timeout: float | None = None) -> Any:
        req = Request(method, path, dict(query_params), _request_timeout, self.clock())
        self.requests.append(req)
        self.timeline.append(f"{method} {path}")
        for hook in self.hooks:
            hook(req)
        data = self._serve(req)
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        return SimpleNamespace(data=raw, release_conn=lambda: None)

    def _serve(self, req: Request) -> Any:
        m = _PATH.match(req.path)
        if req.method != "GET" or m is None or m["plural"] not in KINDS:
            raise UnknownCommand(f"a request the fake API server does not know: {req.method} {req.path}")
        api_version, kind = KINDS[m["plural"]]
        if (m["gv"] or "v1") != api_version:
            raise UnknownCommand(f"{req.path}: {m['plural']} are served under {api_version}")
        ns = m["ns"] or ""
        if m["name"] is None:
            items = [o for (o_ns, _), o in self.objects[kind].items() if not ns or o_ns == ns]
            if "labelSelector" in req.query:
                items = [o for o in items if matches(o["metadata"].get("labels") or {}, req.query["labelSelector"])]
            if "fieldSelector" in req.query:
                items = [o for o in items if _fields(o, req.query["fieldSelector"])]
            return {"kind": f"{kind}List", "apiVersion": api_version,
                    "metadata": {"resourceVersion": str(self._serial)}, "items": items}
        obj = self.objects[kind].get((ns, m["name"]))
        if obj is None:
            group = api_version.split("/")[0] if "/" in api_version else ""
            raise api_status(404, f'{m["plural"]}{"." + group if group else ""} "{m["name"]}" not found', "NotFound")
        if m["log"]:
            if self.pod_logs is None:
                raise UnknownCommand(f"pod logs were not scripted: {req.path} {req.query}")
            return self.pod_logs(obj, req.query.get("container"), req.query.get("previous") == "true").encode()
        return obj


def _unknown(word: str) -> str:
    raise UnknownCommand(f"a kubectl resource the fake does not know: {word}")


def _fields(obj: dict[str, Any], selector: str) -> bool:
    """The field selectors labkit sends for events: ``involvedObject.kind=K,involvedObject.name=N``."""
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if not key.startswith("involvedObject."):
            raise UnknownCommand(f"a field selector the fake does not know: {selector!r}")
        if str((obj.get("involvedObject") or {}).get(key.removeprefix("involvedObject."))) != value:
            return False
    return True


# --- a kind cluster's nodes --------------------------------------------------------------------------------------


def kind_node(name: str, ip: str, *, control_plane: bool = False, ready: bool = True,
              unschedulable: bool = False) -> dict[str, Any]:
    """One node of ``GET /api/v1/nodes`` on kind v0.32 (node image kindest/node:v1.36.1)."""
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    spec: dict[str, Any] = {"podCIDR": f"10.244.{ip.rsplit('.', 1)[1]}.0/24", "providerID": f"kind://docker/x/{name}"}
    if control_plane:
        labels.update({"node-role.kubernetes.io/control-plane": "",
                       "node.kubernetes.io/exclude-from-external-load-balancers": ""})
        spec["taints"] = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]
    if unschedulable:
        spec["unschedulable"] = True
        spec.setdefault("taints", []).append({"effect": "NoSchedule", "key": "node.kubernetes.io/unschedulable",
                                              "timeAdded": "2026-11-26T18:02:11Z"})
    conditions = [{"type": t, "status": "False", "reason": f"KubeletHas{r}"} for t, r in
                  (("MemoryPressure", "SufficientMemory"), ("DiskPressure", "NoDiskPressure"),
                   ("PIDPressure", "SufficientPID"))]
    conditions.append({"type": "Ready", "status": "True" if ready else "False",
                       "reason": "KubeletReady" if ready else "KubeletNotReady"})
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "creationTimestamp": "2026-11-26T18:00:53Z",
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": spec,
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                       "conditions": conditions,
                       "nodeInfo": {"kubeletVersion": "v1.36.1", "kubeProxyVersion": "",
                                    "osImage": "Debian GNU/Linux 12 (bookworm)", "architecture": "amd64",
                                    "containerRuntimeVersion": "containerd://2.1.4", "operatingSystem": "linux"}}}


def node_list(workers: int, *, name: str = "labkit-bench-calico", **worker_kw: Any) -> dict[str, Any]:
    """A kind cluster's NodeList: the control plane and ``workers`` workers (``worker_kw`` shapes them)."""
    nodes = [kind_node(f"{name}-control-plane", "172.18.0.2", control_plane=True)]
    nodes += [kind_node(f"{name}-worker{'' if i == 0 else i + 1}", f"172.18.0.{i + 3}", **worker_kw)
              for i in range(workers)]
    return {"apiVersion": "v1", "kind": "NodeList", "items": nodes, "metadata": {"resourceVersion": ""}}


# --- making and deleting kind clusters ---------------------------------------------------------------------------


class FakeClusterOps:
    """Fake ``up``/``load_images``/``down`` (and a storage option's ``install``) recording the order of calls.

    ``fail_up``: the ``up`` of this CNI (or, if True, every ``up``) raises; ``fail_install``: so does this
    option's install."""

    def __init__(self, *, fail_up: str | bool | None = None, fail_install: str | None = None,
                 up_error: str = "calico-node never became Ready") -> None:
        self.log: list[tuple[Any, ...]] = []
        self.fail_up, self.fail_install, self.up_error = fail_up, fail_install, up_error

    def up(self, cni: str | None = None, *, workers: int, name: str, storage: str | None = None) -> Any:
        from labkit.errors import LabkitError
        from labkit.targets.kube import KubeTarget

        self.log.append(("up", cni, name, workers, storage))
        if self.fail_up is True or (self.fail_up and cni == self.fail_up):
            raise LabkitError(self.up_error.format(name=name))
        return KubeTarget.for_kind(name)

    def load(self, target: Any, images: list[str]) -> None:
        self.log.append(("load", target.name, *images))

    def install(self, option: str, target: Any, cfg: Any, runner: Any) -> None:
        from labkit.errors import LabkitError

        self.log.append(("install", option, target.name, cfg.name, cfg.image))
        if option == self.fail_install:
            raise LabkitError("helm: failed to download openebs-4.6.1.tgz")

    def down(self, name: str) -> None:
        self.log.append(("down", name))

    def ops(self) -> Any:
        from labkit.components.fresh import ClusterOps

        return ClusterOps(self.up, self.down, self.load)


# --- Docker, for tests that look at what labkit left -------------------------------------------------------------


def sdk_client() -> Any:
    """The Docker SDK, for tests that inspect what labkit left behind (labkit itself goes through its door)."""
    import docker as sdk

    return sdk.from_env(timeout=60)


def container_names(filters: dict[str, Any]) -> list[str]:
    """Names of the containers matching ``filters``, from the list answer itself (``sparse``): the SDK's default
    inspects each listed container, which fails when one is removed in between (a run tearing down its cells)."""
    found = sdk_client().containers.list(all=True, filters=filters, sparse=True)
    return [(x.attrs.get("Names") or [x.id])[0].lstrip("/") for x in found]


def leftovers(session: str) -> list[str]:
    """Names of containers, networks and volumes of one labkit session still present."""
    c = sdk_client()
    flt = {"label": f"io.labkit.session={session}"}
    return (container_names(flt) + [x.name for x in c.networks.list(filters=flt)]
            + [x.name for x in c.volumes.list(filters=flt)])


def fail_on(what: str) -> Callable[..., Any]:
    """A stand-in for a function that must not be called in this test."""
    def boom(*args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"{what} was called ({args}, {kwargs})")
    return boom


KUBECONFIG_LAB = """apiVersion: v1
kind: Config
clusters: [{name: lab, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: lab, user: {token: t}}]
contexts: [{name: lab, context: {cluster: lab, user: lab}}]
current-context: lab
"""
