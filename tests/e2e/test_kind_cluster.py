"""Real-kind tier (`make e2e`): a labkit kind config really makes a working cluster.

Runs where kind, kubectl, a Docker daemon that allows privileged containers and the
pinned node image (or a registry to pull it from) exist; skips here naming what is
missing. The cluster chapters (network, storage, …) add their installs to this tier.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from labkit.bench.request import BenchRequest

from tests.fakes import sdk_client

from labkit.targets.kind import config, doctor, engine, tools

pytestmark = pytest.mark.kind


@pytest.fixture(scope="module")
def kind_ready() -> None:
    missing = [n for n in ("kind", "kubectl") if not tools.find(n).ok]
    if missing:
        pytest.skip(f"kind tier: {', '.join(missing)} not found ({tools.install_hint(missing[0])})")
    if not engine.available():
        pytest.skip("kind tier: no Docker daemon")
    checks = {c.name: c for c in doctor.checks(ports=())}
    if checks["privileged containers"].status != doctor.OK:
        pytest.skip(f"kind tier: privileged containers refused here ({checks['privileged containers'].detail})")
    image = config.node_image()
    if not engine.image_exists(image):
        pulled = subprocess.run(["docker", "pull", image], capture_output=True, text=True, timeout=900)
        if pulled.returncode != 0:
            pytest.skip(f"kind tier: node image {image} missing and not pullable: {pulled.stderr.strip()[-200:]}")


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
            assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.36.")
    finally:
        subprocess.run([kind, "delete", "cluster", "--name", cfg.name], timeout=300)
    from labkit import clean

    assert cfg.name not in clean.kind_clusters()


def _matches(planned: tuple[str, ...], argv: list[str]) -> bool:
    """``argv`` is ``planned`` with its ``${VAR}`` placeholders filled in."""
    import re

    if len(planned) != len(argv):
        return False
    for p, a in zip(planned, argv, strict=False):
        pattern = "^" + re.sub(r"\\\$\\\{[A-Z0-9_]+\\\}", ".+", re.escape(p)) + "$"
        if not re.match(pattern, a):
            return False
    return True


class Recorder:
    """The real runner, recording every argv so the run can be compared with the plan's transcript."""

    def __init__(self) -> None:
        from labkit._run import SubprocessRunner

        self.real, self.argvs = SubprocessRunner(), []  # type: ignore[var-annotated]

    def run(self, argv, **kw):  # type: ignore[no-untyped-def]
        self.argvs.append([str(a) for a in argv])
        return self.real.run(argv, **kw)


@pytest.fixture(scope="module")
def cgroup_ok(kind_ready: None) -> None:
    info = sdk_client().info()
    if str(info.get("CgroupVersion", "2")) == "1":
        pytest.skip("kind tier: cgroup v1 host; Kubernetes >= 1.35 needs cgroup v2 (or `labkit up --allow-cgroup-v1`)")


@pytest.mark.parametrize("cni", ["kindnet", "calico", "cilium", "cilium-kpr", "flannel"])
def test_up_installs_verifies_benchmarks_and_down_removes(cgroup_ok: None, cni: str) -> None:
    """`labkit up --cni X` for real: create, registry, install, load image, verify (the plan's own checks:
    DNS, pod-to-pod across nodes, Service, NetworkPolicy as expected for X), a quick benchmark, delete."""
    from labkit import clean
    from labkit.components import up as cluster
    from labkit.targets.kind import lifecycle
    from labkit.steps import substitute

    if cni.startswith("cilium") and not tools.find("helm").ok:
        pytest.skip(f"kind tier: helm not found ({tools.install_hint('helm')})")
    name = f"labkit-e2e-{cni}"
    rec = Recorder()
    try:
        target = cluster.up(cni, workers=2, name=name, runner=rec)
        script = cluster.up_script(cni, cfg=cluster.cluster_config(cni, name=name), target=target)
        planned = [c.argv for s in script.steps for c in (s.cmd, s.check, *s.diagnose) if c is not None]
        ran = [a for a in rec.argvs if a[:3] != [target.kind, "get", "clusters"]]
        for argv in ran:  # nothing ran that the transcript does not show
            assert any(_matches(p, argv) for p in planned), argv
        verify = script.plans[-1]
        verify.run(rec)
        assert verify.values["ECHO0_IP"] and verify.values["SVC_IP"]
        assert substitute(["${ECHO0_IP}"], verify.values) != ["${ECHO0_IP}"]
        from labkit.components.network import compare as kind_bench

        result = kind_bench.run_on_cluster(target, BenchRequest("net", cni=cni, profile="quick", reps=2,
                                                                tests=["tcp-1", "latency"]))
        rows = result.rows()
        assert {"kind-bridge", "hostnet", "pod-same-node", "pod-cross-node", "clusterip"} <= set(rows["cell"])
    finally:
        lifecycle.down(name)
    assert name not in clean.kind_clusters()


@pytest.mark.parametrize("option", ["local-path", "openebs", "longhorn"])
def test_storage_up_proves_persistence_benchmarks_fio_and_down_removes(cgroup_ok: None, option: str) -> None:
    """`labkit up --storage X` for real: install, the persistence proof (plan's own checks), fio through the
    harness on S0/S1/X, then delete."""
    from labkit import clean
    from labkit.components import up as cluster
    from labkit.targets.kind import lifecycle
    from labkit.components.network import compare as kind_bench
    from labkit.components.storage import options as storage

    if not tools.find("helm").ok and option != "local-path":
        pytest.skip(f"kind tier: helm not found ({tools.install_hint('helm')})")
    if option == "longhorn" and not storage.iscsi_support()[0]:
        pytest.skip(f"kind tier: no iSCSI in this kernel ({storage.iscsi_support()[1]})")
    name = f"labkit-e2e-{option}"
    try:
        target = cluster.up("kindnet", workers=2, name=name, storage=option)
        plan = storage.option(option).verify(target, image=cluster.tools_image())
        plan.run()
        assert len(plan.values["SUM"]) == 64
        if option == "longhorn":
            assert plan.values["REPLICAS"] == "2"
        cells = ["hostfs-docker", "local-path", kind_bench.STORAGE_CELL[option]]
        from labkit.bench import harness as runner

        rows = runner.run("storage", target="kind", kube=target, storage_classes=cells[2:], cells=list(
            dict.fromkeys(cells)), tests=["randread-4k-qd32", "fsync-write-4k"], reps=2, size="32M").rows()
        assert set(rows[rows["status"] == "ok"]["cell"]) == set(cells)
    finally:
        lifecycle.down(name)
    assert name not in clean.kind_clusters()
