"""The kind target of the network benchmark, without a cluster: a fake cluster, strict schemas.

The fake (tests/fakes.py) is one kind cluster in memory, seen the two ways the cells see it: kubectl
argv (apply, delete, and the ``kubectl exec`` of iperf3 and sockperf, answered with output recorded
from real runs) and the API (nodes, pods, the ClusterIP, events, served as the API server returns
them). It records every argv, stdin and API request, so the tests pin the exact command contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pandas as pd
import pytest
import yaml

from labkit import cli, k8s, plots
from labkit.components.storage import compare as kind_sto
from labkit.components.network import options as network_options
from labkit.bench.request import BenchRequest
from labkit.targets import replay
from labkit.bench.plan import catalog, plan
from labkit._run import Result
from labkit.bench import harness as runner, kube
from labkit.components.network import compare as kind, kube_cells as kind_net
from labkit.bench.store import Store
from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.targets.kube import KubeTarget
from labkit.versions import tools_image
from tests.fakes import (
    KUBECONFIG_LAB,
    Call,
    FakeCluster,
    FakeClusterOps,
    Request,
    api_status,
    kind_node,
    node_list,
    unreachable,
)

DATA = Path(__file__).resolve().parents[1] / "data"
K8S_VERSIONS = ("1.34.0", "1.35.0", "1.36.0", "1.37.0")
POD_CELLS = ["hostnet", "pod-same-node", "pod-cross-node", "clusterip"]
KC = "/home/u/.local/share/labkit/kube/labkit-bench-calico.yaml"
CLUSTER_IP = "10.96.17.4"
PULL_FAILED = ('Back-off pulling image "{image}": ErrImagePull: failed to pull and unpack image "docker.io/{image}": '
               'failed to resolve reference "docker.io/{image}": pull access denied, repository does not exist or '
               "may require authorization: server message: insufficient_scope: authorization failed")


@pytest.fixture(autouse=True)
def _no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs need no Docker: the harness is told there is none, so a unit test neither depends on the
    host's daemon nor reaps what other sessions on it left."""
    from labkit import docker

    monkeypatch.setattr(docker, "available", lambda *a, **k: False)


# --- a kind cluster running the network cells ---------------------------------------------------------------


def pod_ip(fake: FakeCluster, pod: dict[str, Any]) -> str:
    """A hostNetwork pod has its node's IP; any other a stable address of the pod network."""
    if pod["spec"].get("hostNetwork"):
        node = fake.of("Node")[pod["spec"]["nodeName"]]
        return str(node["status"]["addresses"][0]["address"])
    return f"10.244.{1 + sum(map(ord, pod['metadata']['name'])) % 200}.7"


def settle(never_ready: tuple[str, ...] = ()) -> Callable[[FakeCluster, dict[str, Any]], None]:
    """The kubelet and the Service controller: pods start Ready with an IP, Services get a ClusterIP.

    A pod of a cell in ``never_ready`` stays Pending in ImagePullBackOff (its image is not in the nodes
    and cannot be pulled), with the kubelet's events."""

    def act(fake: FakeCluster, obj: dict[str, Any]) -> None:
        if obj["kind"] == "Service":
            obj["spec"].update(clusterIP=CLUSTER_IP, clusterIPs=[CLUSTER_IP])
            return
        if obj["kind"] != "Pod":
            return
        box = obj["spec"]["containers"][0]
        started = {"type": "PodScheduled", "status": "True"}
        if any(cell in obj["metadata"]["name"] for cell in never_ready):
            waiting = {"reason": "ImagePullBackOff", "message": PULL_FAILED.format(image=box["image"])}
            obj["status"] = {"phase": "Pending", "hostIP": "172.18.0.3", "podIP": pod_ip(fake, obj),
                             "conditions": [started, {"type": "Ready", "status": "False",
                                                      "reason": "ContainersNotReady"}],
                             "containerStatuses": [{"name": box["name"], "image": box["image"], "ready": False,
                                                    "restartCount": 0, "started": False, "imageID": "",
                                                    "state": {"waiting": waiting}, "lastState": {}}]}
            fake.event(obj, "Normal", "Scheduled", f"Successfully assigned labkit-bench/{obj['metadata']['name']} "
                       f"to {obj['spec']['nodeName']}", source="default-scheduler")
            fake.event(obj, "Warning", "Failed", f'Failed to pull image "{box["image"]}": {waiting["message"]}')
            fake.event(obj, "Warning", "Failed", "Error: ImagePullBackOff", count=4)
            return
        obj["status"] = {"phase": "Running", "hostIP": "172.18.0.3", "podIP": pod_ip(fake, obj),
                         "conditions": [started, {"type": "Ready", "status": "True"}],
                         "containerStatuses": [{"name": box["name"], "image": box["image"], "ready": True,
                                                "restartCount": 0, "started": True,
                                                "state": {"running": {"startedAt": "2026-11-30T09:00:03Z"}}}]}

    return act


def exec_tool(call: Call) -> Result:
    """``kubectl exec … -- timeout --kill-after=5 N TOOL …``: iperf3 and sockperf answer with real output."""
    tool = call.args[call.args.index("--") + 4]
    if tool == "iperf3":
        return Result(tuple(call.argv), 0, (DATA / "iperf3-tcp-1.json").read_text(), "")
    if tool == "taskset":
        return Result(tuple(call.argv), 0, (DATA / "sockperf-pingpong-tcp.txt").read_text(), "")
    raise AssertionError(f"a tool the pods do not run: {call.args}")


@pytest.fixture()
def kind_cluster(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeCluster]:
    """Make a fake kind cluster (``workers``, ``never_ready`` cells, ``context``/``kubeconfig``) and serve it."""

    def make(workers: int = 2, *, never_ready: tuple[str, ...] = (), kubeconfig: str = KC,
             context: str | None = None) -> FakeCluster:
        fake = FakeCluster(node_list(workers), kubeconfig=kubeconfig, context=context, settle=settle(never_ready))
        fake.answer(("exec",), exec_tool)
        return fake.serve(monkeypatch)

    return make


def pods_read(fake: FakeCluster, selector: str) -> list[Request]:
    """The API's reads of the pods a selector matches."""
    return [r for r in fake.gets("/namespaces/labkit-bench/pods") if r.query.get("labelSelector") == selector]


def target(context: str | None = None) -> KubeTarget:
    return KubeTarget("labkit-bench-calico", KC, context, "labkit-bench-calico" if context is None else None)


def bench(fake: FakeCluster, store: Path, *, cells: list[str] | None = None, kube: KubeTarget | None = None,
          **kw: Any) -> runner.BenchRun:
    return runner.run("net", target="kind" if (kube or target()).kind_cluster else "cluster",
                      cells=cells or POD_CELLS, tests=["tcp-1", "latency"], reps=2, duration_s=1,
                      kube=kube or target(), cni="calico" if (kube or target()).kind_cluster else None,
                      store=str(store), runner=fake, **kw)


# --- placement -------------------------------------------------------------------------------------------


def test_two_workers_take_the_pods_and_the_control_plane_is_left_alone() -> None:
    p = kind_net.place(kind_net.parse_nodes(node_list(3)))
    assert (p.first, p.second, p.tolerate_control_plane, p.note) == (
        "labkit-bench-calico-worker", "labkit-bench-calico-worker2", False, "")
    assert kind_net.nodes_for(p, "pod-same-node") == ("labkit-bench-calico-worker",) * 2
    assert kind_net.nodes_for(p, "clusterip") == ("labkit-bench-calico-worker", "labkit-bench-calico-worker2")


def test_one_worker_is_paired_with_the_control_plane_under_a_toleration() -> None:
    p = kind_net.place(kind_net.parse_nodes(node_list(1)))
    assert (p.first, p.second, p.tolerate_control_plane) == (
        "labkit-bench-calico-worker", "labkit-bench-calico-control-plane", True)
    objs = kind_net.cell_manifests("hostnet", session="abc", image=tools_image(), placement=p)
    assert all(o["spec"]["tolerations"] == [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                             "effect": "NoSchedule"}] for o in objs)


def test_a_single_node_cluster_runs_same_node_cells_and_names_why_cross_node_cannot() -> None:
    p = kind_net.place(kind_net.parse_nodes(node_list(0)))
    assert (p.first, p.second, p.tolerate_control_plane) == ("labkit-bench-calico-control-plane", None, True)
    assert kind_net.nodes_for(p, "pod-same-node") == ("labkit-bench-calico-control-plane",) * 2
    for cell in ("hostnet", "pod-cross-node", "clusterip"):
        with pytest.raises(Unavailable) as info:
            kind_net.nodes_for(p, cell)
        assert "needs two nodes" in info.value.message and "one usable node" in info.value.message
        assert info.value.fix and "--workers 2" in info.value.fix


def test_not_ready_and_cordoned_workers_are_skipped_with_the_reason() -> None:
    nodes = node_list(2)
    nodes["items"][1] = kind_node("labkit-bench-calico-worker", "172.18.0.3", ready=False)
    nodes["items"][2] = kind_node("labkit-bench-calico-worker2", "172.18.0.4", unschedulable=True)
    parsed = {n.name: n.why_not for n in kind_net.parse_nodes(nodes)}
    assert parsed == {"labkit-bench-calico-control-plane": "", "labkit-bench-calico-worker": "not Ready",
                      "labkit-bench-calico-worker2": "cordoned"}
    p = kind_net.place(kind_net.parse_nodes(nodes))
    assert p.first == "labkit-bench-calico-control-plane" and p.second is None
    assert "worker not Ready" in p.note and "worker2 cordoned" in p.note


def test_no_usable_node_makes_every_pod_cell_unavailable() -> None:
    p = kind_net.place(kind_net.parse_nodes({"items": []}))
    with pytest.raises(Unavailable, match="no node can take the bench pods"):
        kind_net.nodes_for(p, "pod-same-node")


# --- manifests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [2, 1, 0])
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_is_valid_under_the_strict_schema(version: str, workers: int) -> None:
    objs = kind_net.all_manifests(node_list(workers), session="0a1b2c3d4e")
    assert len(objs) == (10 if workers else 3)  # namespace + 4 pod pairs + 1 service; one node: same-node only
    for obj in objs:
        try:
            used = kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"no schema for {obj['kind']} in Kubernetes {version}: {exc}")
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} invalid for {version}: {exc.message} at {exc.path}")
        assert used == version.rsplit(".", 1)[0]  # that minor's own schema, not a fallback


def test_every_object_is_labelled_pinned_and_placed() -> None:
    objs = kind_net.all_manifests(node_list(2), session="0a1b2c3d4e")
    ns, rest = objs[0], objs[1:]
    assert ns["metadata"]["labels"]["io.labkit.managed"] == "true"
    for obj in rest:
        labels = obj["metadata"]["labels"]
        assert obj["metadata"]["namespace"] == "labkit-bench"
        assert labels["io.labkit.managed"] == "true" and labels["io.labkit.session"] == "0a1b2c3d4e"
        cell = obj["metadata"]["name"].removeprefix("lk-0a1b2c3d4e-").removesuffix("-srv").removesuffix("-cli")
        assert labels["io.labkit.role"] == f"bench-{cell}"
    pods = {o["metadata"]["name"]: o["spec"] for o in rest if o["kind"] == "Pod"}
    for spec in pods.values():
        (box,) = spec["containers"]
        assert box["image"] == tools_image() and not box["image"].endswith(":latest")
        assert box["imagePullPolicy"] == "IfNotPresent"
    assert {n: s["nodeName"] for n, s in pods.items() if n.endswith("-cli")} == {
        "lk-0a1b2c3d4e-hostnet-cli": "labkit-bench-calico-worker2",
        "lk-0a1b2c3d4e-pod-same-node-cli": "labkit-bench-calico-worker",
        "lk-0a1b2c3d4e-pod-cross-node-cli": "labkit-bench-calico-worker2",
        "lk-0a1b2c3d4e-clusterip-cli": "labkit-bench-calico-worker2"}
    assert {n for n, s in pods.items() if s.get("hostNetwork")} == {"lk-0a1b2c3d4e-hostnet-srv",
                                                                     "lk-0a1b2c3d4e-hostnet-cli"}


def test_the_server_runs_both_tools_from_the_argv_builders_and_is_probed() -> None:
    objs = kind_net.all_manifests(node_list(2))
    srv = next(o for o in objs if o["metadata"]["name"].endswith("pod-cross-node-srv"))["spec"]["containers"][0]
    script = srv["command"][2]
    assert srv["command"][:2] == ["sh", "-c"]
    assert "iperf3 --server --port 5201" in script
    assert "exec taskset --cpu-list 0 sockperf server --ip 0.0.0.0 --port 11111 --tcp" in script
    assert srv["readinessProbe"]["tcpSocket"] == {"port": 11111}
    hostnet = next(o for o in objs if o["metadata"]["name"].endswith("hostnet-srv"))["spec"]["containers"][0]
    assert "--port 25201" in hostnet["command"][2] and hostnet["readinessProbe"]["tcpSocket"] == {"port": 21111}


def test_the_service_selects_the_server_pod_only() -> None:
    objs = kind_net.all_manifests(node_list(2))
    (svc,) = [o for o in objs if o["kind"] == "Service"]
    selected = [o["metadata"]["name"] for o in objs if o["kind"] == "Pod"
                and svc["spec"]["selector"].items() <= o["metadata"]["labels"].items()]
    assert selected == ["lk-0123456789-clusterip-srv"]
    assert {(p["port"], p["protocol"]) for p in svc["spec"]["ports"]} == {(5201, "TCP"), (5201, "UDP"),
                                                                          (11111, "TCP")}


def test_hex_session_ids_stay_strings_in_the_yaml_kubectl_reads() -> None:
    text = kind_net.to_yaml([kind_net.object_labels("0123456789", "hostnet"), kind_net.object_labels("12e4567890",
                                                                                                     "hostnet")])
    assert "io.labkit.session: '0123456789'" in text and "io.labkit.session: '12e4567890'" in text
    assert [d["io.labkit.session"] for d in yaml.safe_load_all(text)] == ["0123456789", "12e4567890"]


def test_an_unpinned_image_is_refused() -> None:
    for ref in ("labkit/tools", "labkit/tools:latest", "localhost:5001/labkit/tools"):
        with pytest.raises(BadInput, match="pinned"):
            kube.check_image(ref)
    assert kube.check_image("localhost:5001/labkit/tools:0.2.0") == "localhost:5001/labkit/tools:0.2.0"


# --- catalog and plan ------------------------------------------------------------------------------------


def test_kind_catalog_is_the_ladder_with_the_cni_as_component() -> None:
    cells = catalog("net", "kind", cni="cilium")
    assert list(cells) == ["kind-bridge", "hostnet", "pod-same-node", "pod-cross-node", "clusterip"]
    assert {c.component for c in cells.values()} == {"cilium"}
    assert [(n, c.level, c.baseline) for n, c in cells.items()] == [
        ("kind-bridge", "N2", None), ("hostnet", "N3", "kind-bridge"), ("pod-same-node", None, "hostnet"),
        ("pod-cross-node", None, "hostnet"), ("clusterip", None, "hostnet")]


def test_a_cluster_gets_n2_only_with_a_docker_network() -> None:
    assert "kind-bridge" not in catalog("net", "cluster")
    assert catalog("net", "cluster")["hostnet"].baseline is None
    assert catalog("net", "cluster", docker_network="lab")["hostnet"].baseline == "kind-bridge"


@pytest.mark.parametrize("cni", ["weave", "Calico", "", "none"])
def test_an_unknown_cni_names_the_allowed_ones(cni: str) -> None:
    with pytest.raises(BadInput) as info:
        plan("net", target="kind", cni=cni or "x y")
    assert info.value.allowed == "kindnet, calico, cilium, cilium-kpr, flannel"


def test_cluster_options_on_the_engine_target_are_refused() -> None:
    with pytest.raises(BadInput, match="cni"):
        plan("net", cni="calico")


def test_pod_cells_without_a_cluster_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="KubeTarget"):
        runner.run("net", target="kind", cells=["hostnet"], reps=2, store=str(tmp_path))
    assert not (tmp_path / "runs").exists()


# --- a run through the harness, against the fake ---------------------------------------------------------


def test_a_kind_run_sends_exactly_these_commands(kind_cluster: Callable[..., FakeCluster], tmp_path: Path) -> None:
    fake = kind_cluster()
    res = bench(fake, tmp_path)
    session = res.meta()["session_id"]
    assert all(c.argv[:3] == ["kubectl", "--kubeconfig", KC] for c in fake.calls)
    assert (fake.requests[0].method, fake.requests[0].path) == ("GET", "/api/v1/nodes")  # the nodes: read first
    assert fake.calls[0].args == ["apply", "--filename", "-"]
    assert list(yaml.safe_load_all(fake.calls[0].stdin or "")) == [kind_net.namespace_manifest()]
    placement = kind_net.place(kind_net.parse_nodes(node_list(2)))
    applies = fake.kubectl("apply")[1:]
    assert [list(yaml.safe_load_all(a.stdin or "")) for a in applies] == [
        kind_net.cell_manifests(c, session=session, image=tools_image(), placement=placement) for c in POD_CELLS]
    # readiness is read from the API: both pods of each cell, by its labels, each request bounded
    for cell in POD_CELLS:
        (ready,) = pods_read(fake, f"io.labkit.session={session},io.labkit.role=bench-{cell}")[:1]
        assert ready.method == "GET" and ready.timeout is not None and ready.timeout <= 10
    assert fake.gets(f"/namespaces/labkit-bench/services/lk-{session}-clusterip")  # the ClusterIP it dials
    assert fake.clock.sleeps == []  # every pod was Ready at the first look
    execs = [c.args for c in fake.kubectl("exec")]
    assert ["exec", "--namespace", "labkit-bench", f"lk-{session}-clusterip-cli", "--", "timeout", "--kill-after=5",
            "33", "iperf3", "--client", CLUSTER_IP, "--port", "5201", "--json", "--time", "1", "--parallel", "1",
            "--zerocopy", "--omit", "1"] in execs
    assert ["exec", "--namespace", "labkit-bench", f"lk-{session}-hostnet-cli", "--", "timeout", "--kill-after=5",
            "33", "taskset", "--cpu-list", "0", "sockperf", "ping-pong", "--ip", "172.18.0.3", "--port", "21111",
            "--tcp", "--time", "1", "--full-rtt"] in execs
    assert len(execs) == 4 * 2 * 3  # cells × tests × (warm-up + 2 repetitions)
    assert {c.timeout for c in fake.kubectl("exec")} == {33 + 30}  # kubectl outlives the in-pod timeout
    deletes = [c.args for c in fake.kubectl("delete")]
    assert sorted(deletes) == sorted(
        ["delete", "pods,services", "--namespace", "labkit-bench", "--selector",
         f"io.labkit.session={session},io.labkit.role=bench-{c}", "--ignore-not-found", "--wait=false"]
        for c in POD_CELLS)
    assert set(fake.verbs()) == {"apply", "exec", "delete"}  # reads and waits went to the API, not kubectl
    assert fake.verbs().index("delete") > max(i for i, v in enumerate(fake.verbs()) if v == "exec")
    assert fake.of("Pod") == {} and fake.of("Service") == {}


def test_rows_carry_the_cni_the_cluster_and_the_ratio_to_n3(kind_cluster: Callable[..., FakeCluster],
                                                            tmp_path: Path) -> None:
    res = bench(kind_cluster(), tmp_path)
    rows = res.rows()
    assert set(rows["status"]) == {"ok"} and set(rows["component"]) == {"calico"}
    assert set(rows["target"]) == {"kind"} and set(rows["k8s_version"]) == {"v1.36.1"}
    assert set(rows["n_nodes"]) == {3}
    pinned = network_options.option("calico").version
    assert json.loads(rows["component_config"].iloc[0]) == {"cni": "calico", "version": pinned}
    assert set(rows["component_version"]) == {network_options.option("calico").version}  # the pinned CNI version
    cross = rows[(rows.cell == "pod-cross-node") & (rows.metric == "throughput_bps")]
    assert (cross["baseline_cell"] == "hostnet").all() and (cross["ratio_to_baseline"] == 1.0).all()
    meta = res.meta()
    assert meta["status"] == "complete" and meta["cni"] == "calico" and meta["target"] == "kind"
    assert meta["cluster"]["placement"]["first"] == "labkit-bench-calico-worker"
    assert meta["image"] == tools_image()


def test_a_context_is_passed_on_every_command(kind_cluster: Callable[..., FakeCluster], tmp_path: Path) -> None:
    fake = kind_cluster(kubeconfig="/tmp/kc", context="prod-admin")  # its API answers only that file and context
    kube = KubeTarget("prod", "/tmp/kc", "prod-admin")
    res = bench(fake, tmp_path, kube=kube, cells=["pod-same-node"])
    assert all(c.argv[:5] == ["kubectl", "--kubeconfig", "/tmp/kc", "--context", "prod-admin"] for c in fake.calls)
    assert (fake.api.kubeconfig, fake.api.context) == ("/tmp/kc", "prod-admin") and fake.requests
    assert res.meta()["target"] == "cluster" and set(res.rows()["component"]) == {"unknown"}


def test_the_api_and_kubectl_must_be_the_same_cluster(kind_cluster: Callable[..., FakeCluster],
                                                      tmp_path: Path) -> None:
    fake = kind_cluster(kubeconfig="/tmp/kc", context="prod-admin")
    with pytest.raises(AssertionError, match="a client for another cluster"):
        bench(fake, tmp_path, kube=KubeTarget("prod", "/tmp/kc", "staging"), cells=["pod-same-node"])


def test_a_single_node_cluster_stores_cross_node_cells_as_unavailable(kind_cluster: Callable[..., FakeCluster],
                                                                      tmp_path: Path) -> None:
    fake = kind_cluster(0)
    rows = bench(fake, tmp_path).rows()
    status = rows.groupby("cell")["status"].agg(set).to_dict()
    assert status == {"pod-same-node": {"ok"}, "hostnet": {"unavailable"}, "pod-cross-node": {"unavailable"},
                      "clusterip": {"unavailable"}}
    assert rows.loc[rows.cell == "clusterip", "error"].iloc[0].startswith("clusterip needs two nodes")
    assert len(fake.kubectl("apply")) == 2  # the namespace and pod-same-node only


def test_pods_that_never_get_ready_are_unavailable_with_their_reasons_and_events(
        kind_cluster: Callable[..., FakeCluster], tmp_path: Path) -> None:
    fake = kind_cluster(never_ready=("pod-cross-node",))
    res = bench(fake, tmp_path)
    rows = res.rows()
    error = rows.loc[rows.cell == "pod-cross-node", "error"].iloc[0]
    assert set(rows.loc[rows.cell == "pod-cross-node", "status"]) == {"unavailable"}
    assert "pods not Ready within 180 s" in error and "kind load" in error
    session = res.meta()["session_id"]
    assert (f"pod/lk-{session}-pod-cross-node-srv on labkit-bench-calico-worker: Pending, ImagePullBackOff: "
            f'Back-off pulling image "{tools_image()}"') in error  # the pod's own reason
    assert "events in labkit-bench (last 6, warnings first):\n  Warning  Failed  pod/" in error
    assert "Error: ImagePullBackOff (x4)" in error
    assert sum(fake.clock.sleeps) == 180  # the timeout covered the whole wait, on the fake clock
    assert pods_read(fake, f"io.labkit.session={session},io.labkit.role=bench-pod-cross-node")
    assert fake.gets("/namespaces/labkit-bench/events")  # the diagnosis read the events
    assert set(rows.loc[rows.cell == "pod-same-node", "status"]) == {"ok"}
    assert len(fake.kubectl("delete")) == 4 and fake.of("Pod") == {}  # the failed cell's pods were deleted too


def test_a_refused_manifest_makes_the_cell_unavailable_with_the_cluster_s_reason(
        kind_cluster: Callable[..., FakeCluster], tmp_path: Path) -> None:
    fake = kind_cluster()

    def apply(call: Call) -> Result:
        if "hostNetwork" in (call.stdin or ""):
            return Result(tuple(call.argv), 1, "", 'Error from server (Forbidden): pods "x" is forbidden: violates '
                          'PodSecurity "baseline:latest": host namespaces (hostNetwork=true)')
        return fake.apply(call)

    fake.answer(("apply",), apply)
    rows = bench(fake, tmp_path).rows()
    error = rows.loc[rows.cell == "hostnet", "error"].iloc[0]
    assert "refused the manifests" in error and "hostNetwork=true" in error


def test_ctrl_c_mid_measurement_deletes_every_cell_s_pods(kind_cluster: Callable[..., FakeCluster],
                                                          tmp_path: Path) -> None:
    fake = kind_cluster()
    execs = []

    def interrupt(call: Call) -> Result:
        execs.append(call)
        if len(execs) == 5:
            raise KeyboardInterrupt
        return exec_tool(call)

    fake.answer(("exec",), interrupt)
    with pytest.raises(KeyboardInterrupt):
        bench(fake, tmp_path)
    assert fake.verbs()[-4:] == ["delete"] * 4 and fake.of("Pod") == {} and fake.of("Service") == {}
    store = Store(tmp_path)
    assert store.meta(store.run_ids()[0])["status"] == "interrupted"


def test_a_failure_while_opening_cells_still_deletes_what_was_applied(kind_cluster: Callable[..., FakeCluster],
                                                                      tmp_path: Path) -> None:
    fake = kind_cluster()

    def broken(req: Request) -> None:
        if "/services/" in req.path:
            raise api_status(500, "etcdserver: request timed out")

    fake.hooks.append(broken)
    with pytest.raises(k8s.ApiError, match="etcdserver: request timed out"):
        bench(fake, tmp_path)
    assert fake.verbs()[-4:] == ["delete"] * 4 and fake.of("Pod") == {} and fake.of("Service") == {}
    store = Store(tmp_path)
    assert store.meta(store.run_ids()[0])["status"] == "failed"


def test_a_pod_that_disappears_fails_its_repetitions_with_the_reason(kind_cluster: Callable[..., FakeCluster],
                                                                     tmp_path: Path) -> None:
    fake = kind_cluster()

    def gone(req: Request) -> None:  # once measuring has begun, the server pod is evicted
        if fake.kubectl("exec") and req.path.endswith("/pods"):
            for name in [n for n in fake.of("Pod") if "pod-same-node-srv" in n]:
                fake.remove("Pod", "labkit-bench", name)

    fake.hooks.append(gone)
    rows = bench(fake, tmp_path).rows()
    same = rows[rows.cell == "pod-same-node"]
    assert set(same["status"]) == {"failed"} and same["error"].str.contains("pod-same-node-srv is gone").all()


def test_a_failed_exec_reports_kubectl_s_error_not_a_parse_error(kind_cluster: Callable[..., FakeCluster],
                                                                 tmp_path: Path) -> None:
    fake = kind_cluster()
    refused = 'error: unable to upgrade connection: container not found ("client")'
    fake.answer(("exec",), lambda call: Result(tuple(call.argv), 1, "", refused))
    rows = bench(fake, tmp_path, cells=["pod-same-node"]).rows()
    assert set(rows["status"]) == {"failed"}
    assert rows["error"].str.startswith("CommandError: command failed with exit code 1").all()


def test_cluster_cells_refuse_impairment() -> None:
    pair = kind_net.PodPair(catalog("net", "kind")["hostnet"], None, "s", "1.2.3.4", 1, 2)  # type: ignore[arg-type]
    with pytest.raises(Unavailable, match="not supported yet"):
        pair.impair(object())


# --- comparing CNIs: fresh cluster each, always deleted --------------------------------------------------


@pytest.fixture()
def measured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def run(request: BenchRequest, **kw: Any) -> runner.BenchRun:
        calls.append({"suite": request.suite, "cni": request.cni, "target": request.target, "kube": request.kube,
                      "reps": request.reps, **kw})
        if request.cni == "cilium":
            raise LabkitError("kubectl: Unable to connect to the server")
        if request.cni == "flannel":
            raise KeyboardInterrupt
        return runner.BenchRun(f"run-{request.cni}", Store(tmp_path))

    monkeypatch.setattr(runner, "run", run)
    return calls


def test_each_cni_gets_a_fresh_cluster_loaded_measured_and_deleted(measured: list[dict[str, Any]],
                                                                   tmp_path: Path) -> None:
    fake = FakeClusterOps()
    out = kind.compare_cnis(["kindnet", "calico"], BenchRequest("net", reps=6), workers=3, store=str(tmp_path),
                            ops=fake.ops())
    assert fake.log == [
        ("up", "kindnet", "labkit-bench-kindnet", 3, None), ("load", "labkit-bench-kindnet", tools_image()),
        ("down", "labkit-bench-kindnet"),
        ("up", "calico", "labkit-bench-calico", 3, None), ("load", "labkit-bench-calico", tools_image()),
        ("down", "labkit-bench-calico")]
    assert [(c["cni"], c["target"], c["kube"].name, c["reps"]) for c in measured] == [
        ("kindnet", "kind", "labkit-bench-kindnet", 6), ("calico", "kind", "labkit-bench-calico", 6)]
    assert out.run_ids == ["run-kindnet", "run-calico"] and out.failed == {}


def test_a_failing_cni_is_recorded_its_cluster_deleted_and_the_next_one_runs(measured: list[dict[str, Any]],
                                                                             tmp_path: Path) -> None:
    fake = FakeClusterOps(fail_up="calico", up_error="calico-node never became Ready on {name}")
    out = kind.compare_cnis(["calico", "cilium", "kindnet"], store=str(tmp_path), ops=fake.ops())
    assert [e for e in fake.log if e[0] == "down"] == [("down", "labkit-bench-calico"), ("down", "labkit-bench-cilium"),
                                                        ("down", "labkit-bench-kindnet")]
    assert ("load", "labkit-bench-calico", tools_image()) not in fake.log
    assert list(out.failed) == ["calico", "cilium"] and "never became Ready" in out.failed["calico"]
    assert list(out.runs) == ["kindnet"]


def test_ctrl_c_deletes_the_current_cluster_and_stops(measured: list[dict[str, Any]], tmp_path: Path) -> None:
    fake = FakeClusterOps()
    with pytest.raises(KeyboardInterrupt):
        kind.compare_cnis(["flannel", "kindnet"], store=str(tmp_path), ops=fake.ops())
    assert fake.log[-1] == ("down", "labkit-bench-flannel") and ("up", "kindnet", "labkit-bench-kindnet", 2, None) \
        not in fake.log


def test_keep_leaves_the_clusters_and_all_failing_raises(measured: list[dict[str, Any]], tmp_path: Path) -> None:
    fake = FakeClusterOps()
    with pytest.raises(LabkitError, match="no CNI could be measured: cilium"):
        kind.compare_cnis(["cilium"], store=str(tmp_path), ops=fake.ops(),
                          keep=True)
    assert [e[0] for e in fake.log] == ["up", "load"]


def test_bad_requests_fail_before_any_cluster_is_made(measured: list[dict[str, Any]], tmp_path: Path) -> None:
    fake = FakeClusterOps()
    for cnis, kw in ((["kindnet", "weave"], {}), (["calico", "calico"], {}), ([], {}), (["kindnet"], {"reps": 1}),
                     (["kindnet"], {"cells": ["bridge"]})):
        with pytest.raises(BadInput):
            kind.compare_cnis(cnis, BenchRequest("net", **kw), store=str(tmp_path), ops=fake.ops())
    assert fake.log == [] and measured == []


def test_run_on_an_existing_cluster_creates_nothing_but_pods(kind_cluster: Callable[..., FakeCluster],
                                                             tmp_path: Path) -> None:
    fake = kind_cluster(kubeconfig="/tmp/kc", context="lab")
    res = kind.run_on_cluster(KubeTarget("lab", "/tmp/kc", "lab"),
                              BenchRequest("net", cni="antrea", cells=["pod-cross-node"], tests=["tcp-1"], reps=2,
                                           duration_s=1), store=str(tmp_path), runner=fake)
    assert set(fake.verbs()) == {"apply", "exec", "delete"}
    assert {r.method for r in fake.requests} == {"GET"}  # the API only reads
    assert set(fake.objects["Namespace"]) == {("", "labkit-bench")} and fake.of("Pod") == {}
    assert res.meta()["target"] == "cluster" and set(res.rows()["component"]) == {"antrea"}


# --- reading the results: CNIs side by side, as ratios to N2 and N3 ---------------------------------------


def _run_rows(cni: str, run_id: str, medians: dict[str, float]) -> list[dict[str, Any]]:
    cells = catalog("net", "kind", cni=cni)
    rows = []
    for name, value in medians.items():
        c = cells[name]
        for block, wobble in enumerate((0.98, 1.0, 1.02)):
            rows.append({"run_id": run_id, "block": block, "suite": "net", "cell": name, "component": cni,
                         "baseline_cell": c.baseline, "baseline_level": c.level, "test": "tcp-1",
                         "metric": "throughput_bps", "value": value * wobble, "unit": "bit/s",
                         "higher_is_better": True, "status": "ok", "error": None})
    rows.append({"run_id": run_id, "block": 0, "suite": "net", "cell": "clusterip", "component": cni,
                 "baseline_cell": "hostnet", "baseline_level": None, "test": "tcp-1", "metric": "", "value": None,
                 "unit": None, "higher_is_better": None, "status": "unavailable",
                 "error": "clusterip needs two nodes: the cluster has one usable node"})
    return rows


@pytest.fixture()
def two_cnis() -> pd.DataFrame:
    return pd.DataFrame(_run_rows("kindnet", "r1", {"kind-bridge": 40e9, "hostnet": 20e9, "pod-cross-node": 10e9})
                        + _run_rows("calico", "r2", {"kind-bridge": 50e9, "hostnet": 25e9, "pod-cross-node": 5e9}))


def test_ladder_gives_each_cell_its_ratio_to_its_own_run_s_n2_and_n3(two_cnis: pd.DataFrame) -> None:
    lad = kind.ladder(two_cnis).set_index(["cni", "cell"])
    assert lad.loc[("kindnet", "pod-cross-node"), "ratio_n2"] == pytest.approx(0.25)
    assert lad.loc[("kindnet", "pod-cross-node"), "ratio_n3"] == pytest.approx(0.5)
    assert lad.loc[("calico", "pod-cross-node"), "ratio_n2"] == pytest.approx(0.1)
    assert lad.loc[("calico", "pod-cross-node"), "ratio_n3"] == pytest.approx(0.2)
    assert lad.loc[("calico", "kind-bridge"), "ratio_n2"] == 1.0 and lad.loc[("calico", "hostnet"), "level"] == "N3"
    lo, hi = lad.loc[("calico", "pod-cross-node"), ["ratio_n3_lo", "ratio_n3_hi"]]
    assert lo <= 0.2 <= hi
    assert lad.loc[("calico", "clusterip"), "n"] == 0 and "two nodes" in lad.loc[("calico", "clusterip"), "note"]


def test_summary_keeps_cnis_apart(two_cnis: pd.DataFrame) -> None:
    s = kind.summary(two_cnis)
    tput = s[s.metric == "throughput_bps"].set_index("cell")
    assert tput.loc["calico/pod-cross-node", "baseline_cell"] == "calico/hostnet"
    assert tput.loc["calico/pod-cross-node", "ratio"] == pytest.approx(0.2)
    assert tput.loc["kindnet/pod-cross-node", "ratio"] == pytest.approx(0.5)


def test_the_cni_chart_shows_both_baselines_side_by_side_with_the_one_kernel_note(two_cnis: pd.DataFrame) -> None:
    fig = plots.cni_ladder(kind.ladder(two_cnis), metric="throughput_bps")
    assert fig.layout.title.subtitle.text == plots.KIND_NOTE and "one host kernel" in plots.KIND_NOTE
    assert [a.text for a in fig.layout.annotations[:2]] == ["÷ N2 (kind-bridge)", "÷ N3 (hostnet)"]
    assert [(t.name, t.xaxis) for t in fig.data] == [("kindnet", "x"), ("kindnet", "x2"), ("calico", "x"),
                                                     ("calico", "x2")]
    calico_n3 = fig.data[3]
    assert dict(zip(calico_n3.x, calico_n3.y, strict=True))["pod-cross-node"] == pytest.approx(0.2)
    assert any("clusterip: unavailable: clusterip needs two nodes" in str(a.text) for a in fig.layout.annotations)


# --- the command line ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["bench", "net", "--target", "kind", "--cni", "kindnet,weave"], "allowed: kindnet, calico, cilium"),
    (["bench", "net", "--cni", "calico"], "only with --target kind or cluster"),
    (["bench", "net", "--target", "cluster"], "bad --context"),
    (["bench", "net", "--target", "kind", "--context", "x"], "only with --target cluster"),
    (["bench", "net", "--target", "cluster", "--context", "x", "--keep"], "only with --target kind"),
    (["bench", "net", "--target", "kind", "--ab"], "only with --target engine"),
    (["bench", "net", "--target", "cluster", "--context", "x", "--cni", "a,b"], "one name on --target cluster"),
])
def test_bad_cluster_requests_exit_2_before_anything_runs(argv: list[str], message: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_storage_on_kind_installs_the_named_options_on_one_cluster(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from labkit.components.network import compare as kind_mod

    seen: dict[str, Any] = {}

    def fake(options: list[str], request: Any, **kw: Any) -> Any:
        seen.update(options=options, size=request.size, **kw)
        raise kind_mod.LabkitError("stop here", fix="none")

    monkeypatch.setattr(kind_sto, "compare_storage", fake)
    assert cli.main(["bench", "storage", "--target", "kind", "--storage", "openebs,longhorn", "--size", "32M"]) == 1
    assert seen["options"] == ["openebs", "longhorn"] and seen["cni"] == "kindnet" and seen["size"] == "32M"
    assert cli.main(["bench", "storage", "--target", "kind", "--storage-class", "x"]) == 2
    assert "--storage-class" in capsys.readouterr().err


def test_cli_kind_compares_the_cnis_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          two_cnis: pd.DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}

    def compare(cnis: list[str], request: Any, **kw: Any) -> kind.CniComparison:
        seen.update(cnis=cnis, reps=request.reps, **kw)
        out = kind.CniComparison(Store(tmp_path), failed={"cilium": "cilium-agent never Ready"})
        monkeypatch.setattr(out, "rows", lambda: two_cnis)
        return out

    monkeypatch.setattr(kind, "compare_cnis", compare)
    code = cli.main(["bench", "net", "--target", "kind", "--cni", "kindnet,calico,cilium", "--workers", "3",
                     "--keep", "--reps", "6", "--store", str(tmp_path)])
    assert code == 1  # one CNI could not be measured
    assert seen["cnis"] == ["kindnet", "calico", "cilium"] and seen["workers"] == 3 and seen["keep"] is True
    assert seen["reps"] == 6
    out = capsys.readouterr().out
    assert "pod-cross-node" in out and "ratio_n2" in out and "one host kernel" in out
    assert "cilium: not measured: cilium-agent never Ready" in out


def test_cli_cluster_reads_the_given_kubeconfig_and_context(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            two_cnis: pd.DataFrame) -> None:
    seen: dict[str, Any] = {}

    def on_cluster(kube: KubeTarget, request: Any, **kw: Any) -> Any:
        seen.update(kube=kube, cni=request.cni, docker_network=request.docker_network, **kw)
        return type("R", (), {"run_id": "r1", "rows": lambda self: two_cnis})()

    kc = tmp_path / "kc"
    kc.write_text(KUBECONFIG_LAB)
    monkeypatch.setattr(kind, "run_on_cluster", on_cluster)
    assert cli.main(["bench", "net", "--target", "cluster", "--context", "lab", "--kubeconfig", str(kc),
                     "--cni", "cilium", "--store", str(tmp_path)]) == 0
    assert seen["kube"] == KubeTarget("lab", str(kc), "lab") and seen["cni"] == "cilium"
    assert seen["docker_network"] is None




def test_an_unreadable_pod_list_is_not_taken_for_dead_pods(kind_cluster: Callable[..., FakeCluster],
                                                            tmp_path: Path) -> None:
    fake = kind_cluster()

    def cut(req: Request) -> None:  # once measuring has begun, the API server cannot be reached
        if fake.kubectl("exec") and req.path.endswith("/pods"):
            raise unreachable()

    fake.hooks.append(cut)
    rows = bench(fake, tmp_path, cells=["pod-same-node"]).rows()
    assert set(rows["status"]) == {"ok"}
    assert len([r for r in fake.requests if r.path.endswith("/pods")]) > 1  # alive() did ask, and was cut off


def test_replay_shows_the_newest_recording_per_cni_else_the_engine_one(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for meta in ({"target": "engine"}, {"target": "engine", "arm": "A"}, {"target": "kind", "cni": "calico"},
                 {"target": "kind", "cni": "kindnet"}, {"target": "kind", "cni": "calico"}):
        with store.new_run({"suite": "net", **meta}):
            pass
    ids = store.run_ids()
    assert replay.recorded_runs(store) == [ids[0]]
    assert replay.recorded_runs(store, target="kind", cnis=["calico", "kindnet"]) == [ids[4], ids[3]]
    assert replay.recorded_runs(store, target="kind", cnis=["cilium"]) == [ids[4], ids[3]]  # what there is
    assert replay.recorded_runs(store, target="cluster") == [ids[0]]
