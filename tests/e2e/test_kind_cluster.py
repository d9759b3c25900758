"""Real-kind tier (`make e2e`, `pytest -m kind`): labkit's plans against a real kind cluster.

Runs where kind and kubectl pass labkit's version gates, a Docker daemon allows privileged containers,
and the pinned node image is present or pullable; skips naming what is missing. Each test runs the
same plan objects `labkit up --plan` shows (their sources, checks and expectations included), compares
what ran with the transcript, then deletes what it made.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labkit import doctor, docker, tools
from labkit.bench.request import BenchRequest
from labkit.targets.kind import config
from tests.fakes import sdk_client

pytestmark = pytest.mark.kind


@pytest.fixture(scope="module")
def kind_ready() -> None:
    missing = [f"{i.name}: {i.problem}" for i in (tools.find("kind"), tools.find("kubectl")) if not i.ok]
    if missing:
        pytest.skip(f"kind tier: {'; '.join(missing)} ({tools.install_hint('kind')})")
    if not docker.available():
        pytest.skip("kind tier: no Docker daemon")
    checks = {c.name: c for c in doctor.checks(ports=(), probe_network=False)}
    if checks["privileged containers"].status != doctor.OK:
        pytest.skip(f"kind tier: privileged containers refused here ({checks['privileged containers'].detail})")
    image = config.node_image()
    if not docker.image_exists(image):
        pulled = subprocess.run(["docker", "pull", image], capture_output=True, text=True, timeout=900)
        if pulled.returncode != 0:
            pytest.skip(f"kind tier: node image {image} missing and not pullable: {pulled.stderr.strip()[-200:]}")


@pytest.fixture(scope="module")
def cgroup_ok(kind_ready: None) -> None:
    info = sdk_client().info()
    if str(info.get("CgroupVersion", "2")) == "1":
        pytest.skip("kind tier: cgroup v1 host; Kubernetes >= 1.35 needs cgroup v2 (or `labkit up --allow-cgroup-v1`)")


def test_default_profile_makes_a_ready_cluster_and_is_removed(kind_ready: None, tmp_path: Path) -> None:
    cfg = config.profile("default", name="labkit-e2e", workers=1)
    (tmp_path / "kind.yaml").write_text(cfg.to_yaml())
    kubeconfig = tmp_path / "kubeconfig"
    kind, kubectl = tools.require("kind"), tools.require("kubectl")
    try:
        subprocess.run([kind, "create", "cluster", "--config", str(tmp_path / "kind.yaml"), "--kubeconfig",
                        str(kubeconfig), "--wait", "180s"], check=True, timeout=900)
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
        out = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        nodes = json.loads(out)["items"]
        assert len(nodes) == 2
        for node in nodes:
            ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
            assert ready == "True"
            assert node["status"]["nodeInfo"]["kubeletVersion"] == config.node_image_pin().tag.rsplit(":", 1)[1]
    finally:
        subprocess.run([kind, "delete", "cluster", "--name", cfg.name], timeout=300)
    from labkit import clean

    assert cfg.name not in clean.kind_clusters()


def _matches(planned: tuple[str, ...], argv: list[str]) -> bool:
    """``argv`` is ``planned`` with its ``${VAR}`` placeholders filled in."""
    if len(planned) != len(argv):
        return False
    for p, a in zip(planned, argv, strict=False):
        pattern = "^" + re.sub(r"\\\$\\\{[A-Z0-9_]+\\\}", ".+", re.escape(p)) + "$"
        if not re.match(pattern, a, re.S):
            return False
    return True


class Recorder:
    """The real runner, recording every argv so the run can be compared with the plan's transcript."""

    def __init__(self) -> None:
        from labkit._run import default_runner

        self.real, self.argvs = default_runner(), []  # type: ignore[var-annotated]

    def run(self, argv: Any, **kw: Any) -> Any:
        self.argvs.append([str(a) for a in argv])
        return self.real.run(argv, **kw)


def _only_planned(script: Any, rec: Recorder, kind: str) -> None:
    planned = [c.argv for s in script.steps for c in (s.cmd, s.check, *s.diagnose) if c is not None]
    for argv in rec.argvs:
        if argv[:3] == [kind, "get", "clusters"]:
            continue
        assert any(_matches(p, argv) for p in planned), f"ran, but not in the plan: {argv}"


@pytest.mark.parametrize("cni", ["kindnet", "calico", "cilium", "cilium-kpr", "flannel"])
def test_up_installs_verifies_benchmarks_and_down_removes(cgroup_ok: None, cni: str) -> None:
    """`labkit up --cni X` for real: create, registry, install, load image, verify (the plan's own checks:
    DNS answers the Service IPs, pod-to-pod across nodes answers from echo-0's node, the NetworkPolicy as
    expected for X, echo-0 alive around the block), a quick benchmark, delete."""
    from labkit import clean
    from labkit.components import up as cluster
    from labkit.components.network import compare as kind_bench
    from labkit.errors import Unavailable
    from labkit.targets.kind import lifecycle

    if cni.startswith("cilium") and not tools.find("helm").ok:
        pytest.skip(f"kind tier: helm {tools.find('helm').problem} ({tools.install_hint('helm')})")
    name = f"labkit-e2e-{cni}"
    rec = Recorder()
    try:
        try:
            target = cluster.up(cni, workers=2, name=name, runner=rec)
        except Unavailable as exc:  # e.g. no br_netfilter for Flannel: refused before anything was made
            pytest.skip(f"kind tier: {exc.message} (fix: {exc.fix})")
        script = cluster.up_script(cni, cfg=cluster.cluster_config(cni, name=name), target=target)
        _only_planned(script, rec, target.kind)
        verify = script.plans[-1]
        verify.run(rec)
        assert verify.values["ECHO0_NODE"] != verify.values["PROBE_NODE"]
        result = kind_bench.run_on_cluster(target, BenchRequest("net", cni=cni, profile="quick", reps=2,
                                                                tests=["tcp-1", "latency"]))
        rows = result.rows()
        assert {"kind-bridge", "hostnet", "pod-same-node", "pod-cross-node", "clusterip"} <= set(rows["cell"])
    finally:
        lifecycle.down(name)
    assert name not in clean.kind_clusters()


def test_up_twice_resumes_and_a_stopped_registry_comes_back(cgroup_ok: None) -> None:
    """The second `up` of the same cluster reuses it and skips what holds; a stopped registry is started."""
    from labkit.components import up as cluster
    from labkit.targets.kind import lifecycle

    name = "labkit-e2e-resume"
    try:
        cluster.up("kindnet", workers=1, name=name, verify=False)
        subprocess.run(["docker", "stop", "kind-registry"], check=True, timeout=120)
        rec = Recorder()
        cluster.up("kindnet", workers=1, name=name, verify=False, runner=rec)
        assert not any(a[1:3] == ["create", "cluster"] for a in rec.argvs)
        assert ["docker", "start", "kind-registry"] in rec.argvs
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", "kind-registry"],
                               capture_output=True, text=True, timeout=60).stdout.strip()
        assert state == "true"
    finally:
        lifecycle.down(name)


@pytest.mark.parametrize("option", ["local-path", "openebs", "longhorn"])
def test_storage_up_proves_persistence_benchmarks_fio_and_down_removes(cgroup_ok: None, option: str) -> None:
    """`labkit up --storage X` for real: install, the persistence proof (for Longhorn also its health:
    healthy, attached, 2 running replicas on 2 nodes), fio through the harness on S0/S1/X, then delete."""
    from labkit import clean
    from labkit.bench import harness
    from labkit.components import up as cluster
    from labkit.components.storage import options as storage
    from labkit.components.storage.compare import STORAGE_CELL
    from labkit.errors import Unavailable
    from labkit.steps import StepFailed
    from labkit.targets.kind import lifecycle
    from labkit.versions import tools_image

    if not tools.find("helm").ok and option != "local-path":
        pytest.skip(f"kind tier: helm {tools.find('helm').problem} ({tools.install_hint('helm')})")
    name = f"labkit-e2e-{option}"
    try:
        try:
            target = cluster.up("kindnet", workers=2, name=name, storage=option)
        except Unavailable as exc:  # Longhorn: no iSCSI in this kernel, refused before anything was made
            pytest.skip(f"kind tier: {exc.message}")
        except StepFailed as exc:
            if exc.step.title.startswith("iscsid starts and stays up"):
                pytest.skip(f"kind tier: iscsid does not stay up inside kind nodes here: {exc.diagnostics[-300:]}")
            raise
        plan = storage.option(option).verify(target, image=tools_image())
        plan.run()
        assert len(plan.values["SUM"]) == 64
        if option == "longhorn":
            assert len(set(plan.values["REPLICA_NODES"].split())) == 2
        cells = ["hostfs-docker", "local-path", STORAGE_CELL[option]]
        request = BenchRequest("storage", target="kind", kube=target, storage_classes=tuple(cells[2:]),
                               cells=tuple(dict.fromkeys(cells)), tests=("randread-4k-qd32", "fsync-write-4k"),
                               reps=2, size="32M")
        rows = harness.run(request).rows()
        assert set(rows[rows["status"] == "ok"]["cell"]) == set(cells)
        storage.option(option).uninstall(target).run()
    finally:
        lifecycle.down(name)
    assert name not in clean.kind_clusters()
