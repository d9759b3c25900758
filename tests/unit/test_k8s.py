"""labkit.k8s against a loopback API server: the exact requests it sends and how it reads real answers.

The answers in tests/data/k8s/ are what kube-apiserver v1.36.1 (kind v0.32.0) returns: a three-node kind
cluster with one worker still NotReady, a namespace with a ready pod, an ImagePullBackOff, a CrashLoopBackOff
and an unschedulable pod, their events, and the DaemonSets of each CNI labkit installs. The Job, claim,
StorageClass and their events (``job-fio-*``, ``pods-fio-failed``, ``pvc-*``, ``events-fio-failed``,
``events-pvc-pending``, ``storageclasses-kind``) are written in the API's shape for labkit's own fio Job and
claim (no cluster can run here to record them) and are checked against the strict 1.36 schema below.
``exec`` uses a websocket and is not covered here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer

from labkit import k8s
from labkit.bench import kube
from labkit.errors import BadInput, LabkitError, Unavailable, WaitTimeout
from labkit.targets.kube import KubeTarget
from tests.fakes import Clock, FakeCluster, node_list, unreachable

DATA = Path(__file__).resolve().parents[1] / "data" / "k8s"
JSON = {"Accept": "application/json"}


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def only(podlist: dict[str, Any], app: str) -> dict[str, Any]:
    """The PodList the server returns for ``labelSelector=app=<app>``."""
    return {**podlist, "items": [p for p in podlist["items"] if p["metadata"]["labels"].get("app") == app]}


@pytest.fixture()
def api(httpserver: HTTPServer) -> k8s.Cluster:
    return k8s.Cluster.from_host(httpserver.url_for(""), timeout=5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- reads ------------------------------------------------------------------------------------------------


def test_importing_labkit_k8s_does_not_load_the_kubernetes_client() -> None:
    code = "import sys, labkit.k8s; print('kubernetes' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "False", res.stderr


@pytest.mark.parametrize(("fixture", "expected"), [("version-kind.json", (1, 36)), ("version-eks.json", (1, 30))])
def test_version_reads_major_and_minor_including_plus_minors(httpserver: HTTPServer, api: k8s.Cluster,
                                                             fixture: str, expected: tuple[int, int]) -> None:
    httpserver.expect_request("/version", method="GET", headers=JSON).respond_with_json(load(fixture))
    assert api.version() == expected
    httpserver.check_assertions()


def test_nodes_reads_readiness_roles_addresses_and_taints(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/nodes", method="GET", query_string="").respond_with_json(load("nodes-kind.json"))
    nodes = {n.name: n for n in api.nodes()}
    httpserver.check_assertions()
    assert list(nodes) == ["labkit-control-plane", "labkit-worker", "labkit-worker2"]
    cp, w1, w2 = nodes.values()
    assert cp == k8s.NodeInfo("labkit-control-plane", True, ("control-plane",), "172.18.0.3", "v1.36.1",
                              ("node-role.kubernetes.io/control-plane:NoSchedule",))
    assert (w1.ready, w1.roles, w1.taints, w1.internal_ip) == (True, (), (), "172.18.0.2")
    assert (w2.ready, w2.taints) == (False, ("node.kubernetes.io/not-ready:NoSchedule",))


def test_pods_reads_ready_image_pull_crash_loop_and_unschedulable(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/namespaces/demo/pods", method="GET",
                              query_string={"labelSelector": "app in (web,api,worker,big)"}
                              ).respond_with_json(load("pods-demo.json"))
    pods = {p.name: p for p in api.pods("demo", "app in (web,api,worker,big)")}
    httpserver.check_assertions()
    web = pods["web-7c9f8d6b5-x2x4k"]
    assert web == k8s.PodInfo("web-7c9f8d6b5-x2x4k", "demo", "labkit-worker", "10.244.1.12", "Running", True, 0, "", "")
    pull = pods["api-5d8f7b9c4-qk7lp"]
    assert (pull.phase, pull.ready, pull.reason, pull.node) == ("Pending", False, "ImagePullBackOff", "labkit-worker2")
    assert pull.message.startswith('Back-off pulling image "registry.example.invalid/labkit/api:1.2"')
    crash = pods["worker-6b7d9c8f5-mz2vn"]
    assert (crash.phase, crash.ready, crash.restarts, crash.reason) == ("Running", False, 5, "CrashLoopBackOff")
    assert "back-off 2m40s restarting failed container=worker" in crash.message
    big = pods["big-0"]
    assert (big.node, big.ip, big.reason) == ("", "", "Unschedulable")
    assert big.message.startswith("0/3 nodes are available")


def test_pods_without_namespace_lists_all_namespaces(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/pods", method="GET", query_string="").respond_with_json(
        load("pods-web-ready.json"))
    assert [p.ready for p in api.pods()] == [True, True]
    httpserver.check_assertions()


def test_daemonsets_of_one_namespace(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    body = load("daemonsets-calico.json")
    body["items"] = [d for d in body["items"] if d["metadata"]["namespace"] == "calico-system"]
    httpserver.expect_request("/apis/apps/v1/namespaces/calico-system/daemonsets", method="GET").respond_with_json(body)
    assert api.daemonsets("calico-system") == [("calico-system", "calico-node", 3, 2),
                                               ("calico-system", "csi-node-driver", 3, 3)]
    httpserver.check_assertions()


@pytest.mark.parametrize(("fixture", "cni"), [
    ("daemonsets-kindnet.json", "kindnet"), ("daemonsets-calico.json", "calico"), ("daemonsets-cilium.json", "cilium"),
    ("daemonsets-flannel.json", "flannel"), ("daemonsets-weave.json", "weave"), ("daemonsets-none.json", None)])
def test_detect_cni_from_the_daemonsets_of_all_namespaces(httpserver: HTTPServer, api: k8s.Cluster,
                                                          fixture: str, cni: str | None) -> None:
    httpserver.expect_request("/apis/apps/v1/daemonsets", method="GET", query_string="").respond_with_json(
        load(fixture))
    from labkit.components.network.detect import detect_cni

    assert detect_cni(api) == cni
    httpserver.check_assertions()


def test_events_newest_last_formatted_like_kubectl(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/namespaces/demo/events", method="GET", query_string="").respond_with_json(
        load("events-demo.json"))
    lines = api.events("demo", limit=3)
    everything = api.events("demo")
    httpserver.check_assertions()
    assert lines == [
        'Normal  Pulled  pod/worker-6b7d9c8f5-mz2vn: Container image "docker.io/library/busybox:1.37" already present '
        "on machine (x6)",
        "Normal  Started  pod/worker-6b7d9c8f5-mz2vn: Started container worker (x6)",
        "Warning  BackOff  pod/worker-6b7d9c8f5-mz2vn: Back-off restarting failed container worker in pod "
        "worker-6b7d9c8f5-mz2vn_demo(d2c1b0a9-8f7e-4d6c-b5a4-93827160f5e4) (x23)",
    ]
    assert len(everything) == 12 and everything[-3:] == lines
    # the scheduler's event has only an eventTime (09:41:07.512384Z): after the ReplicaSet's at 09:41:07Z
    assert everything[0] == "Normal  SuccessfulCreate  replicaset/worker-6b7d9c8f5: Created pod: worker-6b7d9c8f5-mz2vn"
    assert everything[1].startswith("Warning  FailedScheduling  pod/big-0: 0/3 nodes are available")


def test_events_of_one_object_use_a_field_selector(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    body = load("events-demo.json")
    body["items"] = [e for e in body["items"] if e["involvedObject"]["name"] == "big-0"]
    httpserver.expect_request("/api/v1/namespaces/demo/events", method="GET",
                              query_string="fieldSelector=involvedObject.name%3Dbig-0").respond_with_json(body)
    (line,) = api.events("demo", involved="big-0")
    httpserver.check_assertions()
    assert line.startswith("Warning  FailedScheduling  pod/big-0: 0/3 nodes are available: 1 node(s) had untolerated")


def test_logs_sends_container_tail_and_previous(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    text = (DATA / "logs-worker-previous.txt").read_text()
    httpserver.expect_request("/api/v1/namespaces/demo/pods/worker-6b7d9c8f5-mz2vn/log", method="GET",
                              query_string="container=worker&tailLines=5&previous=true",
                              ).respond_with_data(text, content_type="text/plain")
    assert api.logs("worker-6b7d9c8f5-mz2vn", "demo", container="worker", tail=5, previous=True) == text
    httpserver.check_assertions()


def test_logs_explain_an_error_instead_of_raising(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/namespaces/demo/pods/web-7c9f8d6b5-x2x4k/log", method="GET",
                              query_string="tailLines=40&previous=true").respond_with_json(
        load("status-400-previous-logs.json"), status=400)
    out = api.logs("web-7c9f8d6b5-x2x4k", "demo", previous=True)
    httpserver.check_assertions()
    assert out == ('(no logs for pod/web-7c9f8d6b5-x2x4k: previous terminated container "web" in pod '
                   '"web-7c9f8d6b5-x2x4k" not found)')
    gone = k8s.Cluster.from_host(f"http://127.0.0.1:{closed_port()}")
    assert "cannot reach the Kubernetes API" in gone.logs("web", "demo")
    assert api.logs("", "demo").startswith("(no logs for pod/: bad pod")


# --- waits and diagnostics -----------------------------------------------------------------------------------


def test_wait_pods_ready_polls_until_every_matching_pod_is_ready(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    for fixture in ("pods-web-starting.json", "pods-web-starting.json", "pods-web-ready.json"):
        httpserver.expect_ordered_request("/api/v1/namespaces/demo/pods", method="GET",
                                          query_string={"labelSelector": "app=web"}).respond_with_json(load(fixture))
    clock = Clock()
    pods = api.wait_pods_ready("demo", "app=web", count=2, timeout=30, poll=2, clock=clock, sleep=clock.sleep)
    httpserver.check_assertions()
    assert [(p.name, p.ready) for p in pods] == [("web-7c9f8d6b5-x2x4k", True), ("web-7c9f8d6b5-p8q2r", True)]
    assert clock.sleeps == [2, 2]
    assert len(httpserver.log) == 3


def test_wait_pods_ready_wants_count_pods_not_just_ready_ones(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    one = load("pods-web-ready.json")
    one["items"] = one["items"][:1]
    httpserver.expect_ordered_request("/api/v1/namespaces/demo/pods").respond_with_json(one)
    httpserver.expect_ordered_request("/api/v1/namespaces/demo/pods").respond_with_json(load("pods-web-ready.json"))
    clock = Clock()
    assert len(api.wait_pods_ready("demo", "app=web", count=2, timeout=180, clock=clock, sleep=clock.sleep)) == 2
    assert clock.sleeps == [2]


def test_wait_pods_ready_times_out_with_the_reasons_and_diagnostics(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/namespaces/demo/pods", method="GET",
                              query_string={"labelSelector": "app=api"}).respond_with_json(
        only(load("pods-demo.json"), "api"))
    httpserver.expect_request("/api/v1/namespaces/demo/events", method="GET").respond_with_json(
        load("events-demo.json"))
    clock = Clock()
    with pytest.raises(WaitTimeout) as info:
        api.wait_pods_ready("demo", "app=api", timeout=10, poll=3, clock=clock, sleep=clock.sleep)
    httpserver.check_assertions()
    assert clock.sleeps == [3, 3, 3, 1]
    msg = str(info.value)
    assert msg.startswith("timed out after 10 s waiting for 1+ ready pod(s) 'app=api' in namespace demo "
                          "(last seen: 1 matched, 0 ready)")
    assert ("pod/api-5d8f7b9c4-qk7lp on labkit-worker2: Pending, ImagePullBackOff: Back-off pulling image "
            '"registry.example.invalid/labkit/api:1.2"') in msg
    assert "Warning  Failed  pod/api-5d8f7b9c4-qk7lp: Error: ImagePullBackOff (x21)" in msg
    assert "kubectl --server" in info.value.fix and "describe pods -l app=api" in info.value.fix
    assert "/log" not in " ".join(r.path for r, _ in httpserver.log)  # nothing restarted: no logs fetched


def test_diagnose_lists_pods_events_warnings_first_and_previous_logs(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/namespaces/demo/pods", method="GET", query_string="").respond_with_json(
        load("pods-demo.json"))
    httpserver.expect_request("/api/v1/namespaces/demo/events", method="GET").respond_with_json(
        load("events-demo.json"))
    httpserver.expect_request("/api/v1/namespaces/demo/pods/worker-6b7d9c8f5-mz2vn/log", method="GET",
                              query_string="container=worker&tailLines=40&previous=true").respond_with_data(
        (DATA / "logs-worker-previous.txt").read_text())
    text = api.diagnose("demo")
    httpserver.check_assertions()
    lines = text.splitlines()
    assert lines[0] == "3 of 4 pod(s) in demo not ready:"
    assert lines[2].startswith("  pod/worker-6b7d9c8f5-mz2vn on labkit-worker: Running, CrashLoopBackOff: "
                               "back-off 2m40s")
    assert lines[2].endswith("(restarts 5)")
    assert lines[3].startswith("  pod/big-0 on (no node): Pending, Unschedulable: 0/3 nodes are available")
    head = lines.index("events in demo (last 10, warnings first):")
    events = lines[head + 1:head + 11]
    assert [e.split()[0] for e in events] == ["Warning"] * 4 + ["Normal"] * 6
    assert events[0].startswith('  Warning  Failed  pod/api-5d8f7b9c4-qk7lp: Failed to pull image "registry.example')
    assert events[3].startswith("  Warning  BackOff  pod/worker-6b7d9c8f5-mz2vn")
    assert events[4].startswith("  Normal  Pulled  pod/web-7c9f8d6b5-x2x4k")  # oldest of the last 10
    assert lines[head + 11] == "previous logs of pod/worker-6b7d9c8f5-mz2vn container worker (last 40 lines):"
    assert lines[-1] == "  2026-05-12T09:49:32.318Z fatal: cannot reach the queue, exiting with status 1"


def test_diagnose_turns_failures_into_text(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/namespaces/kube-system/pods").respond_with_json(
        load("status-403-pods.json"), status=403)
    httpserver.expect_request("/api/v1/namespaces/kube-system/events").respond_with_data(
        "etcdserver: request timed out", status=504)
    text = api.diagnose("kube-system", "k8s-app=kube-dns")
    assert text.splitlines() == [
        "(could not list pods in kube-system matching 'k8s-app=kube-dns': GET /api/v1/namespaces/kube-system/pods"
        "?labelSelector=k8s-app%3Dkube-dns failed with HTTP 403: pods is forbidden: User "
        '"system:serviceaccount:demo:viewer" cannot list resource "pods" in API group "" '
        'in the namespace "kube-system")',
        "(could not list events in kube-system: GET /api/v1/namespaces/kube-system/events failed with HTTP 504: "
        "etcdserver: request timed out)",
    ]


JOB = "lk-3f9a2c1e8b-local-path-4"
JOB_PATH = f"/apis/batch/v1/namespaces/labkit-bench/jobs/{JOB}"
CLAIM = "lk-3f9a2c1e8b-openebs-hostpath"
CLAIM_PATH = f"/api/v1/namespaces/labkit-bench/persistentvolumeclaims/{CLAIM}"
WRITTEN = ("job-fio-running.json", "job-fio-complete.json", "job-fio-failed.json", "pvc-pending.json",
           "pvc-bound.json", "pods-fio-failed.json", "events-fio-failed.json", "events-pvc-pending.json",
           "storageclasses-kind.json")


@pytest.mark.parametrize("fixture", WRITTEN)
def test_the_written_fixtures_are_valid_api_objects_under_the_strict_schema(fixture: str) -> None:
    import kubernetes_validate

    doc = load(fixture)
    kind = doc["kind"].removesuffix("List")
    objs = [{"apiVersion": doc["apiVersion"], "kind": kind, **o} for o in doc["items"]] if "items" in doc else [doc]
    for obj in objs:
        assert kubernetes_validate.validate(obj, "1.36.0", strict=True) == "1.36"


@pytest.mark.parametrize("wait", ["wait_pods_ready", "wait_job", "wait_pvc_bound"])
def test_every_wait_takes_its_timeout_as_a_required_keyword(wait: str) -> None:
    import inspect

    param = inspect.signature(getattr(k8s.Cluster, wait)).parameters["timeout"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is inspect.Parameter.empty


def test_wait_job_polls_until_the_job_is_complete(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    for fixture in ("job-fio-running.json", "job-fio-running.json", "job-fio-complete.json"):
        httpserver.expect_ordered_request(JOB_PATH, method="GET", query_string="").respond_with_json(load(fixture))
    clock = Clock()
    job = api.wait_job("labkit-bench", JOB, timeout=60, clock=clock, sleep=clock.sleep)
    httpserver.check_assertions()
    assert job == k8s.JobInfo(JOB, "labkit-bench", "Complete", "CompletionsReached",
                              "Reached expected number of succeeded pods", 0, 1, 0)
    assert clock.sleeps == [2, 2]


def test_a_failed_job_ends_the_wait_at_once_with_its_pod_events_and_output(httpserver: HTTPServer,
                                                                         api: k8s.Cluster) -> None:
    pod = load("pods-fio-failed.json")["items"][0]["metadata"]["name"]
    httpserver.expect_request(JOB_PATH, method="GET").respond_with_json(load("job-fio-failed.json"))
    httpserver.expect_request("/api/v1/namespaces/labkit-bench/pods", method="GET",
                              query_string={"labelSelector": f"batch.kubernetes.io/job-name={JOB}"}
                              ).respond_with_json(load("pods-fio-failed.json"))
    httpserver.expect_request("/api/v1/namespaces/labkit-bench/events", method="GET", query_string=""
                              ).respond_with_json(load("events-fio-failed.json"))
    httpserver.expect_request(f"/api/v1/namespaces/labkit-bench/pods/{pod}/log", method="GET",
                              query_string="container=fio&tailLines=40").respond_with_data(
        (DATA / "logs-fio-failed.txt").read_text())
    clock = Clock()
    with pytest.raises(k8s.JobFailed) as info:
        api.wait_job("labkit-bench", JOB, timeout=60, clock=clock, sleep=clock.sleep)
    httpserver.check_assertions()
    err = info.value
    assert clock.sleeps == []  # the first look saw it Failed: no waiting for the timeout
    assert err.reason == "failed (BackoffLimitExceeded: Job has reached the specified backoff limit)"
    lines = err.diagnostics.splitlines()
    assert lines[:2] == [f"1 of 1 pod(s) in labkit-bench matching 'batch.kubernetes.io/job-name={JOB}' not ready:",
                         f"  pod/{pod} on labkit-worker: Failed, Error (restarts 0)"]
    assert lines[3] == f"  Warning  BackoffLimitExceeded  job/{JOB}: Job has reached the specified backoff limit"
    assert f"logs of pod/{pod} container fio (last 40 lines):" in lines  # a failed run, not a previous one
    assert "  fio: pid=27, err=22/file:filesetup.c:805, func=open(/data/lk-fio.dat), error=Invalid argument" in lines
    assert f"describe job {JOB}" in (err.fix or "")


def test_a_job_that_is_gone_ends_the_wait(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    gone = {**load("status-404-deployment.json"), "message": f'jobs.batch "{JOB}" not found',
            "details": {"name": JOB, "group": "batch", "kind": "jobs"}}
    httpserver.expect_request(JOB_PATH).respond_with_json(gone, status=404)
    httpserver.expect_request("/api/v1/namespaces/labkit-bench/pods").respond_with_json({"items": []})
    httpserver.expect_request("/api/v1/namespaces/labkit-bench/events").respond_with_json({"items": []})
    with pytest.raises(k8s.JobFailed, match=f'Job {JOB} is gone: jobs.batch "{JOB}" not found'):
        api.wait_job("labkit-bench", JOB, timeout=60, clock=Clock(), sleep=Clock().sleep)


def test_a_job_still_running_at_the_timeout_fails_with_what_it_was_doing(httpserver: HTTPServer,
                                                                          api: k8s.Cluster) -> None:
    httpserver.expect_request(JOB_PATH).respond_with_json(load("job-fio-running.json"))
    httpserver.expect_request("/api/v1/namespaces/labkit-bench/pods").respond_with_json({"items": []})
    httpserver.expect_request("/api/v1/namespaces/labkit-bench/events").respond_with_json({"items": []})
    clock = Clock()
    with pytest.raises(k8s.JobFailed) as info:
        api.wait_job("labkit-bench", JOB, timeout=5, clock=clock, sleep=clock.sleep)
    assert info.value.reason == "did not complete within 5 s (last seen: 1 active, 0 failed pod(s))"
    assert clock.sleeps == [2, 2, 1]  # 5 s in all: the last sleep ends at the deadline


def test_wait_pvc_bound_polls_until_the_claim_is_bound(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    for fixture in ("pvc-pending.json", "pvc-pending.json", "pvc-bound.json"):
        httpserver.expect_ordered_request(CLAIM_PATH, method="GET").respond_with_json(load(fixture))
    clock = Clock()
    pvc = api.wait_pvc_bound("labkit-bench", CLAIM, timeout=60, clock=clock, sleep=clock.sleep)
    httpserver.check_assertions()
    assert pvc == k8s.PvcInfo(CLAIM, "labkit-bench", "Bound", "openebs-hostpath",
                              "pvc-5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", False)
    assert clock.sleeps == [2, 2]


def test_a_claim_still_pending_names_the_event_that_explains_it(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request(CLAIM_PATH).respond_with_json(load("pvc-pending.json"))
    httpserver.expect_request("/api/v1/namespaces/labkit-bench/events", query_string={
        "fieldSelector": f"involvedObject.kind=PersistentVolumeClaim,involvedObject.name={CLAIM}"}
                              ).respond_with_json(load("events-pvc-pending.json"))
    httpserver.expect_request("/api/v1/namespaces/labkit-bench/pods", query_string={
        "labelSelector": f"batch.kubernetes.io/job-name={CLAIM}-prep"}).respond_with_json({"items": []})
    httpserver.expect_request("/api/v1/namespaces/labkit-bench/events", query_string=""
                              ).respond_with_json(load("events-pvc-pending.json"))
    clock = Clock()
    with pytest.raises(k8s.PvcPending) as info:
        api.wait_pvc_bound("labkit-bench", CLAIM, timeout=10, consumers=f"batch.kubernetes.io/job-name={CLAIM}-prep",
                           clock=clock, sleep=clock.sleep)
    httpserver.check_assertions()
    err = info.value
    why = 'ProvisioningFailed: failed to provision volume with StorageClass "openebs-hostpath": create process ' \
          "timeout after 120 seconds"
    assert err.why == why  # the newest warning, although ExternalProvisioning was seen later
    assert str(err).startswith(f"timed out after 10 s waiting for PVC {CLAIM} to be Bound (last seen Pending): {why}")
    assert isinstance(err, WaitTimeout) and err.last is not None and err.last.phase == "Pending"
    lines = err.diagnostics.splitlines()
    assert lines[0] == f"persistentvolumeclaim/{CLAIM}: Pending, StorageClass openebs-hostpath"
    assert lines[1] == f"events of persistentvolumeclaim/{CLAIM}:"
    assert lines[-1].startswith("  Normal  ExternalProvisioning") and lines[-1].endswith("(x14)")
    assert f"describe pvc {CLAIM}" in (err.fix or "") and sum(clock.sleeps) == 10


def test_telling_event_is_the_newest_warning_else_the_newest_event() -> None:
    from labkit.k8s.parse import _event_time

    events = sorted(load("events-pvc-pending.json")["items"], key=_event_time)
    assert k8s.telling_event(events).startswith("ProvisioningFailed: failed to provision volume")
    normal = [e for e in events if e["type"] == "Normal"]
    assert k8s.telling_event(normal).startswith("ExternalProvisioning: Waiting for a volume to be created")
    assert k8s.telling_event([]) is None


def test_storage_class_infos_read_provisioner_binding_mode_and_default(httpserver: HTTPServer,
                                                                       api: k8s.Cluster) -> None:
    httpserver.expect_request("/apis/storage.k8s.io/v1/storageclasses").respond_with_json(
        load("storageclasses-kind.json"))
    infos = api.storage_class_infos()
    assert list(infos) == ["longhorn", "openebs-hostpath", "standard"] == api.storage_classes()
    assert infos["standard"] == k8s.StorageClassInfo("standard", "rancher.io/local-path", "WaitForFirstConsumer",
                                                     "Delete", True)
    assert (infos["longhorn"].binding_mode, infos["longhorn"].default) == ("Immediate", False)


def _web_pods(fake: FakeCluster) -> None:
    for pod in load("pods-web-ready.json")["items"]:
        fake.put({"apiVersion": "v1", "kind": "Pod", **pod})


def test_a_wait_rides_out_an_api_server_that_is_away_for_a_moment() -> None:
    fake = FakeCluster(node_list(1), kubeconfig="/kc")
    _web_pods(fake)
    fake.hooks.append(lambda req: (_ for _ in ()).throw(unreachable()) if len(fake.requests) <= 2 else None)
    pods = fake.api.wait_pods_ready("demo", "app=web", count=2, timeout=30)
    assert [p.ready for p in pods] == [True, True] and fake.clock.sleeps == [2, 2] and len(fake.requests) == 3


def test_each_poll_of_a_wait_may_take_only_the_time_left() -> None:
    fake = FakeCluster(node_list(1), kubeconfig="/kc")  # no pod matches: the wait runs to its timeout
    with pytest.raises(WaitTimeout, match="timed out after 5 s"):
        fake.api.wait_pods_ready("demo", "app=web", timeout=5)
    polls = [r for r in fake.requests if r.query.get("labelSelector") == "app=web"]
    assert [(r.at - fake.clock.start, r.timeout) for r in polls] == [(0, 5), (2, 3), (4, 1), (5, 1),
                                                                     (5, 10)]  # the last: the diagnosis
    assert fake.api.timeout == 10  # a poll never waits longer than a request may, nor than the time left


def test_the_bench_client_reads_the_file_and_context_kubectl_is_given(httpserver: HTTPServer, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    server = httpserver.url_for("").rstrip("/")
    a = kubeconfig(tmp_path / "a.yaml", server, ("kind-a",), current="kind-a")
    b = kubeconfig(tmp_path / "b.yaml", server, ("kind-b",), current="kind-b")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(a), str(b)]))
    httpserver.expect_request("/version").respond_with_json(load("version-kind.json"))
    target = KubeTarget.for_context("kind-b")  # the second file of the list defines it
    api = kube.connect(target)
    assert target.kubectl("get", "nodes")[:5] == ("kubectl", "--kubeconfig", str(b), "--context", "kind-b")
    assert (api.kubeconfig, api.context) == (str(b), "kind-b")
    monkeypatch.setenv("KUBECONFIG", str(b))  # the user's own config: not the lab's cluster
    kind_target = KubeTarget("a", str(a), None, "a")  # a kind cluster: its own file, no --context
    assert "--context" not in kind_target.kubectl("get", "nodes")
    api = kube.connect(kind_target)
    assert (api.kubeconfig, api.context) == (str(a), "kind-a")  # that file's current-context, as kubectl


# --- writes ----------------------------------------------------------------------------------------------------

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "demo", "labels": {"app.kubernetes.io/managed-by": "labkit"}}}
POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "deny-all", "namespace": "demo"},
          "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web",
                                                             "image": "docker.io/library/nginx:1.27-alpine"}]}}}}
INSTALLATION = {"apiVersion": "operator.tigera.io/v1", "kind": "Installation", "metadata": {"name": "default"},
                "spec": {"calicoNetwork": {"ipPools": [{"cidr": "10.244.0.0/16",
                                                        "encapsulation": "VXLANCrossSubnet"}]}}}


@pytest.mark.parametrize(("obj", "path"), [
    (NAMESPACE, "/api/v1/namespaces/demo"),
    (POLICY, "/apis/networking.k8s.io/v1/namespaces/demo/networkpolicies/deny-all"),
    (DEPLOYMENT, "/apis/apps/v1/namespaces/demo/deployments/web"),
    (INSTALLATION, "/apis/operator.tigera.io/v1/installations/default"),
], ids=["namespace", "networkpolicy", "deployment", "calico-installation"])
def test_apply_is_a_server_side_apply_patch(httpserver: HTTPServer, api: k8s.Cluster, obj: dict[str, Any],
                                            path: str) -> None:
    answer = {**obj, "metadata": {**obj["metadata"], "uid": "f0e1d2c3-b4a5-4697-8877-665544332211",
                                  "resourceVersion": "4120"}}
    httpserver.expect_request(path, method="PATCH", query_string="fieldManager=labkit&force=true",
                              headers={"Content-Type": "application/apply-patch+yaml", **JSON},
                              json=obj).respond_with_json(answer)
    assert api.apply(obj) == answer
    httpserver.check_assertions()


def test_apply_returns_the_servers_object_and_fills_a_known_apiversion(httpserver: HTTPServer,
                                                                       api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/namespaces/demo", method="PATCH",
                              query_string="fieldManager=lab-notebook&force=true",
                              json=NAMESPACE).respond_with_json(load("applied-namespace.json"))
    without_version = {k: v for k, v in NAMESPACE.items() if k != "apiVersion"}
    out = api.apply(without_version, field_manager="lab-notebook")
    httpserver.check_assertions()
    assert out["metadata"]["uid"] == "f0e1d2c3-b4a5-4697-8877-665544332211"
    assert out["status"] == {"phase": "Active"}


@pytest.mark.parametrize(("obj", "what"), [
    ({"kind": "Installation", "metadata": {"name": "default"}}, "bad kind: 'Installation'"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ""}}, "bad ConfigMap metadata.name: ''"),
])
def test_apply_refuses_objects_it_cannot_place(httpserver: HTTPServer, api: k8s.Cluster, obj: dict[str, Any],
                                               what: str) -> None:
    with pytest.raises(BadInput, match=what):
        api.apply(obj)
    assert httpserver.log == []


def test_delete_is_true_when_deleted_and_false_when_absent(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    web = "/apis/apps/v1/namespaces/demo/deployments/web"
    httpserver.expect_ordered_request(web, method="DELETE").respond_with_json(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
         "details": {"name": "web", "group": "apps", "kind": "deployments",
                     "uid": "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f"}})
    httpserver.expect_ordered_request(web, method="DELETE").respond_with_json(
        load("status-404-deployment.json"), status=404)
    httpserver.expect_ordered_request("/apis/operator.tigera.io/v1/installations/default", method="DELETE"
                                      ).respond_with_json(INSTALLATION)
    assert api.delete("apps/v1", "Deployment", "web", "demo") is True
    assert api.delete("apps/v1", "Deployment", "web", "demo") is False
    assert api.delete("operator.tigera.io/v1", "Installation", "default") is True
    httpserver.check_assertions()


# --- errors --------------------------------------------------------------------------------------------------


def test_forbidden_names_verb_path_status_server_message_and_fix(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/api/v1/namespaces/kube-system/pods").respond_with_json(
        load("status-403-pods.json"), status=403)
    with pytest.raises(k8s.ApiError) as info:
        api.pods("kube-system")
    err = info.value
    assert isinstance(err, LabkitError)
    assert (err.method, err.path, err.status) == ("GET", "/api/v1/namespaces/kube-system/pods", 403)
    assert err.message == ('GET /api/v1/namespaces/kube-system/pods failed with HTTP 403: pods is forbidden: User '
                           '"system:serviceaccount:demo:viewer" cannot list resource "pods" in API group "" '
                           'in the namespace "kube-system"')
    assert "RBAC" in err.fix and "auth can-i --list" in err.fix


def test_a_closed_port_is_unavailable_with_the_server_and_reason() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(Unavailable) as info:
        k8s.Cluster.from_host(url).nodes()
    assert info.value.message.startswith(f"cannot reach the Kubernetes API at {url}: ")
    assert "Connection refused" in info.value.message
    assert info.value.fix == f"is the cluster running? `kubectl --server {url} cluster-info`"


def test_empty_names_are_bad_input(api: k8s.Cluster) -> None:
    with pytest.raises(BadInput, match="bad namespace: ''"):
        api.events("")
    with pytest.raises(BadInput, match="bad name: ''"):
        api.delete("v1", "ConfigMap", "", "demo")


# --- connect ----------------------------------------------------------------------------------------------------


def kubeconfig(path: Path, server: str, contexts: tuple[str, ...] = ("kind-labkit",), *, current: str | None = None,
               token: str = "") -> Path:
    """A kubeconfig like kind writes, one cluster/user per context; ``token`` instead of client certificates."""
    doc = {"apiVersion": "v1", "kind": "Config", "preferences": {},
           "clusters": [{"name": c, "cluster": {"server": server}} for c in contexts],
           "users": [{"name": c, "user": {"token": token} if token else {}} for c in contexts],
           "contexts": [{"name": c, "context": {"cluster": c, "user": c}} for c in contexts]}
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_connect_probes_version_with_the_contexts_credentials_and_leaves_the_file_alone(
        httpserver: HTTPServer, tmp_path: Path) -> None:
    kc = kubeconfig(tmp_path / "labkit.yaml", httpserver.url_for("").rstrip("/"), ("kind-labkit", "kind-other"),
                    current="kind-other", token="abc.def")
    before = (kc.read_bytes(), kc.stat().st_mtime_ns)
    httpserver.expect_request("/version", method="GET", headers={"Authorization": "Bearer abc.def"}).respond_with_json(
        load("version-kind.json"))
    api = k8s.connect(context="kind-labkit", kubeconfig=kc)
    httpserver.check_assertions()
    assert (api.context, api.kubeconfig, api.server) == ("kind-labkit", str(kc), httpserver.url_for("").rstrip("/"))
    assert (kc.read_bytes(), kc.stat().st_mtime_ns) == before


def test_connect_defaults_to_kubeconfig_env_and_its_current_context(httpserver: HTTPServer, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server = httpserver.url_for("").rstrip("/")
    a = kubeconfig(tmp_path / "a.yaml", server, ("kind-a",), current="kind-a")
    b = kubeconfig(tmp_path / "b.yaml", server, ("kind-b",), current="kind-b")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(a), str(tmp_path / "missing.yaml"), str(b)]))
    httpserver.expect_request("/version").respond_with_json(load("version-kind.json"))
    assert k8s.connect().context == "kind-a"  # kubectl: the first file that sets current-context wins
    assert k8s.connect("kind-b").context == "kind-b"
    with pytest.raises(BadInput) as info:
        k8s.connect("kind-c")
    assert info.value.message == "bad context: 'kind-c'; allowed: kind-a, kind-b"
    assert "config get-contexts" in info.value.fix


def test_connect_to_an_unknown_context_names_the_contexts(tmp_path: Path) -> None:
    kc = kubeconfig(tmp_path / "kc.yaml", "https://127.0.0.1:6443", ("kind-labkit", "kind-labkit-calico"))
    with pytest.raises(BadInput) as info:
        k8s.connect("kind-labkit-cilium", kc)
    assert info.value.message == "bad context: 'kind-labkit-cilium'; allowed: kind-labkit, kind-labkit-calico"
    assert info.value.fix.startswith("pass context=NAME")
    with pytest.raises(BadInput, match="bad context: None; allowed: kind-labkit, kind-labkit-calico"):
        k8s.connect(kubeconfig=kc)  # no current-context in the file


def test_connect_without_a_kubeconfig_file_says_where_it_looked(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(BadInput) as info:
        k8s.connect()
    assert info.value.value == str(tmp_path / ".kube" / "config")
    assert "KUBECONFIG" in info.value.fix


def test_connect_to_a_stopped_cluster_is_unavailable(tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{closed_port()}"
    kc = kubeconfig(tmp_path / "kc.yaml", server, current="kind-labkit")
    with pytest.raises(Unavailable) as info:
        k8s.connect(kubeconfig=kc, timeout=2)
    assert info.value.message.startswith(f"cannot reach the Kubernetes API at {server}: ")
    assert "Connection refused" in info.value.message
    assert info.value.fix == f"is the cluster running? `kubectl --kubeconfig {kc} --context kind-labkit cluster-info`"


def test_storage_classes(httpserver: HTTPServer, api: k8s.Cluster) -> None:
    httpserver.expect_request("/apis/storage.k8s.io/v1/storageclasses", method="GET").respond_with_json(
        {"kind": "StorageClassList", "apiVersion": "storage.k8s.io/v1", "metadata": {"resourceVersion": "2231"},
         "items": [{"metadata": {"name": "standard", "uid": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
                                 "resourceVersion": "289", "creationTimestamp": "2026-05-12T09:14:12Z",
                                 "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                    "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
                    "volumeBindingMode": "WaitForFirstConsumer"}]})
    assert api.storage_classes() == ["standard"]


def test_labkit_connect_detects_the_cni_and_builds_its_verify_plan(httpserver: HTTPServer, tmp_path: Path) -> None:
    """`labkit.connect(context=...)`: the same verify as `labkit up`, with the right policy expectation."""
    import labkit
    from labkit.components.network import options as network

    kc = kubeconfig(tmp_path / "kc.yaml", httpserver.url_for("").rstrip("/"), ("prod",), current="prod")
    httpserver.expect_request("/version").respond_with_json(load("version-kind.json"))
    httpserver.expect_request("/apis/apps/v1/daemonsets").respond_with_json(load("daemonsets-flannel.json"))
    httpserver.expect_request("/api/v1/nodes").respond_with_json(load("nodes-kind.json"))
    conn = labkit.connect(context="prod", kubeconfig=str(kc))
    assert conn.cni == "flannel" and conn.target.context == "prod"
    plan = conn.verify_plan(image="registry.example/labkit/tools:0.2.0")
    argv = plan.steps[0].cmd.argv
    assert argv[:5] == ("kubectl", "--kubeconfig", str(kc), "--context", "prod")
    policy = [s for s in plan.steps if "policy" in s.title.lower() and "exec" in s.cmd.argv][0]
    assert policy.ok_codes == (0,)  # flannel: the policy is expected NOT to be enforced
    assert plan.title == network.option("flannel").verify(conn.target, image="x:1").title
