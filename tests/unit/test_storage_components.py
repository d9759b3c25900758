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
from labkit.targets.kube import KubeTarget
from labkit.versions import pins
from tests.unit.test_network import Fake

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


def test_longhorn_builds_an_iscsi_node_image_and_the_cluster_uses_it(home: None) -> None:
    script = cluster.up_script("calico", storage="longhorn")
    build = script.steps[0]
    assert build.cmd.argv[:4] == ("docker", "build", "--tag", "labkit/kind-node-iscsi:v1.36.1-1")
    assert "open-iscsi" in (build.cmd.stdin or "") and "systemctl enable iscsid" in (build.cmd.stdin or "")
    assert any(a.startswith("NODE_IMAGE=kindest/node:v1.36.1@sha256:") for a in build.cmd.argv)
    create = script.steps[1]
    nodes = yaml.safe_load(create.cmd.stdin or "")["nodes"]
    assert {n["image"] for n in nodes} == {"labkit/kind-node-iscsi:v1.36.1-1"}
    assert "podSubnet: 192.168.0.0/16" in (create.cmd.stdin or "")  # the CNI's needs still apply


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
        else:
            assert values["persistence"]["defaultClassReplicaCount"] == 2


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
    assert "REPLICAS" not in [s.capture for s in plan.steps]


def test_longhorn_verify_reports_the_replica_count() -> None:
    plan = storage.option("longhorn").verify(KubeTarget.for_kind("labkit"), image=IMAGE)
    step = [s for s in plan.steps if s.capture == "REPLICAS"][0]
    assert "volumes.longhorn.io" in step.cmd.argv and "${PV}" in step.cmd.argv


SUM = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def test_the_verify_runs_in_order_and_substitutes_what_it_captured() -> None:
    fake = Fake({("logs", "-n", "labkit-verify-storage", "writer"): (0, SUM + "\n"),
                 ("jsonpath={.spec.volumeName}",): (0, "pvc-123")})
    plan = storage.option("longhorn").verify(KubeTarget.for_kind("labkit"), image=IMAGE)
    plan.run(fake)
    assert plan.values == {"SUM": SUM, "PV": "pvc-123", "REPLICAS": ""}
    assert fake.argvs()[-3][-5:] == ["sh", "-c", 'echo "$1  /data/$1" | sha256sum -c', "sh", SUM]  # an argument,
    assert "pvc-123" in fake.argvs()[-2]                                        # never spliced into the script


@pytest.mark.parametrize("logs", ["9f86d0", "$(rm -rf /)", SUM + "; reboot", ""])
def test_a_writer_log_that_is_not_a_sha256_stops_the_verify_before_it_is_used(logs: str) -> None:
    from labkit.steps import StepFailed

    fake = Fake({("logs", "-n", "labkit-verify-storage", "writer"): (0, logs + "\n"),
                 ("jsonpath={.spec.volumeName}",): (0, "pvc-123")})
    plan = storage.option("local-path").verify(KubeTarget.for_kind("labkit"), image=IMAGE)
    with pytest.raises(StepFailed, match="does not match"):
        plan.run(fake)
    assert not any("sha256sum -c" in " ".join(a) for a in fake.argvs())


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
    schemas = {
        "openebs": {"type": "object", "additionalProperties": False, "properties": {"engines": {
            "type": "object", "additionalProperties": False, "properties": {
                "replicated": {"type": "object", "properties": {"mayastor": {"type": "object", "properties": {
                    "enabled": {"type": "boolean"}}, "additionalProperties": False}}, "additionalProperties": False},
                "local": {"type": "object", "additionalProperties": False, "properties": {
                    k: {"type": "object", "properties": {"enabled": {"type": "boolean"}},
                        "additionalProperties": False} for k in ("lvm", "zfs")}}}}}},
        "longhorn": {"type": "object", "additionalProperties": False, "properties": {"persistence": {
            "type": "object", "additionalProperties": False,
            "properties": {"defaultClassReplicaCount": {"type": "integer", "minimum": 1, "maximum": 20}}}}},
    }
    for name, schema in schemas.items():  # hand-written subsets of the charts' values (4.x / 1.12)
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
    storage.option("longhorn").check_host()


def test_longhorn_on_a_cluster_without_its_node_image_is_refused() -> None:
    with pytest.raises(BadInput) as info:
        storage.option("longhorn").install(KubeTarget.for_kind("labkit"), cluster.cluster_config("kindnet"))
    assert "labkit/kind-node-iscsi" in str(info.value)


def test_storage_needs_a_pod_network() -> None:
    with pytest.raises(BadInput):
        cluster.up_script("none", storage="openebs")


def test_a_failed_node_image_build_stops_before_any_cluster_is_made(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    from labkit.steps import StepFailed

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    fake = Fake({("kind", "get", "clusters"): (0, ""), ("docker", "image", "inspect"): 1,
                 ("docker", "build"): (1, "E: Unable to locate package open-iscsi")})
    with pytest.raises(StepFailed) as info:
        cluster.up("kindnet", storage="longhorn", runner=fake, preflight=False)
    assert "open-iscsi" in str(info.value) and "nothing else was created" in (info.value.fix or "")
    assert not any(a[:3] == ["kind", "create", "cluster"] for a in fake.argvs())


def test_connected_verify_refuses_an_unknown_storage_class() -> None:
    class Api:
        def storage_classes(self) -> list[str]:
            return ["standard", "rook-ceph-block"]

    conn = Connected(KubeTarget("c", "/k"), Api(), "calico")
    with pytest.raises(BadInput) as info:
        conn.verify_storage_plan("fast-ssd")
    assert "rook-ceph-block" in str(info.value)
    assert conn.verify_storage_plan("rook-ceph-block").steps[1].cmd.stdin


