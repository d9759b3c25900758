"""Storage options offline: golden plans, the persistence verify, strict schemas, host gates, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from labkit.components import up as cluster
from labkit.components.storage import verify as storage_verify
from labkit.components.connect import Connected
from labkit.components.storage import options as storage
from labkit.errors import BadInput, Unavailable
from labkit.steps import substitute
from labkit.targets.kind import config
from labkit.targets.kube import KubeTarget
from labkit.versions import pins
from typing import Any
from tests.unit.test_network import PV, SUM, World

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
MINORS = [f"{m}.0" for m in pins()["components"]["supported_kubernetes"]]
IMAGE = "labkit/tools:0.2.0"


@pytest.fixture()
def home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_HOME", "/labkit-home")


@pytest.mark.parametrize("option", storage.INSTALLABLE)
def test_up_with_storage_matches_its_golden_transcript(home: None, option: str) -> None:
    transcript = cluster.up_script("kindnet", storage=option).transcript()
    golden = GOLDEN / f"up-kindnet-{option}.json"
    if os.environ.get("LABKIT_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(transcript, indent=2) + "\n")
    assert transcript == json.loads(golden.read_text()), "plan changed: review, then LABKIT_UPDATE_GOLDEN=1"


def test_longhorn_uses_stock_kind_nodes_and_enables_iscsid_on_each_worker_before_helm(home: None) -> None:
    script = cluster.up_script("calico", storage="longhorn")
    create = script.steps[0]
    assert create.cmd.argv[:3] == ("kind", "create", "cluster")  # nothing is built first
    nodes = yaml.safe_load(create.cmd.stdin or "")["nodes"]
    assert {n["image"] for n in nodes} == {config.node_image()}  # kind's base image ships open-iscsi
    assert "podSubnet: 192.168.0.0/16" in (create.cmd.stdin or "")  # the CNI's needs still apply
    argvs = [list(s.cmd.argv) for s in script.steps]
    enable = [a for a in argvs if a[-3:] == ["enable", "--now", "iscsid.socket"]]
    assert [a[2] for a in enable] == ["labkit-calico-worker", "labkit-calico-worker2"]
    probes = [s for s in script.steps if s.title.startswith("iscsid starts and stays up")]
    assert len(probes) == 2 and all(p.expect_match and "active" in p.expect_match for p in probes)
    assert "openebs" in probes[0].fix and "netlink" in probes[0].fix
    helm = next(i for i, a in enumerate(argvs) if "upgrade" in a)
    assert max(argvs.index(a) for a in enable) < helm
    waits = " ".join(" ".join(a) for a in argvs[helm:])
    for what in ("daemonset/longhorn-csi-plugin", "deployment/csi-attacher", "deployment/csi-provisioner",
                 "--for=create storageclass/longhorn"):
        assert what in waits


def test_helm_options_pin_chart_versions_and_send_their_values(home: None) -> None:
    for option, chart, version, ns in (("openebs", "openebs/openebs", "4.6.1", "openebs"),
                                       ("longhorn", "longhorn/longhorn", "1.12.1", "longhorn-system")):
        helm = [s for s in cluster.up_script("kindnet", storage=option).steps if "upgrade" in s.cmd.argv][0]
        argv = list(helm.cmd.argv)
        assert argv[argv.index("--install") + 2] == chart and argv[argv.index("--version") + 1] == version
        assert argv[argv.index("--namespace") + 1] == ns and "--create-namespace" in argv
        values = yaml.safe_load(helm.cmd.stdin or "")
        if option == "openebs":
            assert values["engines"]["replicated"]["mayastor"]["enabled"] is False
            assert values["loki"]["enabled"] is False and values["alloy"]["enabled"] is False
            assert values["engines"]["local"]["rawfile"]["enabled"] is False
        else:
            assert values["persistence"] == {"defaultClassReplicaCount": 2, "defaultClass": False}
            assert values["networkPolicies"]["restrictInternalTraffic"] is False
        assert "upstream default" in helm.why and "values.yaml" in helm.why  # explain shows each key's source


def test_persistence_verify_creates_the_consumer_before_waiting_for_bound() -> None:
    plan = storage_verify.plan(KubeTarget.for_kind("labkit"), storage_class="standard", image=IMAGE,
                               option="local-path")
    titles = [s.title for s in plan.steps]
    assert titles.index("Create a PVC and a writer pod that uses it") < titles.index("Wait for the PVC to be Bound")
    create = plan.steps[titles.index("Create a PVC and a writer pod that uses it")]
    kinds = [d["kind"] for d in yaml.safe_load_all(create.cmd.stdin or "")]
    assert kinds == ["Namespace", "PersistentVolumeClaim", "Pod"]
    check = plan.steps[titles.index("The data survived: the file still matches its checksum")]
    assert substitute(check.cmd.argv, {"SUM": "ab12"})[-3:] == ['echo "$1  /data/$1" | sha256sum -c', "sh", "ab12"]
    assert "REPLICA_NODES" not in [s.capture for s in plan.steps]
    pods = [d for d in yaml.safe_load_all(create.cmd.stdin or "") if d["kind"] == "Pod"]
    assert pods[0]["spec"]["tolerations"][0]["key"] == "node-role.kubernetes.io/control-plane"  # 0 workers work


def test_longhorn_verify_pods_stay_off_the_control_plane() -> None:
    plan = storage.option("longhorn").verify(KubeTarget.for_kind("labkit"), image=IMAGE)
    pods = [d for s in plan.steps if s.cmd.stdin for d in yaml.safe_load_all(s.cmd.stdin) if d["kind"] == "Pod"]
    assert [p["metadata"]["name"] for p in pods] == ["writer", "reader"]
    for pod in pods:
        assert "tolerations" not in pod["spec"]  # Longhorn's manager and CSI plugin do not run there
        term = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["nodeSelectorTerms"][0]["matchExpressions"] == [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]


def _verify(option: str = "longhorn", **answers: Any) -> tuple[Any, World]:
    plan = storage.option(option).verify(KubeTarget.for_kind("labkit"), image=IMAGE)
    world = World(plan, answers={tuple(k.split(" ")): v for k, v in answers.items()})
    return plan, world


def test_the_verify_runs_in_order_and_substitutes_what_it_captured() -> None:
    plan, world = _verify()
    plan.run(world, sleep=lambda s: None)
    assert plan.values == {"SUM": SUM, "PV": PV, "REPLICA_NODES": f"{world.w1}\n{world.w2}"}
    check = next(c for c in world.commands() if "sha256sum -c" in " ".join(c))
    assert list(check[-5:]) == ["sh", "-c", 'echo "$1  /data/$1" | sha256sum -c', "sh", SUM]  # an argument,
    assert any(PV in c for c in world.commands()[-3:])                        # never spliced into the script


@pytest.mark.parametrize("what,answer", [
    ("jsonpath={.status.state}", (0, "detached")),                                  # not attached
    ("longhornvolume=${PV}", (0, "labkit-worker\nlabkit-worker\n")),               # two replicas, one node
    ("longhornvolume=${PV}", (0, "labkit-worker\n")),                               # one of two running
    ("--for=jsonpath={.status.robustness}=healthy", (1, "timed out: degraded")),    # never healthy
])
def test_longhorn_health_is_checked_against_what_labkit_asked_for(what: str, answer: Any) -> None:
    from labkit.steps import StepFailed

    plan = storage.option("longhorn").verify(KubeTarget.for_kind("labkit"), image=IMAGE)
    world = World(plan)
    world.answers = {(what.replace("${PV}", PV),): answer}
    with pytest.raises(StepFailed):
        plan.run(world, sleep=lambda s: None)


def test_the_storage_class_must_have_the_options_provisioner() -> None:
    from labkit.steps import StepFailed

    plan, world = _verify("openebs")
    world.answers = {("jsonpath={.provisioner} {.volumeBindingMode}",): (0, "rancher.io/local-path Immediate")}
    with pytest.raises(StepFailed, match="openebs.io/local"):
        plan.run(world, sleep=lambda s: None)


@pytest.mark.parametrize("logs", ["9f86d0", "$(rm -rf /)", SUM + "; reboot", ""])
def test_a_writer_log_that_is_not_a_sha256_stops_the_verify_before_it_is_used(logs: str) -> None:
    from labkit.steps import StepFailed

    plan = storage.option("local-path").verify(KubeTarget.for_kind("labkit"), image=IMAGE)
    world = World(plan)
    world.answers = {("logs", "-n", "labkit-verify-storage", "writer"): (0, logs + "\n")}
    with pytest.raises(StepFailed, match="does not match"):
        plan.run(world)
    assert not any("sha256sum -c" in " ".join(a) for a in world.argvs())


@pytest.mark.parametrize("minor", MINORS)
def test_every_storage_manifest_is_valid_for_each_supported_kubernetes(minor: str) -> None:
    objs = []
    for sc in ("standard", "openebs-hostpath", "longhorn"):
        for group in storage_verify.manifests(sc, IMAGE).values():
            objs += group
    for opt in storage.INSTALLABLE:
        for step in cluster.up_script("kindnet", storage=opt).steps:
            if step.cmd.argv[0] == "kubectl" and step.cmd.stdin:
                objs += [d for d in yaml.safe_load_all(step.cmd.stdin) if d]
    assert {"PersistentVolumeClaim", "Pod", "Namespace"} <= {o["kind"] for o in objs}
    for obj in objs:
        if obj["apiVersion"] == "operator.tigera.io/v1":
            continue  # covered by the CNI tests' hand-kept schemas
        kubernetes_validate.validate(obj, minor, strict=True)
        assert obj["metadata"]["labels"]["io.labkit.managed"] == "true"


def test_a_broken_pvc_fails_validation() -> None:
    pvc = storage_verify.manifests("standard", IMAGE)["claim"][1]
    pvc["spec"]["accessModes"] = "ReadWriteOnce"  # must be a list
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pvc, MINORS[-1], strict=True)


def test_helm_values_match_hand_kept_subsets() -> None:
    enabled = {"type": "object", "properties": {"enabled": {"type": "boolean"}}, "additionalProperties": False}
    schemas = {
        "openebs": {"type": "object", "additionalProperties": False, "properties": {
            "loki": enabled, "alloy": enabled, "engines": {
                "type": "object", "additionalProperties": False, "properties": {
                    "replicated": {"type": "object", "properties": {"mayastor": enabled},
                                   "additionalProperties": False},
                    "local": {"type": "object", "additionalProperties": False,
                              "properties": {k: enabled for k in ("lvm", "zfs", "rawfile")}}}}}},
        "longhorn": {"type": "object", "additionalProperties": False, "properties": {
            "persistence": {"type": "object", "additionalProperties": False, "properties": {
                "defaultClassReplicaCount": {"type": "integer", "minimum": 1, "maximum": 20},
                "defaultClass": {"type": "boolean"}}},
            "networkPolicies": {"type": "object", "additionalProperties": False, "properties": {
                "restrictInternalTraffic": {"type": "boolean"}}}}},
    }
    for name, schema in schemas.items():  # hand-written subsets of the charts' values (4.6 / 1.12.1)
        jsonschema.validate(storage.option(name).helm_values(), schema)


# -- bad input and host gates ---------------------------------------------------------------------------

def test_unknown_storage_option_lists_the_options() -> None:
    with pytest.raises(BadInput) as info:
        storage.option("nfs")
    assert "openebs" in str(info.value) and "longhorn" in str(info.value)


@pytest.mark.parametrize("name", ["rook-ceph", "storageos", "portworx"])
def test_options_for_real_clusters_explain_why_and_point_to_connect(name: str) -> None:
    with pytest.raises(Unavailable) as info:
        cluster.up_script("kindnet", storage=name)
    assert "labkit.connect" in (info.value.fix or "")


def test_longhorn_is_refused_on_a_host_without_iscsi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "iscsi_support", lambda: (False, "kernel 6.18 has no iscsi_tcp"))
    with pytest.raises(Unavailable) as info:
        storage.option("longhorn").check_host()
    assert "iscsi_tcp" in str(info.value) and "openebs" in (info.value.fix or "")
    monkeypatch.setattr(storage, "iscsi_support", lambda: (True, "iscsi_tcp loaded"))
    monkeypatch.setattr(storage, "docker_disk_free", lambda: (0.6, "/var/lib/docker"))
    storage.option("longhorn").check_host()
    monkeypatch.setattr(storage, "docker_disk_free", lambda: (0.2, "/var/lib/docker"))
    with pytest.raises(Unavailable) as info:
        storage.option("longhorn").check_host()
    assert "20% free" in str(info.value) and "25%" in str(info.value) and "prune" in (info.value.fix or "")
    monkeypatch.setattr(storage, "docker_disk_free", lambda: None)  # Docker Desktop: cannot tell from here
    storage.option("longhorn").check_host()


@pytest.mark.parametrize("workers", [0, 1])
def test_longhorn_with_fewer_than_two_workers_is_refused_before_anything_is_made(workers: int) -> None:
    with pytest.raises(BadInput) as info:
        cluster.up_script("kindnet", storage="longhorn", workers=workers)
    assert "at least 2" in str(info.value) and "--workers 2" in (info.value.fix or "")
    with pytest.raises(BadInput):
        storage.option("longhorn").install(KubeTarget.for_kind("labkit"),
                                           cluster.cluster_config("kindnet", workers=workers))


def test_storage_needs_a_pod_network() -> None:
    with pytest.raises(BadInput):
        cluster.up_script("none", storage="openebs")


def test_an_iscsid_that_dies_in_a_node_stops_longhorn_before_helm_with_the_cause(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from labkit.steps import StepFailed

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    script = cluster.up_script("kindnet", storage="longhorn", cfg=cluster.cluster_config("kindnet",
                                                                                         storage="longhorn"))
    world = World(script, answers={("systemctl start iscsid.service; sleep 3; systemctl is-active iscsid.service",):
                                   (3, "failed\n")})
    world.answers[("journalctl", "-u", "iscsid")] = (0, "iscsid: sendmsg: bug? ctrl_fd 5")
    with pytest.raises(StepFailed) as info:
        cluster.up("kindnet", storage="longhorn", runner=world, preflight=False)
    assert "iscsid starts and stays up" in str(info.value) and "ctrl_fd" in info.value.diagnostics
    assert "openebs" in (info.value.fix or "") and "netlink" in (info.value.fix or "")
    assert not any("upgrade" in c for c in world.commands())  # Helm never ran


def test_longhorn_uninstall_follows_upstream_and_can_be_run_again(home: None) -> None:
    plan = storage.option("longhorn").uninstall(KubeTarget.for_kind("labkit"))
    titles = [s.title for s in plan.steps]
    assert titles[0] == "Wait until no Longhorn volume is left"
    flag = plan.steps[1]
    assert flag.cmd.argv[-3:] == ("--type=merge", "-p", '{"value":"true"}')
    assert flag.check is not None and flag.check.argv[:3] == ("sh", "-c", 'test "$("$@")" != false')
    assert flag.check.argv[-1] == "--ignore-not-found"  # gone already: the check holds, the patch is skipped
    helm = plan.steps[2]
    assert helm.cmd.argv[-2:] == ("--timeout", "15m") or "15m" in helm.cmd.argv
    assert helm.timeout > 900  # the chart's pre-delete job may run 900 s


def test_openebs_uninstall_waits_for_its_volumes_first(home: None) -> None:
    plan = storage.option("openebs").uninstall(KubeTarget.for_kind("labkit"))
    assert "openebs-hostpath" in " ".join(plan.steps[0].cmd.argv) and plan.steps[0].expect_match
    assert plan.steps[1].cmd.argv[:2] == ("helm", "uninstall")


def test_connected_verify_refuses_an_unknown_storage_class() -> None:
    class Api:
        def storage_classes(self) -> list[str]:
            return ["standard", "rook-ceph-block"]

    conn = Connected(KubeTarget("c", "/k"), Api(), "calico")
    with pytest.raises(BadInput) as info:
        conn.verify_storage_plan("fast-ssd")
    assert "rook-ceph-block" in str(info.value)
    steps = conn.verify_storage_plan("rook-ceph-block").steps
    assert any(s.cmd.stdin and "storageClassName: rook-ceph-block" in s.cmd.stdin for s in steps)


