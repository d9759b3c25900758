"""fio on Kubernetes through the harness, offline: a Job per run on a PVC, WaitForFirstConsumer, faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from labkit.bench import kind_storage, runner, storage
from labkit.errors import BadInput
from tests.unit.test_kind_net import DATA, Call, FakeKube, node_list
from labkit.target import KubeTarget

MINORS = ["1.34.0", "1.35.0", "1.36.0", "1.37.0"]
KC = "/labkit-home/kube/labkit-bench-storage.yaml"


class FakeStorageKube(FakeKube):
    """Adds StorageClasses, PVCs and Jobs: each Job "runs" fio and its logs are recorded real fio JSON."""

    def __init__(self, *, bound: bool = True, classes: tuple[str, ...] = ("standard", "openebs-hostpath")) -> None:
        super().__init__(node_list(2, name="labkit-bench-storage"))
        self.bound, self.classes = bound, classes
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pvcs: dict[str, dict[str, Any]] = {}

    def _get(self, call: Call) -> Any:
        if call.args[1] == "storageclass":
            return self.ok(call, json.dumps({"items": [{"metadata": {"name": c}} for c in self.classes]}))
        return super()._get(call)

    def _apply(self, call: Call) -> Any:
        for obj in yaml.safe_load_all(call.stdin or ""):
            {"Job": self.jobs, "PersistentVolumeClaim": self.pvcs}.get(obj["kind"], {})[obj["metadata"]["name"]] = obj
        return super()._apply(call)

    def _wait(self, call: Call) -> Any:
        if any(a.startswith("pvc/") for a in call.args):
            return self.ok(call, "pvc condition met\n") if self.bound else self.ok(
                call, "", "error: timed out waiting for the condition on persistentvolumeclaims/x", rc=1)
        return self.ok(call, "job condition met\n")

    def _logs(self, call: Call) -> Any:
        job = self.jobs[call.args[-1].split("/", 1)[1]]
        argv = job["spec"]["template"]["spec"]["containers"][0]["command"]
        name = next(a for a in argv if a.startswith("--name=")).split("=", 1)[1]
        recorded = {"randread-4k-qd32": "fio-randread-4k-qd32.json", "fsync-write-4k": "fio-fsync-write.json",
                    "randread-4k-qd1": "fio-randread-4k-qd1.json"}
        return self.ok(call, (DATA / recorded.get(name, "fio-randread-4k-qd32.json")).read_text())

    def _describe(self, call: Call) -> Any:
        return self.ok(call, "Events:\n  Warning  ProvisioningFailed  persistentvolume-controller  "
                             "storageclass.storage.k8s.io \"openebs-hostpath\" not found\n")

    def _delete(self, call: Call) -> Any:
        if "--selector" not in call.args:
            return self.ok(call)
        return super()._delete(call)


def _target() -> KubeTarget:
    return KubeTarget("labkit-bench-storage", KC, None, "labkit-bench-storage")


def _run(fake: FakeStorageKube, tmp_path: Path, classes: list[str], **kw: Any) -> runner.BenchRun:
    return runner.run("storage", target="kind", kube=_target(), storage_classes=classes,
                      cells=["local-path", *classes],
                      tests=["randread-4k-qd32", "fsync-write-4k"], reps=2, size="16M", store=str(tmp_path),
                      runner=fake, **kw)


def test_catalog_on_kind_is_the_storage_ladder() -> None:
    cells = runner.catalog("storage", "kind", storage_classes=["longhorn"])
    assert list(cells) == ["hostfs-docker", "local-path", "longhorn"]
    assert cells["hostfs-docker"].level == "S0" and cells["local-path"].level == "S1"
    assert {c.baseline for n, c in cells.items() if n != "hostfs-docker"} == {"hostfs-docker"}
    assert cells["longhorn"].config == {"storage_class": "longhorn"}


def test_unknown_option_and_missing_classes_are_refused() -> None:
    with pytest.raises(BadInput) as info:
        runner.catalog("storage", "kind", storage_classes=["nfs"])
    assert "openebs-hostpath" in str(info.value)
    with pytest.raises(BadInput):
        runner.catalog("storage", "cluster")


def test_a_size_larger_than_free_space_is_refused_with_the_numbers(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as info:
        kind_storage.check_free_space(10**15, 3, tmp_path)
    assert "free at" in str(info.value) and "--size" in (info.value.fix or "")
    kind_storage.check_free_space(1024, 3, tmp_path)


def test_a_pvc_run_sends_a_job_per_fio_run_and_parses_real_fio_json(tmp_path: Path) -> None:
    fake = FakeStorageKube()
    res = _run(fake, tmp_path, ["openebs-hostpath"], )
    rows = res.rows()
    ok = rows[rows["status"] == "ok"]
    assert set(ok["cell"]) == {"local-path", "openebs-hostpath"}
    assert (ok[ok["metric"] == "iops"]["value"] > 0).all()
    # WaitForFirstConsumer: the probe Job exists before the claim is waited for
    verbs = [(c.args[0], c.stdin and yaml.safe_load_all(c.stdin).__next__()["kind"]) for c in fake.calls]
    first_pvc_wait = next(i for i, c in enumerate(fake.calls) if c.args[0] == "wait" and
                          any(a.startswith("pvc/") for a in c.args))
    assert ("apply", "Job") in verbs[:first_pvc_wait]
    # every fio run is its own Job: probe + precondition + (2 tests x (1 warm-up + 2 reps)) per PVC cell
    assert len(fake.jobs) == 2 * (2 + 2 * 3)
    job = next(iter(fake.jobs.values()))
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    cmd = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd == storage.direct_probe_argv("/data")
    # cleanup: every Job deleted after its run, the cell's objects deleted at the end
    assert len([c for c in fake.calls if c.args[:2] == ["delete", "job"]]) == len(fake.jobs)
    assert any(c.args[:2] == ["delete", "jobs,pvc"] for c in fake.calls)
    assert all(c.argv[1:3] == ["--kubeconfig", KC] for c in fake.calls)


def test_a_claim_that_never_binds_is_unavailable_with_its_events(tmp_path: Path) -> None:
    fake = FakeStorageKube(bound=False)
    rows = _run(fake, tmp_path, ["openebs-hostpath"]).rows()
    bad = rows[rows["cell"] == "openebs-hostpath"]
    assert set(bad["status"]) == {"unavailable"}
    assert "never became Bound" in bad["error"].iloc[0] and "ProvisioningFailed" in bad["error"].iloc[0]
    assert any(c.args[:2] == ["delete", "jobs,pvc"] for c in fake.calls)


def test_a_storage_class_the_cluster_lacks_is_unavailable_naming_the_ones_it_has(tmp_path: Path) -> None:
    fake = FakeStorageKube(classes=("standard",))
    rows = _run(fake, tmp_path, ["longhorn"]).rows()
    err = rows[rows["cell"] == "longhorn"]["error"].iloc[0]
    assert "does not exist" in err and "standard" in err and "labkit up --storage longhorn" in err


@pytest.mark.parametrize("minor", MINORS)
def test_every_storage_bench_manifest_is_valid(minor: str) -> None:
    for obj in kind_storage.all_manifests():
        kubernetes_validate.validate(obj, minor, strict=True)
        assert obj["metadata"]["labels"]["io.labkit.managed"] == "true"


def test_pvc_is_large_enough_for_the_fio_file() -> None:
    pvc = kind_storage.pvc_manifest("c", "standard", 1024**3, "abc")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "2Gi"


def test_compare_storage_shapes_the_cluster_for_longhorn_adds_the_rest_and_always_deletes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.bench import kind
    from labkit.components import storage as storage_mod

    calls: list[Any] = []
    installed: list[str] = []

    class Plan:
        def __init__(self, name: str) -> None:
            self.name = name

        def run(self, runner: Any = None) -> None:
            installed.append(self.name)

    for name in ("openebs", "longhorn"):
        monkeypatch.setattr(type(storage_mod.option(name)), "install",
                            lambda self, target, cfg, **kw: Plan(self.name))

    def up(cni: str, **kw: Any) -> KubeTarget:
        calls.append(("up", cni, kw))
        return _target()

    def boom(*a: Any, **kw: Any) -> Any:
        calls.append(("run", kw.get("storage_classes")))
        raise RuntimeError("cluster went away")

    monkeypatch.setattr(kind.harness, "run", boom)
    with pytest.raises(RuntimeError):
        kind.compare_storage(["openebs", "longhorn"], up=up, down=lambda name, **kw: calls.append(("down", name)),
                             load_images=lambda *a, **k: None, tests=["randread-4k-qd32"], size="16M")
    assert calls[0] == ("up", "kindnet", {"workers": 2, "name": "labkit-bench-storage", "storage": "longhorn"})
    assert installed == ["openebs"]  # longhorn came with the cluster; local-path is built in
    assert calls[1] == ("run", ["local-path", "openebs-hostpath", "longhorn"])
    assert calls[-1] == ("down", "labkit-bench-storage")
