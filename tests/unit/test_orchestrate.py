"""Orchestration operations offline: the Kubernetes half through argv contracts, strict manifest schemas and
scripted pod lists; the Swarm half's argv, choices and parsing; kernel feature detection; timings as rows."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from labkit import clean, plots
from labkit.components import orchestration as orchestrate
from labkit.components.orchestration import driver
from labkit.targets import swarm
from labkit.bench.schema import COLUMNS
from labkit.bench.store import Store
from labkit.errors import BadInput, CommandError, Unavailable, WaitTimeout
from labkit.components.orchestration import (
    App,
    KubernetesOrchestrator,
    OpResult,
    Replica,
    SwarmOrchestrator,
    Want,
    parse_pods,
    parse_probe,
    perform,
)
from labkit.targets.kube import KubeTarget
from labkit.versions import pins
from tests.fakes import Call, Clock, Replies, ScriptedRunner

MINORS = [f"{m}.0" for m in pins()["components"]["supported_kubernetes"]]
NS = "labkit-orchestration"
KUBE = ("kubectl", "--kubeconfig", "/lab/kube/labkit.yaml")

#: What the Swarm probe printed in a real DinD run (one task IP without a page: it had just been killed).
PROBE_OUT = ("10.0.1.11 version 2 on web-3 (node node2)\n\n10.0.1.12 version 2 on web-1 (node node3)\n\n"
             "10.0.1.7 \n10.0.1.9 version 2 on web-2 (node node2)\n\n")


# --- fakes ---------------------------------------------------------------------------------------------------

POLL = (*KUBE, "get", "pods", "--namespace", NS, "--selector", "app.kubernetes.io/name=web", "--output", "json")
KUBE_DIAGNOSE = {(*KUBE, "get", "pods", "--namespace", NS, "--output", "wide"): "",
                 (*KUBE, "get", "events", "--namespace", NS, "--sort-by", ".lastTimestamp"): ""}


def kubectl(*pods: str, acts: tuple[tuple[str, ...], ...] = (), **more: Any) -> ScriptedRunner:
    """kubectl of the orchestration tests: each ``get pods -o json`` poll answers the next of ``pods`` (the
    last repeats), each of ``acts`` (kubectl argv after ``--kubeconfig``, or a whole argv) succeeds; nothing
    else is answered."""
    script: dict[tuple[str, ...], Any] = {POLL: Replies(*pods) if pods else "{}"}
    for act in acts:
        script[act if act[0] == "docker" else (*KUBE, *act)] = 0
    script.update(more.get("script", {}))
    return ScriptedRunner(script, anywhere=False)


def actions(runner: ScriptedRunner) -> list[list[str]]:
    """Calls that change something (not the polls, not the diagnosis)."""
    return [a for a in runner.argvs() if not ("get" in a and ("pods" in a or "events" in a))]


def hangs(clock: Clock) -> Callable[[Call], Any]:
    """A poll that never answers: it is killed at its timeout (the fake clock moves on by that much)."""

    def answer(call: Call) -> Any:
        clock.advance(call.timeout)
        return CommandError(call.argv, None, "", "", timeout=call.timeout)

    return answer


def _pod_list(*pods: dict[str, Any]) -> str:
    return json.dumps({"kind": "PodList", "apiVersion": "v1", "items": list(pods)})


def _pod(data_dir: Path, name: str, *, version: str = "1", node: str = "labkit-worker", ready: bool = True,
         terminating: bool = False) -> dict[str, Any]:
    """A pod from a recorded ``kubectl get pods -o json``, renamed and given our app's env."""
    recorded = json.loads((data_dir / "k8s" / ("pods-web-ready.json" if ready else "pods-web-starting.json"))
                          .read_text())["items"][0]
    pod = copy.deepcopy(recorded)
    pod["metadata"]["name"] = name
    if terminating:
        pod["metadata"]["deletionTimestamp"] = "2026-11-26T22:50:01Z"
    pod["spec"]["nodeName"] = node
    pod["spec"]["containers"][0]["env"] = [{"name": "APP_VERSION", "value": version},
                                           {"name": "APP_PORT", "value": "8080"}]
    return pod


def _kube(runner: ScriptedRunner, clock: Clock | None = None, *, kind: bool = True, timeout: float = 60
          ) -> KubernetesOrchestrator:
    target = KubeTarget("labkit", "/lab/kube/labkit.yaml", None, "labkit" if kind else None)
    clock = clock or Clock(100.0)
    return KubernetesOrchestrator(target, runner=runner, clock=clock, sleep=clock.sleep, timeout=timeout)


# --- the app, readiness, parsing -----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,what", [({"name": "Web"}, "app name"), ({"version": "1 2"}, "app version"),
                                         ({"replicas": -1}, "replicas"), ({"replicas": True}, "replicas"),
                                         ({"port": 80}, "app port")])
def test_a_bad_app_is_refused_naming_the_value(kwargs: dict[str, Any], what: str) -> None:
    with pytest.raises(BadInput) as info:
        App(**kwargs)
    assert info.value.what == what and info.value.value == next(iter(kwargs.values()))


def test_want_counts_exactly_and_checks_version_and_placement() -> None:
    two = [Replica("a", "2", "n1"), Replica("b", "2", "n2")]
    assert Want(2, "2").met(two)
    assert not Want(3, "2").met(two) and not Want(1, "2").met(two)  # exactly, not at least
    assert not Want(2, "1").met(two)
    assert not Want(2, "2", avoid_nodes=frozenset({"n2"})).met(two)
    assert not Want(2, "2", avoid_ids=frozenset({"a"})).met(two)
    assert Want(0, None).met([])
    assert Want(2, "2", avoid_nodes=frozenset({"n3"})).describe() == \
        "exactly 2 replica(s) serving version 2, none on n3"


def test_the_swarm_probe_output_parses_and_a_silent_ip_is_not_serving() -> None:
    seen = parse_probe(PROBE_OUT)
    assert [(r.id, r.version, r.host, r.node) for r in seen] == [
        ("10.0.1.11", "2", "web-3", "node2"), ("10.0.1.12", "2", "web-1", "node3"), ("10.0.1.9", "2", "web-2", "node2")]
    assert parse_probe("") == [] and parse_probe("10.0.1.7 \n") == []


def test_only_ready_pods_that_are_not_terminating_count(data_dir: Path) -> None:
    listing = _pod_list(_pod(data_dir, "web-a"), _pod(data_dir, "web-b", ready=False),
                        _pod(data_dir, "web-c", terminating=True), _pod(data_dir, "web-d", version="2", node="n2"))
    assert [(r.id, r.version, r.node) for r in parse_pods(listing)] == [("web-a", "1", "labkit-worker"),
                                                                      ("web-d", "2", "n2")]
    assert parse_pods((data_dir / "k8s" / "pods-web-starting.json").read_text()) == []
    assert parse_pods("not json") == []


def test_busiest_node_skips_the_manager() -> None:
    seen = [Replica("a", "1", "node1"), Replica("b", "1", "node1"), Replica("c", "1", "node2")]
    assert orchestrate.busiest_node(seen) == "node1"
    assert orchestrate.busiest_node(seen, exclude=["node1"]) == "node2"
    assert orchestrate.busiest_node([], exclude=["node1"]) is None


# --- Kubernetes: manifests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("minor", MINORS)
def test_the_app_manifests_are_valid_under_each_supported_kubernetes(minor: str) -> None:
    for obj in orchestrate.manifests(App(replicas=3, version="2"), namespace=NS):
        try:
            used = kubernetes_validate.validate(obj, minor, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']} invalid for {minor}: {exc.message} at {list(exc.path)}")
        assert used == minor.rsplit(".", 1)[0]


def test_a_broken_app_manifest_fails_strict_validation() -> None:
    objs = orchestrate.manifests(App(), namespace=NS)
    objs[1]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(objs[1], MINORS[-1], strict=True)


def test_the_deployment_rolls_one_at_a_time_and_probes_http() -> None:
    ns, deploy, svc = orchestrate.manifests(App(replicas=3), namespace=NS)
    assert (ns["kind"], deploy["kind"], svc["kind"]) == ("Namespace", "Deployment", "Service")
    spec = deploy["spec"]
    assert spec["replicas"] == 3 and spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    c = spec["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["httpGet"] == {"path": "/", "port": "http"} and c["command"][-1] == orchestrate.SERVE
    assert {"name": "APP_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in c["env"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert all(o["metadata"]["labels"]["io.labkit.managed"] == "true" for o in (ns, deploy, svc))


# --- Kubernetes: argv contracts and timing --------------------------------------------------------------------

def test_every_operation_spells_kubectl_for_the_labs_own_kubeconfig(data_dir: Path) -> None:
    v1 = [_pod(data_dir, f"web-{i}") for i in range(3)]
    v2 = [_pod(data_dir, f"web-n{i}", version="2", node="labkit-worker2") for i in range(3)]
    runner = kubectl(_pod_list(v1[0]), acts=(("apply",), ("scale",), ("set", "env"), ("drain",),
                                             ("docker", "kill", "labkit-worker3"), ("delete", "namespace")))
    kube = _kube(runner)
    assert perform(kube, "deploy", app=App()).ok
    runner.script[POLL] = _pod_list(*v1)
    assert perform(kube, "scale", replicas=3).ok
    runner.script[POLL] = _pod_list(*v2)
    assert perform(kube, "rolling_update", version="2").ok
    assert perform(kube, "drain_node", node="labkit-worker").ok
    assert perform(kube, "lose_node", node="labkit-worker3").ok
    runner.script[POLL] = _pod_list()
    assert perform(kube, "remove").ok
    acts = actions(runner)
    assert acts == [
        [*KUBE, "apply", "--filename", "-"],
        [*KUBE, "scale", "deployment/web", "--replicas=3", "--namespace", NS],
        [*KUBE, "set", "env", "deployment/web", "APP_VERSION=2", "--namespace", NS],
        [*KUBE, "drain", "labkit-worker", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout", "60s"],
        ["docker", "kill", "labkit-worker3"],
        [*KUBE, "delete", "namespace", NS, "--wait=false"],
    ]
    applied = list(yaml.safe_load_all(runner.calls[0].stdin or ""))
    assert applied == orchestrate.manifests(App(), namespace=NS)  # what is applied is what was validated
    polls = [a for a in runner.argvs() if a not in acts]
    assert polls and all(a == [*KUBE, "get", "pods", "--namespace", NS, "--selector", "app.kubernetes.io/name=web",
                               "--output", "json"] for a in polls)


def test_a_new_image_and_version_go_out_as_one_rollout(data_dir: Path) -> None:
    runner = kubectl(_pod_list(_pod(data_dir, "web-a", version="3")),
                     acts=(("rollout", "pause"), ("set", "image"), ("set", "env"), ("rollout", "resume")))
    kube = _kube(runner)
    kube.app = App()
    kube.rolling_update("3", image="labkit/tools:0.3.0")
    assert [a[len(KUBE):len(KUBE) + 2] for a in actions(runner)] == [
        ["rollout", "pause"], ["set", "image"], ["set", "env"], ["rollout", "resume"]]
    assert [*KUBE, "set", "image", "deployment/web", "web=labkit/tools:0.3.0", "--namespace", NS] in actions(runner)
    assert kube.app == App(version="3", image="labkit/tools:0.3.0")


def test_kill_replica_deletes_one_ready_pod_and_times_until_a_replacement_is_ready(data_dir: Path) -> None:
    a, b, c = (_pod(data_dir, n) for n in ("web-a", "web-b", "web-c"))
    listing = [_pod_list(a, b, c),                                          # prepare: pick a Ready pod
               _pod_list(_pod(data_dir, "web-a", terminating=True), b, c),  # just deleted
               _pod_list(_pod(data_dir, "web-d", ready=False), b, c),       # replacement starting
               _pod_list(_pod(data_dir, "web-d", ready=False), b, c),
               _pod_list(_pod(data_dir, "web-d"), b, c)]                    # back to 3 Ready
    clock = Clock(100.0)
    runner = kubectl(*listing, acts=(("delete", "pod", "web-a"),))
    kube = _kube(runner, clock)
    kube.app = App(replicas=3)
    res = kube.kill_replica()
    assert [*KUBE, "delete", "pod", "web-a", "--namespace", NS, "--wait=false"] in actions(runner)
    assert res.ok and res.polls == 4 and clock.sleeps == [1.0, 1.0, 1.0]
    assert res.seconds == pytest.approx(3.0)  # from the delete to the poll that saw 3 Ready, on the fake clock
    assert "web-d@labkit-worker" in res.detail and "not web-a" in res.detail


def test_a_recovery_that_never_comes_is_a_failed_row_with_diagnostics(data_dir: Path) -> None:
    clock = Clock(100.0)
    events = (*KUBE, "get", "events", "--namespace", NS, "--sort-by", ".lastTimestamp")
    runner = kubectl(_pod_list(_pod(data_dir, "web-a")), acts=(("scale",),),
                     script={**KUBE_DIAGNOSE, events: "LAST SEEN   TYPE      REASON             OBJECT\n"
                                                      "3s          Warning   FailedScheduling   pod/web-b"})
    kube = _kube(runner, clock, timeout=10)
    kube.app = App(replicas=1)
    with pytest.raises(WaitTimeout) as info:
        kube.scale(2)
    assert "FailedScheduling" in info.value.diagnostics and "kubectl --kubeconfig" in info.value.diagnostics
    assert clock.now - 100 == 10  # the timeout bounds the whole wait: the last sleep ends at the deadline
    assert kube.app.replicas == 2  # the scale command ran: the next operation works from there
    kube.app = App(replicas=1)
    row = perform(kube, "scale", replicas=2)
    assert (row.ok, row.seconds, row.op) == (False, None, "scale") and "timed out after 10 s" in str(row.error)


@pytest.mark.parametrize(("timeout", "polls"), [(10, [10]), (45, [30, 14])])
def test_a_poll_that_hangs_may_take_only_the_time_left(data_dir: Path, timeout: float, polls: list[float]) -> None:
    """A poll is bounded by the time left (at most 30 s), so a hung check cannot stretch the wait past its
    timeout (it used to: 10 s became 21 s, 45 s became 61 s)."""
    clock = Clock(100.0)
    runner = kubectl(acts=(("scale",),), script=KUBE_DIAGNOSE)
    runner.script[POLL] = hangs(clock)
    kube = _kube(runner, clock, timeout=timeout)
    kube.app = App(replicas=1)
    with pytest.raises(WaitTimeout, match=f"timed out after {timeout:g} s"):
        kube.scale(2)
    assert [c.timeout for c in runner.calls if tuple(c.argv) == POLL] == polls
    assert clock.now - 100 == timeout  # ends at the deadline, not a poll later
    assert driver.MAX_POLL_S == 30 and driver.MIN_POLL_S == 1


def test_a_poll_at_the_deadline_still_gets_a_second_to_answer(data_dir: Path) -> None:
    clock = Clock(100.0)
    runner = kubectl(_pod_list(_pod(data_dir, "web-a")), acts=(("scale",),), script=KUBE_DIAGNOSE)
    kube = _kube(runner, clock, timeout=2.5)
    kube.app = App(replicas=1)
    with pytest.raises(WaitTimeout):
        kube.scale(2)
    assert [c.timeout for c in runner.calls if tuple(c.argv) == POLL] == [2.5, 1.5, 1.0, 1.0]
    assert clock.sleeps == [1.0, 1.0, 0.5]  # the last sleep ends at the deadline, for one last look


def test_a_failing_command_fails_the_operation_not_the_session(data_dir: Path) -> None:
    refused = (*KUBE, "drain", "nope")
    runner = kubectl(_pod_list(_pod(data_dir, "web-a")), script={refused: (1, "", 'error: nodes "nope" not found')})
    kube = _kube(runner)
    kube.app = App()
    row = perform(kube, "drain_node", node="nope")
    assert not row.ok and 'nodes "nope" not found' in str(row.error)


def test_losing_a_node_needs_kind_and_bad_input_still_raises(data_dir: Path) -> None:
    kube = _kube(kubectl(), kind=False)
    assert "no app deployed" in str(perform(kube, "kill_replica").error)
    kube.app = App()
    with pytest.raises(Unavailable):
        kube.lose_node("worker-7")
    with pytest.raises(BadInput):
        perform(kube, "scale", replicas="three")
    with pytest.raises(BadInput):
        perform(kube, "reboot")


def test_explain_shows_the_commands_and_the_check(data_dir: Path) -> None:
    kube = _kube(kubectl())
    text = kube.explain("kill_replica")
    assert "PODS=$(kubectl --kubeconfig /lab/kube/labkit.yaml get pods --namespace labkit-orchestration" in text
    assert 'delete pod "${POD}"' in text and "labkit picks a Ready pod" in text
    deploy = kube.explain("deploy", app=App(replicas=2))
    assert "apply --filename - <<'EOF'" in deploy and "kind: Deployment" in deploy and "replicas: 2" in deploy
    assert "toleration" in kube.explain("lose_node", node="labkit-worker")


# --- Swarm: argv and choices without a daemon ----------------------------------------------------------------

class FakeSwarm:
    session = "s1"
    network = "labkit-apps"
    manager = "node1"
    probe = "lk-s1-probe"
    node_names = ["node1", "node2", "node3"]

    def __init__(self, ipvs: bool = False) -> None:
        self.features = swarm.KernelFeatures(ipvs, False, "test")

    def docker(self, *args: str, node: str | None = None) -> tuple[str, ...]:
        return ("docker", "exec", f"lk-s1-{node or self.manager}", "docker", *args)

    def node_container(self, node: str) -> str | None:
        return f"lk-s1-{node}"


def _swarm_orch(answers: dict[tuple[str, ...], Any], probe: list[str], ipvs: bool = False
                ) -> tuple[SwarmOrchestrator, ScriptedRunner, Clock]:
    """A Swarm orchestrator whose probe container answers ``probe`` in turn (the last repeats) and whose
    other commands answer only as in ``answers`` (by argv prefix)."""
    clock = Clock(100.0)
    runner = ScriptedRunner({("lk-s1-probe",): Replies(*probe)}, anywhere=True)
    for prefix, answer in answers.items():
        runner.answer(prefix, answer)
    return SwarmOrchestrator(FakeSwarm(ipvs), runner=runner, clock=clock, sleep=clock.sleep), runner, clock


def test_swarm_services_use_dnsrr_without_ipvs_and_never_ask_a_registry() -> None:
    orch, _, _ = _swarm_orch({}, [""])
    args = orch.create_args(App())
    assert args[args.index("--endpoint-mode") + 1] == "dnsrr" and "--no-resolve-image" in args
    assert "APP_NODE={{.Node.Hostname}}" in args and args[-3:] == ["sh", "-c", orchestrate.SERVE]
    vip, _, _ = _swarm_orch({}, [""], ipvs=True)
    assert "vip" in vip.create_args(App())


def test_swarm_kill_picks_a_running_task_off_lost_nodes_and_kills_its_container() -> None:
    tasks = ("t1 node3 Running 5 minutes ago\nt2 node2 Starting 1 second ago\nt3 node2 Running 4 minutes ago\n")
    polls = ["10.0.1.3 version 1 on web-2 (node node2)\n", PROBE_OUT.replace(" 2 on", " 1 on")]
    orch, runner, clock = _swarm_orch({("docker", "exec", "lk-s1-node1", "docker", "service", "ps"): tasks,
                                       ("docker", "inspect"): "true\n",
                                       ("docker", "exec", "lk-s1-node2", "docker", "ps"): "c0ffee\n",
                                       ("docker", "exec", "lk-s1-node2", "docker", "kill", "c0ffee"): ""}, polls)
    orch.app = App(replicas=3)
    orch.lost.add("node3")
    res = orch.kill_replica()
    acts = [a for a in runner.argvs() if "lk-s1-probe" not in a and a[1] != "inspect"]
    assert acts[1] == ["docker", "exec", "lk-s1-node2", "docker", "ps", "--quiet", "--filter",
                       "label=com.docker.swarm.task.id=t3"]
    assert acts[2] == ["docker", "exec", "lk-s1-node2", "docker", "kill", "c0ffee"]
    assert res.ok and res.polls == 2 and res.seconds == pytest.approx(0.25)


def test_swarm_kill_skips_a_node_that_died_behind_its_back() -> None:
    tasks = "t1 node2 Running 5 minutes ago\nt2 node3 Running 4 minutes ago\n"

    orch, runner, _ = _swarm_orch({("docker", "exec", "lk-s1-node1", "docker", "service", "ps"): tasks,
                                   ("docker", "inspect", "--format", "{{.State.Running}}", "lk-s1-node3"): "true\n",
                                   ("docker", "inspect", "--format", "{{.State.Running}}", "lk-s1-node2"): "false\n",
                                   ("docker", "exec", "lk-s1-node3", "docker", "ps"): "beef\n",
                                   ("docker", "exec", "lk-s1-node3", "docker", "kill", "beef"): ""},
                                  ["10.0.1.3 version 1 on web-2 (node node3)\n"])
    orch.app = App(replicas=1)
    assert orch.kill_replica().ok
    assert ["docker", "exec", "lk-s1-node3", "docker", "kill", "beef"] in runner.argvs()
    assert orch.lost == {"node2"}


def test_swarm_refuses_to_lose_its_manager_or_an_unknown_node() -> None:
    orch, runner, _ = _swarm_orch({}, [""])
    orch.app = App()
    with pytest.raises(BadInput):
        orch.lose_node("node1")
    with pytest.raises(BadInput):
        orch.drain_node("node9")
    assert runner.calls == []
    assert orch.explain("lose_node", node="node2").count("docker kill lk-s1-node2") == 1


def test_swarm_explain_spells_the_commands_a_learner_can_paste() -> None:
    orch, _, _ = _swarm_orch({}, [""])
    text = orch.explain("scale", replicas=3)
    assert "docker exec lk-s1-node1 docker service scale --detach web=3" in text
    assert "tasks.web" in text and "curl" in text
    local = swarm.LocalSwarm(session="abc", image="labkit/tools:0.2.0")
    assert "docker swarm init --advertise-addr 127.0.0.1" in local.explain()
    dind = swarm.DindSwarm(nodes=2, session="abc", image="labkit/dind:0.1.0")
    text = dind.explain()
    assert "--privileged" not in text and "--cap-drop SYS_RESOURCE" in text
    assert "--security-opt systempaths=unconfined" in text and text.count("docker swarm join ") == 1
    with pytest.raises(BadInput):
        swarm.DindSwarm(nodes=0)


# --- kernel features from a fake tree --------------------------------------------------------------------------

def _tree(tmp_path: Path, config: str | None = None, files: tuple[str, ...] = ()) -> Path:
    (tmp_path / "proc" / "net").mkdir(parents=True)
    if config is not None:
        (tmp_path / "proc" / "config.gz").write_bytes(gzip.compress(config.encode()))
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("")
    return tmp_path


@pytest.mark.parametrize("config,files,want", [
    ("# CONFIG_IP_VS is not set\n# CONFIG_INET_ESP is not set\n", (), (False, False)),  # our CI kernel
    ("CONFIG_IP_VS=y\nCONFIG_INET_ESP=y\n", (), (True, True)),
    ("CONFIG_IP_VS=m\nCONFIG_INET_ESP=m\n", ("lib/modules/6.1.0/kernel/net/netfilter/ipvs/ip_vs.ko.xz",),
     (True, False)),                                                                   # module file present
    (None, ("proc/net/ip_vs",), (True, None)),                                         # no config, no module tree
    (None, ("lib/modules/6.1.0/modules.dep",), (False, False)),                        # tree readable, nothing in it
    (None, (), (None, None)),                                                          # cannot tell
])
def test_kernel_features_decide_from_config_or_probes(tmp_path: Path, config: str | None, files: tuple[str, ...],
                                                      want: tuple[bool | None, bool | None]) -> None:
    got = swarm.kernel_features(root=_tree(tmp_path, config, files), release="6.1.0")
    assert (got.ipvs, got.esp) == want
    assert got.endpoint_mode == ("vip" if want[0] else "dnsrr")  # unsure means the mode that works everywhere
    assert got.basis.startswith("read from /proc/config.gz") == (config is not None)


# --- clean: swarm leftovers in order ------------------------------------------------------------------------

def test_clean_leaves_labkits_swarm_before_containers_and_drops_gwbridge_after(monkeypatch: pytest.MonkeyPatch
                                                                              ) -> None:
    from labkit import docker as engine
    from labkit.targets import host as hoststate

    done: list[str] = []
    monkeypatch.setattr(engine, "managed", lambda include_images=True: [engine.Managed("container", "c1", "lk-x")])
    monkeypatch.setattr(engine, "remove", lambda item: done.append(f"container {item.name}"))
    monkeypatch.setattr(clean, "kind_clusters", lambda: [])
    monkeypatch.setattr(hoststate, "find", lambda: [])
    monkeypatch.setattr(swarm, "leftovers", lambda: [swarm.Leftover("swarm", "local swarm (node n1)", "n1"),
                                                     swarm.Leftover("network", swarm.GWBRIDGE, "g1")])
    monkeypatch.setattr(swarm, "remove_leftover", lambda item: done.append(f"{item.kind} {item.name}"))
    clean.clean(images=False)
    assert done == ["swarm local swarm (node n1)", "container lk-x", f"network {swarm.GWBRIDGE}"]


# --- timings as rows ------------------------------------------------------------------------------------------

def _results() -> list[OpResult]:
    return [OpResult("deploy", "swarm", 1.4, "d", params={"app": {"replicas": 1}}),
            OpResult("kill_replica", "swarm", 6.3, "k"), OpResult("kill_replica", "swarm", 6.1, "k"),
            OpResult("deploy", "kubernetes", None, "timed out", ok=False, error="WaitTimeout: ...")]


def test_timings_become_tidy_rows_the_store_keeps(tmp_path: Path) -> None:
    rows = orchestrate.rows(_results(), run_id="r1", configs={"swarm": {"nodes": 3, "endpoint_mode": "dnsrr"}})
    assert all(set(r) <= set(COLUMNS) for r in rows)
    assert [(r["cell"], r["component"], r["repetition"], r["status"]) for r in rows] == [
        ("deploy", "swarm", 0, "ok"), ("kill_replica", "swarm", 0, "ok"), ("kill_replica", "swarm", 1, "ok"),
        ("deploy", "kubernetes", 0, "failed")]
    assert {r["suite"] for r in rows} == {"orchestration"} and {r["metric"] for r in rows} == {"seconds"}
    assert rows[0]["n_nodes"] == 3 and json.loads(rows[0]["component_config"])["endpoint_mode"] == "dnsrr"
    store = Store(tmp_path)
    with store.new_run({"run_id": "r1", "suite": "orchestration"}) as w:
        w.append(rows)
    back = store.load(["r1"])
    assert list(back["value"][:3]) == [1.4, 6.3, 6.1] and back["value"].isna().tolist() == [False] * 3 + [True]
    assert list(back["unit"]) == ["s"] * 4 and list(back["status"]) == ["ok"] * 3 + ["failed"]
    from labkit.bench import stats

    summary = stats.aggregate(back).set_index(["cell", "test"])  # the harness's statistics read them as they are
    assert summary.loc[("kill_replica", "swarm"), "n"] == 2
    assert summary.loc[("kill_replica", "swarm"), "median"] == pytest.approx(6.2)
    assert summary.loc[("deploy", "kubernetes"), "n_failed"] == 1


def test_the_chart_puts_orchestrators_side_by_side_in_operation_order() -> None:
    fig = plots.orchestration(orchestrate.frame(_results()), order=orchestrate.OPS)
    assert [t.name for t in fig.data] == ["swarm", "kubernetes"]
    assert list(fig.data[0].x) == ["deploy", "kill_replica"] and list(fig.data[0].y) == [1.4, pytest.approx(6.2)]
    assert list(fig.data[1].text) == ["failed", ""]  # failed where it failed, nothing where it did not run


def test_the_chart_reads_rows_loaded_from_the_store() -> None:
    import pandas as pd

    rows = pd.DataFrame(orchestrate.rows(_results()[:3], run_id="r"))
    fig = plots.orchestration(rows, order=orchestrate.OPS)
    assert [t.name for t in fig.data] == ["swarm"] and list(fig.data[0].x) == ["deploy", "kill_replica"]
