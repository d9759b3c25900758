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

    from labkit.versions import pins

    configs = [cluster.cluster_config(cni), cluster.cluster_config(cni, workers=0, allow_cgroup_v1=True)]
    configs += [cluster.cluster_config(cni, kubernetes=m) for m in pins()["components"]["supported_kubernetes"]]
    if cni == "kindnet":
        configs += [cluster.cluster_config(cni, storage=s) for s in ("local-path", "openebs", "longhorn")]
    for cfg in configs:
        out = _kind_create(kind_bin, cfg.to_yaml(), tmp_path)
        assert "invalid configuration" not in out and "error converting" not in out.lower(), out
        assert "Ensuring node image" in out, out


FLAG_ERRORS = ("unknown flag", "unknown shorthand flag", "unknown command", "flag needs an argument",
               "invalid argument", "unrecognized condition", "accepts ", "requires at least",
               "unexpected path string", "error parsing jsonpath", "unclosed action")


def _unreachable_kubeconfig(path: Path) -> Path:
    path.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                    "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                    "current-context: x\n")
    return path


def _tool_argv(argv: tuple[str, ...]) -> list[str] | None:
    """The kubectl/helm command in ``argv``: itself, or the one a check passes to `sh -c '…"$@"…' sh ARGV`."""
    if Path(argv[0]).name in ("kubectl", "helm"):
        return list(argv)
    if argv[:2] == ("sh", "-c") and len(argv) > 4 and Path(argv[4]).name in ("kubectl", "helm"):
        return list(argv[4:])
    return None


def _plans(cni: str, storage: str | None, target: object) -> list[object]:
    from labkit.components import up as cluster
    from labkit.components.network import options as network
    from labkit.components.storage import options as storage_options

    plans = list(cluster.up_script(cni, target=target, registry=True, storage=storage).plans)
    plans.append(network.option(cni).uninstall(target))
    if storage:
        plans.append(storage_options.option(storage).uninstall(target))
    return plans


@pytest.mark.parametrize("cni,storage", [("kindnet", None), ("calico", None), ("cilium", None),
                                         ("cilium-kpr", None), ("flannel", None), ("kindnet", "local-path"),
                                         ("kindnet", "openebs"), ("kindnet", "longhorn")])
def test_real_kubectl_and_helm_accept_every_flag_of_the_up_plan(kind_bin: Path,
                                                                  tmp_path_factory: pytest.TempPathFactory,
                                                                  cni: str, storage: str | None) -> None:
    """kubectl and helm parse flags before they touch the network; a server on a closed port turns every
    command into a fast connection error, so a flag they do not know is the only other way to fail. Every
    command, check and diagnostic of the up plan and of the options' uninstall plans is tried."""
    from labkit.steps import substitute
    from labkit.targets.kube import KubeTarget

    tools = kind_bin.parent
    home = tmp_path_factory.getbasetemp() / "contract-flags"
    kc = home / "kc.yaml"
    if not kc.exists():
        home.mkdir(exist_ok=True)
        _unreachable_kubeconfig(kc)
    target = KubeTarget("labkit-x", str(kc), kind_cluster="labkit-x", kubectl_bin=str(tools / "kubectl"),
                        helm_bin=str(tools / "helm"))
    env = {**os.environ, "HOME": str(home), "HELM_CONFIG_HOME": str(home / "h"),
           "HELM_CACHE_HOME": str(home / "hc"), "HELM_DATA_HOME": str(home / "hd")}
    values = {"ECHO0_IP": "10.244.1.2", "ECHO1_IP": "10.244.2.2", "SVC_IP": "10.96.0.20", "KUBE_SVC_IP": "10.96.0.1",
              "PROBE_NODE": "labkit-x-worker2", "ECHO0_NODE": "labkit-x-worker", "SUM": "ab12", "PV": "pvc-1"}
    seen = _CHECKED  # commands shared by several plans are tried once per session
    before = len(seen)
    for plan in _plans(cni, storage, target):
        for step in plan.steps:  # type: ignore[attr-defined]
            for cmd in (step.cmd, step.check, *step.diagnose):
                argv = _tool_argv(tuple(substitute(cmd.argv, values))) if cmd is not None else None
                if argv is None or tuple(argv) in seen:
                    continue
                seen.add(tuple(argv))
                if "repo" in argv[1:2]:  # `helm repo add` would reach the chart repository
                    argv = [*argv, "--help"]
                res = subprocess.run(argv, input=cmd.stdin, capture_output=True, text=True, timeout=60, env=env)
                out = (res.stdout + res.stderr).lower()
                assert not any(e in out for e in FLAG_ERRORS), f"{' '.join(argv)}\n{out[-600:]}"
    assert len(seen) > before or before >= 8  # this combination added commands, or all were shared


_CHECKED: set[tuple[str, ...]] = set()


def test_the_flag_check_catches_a_flag_kubectl_does_not_know(kind_bin: Path, tmp_path: Path) -> None:
    kc = _unreachable_kubeconfig(tmp_path / "kc.yaml")
    res = subprocess.run([str(kind_bin.parent / "kubectl"), "--kubeconfig", str(kc), "wait", "--for=create",
                          "pod/x", "--timout=1s"], capture_output=True, text=True, timeout=60)
    assert any(e in (res.stdout + res.stderr).lower() for e in FLAG_ERRORS)


@pytest.mark.parametrize("cni,storage", [("calico", None), ("flannel", None), ("kindnet", "longhorn"),
                                         ("kindnet", "openebs")])
def test_every_jsonpath_template_of_the_plans_parses_with_real_kubectl(kind_bin: Path, tmp_path: Path, cni: str,
                                                                      storage: str | None) -> None:
    """`kubectl get -o jsonpath=…` reaches the server before it parses its template; `label --local` prints a
    local object through the same printer, offline, so a template kubectl cannot parse fails here."""
    from labkit.targets.kube import KubeTarget

    obj = tmp_path / "obj.yaml"
    obj.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    target = KubeTarget("labkit-x", str(tmp_path / "kc"), kind_cluster="labkit-x")
    templates = {a.split("=", 1)[1] for plan in _plans(cni, storage, target) for step in plan.steps  # type: ignore
                 for cmd in (step.cmd, step.check) if cmd is not None for a in (_tool_argv(cmd.argv) or [])
                 if a.startswith("jsonpath=")}
    assert templates
    kubectl = str(kind_bin.parent / "kubectl")
    for template in sorted(templates):
        res = subprocess.run([kubectl, "label", "--local", "-f", str(obj), "a=b", "-o", f"jsonpath={template}"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, f"{template}: {res.stderr}"
    broken = subprocess.run([kubectl, "label", "--local", "-f", str(obj), "a=b", "-o", "jsonpath={.a"],
                            capture_output=True, text=True, timeout=60)
    assert broken.returncode != 0  # the check can fail
