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

from labkit import config, doctor, engine, tools

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
