"""fio on Kubernetes through the harness, without a cluster: a fake cluster, strict schemas.

The fake (tests/fakes.py) is one kind cluster in memory, seen the two ways the cells see it: kubectl
argv (apply, delete, and ``kubectl logs`` of the fio Jobs, whose output is real fio JSON recorded on
this project's CI VM) and the API (the StorageClasses kind, OpenEBS and Longhorn install, claims, Jobs,
their pods and events, served as the API server returns them). Its controllers here bind a claim of
a ``WaitForFirstConsumer`` class only once a pod that uses it exists, like the PV controller, and run
each Job to Complete or Failed. It records every argv, stdin and API request, so the tests pin the
exact command contract.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import kubernetes_validate
import pandas as pd
import pytest
import yaml

from labkit import cli, k8s, plots
from labkit.components.storage import classes as storage_classes_mod
from labkit.components.storage import kube_objects as storage_objects
from labkit.bench.request import BenchRequest
from labkit.components.storage import engine_cells as engine_storage
from labkit.bench.plan import catalog, plan
from labkit._run import Result
from labkit.bench import harness as runner, kube, storage
from labkit.components.network import kube_cells as kind_net
from labkit.components.storage import compare as kind_sto, kube_cells as kind_storage
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
    matches,
    node_list,
)

DATA = Path(__file__).resolve().parents[1] / "data"
K8S_VERSIONS = ("1.34.0", "1.35.0", "1.36.0", "1.37.0")
KC = "/home/u/.local/share/labkit/kube/labkit-bench-storage.yaml"
TESTS = ("randread-4k-qd32", "randread-4k-qd1", "fsync-write-4k")
RECORDED = {"randread-4k-qd32": "fio-randread-4k-qd32.json", "randread-4k-qd1": "fio-randread-4k-qd1.json",
            "fsync-write-4k": "fio-fsync-write.json"}
NODE = "labkit-bench-storage-worker"


def storage_class(name: str, provisioner: str, mode: str, *, default: bool = False,
                  parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """One item of ``kubectl get storageclass -o json`` as kind v0.32 / OpenEBS 4.6 / Longhorn 1.12 make them."""
    notes = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    item: dict[str, Any] = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                            "metadata": {"name": name, "annotations": notes, "resourceVersion": "273",
                                         "creationTimestamp": "2026-11-26T18:00:58Z",
                                         "uid": "9b2d1c4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"},
                            "provisioner": provisioner, "reclaimPolicy": "Delete", "volumeBindingMode": mode}
    if parameters:
        item["parameters"] = parameters
        item["allowVolumeExpansion"] = True
    return item


CLASSES = {
    "standard": storage_class("standard", "rancher.io/local-path", "WaitForFirstConsumer", default=True),
    "openebs-hostpath": storage_class("openebs-hostpath", "openebs.io/local", "WaitForFirstConsumer"),
    "longhorn": storage_class("longhorn", "driver.longhorn.io", "Immediate",
                              parameters={"numberOfReplicas": "2", "staleReplicaTimeout": "30", "fsType": "ext4",
                                          "dataLocality": "disabled"}),
}

FIO_EINVAL = ("fio: pid=27, err=22/file:filesetup.c:805, func=open(/data/lk-fio.dat), error=Invalid argument\n"
              '{\n  "fio version" : "fio-3.33",\n  "jobs" : [ { "jobname" : "fsync-write-4k", "error" : 22 } ]\n}\n')


@pytest.fixture(autouse=True)
def _no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs need no Docker: the harness is told there is none, so a unit test neither depends on the
    host's daemon nor reaps what other sessions on it left."""
    from labkit import docker

    monkeypatch.setattr(docker, "available", lambda *a, **k: False)


WAITING_FOR_PROVISIONER = ("Waiting for a volume to be created either by the external provisioner '{provisioner}' or "
                           "manually by the system administrator. If volume creation is delayed, please verify that "
                           "the provisioner is running and correctly registered.")


class Controllers:
    """What a kind cluster with StorageClasses does with what the cells apply.

    The PV controller binds a claim of an ``Immediate`` class at once and one of a ``WaitForFirstConsumer``
    class once a pod that mounts it exists, unless its class is in ``never_bind`` (its provisioner is
    not running: the claim stays Pending with the controller's events). The Job controller makes one pod
    per Job, which ends Succeeded, or Failed with fio's error for a fio job in ``fail_tests`` (the Job
    then Failed: BackoffLimitExceeded). ``direct``: what the preparing Job reports."""

    def __init__(self, *, never_bind: tuple[str, ...] = (), fail_tests: tuple[str, ...] = (),
                 direct: bool = True, silent: bool = False) -> None:
        self.never_bind, self.fail_tests, self.direct, self.silent = never_bind, fail_tests, direct, silent
        self.failed: set[str] = set()

    def settle(self, fake: FakeCluster, obj: dict[str, Any]) -> None:
        if obj["kind"] == "PersistentVolumeClaim":
            obj["status"] = {"phase": "Pending"}
            sc = CLASSES[obj["spec"]["storageClassName"]]
            if sc["volumeBindingMode"] == "WaitForFirstConsumer" and not self.silent:
                fake.event(obj, "Normal", "WaitForFirstConsumer",
                           "waiting for first consumer to be created before binding",
                           source="persistentvolume-controller")
            if sc["volumeBindingMode"] == "Immediate":
                self.provision(fake, obj)
        elif obj["kind"] == "Job":
            self.run(fake, obj)

    def provision(self, fake: FakeCluster, pvc: dict[str, Any]) -> None:
        sc = CLASSES[pvc["spec"]["storageClassName"]]
        if pvc["status"]["phase"] == "Bound":
            return
        if sc["metadata"]["name"] in self.never_bind:
            if not self.silent:
                fake.event(pvc, "Normal", "ExternalProvisioning",
                           WAITING_FOR_PROVISIONER.format(provisioner=sc["provisioner"]),
                           source="persistentvolume-controller", count=14)
            return
        pvc["spec"]["volumeName"] = f"pvc-{pvc['metadata']['uid']}"
        pvc["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                         "capacity": pvc["spec"]["resources"]["requests"]}
        fake.event(pvc, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume "
                   f"{pvc['spec']['volumeName']}", source=sc["provisioner"])

    def run(self, fake: FakeCluster, job: dict[str, Any]) -> None:
        meta, template = job["metadata"], job["spec"]["template"]
        claim = template["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
        pvc = fake.objects["PersistentVolumeClaim"].get((meta["namespace"], claim))
        labels = {**template["metadata"]["labels"], "batch.kubernetes.io/job-name": meta["name"],
                  "job-name": meta["name"], "batch.kubernetes.io/controller-uid": meta["uid"]}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
                   "name": f"{meta['name']}-7xk2q", "namespace": meta["namespace"], "labels": labels,
                   "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                        "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
               "spec": {**template["spec"], "nodeName": NODE}}
        if pvc is not None:
            self.provision(fake, pvc)  # a consumer exists: WaitForFirstConsumer binds now
        box = template["spec"]["containers"][0]["name"]
        if pvc is None or pvc["status"]["phase"] != "Bound":
            pod["spec"].pop("nodeName")
            pod["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}
            job["status"] = {"active": 1, "ready": 0, "terminating": 0}
        elif fio_test_of(job) in self.fail_tests:
            self.failed.add(meta["name"])
            pod["status"] = {"phase": "Failed", "containerStatuses": [
                {"name": box, "ready": False, "restartCount": 0, "image": tools_image(), "started": False,
                 "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}
            job["status"] = {"failed": 1, "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit"}]}
            fake.event(job, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                       source="job-controller")
        else:
            pod["status"] = {"phase": "Succeeded", "containerStatuses": [
                {"name": box, "ready": False, "restartCount": 0, "image": tools_image(), "started": False,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
            job["status"] = {"succeeded": 1, "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached"}]}
        fake.put(pod)

    def output(self, job: dict[str, Any]) -> str:
        """What the Job's pod wrote (``kubectl logs`` interleaves fio's stderr notes with its JSON)."""
        test = fio_test_of(job)
        if test == "prepare":
            return f"labkit: direct={int(self.direct)}\n" + (DATA / "fio-fsync-write.json").read_text()
        if job["metadata"]["name"] in self.failed:
            return FIO_EINVAL
        return ("fio: note: direct I/O on a 4096-byte block device\n" + (DATA / RECORDED[test]).read_text()
                + "fio: file hash not empty on exit\n")


def fio_test_of(job: dict[str, Any]) -> str:
    return str(job["metadata"]["labels"].get("io.labkit.test", ""))


def storage_cluster(monkeypatch: pytest.MonkeyPatch, *, classes: tuple[str, ...] = ("standard", "openebs-hostpath"),
                    kubeconfig: str = KC, context: str | None = None, workers: int = 2,
                    **controllers: Any) -> FakeCluster:
    """A fake kind cluster with ``classes``, served to the bench; ``controllers`` shape :class:`Controllers`."""
    ctl = Controllers(**controllers)
    fake = FakeCluster(node_list(workers, name="labkit-bench-storage"), kubeconfig=kubeconfig, context=context,
                       settle=ctl.settle, pod_logs=lambda pod, box, previous: ctl.output(job_of(fake, pod)))
    for name in classes:
        fake.put(CLASSES[name])

    def logs(call: Call) -> Result:  # kubectl logs job/NAME --namespace labkit-bench
        return Result(tuple(call.argv), 0, ctl.output(fake.of("Job")[call.args[1].removeprefix("job/")]), "")

    fake.answer(("logs",), logs)
    fake.controllers = ctl  # type: ignore[attr-defined]
    return fake.serve(monkeypatch)


def job_of(fake: FakeCluster, pod: dict[str, Any]) -> dict[str, Any]:
    return fake.of("Job")[pod["metadata"]["labels"]["batch.kubernetes.io/job-name"]]


def applied(fake: FakeCluster) -> list[list[dict[str, Any]]]:
    """The objects of every ``kubectl apply``, in order."""
    return [list(yaml.safe_load_all(c.stdin or "")) for c in fake.kubectl("apply")]


def job_calls(fake: FakeCluster, name: str) -> list[list[str]]:
    """The kubectl calls about one Job."""
    return [c.args for c in fake.calls if any(a in (name, f"job/{name}") for a in c.args)]


def kind_target() -> KubeTarget:
    return KubeTarget("labkit-bench-storage", KC, None, "labkit-bench-storage")


@pytest.fixture(autouse=True)
def _docker_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The kind target's space check reads Docker's data root: here a temporary directory stands in."""
    root = tmp_path / "docker-root"
    (root / "volumes").mkdir(parents=True)
    monkeypatch.setattr(storage_classes_mod, "docker_root", lambda: root)
    return root


def bench(fake: FakeCluster, store: Path, *, classes: tuple[str, ...] = ("openebs-hostpath",),
          cells: list[str] | None = None, kube: KubeTarget | None = None, tests: tuple[str, ...] = TESTS,
          **kw: Any) -> runner.BenchRun:
    kube = kube or kind_target()
    on_kind = kube.kind_cluster is not None
    if cells is None:
        cells = ["local-path", *classes] if on_kind else list(classes)
    return runner.run("storage", target="kind" if on_kind else "cluster", kube=kube, storage_classes=list(classes),
                      cells=cells, tests=list(tests), reps=2, duration_s=1, size="16M", store=str(store), runner=fake,
                      **kw)


def _job(test: str) -> storage.FioJob:
    return storage.fio_jobs([test], size="16M", runtime_s=1, ramp_s=0.5, numjobs=1)[0]


# --- cells ---------------------------------------------------------------------------------------------


def test_kind_offers_s0_s1_and_a_cell_per_option_storage_class() -> None:
    cells = catalog("storage", "kind", storage_classes=["openebs-hostpath", "longhorn"])
    assert [(n, c.level, c.baseline, c.component) for n, c in cells.items()] == [
        ("hostfs-docker", "S0", None, "hostfs-docker"), ("local-path", "S1", "hostfs-docker", "local-path"),
        ("openebs-hostpath", None, "hostfs-docker", "openebs"), ("longhorn", None, "hostfs-docker", "longhorn")]
    assert cells["local-path"].config == {"storage_class": "standard", "option": "local-path", "version": None,
                                          "replicas": 1}
    assert cells["longhorn"].config["replicas"] == 2  # environments/storage/longhorn/values.yaml
    assert cells["openebs-hostpath"].config["version"] == "4.6.1"
    assert list(catalog("storage", "kind")) == ["hostfs-docker", "local-path"]


def test_on_a_cluster_the_cells_are_the_classes_named_and_the_first_is_the_baseline() -> None:
    cells = catalog("storage", "cluster", storage_classes=["rook-ceph-block", "gp3"])
    assert [(n, c.baseline, c.config["storage_class"]) for n, c in cells.items()] == [
        ("rook-ceph-block", None, "rook-ceph-block"), ("gp3", "rook-ceph-block", "gp3")]


@pytest.mark.parametrize(("target", "classes", "allowed"), [
    ("kind", ["nfs"], "local-path, openebs-hostpath, longhorn"),
    ("cluster", [], "one or more of the cluster's StorageClasses"),
    ("cluster", ["gp3", "gp3"], "each StorageClass once"),
    ("cluster", ["Fast_SSD"], "a Kubernetes object name"),
])
def test_bad_storage_cells_are_refused_naming_what_is_allowed(target: str, classes: list[str], allowed: str) -> None:
    with pytest.raises(BadInput) as info:
        plan("storage", target=target, storage_classes=classes)
    assert allowed in info.value.allowed


def test_storage_classes_belong_to_the_storage_suite_on_a_cluster_target() -> None:
    with pytest.raises(BadInput, match="only with suite 'storage'"):
        plan("net", target="kind", storage_classes=["longhorn"])
    with pytest.raises(BadInput, match="storage_classes only with target kind or cluster"):
        plan("storage", storage_classes=["longhorn"])


# --- manifests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_is_valid_under_the_strict_schema(version: str) -> None:
    objs = storage_objects.all_manifests(session="0a1b2c3d4e")
    assert [o["kind"] for o in objs].count("Job") == 4 + len(storage.JOBS)
    for obj in objs:
        try:
            used = kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"no schema for {obj['kind']} in Kubernetes {version}: {exc}")
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} invalid for {version}: {exc.message} at {exc.path}")
        assert used == version.rsplit(".", 1)[0]


def test_the_cleanup_selector_finds_the_claim_its_jobs_and_their_pods() -> None:
    objs = storage_objects.cell_manifests("openebs-hostpath", session="0123456789", image=tools_image(),
                                       storage_class="openebs-hostpath", size="64M", node="n1")
    selector = storage_objects.selector("0123456789", "openebs-hostpath")
    pvc, job = objs
    for labels in (pvc["metadata"]["labels"], job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert matches(labels, selector) and labels["io.labkit.managed"] == "true"
    assert job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == \
        pvc["metadata"]["name"] == "lk-0123456789-openebs-hostpath"


def test_a_job_is_one_pinned_unretried_bounded_fio_run_on_one_node() -> None:
    argv = storage.fio_argv(_job("randread-4k-qd32"), storage_objects.MOUNT, direct=True)
    job = storage_objects.job_manifest("local-path", session="abc", seq=3, image=tools_image(), command=argv,
                                    node="labkit-bench-storage-worker", tolerate=False, deadline_s=32.5,
                                    test="randread-4k-qd32")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (0, 33, 600)
    assert pod["restartPolicy"] == "Never" and "tolerations" not in pod
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["labkit-bench-storage-worker"]}]}]}
    assert "nodeName" not in pod and "nodeSelector" not in pod  # the scheduler places it: the claim can bind
    (box,) = pod["containers"]
    assert box["command"] == argv and "--output-format=json" in argv and "--direct=1" in argv
    assert box["image"] == tools_image() and box["imagePullPolicy"] == "IfNotPresent"
    assert box["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert job["metadata"]["name"] == "lk-abc-local-path-3"


def test_long_or_dotted_class_names_still_give_valid_object_names() -> None:
    name = "rook-ceph.block.storage.example.com"
    job = storage_objects.job_manifest(name, session="0123456789", seq=123, image=tools_image(), command=["true"],
                                    node="n")
    assert len(job["metadata"]["name"]) <= 63 and "." not in job["metadata"]["name"]
    assert storage_objects.slug(name) != storage_objects.slug("rook-ceph.block.storage.example.org")
    kubernetes_validate.validate(job, "1.36.0", strict=True)


@pytest.mark.parametrize(("size", "request_"), [("64M", "160Mi"), ("1G", "1600Mi"), ("16M", "88Mi")])
def test_the_claim_holds_the_fio_file_with_room_to_spare(size: str, request_: str) -> None:
    pvc = storage_objects.pvc_manifest("x", session="s", storage_class="standard",
                                    size_bytes=engine_storage.size_bytes(size))
    assert pvc["spec"]["resources"]["requests"]["storage"] == request_
    assert int(request_[:-2]) * 1024**2 >= engine_storage.size_bytes(size) * 1.5


def test_fio_json_is_cut_out_of_logs_that_interleave_stderr() -> None:
    recorded = (DATA / "fio-randread-4k-qd32.json").read_text()
    logs = ("fio: note: both iodepth >= 1 and synchronous I/O engine are selected, queue depth will be capped at 1\n"
            + recorded + "fio: file hash not empty on exit\n")
    job = _job("randread-4k-qd32")
    assert storage.parse_fio(kind_storage.fio_json(logs), job) == storage.parse_fio(recorded, job)
    with pytest.raises(storage.ParseError):
        storage.parse_fio(logs, job)  # what the parser alone would make of it
    assert kind_storage.fio_json("error: container not found") == "error: container not found"


def test_the_preparing_job_probes_o_direct_then_preconditions_with_the_builders_argv() -> None:
    sh, flag, script = storage_objects.prepare_command("64M")
    assert (sh, flag) == ("sh", "-c")
    import shlex

    probe, with_direct, without = (shlex.join(a) for a in (
        storage.direct_probe_argv("/data"), storage.precondition_argv("/data", size="64M", direct=True),
        storage.precondition_argv("/data", size="64M", direct=False)))
    assert script.startswith(f"if {probe} > /dev/null 2>&1; then ")
    assert script.index("echo 'labkit: direct=1'") < script.index(f"exec {with_direct}; fi")
    assert script.index("fi; ") < script.index("echo 'labkit: direct=0") < script.index(f"exec {without}")


def test_hex_session_ids_stay_strings_in_the_yaml_kubectl_reads() -> None:
    objs = storage_objects.cell_manifests("local-path", session="12e4567890", image=tools_image(),
                                       storage_class="standard", size="64M", node="n")
    text = kind_net.to_yaml(objs)
    assert [d["metadata"]["labels"]["io.labkit.session"] for d in yaml.safe_load_all(text)] == ["12e4567890"] * 2


# --- StorageClasses, free space ---------------------------------------------------------------------------


def test_storage_classes_are_read_from_the_api_s_json() -> None:
    parsed = storage_classes_mod.parse_storage_classes({"items": list(CLASSES.values())})
    assert parsed["standard"] == storage_classes_mod.StorageClassInfo("standard", "rancher.io/local-path",
                                                               "WaitForFirstConsumer", "Delete", True)
    assert parsed["longhorn"].binding_mode == "Immediate" and not parsed["longhorn"].default


def test_a_size_larger_than_free_space_is_bad_input_with_the_numbers_and_the_fix(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(storage_classes_mod, "free_bytes", lambda where: 3 * 1024**3)
    fake = storage_cluster(monkeypatch, classes=("standard", "longhorn"))
    with pytest.raises(BadInput) as info:
        runner.run("storage", target="kind", kube=kind_target(), storage_classes=["longhorn"], size="1G",
                   tests=["randread-4k-qd32"], reps=2, store=str(tmp_path / "store"), runner=fake)
    err = info.value
    assert err.value == "1G" and "4 copies: hostfs-docker, local-path, longhorn ×2" in err.allowed
    assert "need 5.0 GiB" in err.allowed and "3.0 GiB are free" in err.allowed and "docker-root/volumes" in err.allowed
    assert err.fix and err.fix.startswith("use a smaller --size (e.g. --size ") and "M)" in err.fix
    assert fake.timeline == [] and not (tmp_path / "store").exists()  # before anything was made or read
    monkeypatch.setattr(storage_classes_mod, "free_bytes", lambda where: 8 * 1024**3)
    plan("storage", target="kind", storage_classes=["longhorn"], size="1G")  # fits


def test_free_space_out_of_sight_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_classes_mod, "free_bytes", lambda where: None)
    plan("storage", target="kind", size="900G")


# --- a run through the harness, against the fake ---------------------------------------------------------


def test_a_kind_run_sends_exactly_these_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch)
    res = bench(fake, tmp_path)
    session = res.meta()["session_id"]
    assert all(c.argv[:3] == ["kubectl", "--kubeconfig", KC] for c in fake.calls)
    assert fake.timeline[:3] == ["GET /apis/storage.k8s.io/v1/storageclasses",  # before anything is created
                                 "GET /api/v1/nodes", "kubectl apply --filename -"]
    assert applied(fake)[0] == [kind_net.namespace_manifest()]
    # the claim comes with its first consumer; only then is Bound awaited (WaitForFirstConsumer)
    for cell, sc in (("local-path", "standard"), ("openebs-hostpath", "openebs-hostpath")):
        claim = f"lk-{session}-{cell}"
        expected = storage_objects.cell_manifests(cell, session=session, image=tools_image(), storage_class=sc,
                                               size="16M", node=NODE)
        apply_lines = [i for i, line in enumerate(fake.timeline) if line == "kubectl apply --filename -"]
        apply_at = next(i for i, objs in zip(apply_lines, applied(fake), strict=True) if objs == expected)
        claim_path = f"GET /api/v1/namespaces/labkit-bench/persistentvolumeclaims/{claim}"
        assert fake.timeline[apply_at + 1] == claim_path  # Bound, read once: the consumer made it bind
        assert fake.timeline[apply_at + 2] == f"GET /apis/batch/v1/namespaces/labkit-bench/jobs/{claim}-prep"
        assert job_calls(fake, f"{claim}-prep") == [
            ["logs", f"job/{claim}-prep", "--namespace", "labkit-bench"],
            ["delete", "job", f"{claim}-prep", "--namespace", "labkit-bench", "--ignore-not-found", "--wait=false",
             "--cascade=background"]]
    # one Job per (warm-up or repetition) × fio job, each applied, awaited (the API), read and deleted
    first = f"lk-{session}-local-path-1"
    assert job_calls(fake, first) == [
        ["logs", f"job/{first}", "--namespace", "labkit-bench"],
        ["delete", "job", first, "--namespace", "labkit-bench", "--ignore-not-found", "--wait=false",
         "--cascade=background"]]
    assert len(fake.gets(f"/jobs/{first}")) == 1 and fake.clock.sleeps == []  # Complete at the first look
    measured = [objs[0] for objs in applied(fake) if objs[0]["kind"] == "Job" and len(objs) == 1]
    assert len(measured) == 2 * len(TESTS) * 3  # cells × tests × (warm-up + 2 repetitions)
    assert {j["spec"]["template"]["spec"]["containers"][0]["command"][1] for j in measured} == {
        f"--name={t}" for t in TESTS}
    # the end: every cell's Jobs, pods and claim deleted by label, after the last measurement
    deletes = [c.args for c in fake.calls if c.args[:2] == ["delete", "jobs,pods,persistentvolumeclaims"]]
    assert sorted(deletes) == sorted(
        ["delete", "jobs,pods,persistentvolumeclaims", "--namespace", "labkit-bench", "--selector",
         f"io.labkit.session={session},io.labkit.role=bench-{c}", "--ignore-not-found", "--wait=false"]
        for c in ("local-path", "openebs-hostpath"))
    assert set(fake.verbs()) == {"apply", "logs", "delete"}  # reads and waits went to the API, not kubectl
    assert fake.of("Job") == {} and fake.of("PersistentVolumeClaim") == {} and fake.of("Pod") == {}


def test_rows_are_the_recorded_fio_numbers_with_the_option_and_the_ratio_to_s1(monkeypatch: pytest.MonkeyPatch,
                                                                               tmp_path: Path) -> None:
    res = bench(storage_cluster(monkeypatch), tmp_path)
    rows = res.rows()
    assert set(rows["status"]) == {"ok"} and set(rows["target"]) == {"kind"}
    iops = rows[(rows.metric == "iops")].groupby("test")["value"].agg(set).to_dict()
    for test, values in iops.items():
        text = (DATA / RECORDED[test]).read_text()
        assert values == {storage.parse_fio(text, _job(test))["iops"]}
    lat = rows[(rows.test == "randread-4k-qd1") & (rows.metric == "lat_p999_us")]
    assert len(lat) == 2 * 2 and (lat["value"] > 0).all()
    assert set(rows["tool_version"]) == {"3.33"} and set(rows["direct"]) == {True}
    openebs = rows[rows.cell == "openebs-hostpath"]
    assert set(openebs["component"]) == {"openebs"} and set(openebs["component_version"]) == {"4.6.1"}
    assert json.loads(openebs["component_config"].iloc[0])["storage_class"] == "openebs-hostpath"
    meta = res.meta()
    assert meta["storage_classes"]["openebs-hostpath"]["binding_mode"] == "WaitForFirstConsumer"
    assert meta["params"]["storage_classes"] == {"local-path": "standard", "openebs-hostpath": "openebs-hostpath"}
    lad = kind_sto.storage_ladder(rows).set_index(["cell", "test", "metric"])
    assert lad.loc[("openebs-hostpath", "randread-4k-qd32", "iops"), "ratio_s1"] == pytest.approx(1.0)
    assert math.isnan(lad.loc[("openebs-hostpath", "randread-4k-qd32", "iops"), "ratio_s0"])  # S0 not run


def test_a_volume_without_o_direct_is_measured_buffered_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch, direct=False)
    rows = bench(fake, tmp_path, classes=(), tests=("randread-4k-qd32",)).rows()
    assert set(rows["direct"]) == {False}
    commands = [objs[0]["spec"]["template"]["spec"]["containers"][0]["command"] for objs in applied(fake)[2:]]
    assert commands and all("--direct=0" in c for c in commands)


def test_a_claim_that_never_binds_is_unavailable_with_its_events_and_why(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch, never_bind=("openebs-hostpath",))
    res = bench(fake, tmp_path)
    rows = res.rows()
    error = rows.loc[rows.cell == "openebs-hostpath", "error"].iloc[0]
    assert set(rows.loc[rows.cell == "openebs-hostpath", "status"]) == {"unavailable"}
    claim = f"lk-{res.meta()['session_id']}-openebs-hostpath"
    assert error.startswith(f"openebs-hostpath: PVC {claim} (StorageClass openebs-hostpath, WaitForFirstConsumer) "
                            "not Bound within 180 s: ExternalProvisioning: Waiting for a volume to be created either "
                            "by the external provisioner 'openebs.io/local'")
    assert "--- diagnostics ---" in error and f"persistentvolumeclaim/{claim}: Pending, StorageClass openebs-hostpath" \
        in error
    assert (f"Normal  WaitForFirstConsumer  persistentvolumeclaim/{claim}: waiting for first consumer to be "
            "created before binding") in error
    assert f"pod/{claim}-prep-7xk2q on (no node): Pending" in error  # its consumer, waiting with it
    assert "is openebs.io/local running" in error.lower()
    events = [r for r in fake.gets("/namespaces/labkit-bench/events") if "fieldSelector" in r.query]
    assert events[0].query == {"fieldSelector": f"involvedObject.kind=PersistentVolumeClaim,"
                                                f"involvedObject.name={claim}"}
    assert sum(fake.clock.sleeps) == 180 and max(fake.clock.sleeps) <= 2  # polled, for the whole timeout
    assert set(rows.loc[rows.cell == "local-path", "status"]) == {"ok"}
    assert fake.of("PersistentVolumeClaim") == {} and fake.of("Job") == {}  # the pending claim and its consumer


def test_the_unbound_error_names_its_cause_from_the_events(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch, never_bind=("openebs-hostpath",))

    def no_space(f: FakeCluster, obj: dict[str, Any]) -> None:
        f.controllers.settle(f, obj)  # type: ignore[attr-defined]
        if obj["kind"] == "Job" and "openebs" in obj["metadata"]["name"]:
            pvc = f.of("PersistentVolumeClaim")[obj["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]
                                                ["claimName"]]
            f.event(pvc, "Warning", "ProvisioningFailed", "failed to provision volume: no space left on device",
                    source="openebs.io/local")

    fake.settle = no_space
    error = bench(fake, tmp_path, tests=("randread-4k-qd32",)).rows().query("cell == 'openebs-hostpath'")["error"]
    assert "not Bound within 180 s: ProvisioningFailed: failed to provision volume: no space left on device" in \
        error.iloc[0]  # the newest warning, not the newest event
    fake = storage_cluster(monkeypatch, never_bind=("openebs-hostpath",), silent=True)
    error = bench(fake, tmp_path / "2", tests=("randread-4k-qd32",)).rows().query("cell == 'openebs-hostpath'")
    assert "not Bound within 180 s: no events at all (is the StorageClass's provisioner running?)" in \
        error["error"].iloc[0]


def test_a_failed_job_fails_its_repetitions_at_once_with_fio_s_output(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch, fail_tests=("fsync-write-4k",))
    rows = bench(fake, tmp_path, classes=()).rows()
    bad = rows[rows.test == "fsync-write-4k"]
    assert set(bad["status"]) == {"failed"}
    error = bad["error"].iloc[0]
    assert "failed (BackoffLimitExceeded: Job has reached the specified backoff limit)" in error
    assert "--- output (last lines) ---\nfio: pid=27, err=22/file:filesetup.c:805" in error  # fio's own words
    assert "Warning  BackoffLimitExceeded  job/" in error and ": Failed, Error" in error  # events, the pod's reason
    assert set(rows.loc[rows.test != "fsync-write-4k", "status"]) == {"ok"}
    failed = fake.controllers.failed  # type: ignore[attr-defined]
    assert failed and fake.clock.sleeps == []
    for name in failed:  # it failed at the first look: no waiting for the timeout
        assert len(fake.gets(f"/jobs/{name}")) == 1 and job_calls(fake, name)[0][:2] == ["delete", "job"]


def _cluster(fake: FakeCluster) -> kube.BenchCluster:
    return kube.BenchCluster(kind_target(), fake, fake.api, kube.Placement("w1", "w2"), [])


def test_a_job_that_never_finishes_is_given_up_after_the_whole_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = storage_cluster(monkeypatch)
    fake.put({**storage_objects.job_manifest("local-path", session="s", seq=1, image=tools_image(), command=["true"],
                                             node="w1"), "status": {"active": 1, "ready": 1}})
    job = "lk-s-local-path-1"
    with pytest.raises(kind_storage.JobFailed, match="did not complete within 25 s") as info:
        kube.wait_job(_cluster(fake), job, timeout=25)
    assert "(last seen: 1 active, 0 failed pod(s))" in info.value.message
    assert fake.clock.sleeps == [2.0] * 12 + [1.0]  # polls every 2 s; the last sleep ends at the deadline
    reads = fake.gets(f"/jobs/{job}")
    assert len(reads) == 14 and all(r.timeout is not None and r.timeout <= max(1.0, 25 - (r.at - fake.clock.start))
                                    for r in reads)  # no request outlives the wait


def test_a_wait_that_fails_for_another_reason_raises_the_api_s_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = storage_cluster(monkeypatch)

    def forbidden(req: Request) -> None:
        raise api_status(403, 'jobs.batch "j" is forbidden: User "system:serviceaccount:lab:viewer" cannot get '
                              'resource "jobs" in API group "batch" in the namespace "labkit-bench"')

    fake.hooks.append(forbidden)
    with pytest.raises(k8s.ApiError, match="forbidden") as info:
        kube.wait_job(_cluster(fake), "j", timeout=60)
    assert len(fake.requests) == 1 and info.value.status == 403


def test_a_claim_that_disappears_fails_the_cell_s_repetitions_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch)

    def gone(req: Request) -> None:  # once the cell has been prepared, its claim is deleted behind its back
        prepared = any("openebs-hostpath-prep" in c.args[1] for c in fake.kubectl("logs"))
        if prepared and "/persistentvolumeclaims/" in req.path and "openebs-hostpath" in req.path:
            fake.remove("PersistentVolumeClaim", "labkit-bench", req.path.rsplit("/", 1)[1])

    fake.hooks.append(gone)
    rows = bench(fake, tmp_path, tests=("randread-4k-qd32",)).rows()
    dead = rows[rows.cell == "openebs-hostpath"]
    assert set(dead["status"]) == {"failed"} and dead["error"].str.contains("PVC .* is gone").all()


def test_ctrl_c_mid_measurement_deletes_every_cell_s_objects(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch)
    logs = []
    answer = fake.script[("logs",)]

    def interrupt(call: Call) -> Result:
        logs.append(call)
        if len(logs) == 5:
            raise KeyboardInterrupt
        return answer(call)  # type: ignore[no-any-return]

    fake.answer(("logs",), interrupt)
    with pytest.raises(KeyboardInterrupt):
        bench(fake, tmp_path)
    assert [c.args[:2] for c in fake.calls[-2:]] == [["delete", "jobs,pods,persistentvolumeclaims"]] * 2
    assert fake.of("Job") == {} and fake.of("PersistentVolumeClaim") == {} and fake.of("Pod") == {}
    store = Store(tmp_path)
    assert store.meta(store.run_ids()[0])["status"] == "interrupted"


def test_a_failure_while_opening_cells_still_deletes_what_was_applied(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch)

    def broken(req: Request) -> None:
        if "/persistentvolumeclaims/" in req.path and "openebs" in req.path:
            raise api_status(500, "etcdserver: request timed out")

    fake.hooks.append(broken)
    with pytest.raises(k8s.ApiError, match="etcdserver: request timed out"):
        bench(fake, tmp_path)
    assert fake.verbs()[-2:] == ["delete"] * 2 and fake.of("Job") == {} and fake.of("PersistentVolumeClaim") == {}
    store = Store(tmp_path)
    assert store.meta(store.run_ids()[0])["status"] == "failed"


def test_a_refused_claim_makes_the_cell_unavailable_with_the_cluster_s_reason(monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch)

    def apply(call: Call) -> Result:
        if "openebs-hostpath" in (call.stdin or ""):
            return Result(tuple(call.argv), 1, "", 'Error from server (Forbidden): persistentvolumeclaims "x" is '
                          "forbidden: exceeded quota: storage, requested: requests.storage=88Mi, used: "
                          "requests.storage=10Gi")
        return fake.apply(call)

    fake.answer(("apply",), apply)
    rows = bench(fake, tmp_path, tests=("randread-4k-qd32",)).rows()
    error = rows.loc[rows.cell == "openebs-hostpath", "error"].iloc[0]
    assert "refused the claim or its Job" in error and "exceeded quota" in error


def test_a_kind_cluster_without_the_option_s_class_makes_its_cell_unavailable_with_the_fix(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch, classes=("standard",))
    rows = bench(fake, tmp_path, classes=("longhorn",), tests=("randread-4k-qd32",)).rows()
    error = rows.loc[rows.cell == "longhorn", "error"].iloc[0]
    assert "StorageClass longhorn does not exist in this cluster (it has: standard)" in error
    assert "labkit up --storage longhorn" in error
    assert set(rows.loc[rows.cell == "local-path", "status"]) == {"ok"}


def test_an_unknown_class_on_a_cluster_is_bad_input_before_anything_is_made(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch, classes=("standard", "longhorn"), kubeconfig="/tmp/kc", context="prod-admin")
    kube_ = KubeTarget("prod", "/tmp/kc", "prod-admin")
    with pytest.raises(BadInput) as info:
        bench(fake, tmp_path / "store", kube=kube_, classes=("longhorn", "rook-ceph-block"))
    assert info.value.value == "rook-ceph-block" and info.value.allowed == "standard, longhorn"
    assert "kubectl --kubeconfig /tmp/kc --context prod-admin get storageclass" in (info.value.fix or "")
    assert fake.timeline == ["GET /apis/storage.k8s.io/v1/storageclasses"] and not (tmp_path / "store").exists()


def test_a_cluster_run_measures_the_named_classes_with_the_context_on_every_command(monkeypatch: pytest.MonkeyPatch,
                                                                                   tmp_path: Path) -> None:
    fake = storage_cluster(monkeypatch, classes=("standard", "longhorn"), kubeconfig="/tmp/kc", context="prod-admin")
    kube_ = KubeTarget("prod", "/tmp/kc", "prod-admin")
    res = kind_sto.run_storage_on_cluster(kube_, ["longhorn", "standard"],
                                          BenchRequest("storage", tests=["randread-4k-qd32"], reps=2, duration_s=1,
                                                       size="16M"), store=str(tmp_path), runner=fake)
    assert all(c.argv[:5] == ["kubectl", "--kubeconfig", "/tmp/kc", "--context", "prod-admin"] for c in fake.calls)
    assert (fake.api.kubeconfig, fake.api.context) == ("/tmp/kc", "prod-admin")  # the API: the same cluster
    rows = res.rows()
    assert res.meta()["target"] == "cluster" and set(rows["status"]) == {"ok"}
    assert set(rows.loc[rows.cell == "standard", "baseline_cell"]) == {"longhorn"}
    assert set(rows.loc[rows.cell == "standard", "ratio_to_baseline"]) == {1.0}


def test_cluster_cells_refuse_impairment() -> None:
    cell = catalog("storage", "kind")["local-path"]
    with pytest.raises(Unavailable, match="not supported yet"):
        kind_storage.ClaimCell(cell, None, "s", tools_image(), "n").impair(object())  # type: ignore[arg-type]


def test_s0_off_this_machine_or_out_of_reach_is_unavailable_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    monkeypatch.setattr(kind_storage.shutil, "which", lambda tool: "/usr/bin/fio")
    monkeypatch.setattr(storage_classes_mod, "docker_root", lambda: tmp_path / "not-here")
    assert "not on this machine" in (kind_storage.host_problem() or "")
    assert "Docker Desktop" in (kind_storage.host_problem() or "")
    monkeypatch.setattr(kind_storage.shutil, "which", lambda tool: None)
    assert "apt-get install fio" in (kind_storage.host_problem() or "")
    with pytest.raises(Unavailable, match="hostfs-docker: fio is not installed"):
        kind_storage.open_host("hostfs-docker", None, {})  # type: ignore[arg-type]


# --- one cluster for every option ------------------------------------------------------------------------


def fake_ops(**kw: Any) -> tuple[FakeClusterOps, dict[str, Any]]:
    """Fake cluster lifecycles and option installs, and the keyword arguments that hand them over."""
    fake = FakeClusterOps(up_error="Longhorn verify: the PVC never became Bound", **kw)
    return fake, {"ops": fake.ops(), "install": fake.install}


@pytest.fixture()
def measured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(kind_storage.storage, "JOBS", storage.JOBS)
    from labkit.components.storage import options as storage_mod

    monkeypatch.setattr(storage_mod, "iscsi_support", lambda: (True, "iscsi_tcp loaded"))

    def run(request: BenchRequest, **kw: Any) -> runner.BenchRun:
        calls.append({"suite": request.suite, "target": request.target, "cni": request.cni, "kube": request.kube,
                      "storage_classes": list(request.storage_classes or []),
                      "cells": list(request.cells) if request.cells else None, **kw})
        if request.reps == 99:
            raise KeyboardInterrupt
        return runner.BenchRun("run-1", Store(tmp_path))

    monkeypatch.setattr(runner, "run", run)
    return calls


def test_one_cluster_gets_every_option_then_one_run_then_it_is_deleted(measured: list[dict[str, Any]],
                                                                       tmp_path: Path) -> None:
    fake, kw = fake_ops()
    out = kind_sto.compare_storage(["openebs", "longhorn"], BenchRequest("storage", tests=["randread-4k-qd32"],
                                                                       size="16M"),
                                   workers=3, store=str(tmp_path), **kw)
    longhorn_image = fake.log[2][4]
    assert fake.log == [("up", "kindnet", "labkit-bench-storage", 3, "longhorn"),
                        ("load", "labkit-bench-storage", tools_image()),
                        ("install", "openebs", "labkit-bench-storage", "labkit-bench-storage", longhorn_image),
                        ("down", "labkit-bench-storage")]
    assert longhorn_image.startswith("kindest/node:")  # Longhorn runs on stock kind nodes (open-iscsi inside)
    (call,) = measured
    assert (call["target"], call["cni"], call["storage_classes"], call["kube"].name) == (
        "kind", "kindnet", ["openebs-hostpath", "longhorn"], "labkit-bench-storage")
    assert isinstance(out, kind_sto.StorageRun) and out.run_id == "run-1" and out.failed == {}


def test_an_option_that_fails_to_install_is_recorded_and_the_rest_is_measured(measured: list[dict[str, Any]],
                                                                              tmp_path: Path) -> None:
    fake, kw = fake_ops(fail_install="longhorn")
    out = kind_sto.compare_storage(["openebs", "longhorn"], store=str(tmp_path), **kw)
    assert fake.log[0][4] == "longhorn"  # Longhorn shapes the cluster even when it is not installed first …
    fake, kw = fake_ops(fail_install="openebs")
    out = kind_sto.compare_storage(["longhorn", "openebs"],
                                   BenchRequest("storage", cells=["local-path", "openebs-hostpath", "longhorn"]),
                                   store=str(tmp_path), **kw)
    assert out.failed == {"openebs-hostpath": "helm: failed to download openebs-4.6.1.tgz"}
    assert measured[-1]["storage_classes"] == ["longhorn"] and measured[-1]["cells"] == ["local-path", "longhorn"]
    assert fake.log[-1] == ("down", "labkit-bench-storage")


def test_a_failed_up_and_ctrl_c_still_delete_the_cluster_and_keep_keeps_it(measured: list[dict[str, Any]],
                                                                            tmp_path: Path) -> None:
    fake, kw = fake_ops(fail_up=True)
    with pytest.raises(LabkitError, match="never became Bound"):
        kind_sto.compare_storage(["longhorn"], store=str(tmp_path), **kw)
    assert [e[0] for e in fake.log] == ["up", "down"]
    fake, kw = fake_ops()
    with pytest.raises(KeyboardInterrupt):
        kind_sto.compare_storage(["openebs"], BenchRequest("storage", reps=99), store=str(tmp_path), **kw)
    assert fake.log[-1] == ("down", "labkit-bench-storage")
    fake, kw = fake_ops()
    kind_sto.compare_storage([], store=str(tmp_path), keep=True, **kw)
    assert [e[0] for e in fake.log] == ["up", "load"] and fake.log[0][4] is None


@pytest.mark.parametrize(("options", "kw", "error"), [
    (["openebs", "openebs"], {}, BadInput),
    (["nfs"], {}, BadInput),
    (["rook-ceph"], {}, Unavailable),
    (["openebs"], {"reps": 1}, BadInput),
    (["openebs"], {"cells": ["volume"]}, BadInput),
    (["openebs"], {"size": "900T"}, BadInput),
    (["openebs"], {"size": "9000G"}, BadInput),  # more than the disk behind Docker has
])
def test_bad_requests_fail_before_the_cluster_is_made(measured: list[dict[str, Any]], tmp_path: Path,
                                                      options: list[str], kw: dict[str, Any],
                                                      error: type[Exception]) -> None:
    fake, handed = fake_ops()
    with pytest.raises(error):
        kind_sto.compare_storage(options, BenchRequest("storage", **kw), store=str(tmp_path), **handed)
    assert fake.log == [] and measured == []


def test_longhorn_without_iscsi_is_refused_before_the_cluster_is_made(measured: list[dict[str, Any]],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.components.storage import options as storage_mod

    monkeypatch.setattr(storage_mod, "iscsi_support", lambda: (False, "kernel 6.8 has no iscsi_tcp"))
    fake, kw = fake_ops()
    with pytest.raises(Unavailable, match="no iscsi_tcp"):
        kind_sto.compare_storage(["longhorn"], **kw)
    assert fake.log == []


# --- reading the results: the ladder S0 → S1 → option ----------------------------------------------------


def _rows(medians: dict[str, float], run_id: str = "r1") -> list[dict[str, Any]]:
    cells = catalog("storage", "kind", storage_classes=["openebs-hostpath", "longhorn"])
    rows = []
    for name, value in medians.items():
        c = cells[name]
        for block, wobble in enumerate((0.98, 1.0, 1.02)):
            rows.append({"run_id": run_id, "block": block, "suite": "storage", "cell": name, "component": c.component,
                         "component_config": json.dumps(c.config), "baseline_cell": c.baseline,
                         "baseline_level": c.level, "test": "randwrite-4k-qd32", "metric": "iops",
                         "value": value * wobble, "unit": "IO/s", "higher_is_better": True, "status": "ok",
                         "error": None})
    rows.append({"run_id": run_id, "block": 0, "suite": "storage", "cell": "longhorn", "component": "longhorn",
                 "component_config": json.dumps(cells["longhorn"].config), "baseline_cell": "hostfs-docker",
                 "baseline_level": None, "test": "randwrite-4k-qd32", "metric": "", "value": None, "unit": None,
                 "higher_is_better": None, "status": "unavailable",
                 "error": "longhorn: PVC lk-x-longhorn (StorageClass longhorn, Immediate) not Bound within 180 s"})
    return rows


@pytest.fixture()
def ladder_rows() -> pd.DataFrame:
    return pd.DataFrame(_rows({"hostfs-docker": 40_000, "local-path": 32_000, "openebs-hostpath": 16_000}))


def test_the_storage_ladder_gives_each_cell_its_ratio_to_s0_and_s1(ladder_rows: pd.DataFrame) -> None:
    lad = kind_sto.storage_ladder(ladder_rows).set_index("cell")
    assert lad.loc["local-path", "ratio_s0"] == pytest.approx(0.8) and lad.loc["local-path", "ratio_s1"] == 1.0
    assert lad.loc["openebs-hostpath", "ratio_s0"] == pytest.approx(0.4)
    assert lad.loc["openebs-hostpath", "ratio_s1"] == pytest.approx(0.5)
    lo, hi = lad.loc["openebs-hostpath", ["ratio_s1_lo", "ratio_s1_hi"]]
    assert lo <= 0.5 <= hi
    assert (lad.loc["openebs-hostpath", "option"], lad.loc["openebs-hostpath", "storage_class"]) == (
        "openebs", "openebs-hostpath")
    assert lad.loc["longhorn", "n"] == 0 and "not Bound" in lad.loc["longhorn", "note"]


def test_the_storage_chart_shows_both_baselines_with_the_one_disk_note(ladder_rows: pd.DataFrame) -> None:
    fig = plots.storage_ladder(kind_sto.storage_ladder(ladder_rows), metric="iops")
    assert fig.layout.title.subtitle.text == plots.STORAGE_NOTE
    assert "one host disk" in plots.STORAGE_NOTE and "not the durability" in plots.STORAGE_NOTE
    assert [a.text for a in fig.layout.annotations[:2]] == ["÷ S0 (hostfs-docker)", "÷ S1 (local-path)"]
    right = fig.data[1]
    assert right.xaxis == "x2" and dict(zip(right.x, right.y, strict=True))["openebs-hostpath"] == pytest.approx(0.5)
    assert any("longhorn: unavailable: longhorn: PVC" in str(a.text) for a in fig.layout.annotations)


# --- the command line ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["bench", "storage", "--storage", "openebs"], "only with --target kind or cluster"),
    (["bench", "storage", "--target", "cluster", "--context", "x", "--storage", "openebs"], "only with --target kind"),
    (["bench", "storage", "--target", "kind", "--storage-class", "gp3"], "only with --target cluster"),
    (["bench", "storage", "--target", "cluster", "--context", "x"], "bad --storage-class"),
    (["bench", "storage", "--target", "kind", "--cni", "kindnet,calico"], "one name for the storage suite"),
    (["bench", "net", "--target", "kind", "--storage", "openebs"], "only for the storage suite"),
])
def test_bad_storage_requests_exit_2_before_anything_runs(argv: list[str], message: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_kind_measures_the_options_on_one_cluster_and_says_what_failed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ladder_rows: pd.DataFrame,
        capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}

    def compare(options: list[str], request: Any, **kw: Any) -> kind_sto.StorageRun:
        seen.update(options=options, size=request.size, reps=request.reps, **kw)
        out = kind_sto.StorageRun("r1", Store(tmp_path), {"longhorn": "helm: timed out"})
        monkeypatch.setattr(out, "rows", lambda: ladder_rows)
        return out

    monkeypatch.setattr(kind_sto, "compare_storage", compare)
    code = cli.main(["bench", "storage", "--target", "kind", "--storage", "openebs,longhorn", "--cni", "calico",
                     "--workers", "3", "--size", "32M", "--reps", "6", "--store", str(tmp_path)])
    assert code == 1
    assert (seen["options"], seen["cni"], seen["workers"], seen["size"], seen["reps"]) == (
        ["openebs", "longhorn"], "calico", 3, "32M", 6)
    out = capsys.readouterr().out
    assert "ratio_s0" in out and "openebs-hostpath" in out and "one host disk" in out
    assert "longhorn: not measured: helm: timed out" in out


def test_cli_cluster_measures_the_named_classes_of_the_context(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               ladder_rows: pd.DataFrame) -> None:
    seen: dict[str, Any] = {}

    def on_cluster(kube: KubeTarget, classes: list[str], request: Any, **kw: Any) -> Any:
        seen.update(kube=kube, classes=classes, size=request.size, **kw)
        return type("R", (), {"run_id": "r1", "rows": lambda self: ladder_rows})()

    kc = tmp_path / "kc"
    kc.write_text(KUBECONFIG_LAB)
    monkeypatch.setattr(kind_sto, "run_storage_on_cluster", on_cluster)
    assert cli.main(["bench", "storage", "--target", "cluster", "--context", "lab", "--kubeconfig", str(kc),
                     "--storage-class", "rook-ceph-block,gp3", "--size", "1G", "--store", str(tmp_path)]) == 0
    assert seen["kube"] == KubeTarget("lab", str(kc), "lab") and seen["classes"] == ["rook-ceph-block", "gp3"]
    assert seen["size"] == "1G"
