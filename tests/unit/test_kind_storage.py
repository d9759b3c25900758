"""fio on Kubernetes through the harness, without a cluster: a recording fake kubectl, strict schemas.

The fake answers the kubectl argv the storage cells send the way a kind cluster would: the
StorageClasses kind, OpenEBS and Longhorn install (``kubectl get storageclass -o json``), claims
that bind only once a pod uses them when their class says ``WaitForFirstConsumer``, Jobs whose
logs are real fio JSON recorded on this project's CI VM, and ``kubectl describe`` text with
events. It records every argv and stdin, so the tests pin the exact command contract.
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

from labkit import cli, plots
from labkit.components.storage import classes as storage_classes_mod
from labkit.components.storage import kube_objects as storage_objects
from labkit.bench.request import BenchRequest
from labkit.components.storage import engine_cells as engine_storage
from labkit.components.fresh import ClusterOps
from tests.unit.test_kind_net import KUBECONFIG_LAB
from labkit.bench.plan import catalog, plan
from labkit._run import Result
from labkit.bench import harness as runner, kube, storage
from labkit.components.network import kube_cells as kind_net
from labkit.components.storage import compare as kind_sto, kube_cells as kind_storage
from labkit.bench.store import Store
from labkit.errors import BadInput, CommandError, LabkitError, Unavailable
from labkit.targets.kube import KubeTarget
from labkit.versions import tools_image
from tests.unit.test_kind_net import DATA, Call, FakeKube, node_list

K8S_VERSIONS = ("1.34.0", "1.35.0", "1.36.0", "1.37.0")
KC = "/home/u/.local/share/labkit/kube/labkit-bench-storage.yaml"
TESTS = ("randread-4k-qd32", "randread-4k-qd1", "fsync-write-4k")
RECORDED = {"randread-4k-qd32": "fio-randread-4k-qd32.json", "randread-4k-qd1": "fio-randread-4k-qd1.json",
            "fsync-write-4k": "fio-fsync-write.json"}


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

PENDING_CLAIM = """Name:          {name}
Namespace:     labkit-bench
StorageClass:  openebs-hostpath
Status:        Pending
Volume:
Labels:        io.labkit.managed=true
Annotations:   volume.kubernetes.io/selected-node: labkit-bench-storage-worker
               volume.kubernetes.io/storage-provisioner: openebs.io/local
Finalizers:    [kubernetes.io/pvc-protection]
Capacity:
Access Modes:
VolumeMode:    Filesystem
Used By:       {name}-prep-7xk2q
Events:
  Type    Reason                Age                From                         Message
  ----    ------                ----               ----                         -------
  Normal  WaitForFirstConsumer  3m1s               persistentvolume-controller  waiting for first consumer to be created before binding
  Normal  ExternalProvisioning  7s (x14 over 3m)   persistentvolume-controller  Waiting for a volume to be created either by the external provisioner 'openebs.io/local' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.
"""  # noqa: E501 - kubectl's own line

FIO_EINVAL = ("fio: pid=27, err=22/file:filesetup.c:805, func=open(/data/lk-fio.dat), error=Invalid argument\n"
              '{\n  "fio version" : "fio-3.33",\n  "jobs" : [ { "jobname" : "fsync-write-4k", "error" : 22 } ]\n}\n')


class FakeStorageKube(FakeKube):
    """A recording kubectl for a kind cluster with StorageClasses, claims and fio Jobs.

    ``never_bind``: claims of these classes stay Pending; ``fail_tests``: Jobs of these fio jobs end
    Failed; ``direct``: what the preparing Job reports. A claim of a WaitForFirstConsumer class binds
    only once a Job that mounts it exists, like the PV controller does."""

    def __init__(self, *, classes: tuple[str, ...] = ("standard", "openebs-hostpath"), never_bind: tuple[str, ...] = (),
                 fail_tests: tuple[str, ...] = (), direct: bool = True, workers: int = 2) -> None:
        super().__init__(node_list(workers, name="labkit-bench-storage"))
        self.classes, self.never_bind, self.fail_tests, self.direct = classes, never_bind, fail_tests, direct
        self.jobs: dict[str, dict[str, Any]] = {}
        self.failed: set[str] = set()
        self.pvcs: dict[str, dict[str, Any]] = {}
        self.applied: list[list[dict[str, Any]]] = []

    def _get(self, call: Call) -> Result:
        what = call.args[1]
        if what == "storageclass":
            return self.ok(call, json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                                             "items": [CLASSES[c] for c in self.classes]}))
        if what == "job":
            name = call.args[2]
            if name not in self.jobs:
                return self.ok(call, "", f'Error from server (NotFound): jobs.batch "{name}" not found', rc=1)
            conditions = ([{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                           {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit"}] if name in self.failed else [])
            return self.ok(call, json.dumps({**self.jobs[name], "status": {"conditions": conditions}}))
        if what == "pvc":
            name = call.args[2]
            if name not in self.pvcs:
                return self.ok(call, "", f'Error from server (NotFound): persistentvolumeclaims "{name}" not found',
                               rc=1)
            return self.ok(call, json.dumps({**self.pvcs[name], "status": {"phase": self.phase(name)}}))
        return super()._get(call)

    def phase(self, claim: str) -> str:
        """Bound once a consumer exists (WaitForFirstConsumer) or at once (Immediate); then Bound for good."""
        pvc = self.pvcs[claim]
        sc = pvc["spec"]["storageClassName"]
        if sc in self.never_bind:
            return "Pending"
        consumers = [j for j in self.jobs.values()
                     if j["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim]
        if consumers or CLASSES[sc]["volumeBindingMode"] == "Immediate":
            pvc["bound"] = True
        return "Bound" if pvc.get("bound") else "Pending"

    def _apply(self, call: Call) -> Result:
        objs = list(yaml.safe_load_all(call.stdin or ""))
        self.applied.append(objs)
        for obj in objs:
            table = {"Job": self.jobs, "PersistentVolumeClaim": self.pvcs}.get(obj["kind"])
            if table is not None:
                table[obj["metadata"]["name"]] = obj
        return self.ok(call, "".join(f"{o['kind'].lower()}/{o['metadata']['name']} created\n" for o in objs))

    def _wait(self, call: Call) -> Result:
        (what,) = [a for a in call.args if a.startswith(("pvc/", "job/"))]
        kind_, name = what.split("/", 1)
        timed_out = self.ok(call, "", f"error: timed out waiting for the condition on {kind_}s/{name}", rc=1)
        if kind_ == "pvc":
            return self.ok(call, f"persistentvolumeclaim/{name} condition met\n") if self.phase(name) == "Bound" \
                else timed_out
        if self.test_of(name) in self.fail_tests:
            self.failed.add(name)
            return timed_out
        return self.ok(call, f"job.batch/{name} condition met\n")

    def test_of(self, job: str) -> str:
        return str(self.jobs[job]["metadata"]["labels"].get("io.labkit.test", ""))

    def _logs(self, call: Call) -> Result:
        name = call.args[1].split("/", 1)[1]
        test = self.test_of(name)
        if test == "prepare":
            return self.ok(call, f"labkit: direct={int(self.direct)}\n" + (DATA / "fio-fsync-write.json").read_text())
        if name in self.failed:
            return self.ok(call, FIO_EINVAL)
        if test not in RECORDED:
            return self.ok(call, "")
        # kubectl logs interleaves the container's stderr: fio's notes come before and after its JSON
        return self.ok(call, "fio: note: direct I/O on a 4096-byte block device\n" + (DATA / RECORDED[test]).read_text()
                       + "fio: file hash not empty on exit\n")

    def _describe(self, call: Call) -> Result:
        if call.args[1] == "pvc":
            return self.ok(call, PENDING_CLAIM.format(name=call.args[2]))
        return self.ok(call, "Events:\n  Type     Reason            Age  From               Message\n"
                             "  Warning  FailedScheduling  3m   default-scheduler  0/3 nodes are available: pod has "
                             "unbound immediate PersistentVolumeClaims.\n")

    def _delete(self, call: Call) -> Result:
        if "--selector" in call.args:
            selector = call.args[call.args.index("--selector") + 1]
            for table in (self.jobs, self.pvcs):
                for name in [n for n, o in table.items() if _matches(o["metadata"]["labels"], selector)]:
                    del table[name]
        elif call.args[1] == "job":
            self.jobs.pop(call.args[2], None)
        return self.ok(call)

    def job_calls(self, name: str) -> list[list[str]]:
        return [c.args for c in self.calls if any(a in (name, f"job/{name}") for a in c.args)]


def _matches(labels: dict[str, str], selector: str) -> bool:
    return all(labels.get(k) == v for k, v in (kv.split("=") for kv in selector.split(",")))


def kind_target() -> KubeTarget:
    return KubeTarget("labkit-bench-storage", KC, None, "labkit-bench-storage")


@pytest.fixture(autouse=True)
def _docker_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The kind target's space check reads Docker's data root: here a temporary directory stands in."""
    root = tmp_path / "docker-root"
    (root / "volumes").mkdir(parents=True)
    monkeypatch.setattr(storage_classes_mod, "docker_root", lambda: root)
    return root


def bench(fake: FakeStorageKube, store: Path, *, classes: tuple[str, ...] = ("openebs-hostpath",),
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
        assert _matches(labels, selector) and labels["io.labkit.managed"] == "true"
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


def test_storage_classes_are_read_from_kubectl_json() -> None:
    parsed = storage_classes_mod.parse_storage_classes({"items": list(CLASSES.values())})
    assert parsed["standard"] == storage_classes_mod.StorageClassInfo("standard", "rancher.io/local-path",
                                                               "WaitForFirstConsumer", "Delete", True)
    assert parsed["longhorn"].binding_mode == "Immediate" and not parsed["longhorn"].default


def test_a_size_larger_than_free_space_is_bad_input_with_the_numbers_and_the_fix(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(storage_classes_mod, "free_bytes", lambda where: 3 * 1024**3)
    fake = FakeStorageKube(classes=("standard", "longhorn"))
    with pytest.raises(BadInput) as info:
        runner.run("storage", target="kind", kube=kind_target(), storage_classes=["longhorn"], size="1G",
                   tests=["randread-4k-qd32"], reps=2, store=str(tmp_path / "store"), runner=fake)
    err = info.value
    assert err.value == "1G" and "4 copies: hostfs-docker, local-path, longhorn ×2" in err.allowed
    assert "need 5.0 GiB" in err.allowed and "3.0 GiB are free" in err.allowed and "docker-root/volumes" in err.allowed
    assert err.fix and err.fix.startswith("use a smaller --size (e.g. --size ") and "M)" in err.fix
    assert fake.calls == [] and not (tmp_path / "store").exists()  # before anything was made
    monkeypatch.setattr(storage_classes_mod, "free_bytes", lambda where: 8 * 1024**3)
    plan("storage", target="kind", storage_classes=["longhorn"], size="1G")  # fits


def test_free_space_out_of_sight_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_classes_mod, "free_bytes", lambda where: None)
    plan("storage", target="kind", size="900G")


# --- a run through the harness, against the fake ---------------------------------------------------------


def test_a_kind_run_sends_exactly_these_commands(tmp_path: Path) -> None:
    fake = FakeStorageKube()
    res = bench(fake, tmp_path)
    session = res.meta()["session_id"]
    assert all(c.argv[:3] == ["kubectl", "--kubeconfig", KC] for c in fake.calls)
    assert fake.calls[0].args == ["get", "storageclass", "--output", "json"]  # before anything is created
    assert fake.calls[1].args == ["get", "nodes", "--output", "json"]
    assert fake.applied[0] == [kind_net.namespace_manifest()]
    # the claim comes with its first consumer; only then is Bound awaited (WaitForFirstConsumer)
    for cell, sc in (("local-path", "standard"), ("openebs-hostpath", "openebs-hostpath")):
        claim = f"lk-{session}-{cell}"
        expected = storage_objects.cell_manifests(cell, session=session, image=tools_image(), storage_class=sc,
                                               size="16M", node="labkit-bench-storage-worker")
        apply_at = next(i for i, c in enumerate(fake.calls) if c.args[0] == "apply"
                        and list(yaml.safe_load_all(c.stdin or "")) == expected)
        bound_at = fake.verbs().index("wait", apply_at)
        assert fake.calls[bound_at].args == ["wait", "--for=jsonpath={.status.phase}=Bound", f"pvc/{claim}",
                                             "--namespace", "labkit-bench", "--timeout=180s"]
        assert fake.job_calls(f"{claim}-prep") == [
            ["wait", "--for=condition=Complete", f"job/{claim}-prep", "--namespace", "labkit-bench",
             "--timeout=10s"],
            ["logs", f"job/{claim}-prep", "--namespace", "labkit-bench"],
            ["delete", "job", f"{claim}-prep", "--namespace", "labkit-bench", "--ignore-not-found", "--wait=false",
             "--cascade=background"]]
    # one Job per (warm-up or repetition) × fio job, each applied, awaited, read and deleted
    first = f"lk-{session}-local-path-1"
    assert fake.job_calls(first) == [
        ["wait", "--for=condition=Complete", f"job/{first}", "--namespace", "labkit-bench", "--timeout=10s"],
        ["logs", f"job/{first}", "--namespace", "labkit-bench"],
        ["delete", "job", first, "--namespace", "labkit-bench", "--ignore-not-found", "--wait=false",
         "--cascade=background"]]
    measured = [objs[0] for objs in fake.applied if objs[0]["kind"] == "Job" and len(objs) == 1]
    assert len(measured) == 2 * len(TESTS) * 3  # cells × tests × (warm-up + 2 repetitions)
    assert {j["spec"]["template"]["spec"]["containers"][0]["command"][1] for j in measured} == {
        f"--name={t}" for t in TESTS}
    # the end: every cell's Jobs, pods and claim deleted by label, after the last measurement
    deletes = [c.args for c in fake.calls if c.args[:2] == ["delete", "jobs,pods,persistentvolumeclaims"]]
    assert sorted(deletes) == sorted(
        ["delete", "jobs,pods,persistentvolumeclaims", "--namespace", "labkit-bench", "--selector",
         f"io.labkit.session={session},io.labkit.role=bench-{c}", "--ignore-not-found", "--wait=false"]
        for c in ("local-path", "openebs-hostpath"))
    assert fake.jobs == {} and fake.pvcs == {}


def test_rows_are_the_recorded_fio_numbers_with_the_option_and_the_ratio_to_s1(tmp_path: Path) -> None:
    res = bench(FakeStorageKube(), tmp_path)
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


def test_a_volume_without_o_direct_is_measured_buffered_and_says_so(tmp_path: Path) -> None:
    fake = FakeStorageKube(direct=False)
    rows = bench(fake, tmp_path, classes=(), tests=("randread-4k-qd32",)).rows()
    assert set(rows["direct"]) == {False}
    commands = [objs[0]["spec"]["template"]["spec"]["containers"][0]["command"] for objs in fake.applied[2:]]
    assert all("--direct=0" in c for c in commands)


def test_a_claim_that_never_binds_is_unavailable_with_its_events_and_why(tmp_path: Path) -> None:
    fake = FakeStorageKube(never_bind=("openebs-hostpath",))
    res = bench(fake, tmp_path)
    rows = res.rows()
    error = rows.loc[rows.cell == "openebs-hostpath", "error"].iloc[0]
    assert set(rows.loc[rows.cell == "openebs-hostpath", "status"]) == {"unavailable"}
    claim = f"lk-{res.meta()['session_id']}-openebs-hostpath"
    assert error.startswith(f"openebs-hostpath: PVC {claim} (StorageClass openebs-hostpath, WaitForFirstConsumer) "
                            "not Bound within 180 s: ExternalProvisioning: Waiting for a volume to be created either "
                            "by the external provisioner 'openebs.io/local'")
    assert "--- diagnostics ---" in error and "Events:" in error and "WaitForFirstConsumer  3m1s" in error
    assert "is openebs.io/local running" in error.lower()
    assert ["describe", "pvc", claim, "--namespace", "labkit-bench"] in [c.args for c in fake.calls]
    assert set(rows.loc[rows.cell == "local-path", "status"]) == {"ok"}
    assert fake.pvcs == {} and fake.jobs == {}  # the pending claim and its consumer were deleted too


def test_the_unbound_error_names_its_cause_from_the_events() -> None:
    assert kube.events_why(PENDING_CLAIM.format(name="c")).startswith("ExternalProvisioning: Waiting for")
    warning = PENDING_CLAIM.format(name="c") + ("  Warning  ProvisioningFailed  1s  openebs.io/local  failed to "
                                                "provision volume: no space left on device\n")
    assert kube.events_why(warning) == "ProvisioningFailed: failed to provision volume: no space left on device"
    assert "no events" in kube.events_why("Name: c\nEvents:  <none>\n")


def test_a_failed_job_fails_its_repetitions_at_once_with_fio_s_output(tmp_path: Path) -> None:
    fake = FakeStorageKube(fail_tests=("fsync-write-4k",))
    rows = bench(fake, tmp_path, classes=()).rows()
    bad = rows[rows.test == "fsync-write-4k"]
    assert set(bad["status"]) == {"failed"}
    error = bad["error"].iloc[0]
    assert "failed (BackoffLimitExceeded: Job has reached the specified backoff limit)" in error
    assert "err=22/file:filesetup.c:805" in error and "FailedScheduling" in error
    assert set(rows.loc[rows.test != "fsync-write-4k", "status"]) == {"ok"}
    for name in fake.failed:  # one slice of waiting, not the whole timeout
        assert [a[0] for a in fake.job_calls(name)][:3] == ["wait", "get", "logs"]


class _Cluster:
    def __init__(self, fake: FakeStorageKube) -> None:
        self.cluster = kind_net.BenchCluster(kind_target(), fake, kind_net.Placement("w1", "w2"), [])


def test_a_job_that_never_finishes_is_given_up_after_the_whole_timeout(tmp_path: Path) -> None:
    fake = FakeStorageKube()
    fake.jobs["j"] = storage_objects.job_manifest("local-path", session="s", seq=1, image=tools_image(),
                                               command=["true"], node="w1")
    fake.on["wait"] = lambda call: fake.ok(call, "", "error: timed out waiting for the condition on jobs/j", rc=1)
    with pytest.raises(kind_storage.JobFailed, match="did not complete within 25 s"):
        kind_storage.wait_job(_Cluster(fake).cluster, "j", timeout=25)
    slices = [c.args[-1] for c in fake.calls if c.args[0] == "wait"]
    assert slices == ["--timeout=10s", "--timeout=10s", "--timeout=5s"]
    assert len([c for c in fake.calls if c.args[:2] == ["get", "job"]]) == 3


def test_a_wait_that_fails_for_another_reason_raises_kubectl_s_error() -> None:
    fake = FakeStorageKube()
    fake.on["wait"] = lambda call: fake.ok(call, "", "Unable to connect to the server: dial tcp 127.0.0.1:6443", rc=1)
    with pytest.raises(CommandError, match="Unable to connect"):
        kind_storage.wait_job(_Cluster(fake).cluster, "j", timeout=60)
    assert len(fake.calls) == 1


def test_a_claim_that_disappears_fails_the_cell_s_repetitions_with_the_reason(tmp_path: Path) -> None:
    fake = FakeStorageKube()

    def gone(call: Call) -> Result:
        if call.args[1] == "pvc" and "openebs-hostpath" in call.args[2]:
            fake.pvcs.pop(call.args[2], None)
        return fake._get(call)

    fake.on["get"] = gone
    rows = bench(fake, tmp_path, tests=("randread-4k-qd32",)).rows()
    dead = rows[rows.cell == "openebs-hostpath"]
    assert set(dead["status"]) == {"failed"} and dead["error"].str.contains("PVC .* is gone").all()


def test_ctrl_c_mid_measurement_deletes_every_cell_s_objects(tmp_path: Path) -> None:
    fake = FakeStorageKube()
    logs = []

    def interrupt(call: Call) -> Result:
        logs.append(call)
        if len(logs) == 5:
            raise KeyboardInterrupt
        return fake._logs(call)

    fake.on["logs"] = interrupt
    with pytest.raises(KeyboardInterrupt):
        bench(fake, tmp_path)
    assert [c.args[:2] for c in fake.calls[-2:]] == [["delete", "jobs,pods,persistentvolumeclaims"]] * 2
    assert fake.jobs == {} and fake.pvcs == {}
    store = Store(tmp_path)
    assert store.meta(store.run_ids()[0])["status"] == "interrupted"


def test_a_failure_while_opening_cells_still_deletes_what_was_applied(tmp_path: Path) -> None:
    fake = FakeStorageKube()

    def broken(call: Call) -> Result:
        if any(a.startswith("pvc/") and "openebs" in a for a in call.args):
            raise CommandError(call.argv, 1, "", "Unable to connect to the server: dial tcp 127.0.0.1:6443")
        return fake._wait(call)

    fake.on["wait"] = broken
    with pytest.raises(CommandError, match="Unable to connect"):
        bench(fake, tmp_path)
    assert fake.verbs()[-2:] == ["delete"] * 2 and fake.jobs == {} and fake.pvcs == {}
    store = Store(tmp_path)
    assert store.meta(store.run_ids()[0])["status"] == "failed"


def test_a_refused_claim_makes_the_cell_unavailable_with_the_cluster_s_reason(tmp_path: Path) -> None:
    fake = FakeStorageKube()

    def apply(call: Call) -> Result:
        if "openebs-hostpath" in (call.stdin or ""):
            return fake.ok(call, "", 'Error from server (Forbidden): persistentvolumeclaims "x" is forbidden: exceeded '
                           "quota: storage, requested: requests.storage=88Mi, used: requests.storage=10Gi", rc=1)
        return fake._apply(call)

    fake.on["apply"] = apply
    rows = bench(fake, tmp_path, tests=("randread-4k-qd32",)).rows()
    error = rows.loc[rows.cell == "openebs-hostpath", "error"].iloc[0]
    assert "refused the claim or its Job" in error and "exceeded quota" in error


def test_a_kind_cluster_without_the_option_s_class_makes_its_cell_unavailable_with_the_fix(tmp_path: Path) -> None:
    fake = FakeStorageKube(classes=("standard",))
    rows = bench(fake, tmp_path, classes=("longhorn",), tests=("randread-4k-qd32",)).rows()
    error = rows.loc[rows.cell == "longhorn", "error"].iloc[0]
    assert "StorageClass longhorn does not exist in this cluster (it has: standard)" in error
    assert "labkit up --storage longhorn" in error
    assert set(rows.loc[rows.cell == "local-path", "status"]) == {"ok"}


def test_an_unknown_class_on_a_cluster_is_bad_input_before_anything_is_made(tmp_path: Path) -> None:
    fake = FakeStorageKube(classes=("standard", "longhorn"))
    kube = KubeTarget("prod", "/tmp/kc", "prod-admin")
    with pytest.raises(BadInput) as info:
        bench(fake, tmp_path / "store", kube=kube, classes=("longhorn", "rook-ceph-block"))
    assert info.value.value == "rook-ceph-block" and info.value.allowed == "standard, longhorn"
    assert "kubectl --kubeconfig /tmp/kc --context prod-admin get storageclass" in (info.value.fix or "")
    assert fake.verbs() == ["get"] and not (tmp_path / "store").exists()


def test_a_cluster_run_measures_the_named_classes_with_the_context_on_every_command(tmp_path: Path) -> None:
    fake = FakeStorageKube(classes=("standard", "longhorn"))
    kube = KubeTarget("prod", "/tmp/kc", "prod-admin")
    res = kind_sto.run_storage_on_cluster(kube, ["longhorn", "standard"],
                                          BenchRequest("storage", tests=["randread-4k-qd32"], reps=2, duration_s=1,
                                                       size="16M"), store=str(tmp_path), runner=fake)
    assert all(c.argv[:5] == ["kubectl", "--kubeconfig", "/tmp/kc", "--context", "prod-admin"] for c in fake.calls)
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


class Clusters:
    """Fake up/load_images/install/down recording the order of calls."""

    def __init__(self, fail_install: str | None = None, fail_up: bool = False) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.fail_install, self.fail_up = fail_install, fail_up

    def up(self, cni: str, *, workers: int, name: str, storage: str | None) -> KubeTarget:
        self.log.append(("up", cni, name, workers, storage))
        if self.fail_up:
            raise LabkitError("Longhorn verify: the PVC never became Bound")
        return KubeTarget.for_kind(name)

    def load(self, target: KubeTarget, images: list[str]) -> None:
        self.log.append(("load", target.name, *images))

    def install(self, option: str, target: KubeTarget, cfg: Any, runner: Any) -> None:
        self.log.append(("install", option, target.name, cfg.name, cfg.image))
        if option == self.fail_install:
            raise LabkitError("helm: failed to download openebs-4.6.1.tgz")

    def down(self, name: str) -> None:
        self.log.append(("down", name))

    def kw(self) -> dict[str, Any]:
        return {"ops": ClusterOps(self.up, self.down, self.load), "install": self.install}


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
    fake = Clusters()
    out = kind_sto.compare_storage(["openebs", "longhorn"], BenchRequest("storage", tests=["randread-4k-qd32"],
                                                                       size="16M"),
                                   workers=3, store=str(tmp_path), **fake.kw())
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
    fake = Clusters(fail_install="longhorn")
    out = kind_sto.compare_storage(["openebs", "longhorn"], store=str(tmp_path), **fake.kw())
    assert fake.log[0][4] == "longhorn"  # Longhorn shapes the cluster even when it is not installed first …
    fake = Clusters(fail_install="openebs")
    out = kind_sto.compare_storage(["longhorn", "openebs"],
                                   BenchRequest("storage", cells=["local-path", "openebs-hostpath", "longhorn"]),
                                   store=str(tmp_path), **fake.kw())
    assert out.failed == {"openebs-hostpath": "helm: failed to download openebs-4.6.1.tgz"}
    assert measured[-1]["storage_classes"] == ["longhorn"] and measured[-1]["cells"] == ["local-path", "longhorn"]
    assert fake.log[-1] == ("down", "labkit-bench-storage")


def test_a_failed_up_and_ctrl_c_still_delete_the_cluster_and_keep_keeps_it(measured: list[dict[str, Any]],
                                                                            tmp_path: Path) -> None:
    fake = Clusters(fail_up=True)
    with pytest.raises(LabkitError, match="never became Bound"):
        kind_sto.compare_storage(["longhorn"], store=str(tmp_path), **fake.kw())
    assert [e[0] for e in fake.log] == ["up", "down"]
    fake = Clusters()
    with pytest.raises(KeyboardInterrupt):
        kind_sto.compare_storage(["openebs"], BenchRequest("storage", reps=99), store=str(tmp_path), **fake.kw())
    assert fake.log[-1] == ("down", "labkit-bench-storage")
    fake = Clusters()
    kind_sto.compare_storage([], store=str(tmp_path), keep=True, **fake.kw())
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
    fake = Clusters()
    with pytest.raises(error):
        kind_sto.compare_storage(options, BenchRequest("storage", **kw), store=str(tmp_path), **fake.kw())
    assert fake.log == [] and measured == []


def test_longhorn_without_iscsi_is_refused_before_the_cluster_is_made(measured: list[dict[str, Any]],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.components.storage import options as storage_mod

    monkeypatch.setattr(storage_mod, "iscsi_support", lambda: (False, "kernel 6.8 has no iscsi_tcp"))
    fake = Clusters()
    with pytest.raises(Unavailable, match="no iscsi_tcp"):
        kind_sto.compare_storage(["longhorn"], **fake.kw())
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
