"""Contract tier: a real ``kind`` binary checks every config labkit generates.

kind validates a config before it touches the node image, so offline a good config gets
past validation (to "Ensuring node image" and the first real Docker call, which the stand-in
refuses) and a bad one fails with "invalid configuration". The
binaries come from ``scripts/fetch_test_tools.sh`` (Debian's kind, no system change);
a stand-in ``docker`` answers only the three questions kind asks before validating,
so nothing can reach a real engine. Skips with the reason where the tools are missing;
``LABKIT_REQUIRE_TEST_TOOLS=1`` (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labkit.targets.kind import config

ROOT = Path(__file__).resolve().parents[2]
STUB_DOCKER = """#!/bin/sh
case "$1" in
  -v) echo "Docker version 20.10.24, build stub" ;;
  info) echo '{"CgroupVersion":"2","CgroupDriver":"systemd","SecurityOptions":["name=cgroupns"]}' ;;
  ps) ;;
  inspect) echo '[{"Id": "sha256:stub"}]' ;;  # "the node image is present": skips the pull and its retries
  *) echo "stub docker: refusing '$*'" >&2; exit 1 ;;
esac
"""

pytestmark = pytest.mark.contract


@pytest.fixture(scope="session")
def kind_bin() -> Path:
    cache = Path(os.environ.get("LABKIT_TOOLS_CACHE", Path.home() / ".cache" / "labkit" / "test-tools"))
    if not (cache / "kind").exists():
        res = subprocess.run(["bash", str(ROOT / "scripts" / "fetch_test_tools.sh"), str(cache)],
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 0 or not (cache / "kind").exists():
            reason = f"real kind binary unavailable: {(res.stderr or res.stdout).strip()[-300:]}"
            if os.environ.get("LABKIT_REQUIRE_TEST_TOOLS") == "1":
                pytest.fail(reason)
            pytest.skip(reason)
    return cache / "kind"


def _kind_create(kind: Path, cfg_text: str, tmp_path: Path) -> str:
    (tmp_path / "bin").mkdir(exist_ok=True)
    stub = tmp_path / "bin" / "docker"
    stub.write_text(STUB_DOCKER)
    stub.chmod(0o755)
    cfg = tmp_path / "kind.yaml"
    cfg.write_text(cfg_text)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "KUBECONFIG": str(tmp_path / "kc"),
           "HOME": str(tmp_path)}
    res = subprocess.run([str(kind), "create", "cluster", "--config", str(cfg), "--name", "labkit-contract"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode != 0  # it can never get a node image here
    return res.stdout + res.stderr


@pytest.mark.parametrize("name", config.profiles())
def test_every_profile_passes_kind_validation(kind_bin: Path, tmp_path: Path, name: str) -> None:
    out = _kind_create(kind_bin, config.profile(name).to_yaml(), tmp_path)
    assert "invalid configuration" not in out and "error converting" not in out.lower(), out
    assert "Ensuring node image" in out and "stub docker: refusing" in out, out


def test_kind_rejects_a_broken_config(kind_bin: Path, tmp_path: Path) -> None:
    broken = config.ClusterConfig().to_yaml().replace("role: worker", "role: master-ish", 1)
    out = _kind_create(kind_bin, broken, tmp_path)
    assert '"master-ish" is not a valid node role' in out


@pytest.mark.parametrize("name", ["default", "no-cni"])
def test_create_plan_flags_and_stdin_config_are_accepted_by_kind(kind_bin: Path, tmp_path: Path, name: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.targets.kind import plans

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    step = plans.create_plan(config.profile(name), kind=str(kind_bin)).steps[0]
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "docker").write_text(STUB_DOCKER)
    (tmp_path / "bin" / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    res = subprocess.run(list(step.cmd.argv), input=step.cmd.stdin, capture_output=True, text=True, timeout=120,
                         env=env)
    out = res.stdout + res.stderr
    assert "unknown flag" not in out and "invalid configuration" not in out, out
    assert "Ensuring node image" in out and "stub docker: refusing" in out, out


# -- every CNI's cluster config, and every kubectl/helm argv in the up plans ---------------------------

@pytest.mark.parametrize("cni", ["kindnet", "calico", "cilium", "cilium-kpr", "flannel", "none"])
def test_every_cni_cluster_config_passes_kind_validation(kind_bin: Path, tmp_path: Path, cni: str) -> None:
    from labkit.components import up as cluster

    for cfg in (cluster.cluster_config(cni), cluster.cluster_config(cni, workers=0, allow_cgroup_v1=True)):
        out = _kind_create(kind_bin, cfg.to_yaml(), tmp_path)
        assert "invalid configuration" not in out and "error converting" not in out.lower(), out
        assert "Ensuring node image" in out, out


FLAG_ERRORS = ("unknown flag", "unknown shorthand flag", "unknown command", "flag needs an argument",
               "invalid argument", "unrecognized condition", "accepts ", "requires at least")


def _unreachable_kubeconfig(path: Path) -> Path:
    path.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                    "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                    "current-context: x\n")
    return path


@pytest.mark.parametrize("cni,storage", [("kindnet", None), ("calico", None), ("cilium", None),
                                         ("cilium-kpr", None), ("flannel", None), ("kindnet", "local-path"),
                                         ("kindnet", "openebs"), ("kindnet", "longhorn")])
def test_real_kubectl_and_helm_accept_every_flag_of_the_up_plan(kind_bin: Path, tmp_path: Path, cni: str,
                                                                  storage: str | None) -> None:
    """kubectl and helm parse flags before they touch the network; a server on a closed port turns every
    command into a fast connection error, so a flag they do not know is the only other way to fail."""
    from labkit.components import up as cluster
    from labkit.steps import substitute
    from labkit.targets.kube import KubeTarget

    tools = kind_bin.parent
    kc = _unreachable_kubeconfig(tmp_path / "kc.yaml")
    target = KubeTarget("labkit-x", str(kc), kind_cluster="labkit-x", kubectl_bin=str(tools / "kubectl"),
                        helm_bin=str(tools / "helm"))
    env = {**os.environ, "HOME": str(tmp_path), "HELM_CONFIG_HOME": str(tmp_path / "h"),
           "HELM_CACHE_HOME": str(tmp_path / "hc"), "HELM_DATA_HOME": str(tmp_path / "hd")}
    values = {"ECHO0_IP": "10.244.1.2", "ECHO1_IP": "10.244.2.2", "SVC_IP": "10.96.0.20", "SUM": "ab12",
              "PV": "pvc-1"}
    checked = 0
    for step in cluster.up_script(cni, target=target, registry=True, storage=storage).steps:
        for cmd in (step.cmd, step.check):
            if cmd is None or Path(cmd.argv[0]).name not in ("kubectl", "helm"):
                continue
            argv = substitute(cmd.argv, values)
            if "repo" in argv[1:2]:  # `helm repo add` would reach the chart repository
                argv = [*argv, "--help"]
            res = subprocess.run(argv, input=cmd.stdin, capture_output=True, text=True, timeout=60, env=env)
            out = (res.stdout + res.stderr).lower()
            assert not any(e in out for e in FLAG_ERRORS), f"{' '.join(argv)}\n{out[-600:]}"
            checked += 1
    assert checked >= 8
