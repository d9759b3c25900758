"""The kind path offline: CNI plans (golden), manifests (strict schemas), config conflicts, lifecycle flow."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from labkit.components import up as cluster
from labkit.targets.kube import kubeconfig_path
from labkit.components.base import Retired
from labkit.targets.kind import config, lifecycle, plans, preflight
from labkit._run import Result
from labkit.components.network import options as network
from labkit.components.network import verify as verify_net
from labkit.errors import BadInput, CommandError, Unavailable
from labkit.steps import StepFailed
from labkit.targets.kube import KubeTarget
from labkit.versions import pins
from tests.fakes import ScriptedRunner

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
MINORS = [f"{m}.0" for m in pins()["components"]["supported_kubernetes"]]
IMAGE = "labkit/tools:0.2.0"


@pytest.fixture()
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("LABKIT_HOME", "/labkit-home")
    return tmp_path


def _contains(argv: list[str], part: tuple[str, ...]) -> bool:
    n = len(part)
    return any(tuple(argv[i:i + n]) == part for i in range(len(argv) - n + 1))


SUM = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PV = "pvc-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


class World:
    """A healthy host and kind cluster that answers an up script's commands as the real tools would.

    Strict: a command that is not one of the script's own commands, checks or diagnostics fails the test
    (nothing runs that the transcript does not show). Checks hold when the state they test holds: the
    cluster after `kind create`, the registry by its container state ("absent", "stopped", "running"),
    any other check once its own step's command has run. ``answers`` overrides by argv run (first match
    wins; a list is consumed one answer per call); ``interrupt`` = n: Ctrl-C instead of the n-th command."""

    def __init__(self, script: Any, *, cni: str = "kindnet", registry: str = "absent", name: str = "labkit",
                 answers: dict[tuple[str, ...], Any] | None = None,
                 interrupt: int | None = None, ran: list[tuple[str, ...]] | None = None):
        self.enforces = network.option(cni).enforces_policy
        self.registry, self.name, self.policy = registry, name, False
        self.answers = dict(answers or {})
        self.interrupt = interrupt
        self.ran: list[tuple[str, ...]] = ran if ran is not None else []  # commands that succeeded
        self.executed: list[tuple[str, ...]] = []  # every command, in order
        self.calls: list[tuple[list[str], str | None]] = []
        self.partner = {tuple(s.check.argv): tuple(s.cmd.argv) for s in script.steps if s.check is not None}
        self.known = {tuple(c.argv) for s in script.steps for c in (s.cmd, s.check, *s.diagnose) if c is not None}
        nodes = sorted({a.split(":")[0] for s in script.steps for a in s.cmd.argv if a.startswith(f"{name}-")})
        self.w1, self.w2 = (nodes[-2], nodes[-1]) if len(nodes) >= 2 else (f"{name}-worker", f"{name}-worker2")

    def argvs(self) -> list[list[str]]:
        return [a for a, _ in self.calls]

    def values(self) -> dict[str, str]:
        """What the verify steps capture from this world."""
        return {"ECHO0_IP": "192.168.1.7", "ECHO1_IP": "192.168.2.9", "SVC_IP": "10.96.4.4",
                "KUBE_SVC_IP": "10.96.0.1", "PROBE_NODE": self.w2, "ECHO0_NODE": self.w1, "SUM": SUM, "PV": PV,
                "REPLICA_NODES": f"{self.w1}\n{self.w2}"}

    def commands(self) -> list[tuple[str, ...]]:
        return list(self.executed)

    def run(self, argv: list[str], *, stdin: str | None = None, env: Any = None, timeout: float = 0,
            check: bool = True, quiet: bool = False) -> Result:
        argv = list(argv)
        self.calls.append((argv, stdin))
        if quiet:
            rc, out = self._query(argv)
        else:
            rc, out = self._command(argv, stdin)
        if check and rc:
            raise CommandError(argv, rc, out, out or "scripted failure")
        return Result(tuple(argv), rc, out, "")

    def _known(self, argv: list[str]) -> bool:
        from labkit.steps import _VAR

        return any(len(k) == len(argv) and all(a == b or _VAR.search(a) for a, b in zip(k, argv, strict=True))
                   for k in self.known)

    def _query(self, argv: list[str]) -> tuple[int, str]:
        if argv[1:3] == ["get", "clusters"]:
            return 0, (self.name + "\n") if any(c[1:3] == ("create", "cluster") for c in self.ran) else ""
        assert self._known(argv), f"not in the plan: {argv}"
        for part, answer in self.answers.items():
            if _contains(argv, part) and tuple(argv) not in self.partner:
                return answer if isinstance(answer, tuple) else (0, answer)
        script = " ".join(argv)
        if "{{.State.Running}}" in script:
            holds = self.registry == "running" if "= true" in script else self.registry != "stopped"
            return (0 if holds else 1), ""
        if "/readyz" in argv:
            return (0 if any(c[1:3] == ("create", "cluster") for c in self.ran) else 1), ""
        if tuple(argv) in self.partner:
            return (0 if self.partner[tuple(argv)] in self.ran else 1), ""
        if "Networks.kind" in script:
            return (0 if ("docker", "network", "connect", "kind", "kind-registry") in self.ran else 1), ""
        return 0, "diagnostics"

    def _command(self, argv: list[str], stdin: str | None) -> tuple[int, str]:
        assert self._known(argv), f"not in the plan: {argv}"
        if self.interrupt is not None and len(self.executed) == self.interrupt:
            raise KeyboardInterrupt
        self.executed.append(tuple(argv))
        for part, answer in self.answers.items():
            if _contains(argv, part):
                if isinstance(answer, list):
                    answer = answer.pop(0) if len(answer) > 1 else answer[0]
                rc, out = answer if isinstance(answer, tuple) else \
                    (answer, "") if isinstance(answer, int) else (0, answer)
                if rc == 0:
                    self.ran.append(tuple(argv))
                return rc, out
        if "http://192.168.1.7:8080/" in argv and self.policy and self.enforces:
            return 28, ""  # curl: timed out (the policy drops it)
        # what the real tools do when a step that is not idempotent runs twice
        if argv[1:3] == ["create", "cluster"] and any(c[1:3] == ("create", "cluster") for c in self.ran):
            return 1, "ERROR: failed to create cluster: node(s) already exist for a cluster with the name"
        if argv[:2] == ["docker", "run"] and self.registry != "absent":
            return 125, "Conflict. The container name \"/kind-registry\" is already in use"
        if argv[:3] == ["docker", "network", "connect"] and tuple(argv) in self.ran:
            return 1, "endpoint with name kind-registry already exists in network kind"
        self.ran.append(tuple(argv))
        return 0, self._answer(argv, stdin)

    def _answer(self, argv: list[str], stdin: str | None) -> str:
        a = " ".join(argv)
        if argv[:2] == ["docker", "run"] or argv[:2] == ["docker", "start"]:
            self.registry = "running"
        if stdin and "kind: NetworkPolicy" in stdin:
            self.policy = True
        if "delete networkpolicy" in a:
            self.policy = False
        jsonpath = {"echo-0 -o jsonpath={.status.podIP}": "192.168.1.7", "echo-1 -o jsonpath={.status.podIP}":
                    "192.168.2.9", "echo -o jsonpath={.spec.clusterIP}": "10.96.4.4",
                    "kubernetes -o jsonpath={.spec.clusterIP}": "10.96.0.1",
                    "probe -o jsonpath={.spec.nodeName}": self.w2, "echo-0 -o jsonpath={.spec.nodeName}": self.w1,
                    "echo-0 -o jsonpath={.status.podIP}/{.status.phase}/{.status.containerStatuses[0].ready}":
                        "192.168.1.7/Running/true",
                    "data -o jsonpath={.spec.volumeName}": PV, "-o jsonpath={.status.state}": "attached"}
        for tail, out in jsonpath.items():
            if a.endswith(tail):
                return out
        if "getent hosts kubernetes.default.svc" in a:
            return "10.96.0.1       kubernetes.default.svc.cluster.local\n"
        if "getent hosts echo.labkit-verify.svc" in a:
            return "10.96.4.4       echo.labkit-verify.svc.cluster.local\n"
        if "http://192.168.1.7:8080/" in a:
            return f"echo-0 on {self.w1}\n"
        if "http://192.168.2.9:8080/" in a:
            return f"echo-1 on {self.w2}\n"
        if "http://10.96.4.4:8080/" in a:
            return f"echo-0 on {self.w1}\n"
        if "storageclass" in argv and "jsonpath={.provisioner} {.volumeBindingMode}" in argv:
            sc = argv[argv.index("storageclass") + 1]
            return {"standard": "rancher.io/local-path", "openebs-hostpath": "openebs.io/local",
                    "longhorn": "driver.longhorn.io"}[sc] + " WaitForFirstConsumer"
        if argv[-4:-2] == ["logs", "-n"] or a.endswith("labkit-verify-storage writer"):
            return SUM + "\n"
        if "sha256sum -c" in a and "/data/" in a:
            return f"/data/{SUM}: OK\n"
        if "longhornvolume=" in a and "jsonpath=" in a:
            return f"{self.w1}\n{self.w2}\n"
        if "bridge-nf-call-iptables" in a:
            return "1\n"
        if "systemctl is-active iscsid.service" in a:
            return "active\n"
        if argv[0] == "cat" and argv[1].endswith(".sha256"):
            tgz = argv[1].rsplit("/", 1)[1][:-len(".sha256")]
            return f"{network.option('flannel').plugins_sha256()}  {tgz}\n"  # type: ignore[attr-defined]
        if argv[0] in ("sha256sum", "shasum") and stdin:
            return f"{stdin.split()[1]}: OK\n"
        return ""


# -- golden transcripts -----------------------------------------------------------------------------

@pytest.mark.parametrize("cni", network.INSTALLABLE)
def test_up_plan_matches_its_golden_transcript(home: Path, cni: str) -> None:
    transcript = cluster.up_script(cni).transcript()
    golden = GOLDEN / f"up-{cni}.json"
    if os.environ.get("LABKIT_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(transcript, indent=2) + "\n")
    assert transcript == json.loads(golden.read_text()), "plan changed: review the diff, then LABKIT_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", config.profiles())
def test_every_kind_profile_has_a_golden_create_plan(home: Path, name: str) -> None:
    transcript = plans.create_plan(config.profile(name)).transcript()
    golden = GOLDEN / f"create-{name}.json"
    if os.environ.get("LABKIT_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(transcript, indent=2) + "\n")
    assert transcript == json.loads(golden.read_text())


# -- what each CNI's plan must get right (the pitfalls) -----------------------------------------------

def _argvs(cni: str, **kw: Any) -> list[list[str]]:
    return [list(s.cmd.argv) for s in cluster.up_script(cni, **kw).steps]


def test_calico_creates_its_crds_first_then_the_operator_then_waits_for_what_it_made(home: Path) -> None:
    script = cluster.up_script("calico")
    argvs = [" ".join(s.cmd.argv) for s in script.steps]
    base = "https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/"
    crds = next(i for i, a in enumerate(argvs) if a.endswith(base + "v1_crd_projectcalico_org.yaml"))
    established = next(i for i, a in enumerate(argvs) if "--for=condition=Established" in a)
    operator = next(i for i, a in enumerate(argvs) if a.endswith(base + "tigera-operator.yaml"))
    resources = next(i for i, s in enumerate(script.steps) if s.cmd.stdin and "kind: Installation" in s.cmd.stdin)
    assert crds < established < operator < resources  # a wait on a CRD nobody created fails at once
    assert script.steps[crds].cmd.argv[-5:-1] == ("apply", "--server-side", "--force-conflicts", "-f")
    for kind in ("installations", "apiservers", "goldmanes", "whiskers"):
        assert f"crd/{kind}.operator.tigera.io" in argvs[established]
    after = argvs[resources:]
    assert any("--for=create" in a and "daemonset/calico-node" in a and "deployment/calico-kube-controllers" in a
               for a in after)
    assert any("--for=condition=Available" in a and "tigerastatus/calico" in a for a in after)
    assert any("rollout status -n kube-system deployment/coredns" in a for a in after)
    assert script.steps[operator].check is not None  # skipped on a re-run once the operator exists
    cr = [s for s in script.steps if s.cmd.stdin and "kind: Installation" in s.cmd.stdin][0]
    inst = next(d for d in yaml.safe_load_all(cr.cmd.stdin) if d["kind"] == "Installation")
    assert inst["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == "192.168.0.0/16"
    other = cluster.up_script("calico", cfg=config.ClusterConfig(name="labkit-c2", disable_default_cni=True,
                                                                  pod_subnet="10.10.0.0/16"))
    assert any(s.cmd.stdin and "cidr: 10.10.0.0/16" in s.cmd.stdin for s in other.steps)


def test_flannel_gets_the_bridge_plugin_on_every_node_and_a_pinned_manifest(home: Path) -> None:
    argvs = _argvs("flannel", workers=3)
    copies = [a for a in argvs if a[:2] == ["docker", "cp"]]
    assert [a[-1] for a in copies] == [f"labkit-flannel-{n}:/opt/cni/bin/bridge" for n in
                                       ("control-plane", "worker", "worker2", "worker3")]
    urls = [a[-1] for a in argvs if a[-2:-1] == ["-f"]]
    assert "https://github.com/flannel-io/flannel/releases/download/v0.28.9/kube-flannel.yml" in urls
    assert not any("latest" in u for u in urls)
    steps = cluster.up_script("flannel").steps
    verify = next(s for s in steps if s.cmd.argv[:3] == ("sha256sum", "-c", "-"))
    pinned = network.option("flannel").plugins_sha256()  # type: ignore[attr-defined]
    assert (verify.cmd.stdin or "").startswith(pinned + "  /labkit-home/cache/cni-plugins/cni-plugins-linux-")
    published = next(s for s in steps if s.cmd.argv[0] == "cat")
    assert published.expect_match and pinned in published.expect_match  # the release's file must agree


def test_flannel_checks_br_netfilter_in_a_node_before_it_applies_the_manifest(home: Path) -> None:
    steps = cluster.up_script("flannel").steps
    titles = [s.title for s in steps]
    check = steps[titles.index("Check br_netfilter in the nodes' kernel")]
    assert check.cmd.argv == ("docker", "exec", "labkit-flannel-control-plane", "cat",
                              "/proc/sys/net/bridge/bridge-nf-call-iptables")
    assert "sudo modprobe br_netfilter" in check.fix
    assert titles.index("Check br_netfilter in the nodes' kernel") < titles.index("Apply the flannel manifest")
    wait = steps[titles.index("Wait for flannel on every node")]
    logs = [" ".join(c.argv) for c in wait.diagnose if "logs" in c.argv]
    assert any(a.endswith("logs -n kube-flannel -l app=flannel -c kube-flannel --prefix --tail=30") for a in logs)
    assert any(a.endswith("--tail=30 --previous") for a in logs)  # the crashed run's log names the cause


def test_br_netfilter_is_read_from_its_sysctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.targets import kernel

    monkeypatch.setattr(kernel.platform, "system", lambda: "Linux")
    ok, why = kernel.br_netfilter_support(root=tmp_path)
    assert ok is False and "not loaded" in why
    (tmp_path / "proc/sys/net/bridge").mkdir(parents=True)
    (tmp_path / "proc/sys/net/bridge/bridge-nf-call-iptables").write_text("1\n")
    assert kernel.br_netfilter_support(root=tmp_path)[0] is True
    monkeypatch.setattr(kernel.platform, "system", lambda: "Darwin")
    assert kernel.br_netfilter_support(root=tmp_path)[0] is None


def test_a_host_without_br_netfilter_is_refused_for_flannel_before_anything_is_made(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from labkit.components.network import flannel

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setattr(flannel, "br_netfilter_support",
                        lambda: (False, "/proc/sys/net/bridge/bridge-nf-call-iptables is missing"))
    fake = ScriptedRunner()  # no command may run at all
    with pytest.raises(Unavailable) as info:
        cluster.up("flannel", runner=fake)  # type: ignore[arg-type]
    assert "bridge-nf-call-iptables" in str(info.value) and "sudo modprobe br_netfilter" in (info.value.fix or "")
    assert fake.argvs() == []
    monkeypatch.setattr(flannel, "br_netfilter_support", lambda: (None, "Darwin: checked inside a node"))
    network.option("flannel").check_host()  # cannot tell from here: the plan's own step checks in a node


def test_flannel_crash_loop_diagnostics_show_flanneld_naming_the_cause(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    line = "E1130 main.go:292] Failed to check br_netfilter: stat /proc/sys/net/bridge/bridge-nf-call-iptables"
    world = _world("flannel", answers={("rollout", "status", "-n", "kube-flannel"): (1, "timed out"),
                                       ("--tail=30", "--previous"): (0, line)})
    with pytest.raises(StepFailed) as info:
        _up(world, "flannel")
    assert "flannel on every node" in str(info.value) and "Failed to check br_netfilter" in info.value.diagnostics


def test_cilium_kpr_removes_kube_proxy_and_points_the_agent_at_the_api_server(home: Path) -> None:
    script = cluster.up_script("cilium-kpr")
    create = script.steps[0]
    assert "kubeProxyMode: none" in (create.cmd.stdin or "")
    helm = [s for s in script.steps if "upgrade" in s.cmd.argv][0]
    values = yaml.safe_load(helm.cmd.stdin or "")
    assert values["kubeProxyReplacement"] is True and values["k8sServiceHost"] == "labkit-cilium-kpr-control-plane"
    assert helm.cmd.argv[:9] == ("helm", "upgrade", "--install", "cilium", "cilium/cilium", "--version", "1.20.0",
                                 "--namespace", "kube-system")
    assert "--kubeconfig" in helm.cmd.argv
    plain = yaml.safe_load([s for s in cluster.up_script("cilium").steps if "upgrade" in s.cmd.argv][0].cmd.stdin)
    assert "kubeProxyReplacement" not in plain and plain["ipam"]["mode"] == "kubernetes"


def test_kindnet_installs_nothing_and_keeps_the_default_cni(home: Path) -> None:
    script = cluster.up_script("kindnet")
    assert "disableDefaultCNI" not in (script.steps[0].cmd.stdin or "")
    install = [p for p in script.plans if p.title.startswith("kindnet")][0]
    assert all(s.cmd.argv[3] in ("rollout", "wait") for s in install.steps)


@pytest.mark.parametrize("cni,enforces", [("kindnet", True), ("calico", True), ("cilium", True),
                                          ("cilium-kpr", True), ("flannel", False)])
def test_network_policy_expectation_depends_on_the_cni(home: Path, cni: str, enforces: bool) -> None:
    plan = cluster.up_script(cni).plans[-1]
    step = [s for s in plan.steps if "policy" in s.title.lower() and "exec" in s.cmd.argv][0]
    assert step.ok_codes == ((7, 28) if enforces else (0,))
    assert (step.retries > 1) == enforces


def test_every_kubectl_and_helm_step_uses_the_labs_kubeconfig(home: Path) -> None:
    for cni in network.INSTALLABLE:
        for argv in _argvs(cni):
            if Path(argv[0]).name in ("kubectl",) or (argv[0] == "helm" and argv[1] != "repo"):
                assert "--kubeconfig" in argv and argv[argv.index("--kubeconfig") + 1].startswith("/labkit-home/kube/")


def test_a_context_target_spells_context_flags_for_kubectl_and_helm() -> None:
    t = KubeTarget("prod", "/k/config", context="prod")
    assert t.kubectl("get", "nodes") == ("kubectl", "--kubeconfig", "/k/config", "--context", "prod", "get", "nodes")
    assert t.helm("list")[-4:] == ("--kubeconfig", "/k/config", "--kube-context", "prod")


# -- bad input ---------------------------------------------------------------------------------------

def test_unknown_cni_lists_the_options() -> None:
    with pytest.raises(BadInput) as info:
        network.option("canal")
    assert "'canal'" in str(info.value) and "calico" in str(info.value) and "flannel" in str(info.value)


def test_a_cni_version_other_than_the_pinned_one_is_refused() -> None:
    assert network.option("calico@v3.32.1").name == "calico"
    with pytest.raises(BadInput) as info:
        network.option("calico@v3.31.2")
    assert "v3.32.1" in str(info.value) and "versions.yaml" in (info.value.fix or "")
    with pytest.raises(BadInput):
        cluster.up_script("cilium@1.14.0")


def test_weave_is_retired_with_the_reason_and_a_way_forward() -> None:
    with pytest.raises(Retired) as info:
        cluster.up_script("weave")
    assert "archived" in str(info.value) and "rajch/weave" in str(info.value) and "calico" in (info.value.fix or "")


def test_calico_with_the_default_cni_left_on_is_refused() -> None:
    with pytest.raises(BadInput) as info:
        network.option("calico").check_config(config.ClusterConfig(name="labkit-x"))
    assert "disable_default_cni" in str(info.value) and "labkit up --cni calico" in (info.value.fix or "")


def test_flannel_with_a_pod_subnet_its_manifest_does_not_use_is_refused() -> None:
    cfg = config.ClusterConfig(name="labkit-x", disable_default_cni=True, pod_subnet="192.168.0.0/16")
    with pytest.raises(BadInput) as info:
        network.option("flannel").check_config(cfg)
    assert "pod_subnet" in str(info.value) and "10.244.0.0/16" in str(info.value)


def test_cilium_without_kube_proxy_needs_the_kpr_variant() -> None:
    cfg = config.ClusterConfig(name="labkit-x", disable_default_cni=True, kube_proxy_mode="none")
    with pytest.raises(BadInput) as info:
        network.option("cilium").check_config(cfg)
    assert "cilium-kpr" in (info.value.fix or "")


@pytest.mark.parametrize("name", ["Labkit", "my-cluster", "labkit_x", "labkit-" + "x" * 40])
def test_invalid_cluster_names_are_refused(name: str) -> None:
    with pytest.raises(BadInput):
        cluster.cluster_config("kindnet", name=name)


def test_unknown_kubernetes_version_lists_the_pinned_ones() -> None:
    with pytest.raises(BadInput) as info:
        cluster.cluster_config("calico", kubernetes="1.29")
    assert "1.36" in str(info.value)


def test_latest_images_are_never_loaded() -> None:
    with pytest.raises(BadInput) as info:
        plans.load_images_plan(KubeTarget.for_kind("labkit"), ["labkit/tools:latest"])
    assert "Always" in (info.value.fix or "")


# -- existing clusters, gates -------------------------------------------------------------------------

def test_the_same_cluster_is_reused_and_another_config_is_a_conflict(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    cfg = cluster.cluster_config("calico")
    assert lifecycle.check_existing(cfg, ["other"]) is False
    with pytest.raises(lifecycle.ClusterConflict) as info:
        lifecycle.check_existing(cfg, ["labkit-calico"])
    assert "no record" in str(info.value) and "labkit down --name labkit-calico" in (info.value.fix or "")
    lifecycle.saved_config_path(cfg.name).parent.mkdir(parents=True)
    lifecycle.saved_config_path(cfg.name).write_text(cfg.to_yaml())
    assert lifecycle.check_existing(cfg, ["labkit-calico"]) is True
    with pytest.raises(lifecycle.ClusterConflict) as info:
        lifecycle.check_existing(cluster.cluster_config("calico", workers=3), ["labkit-calico"])
    assert "+- role: worker" in str(info.value)


def test_cgroup_v1_with_kubernetes_1_36_is_refused_before_anything_is_made() -> None:
    cfg = cluster.cluster_config("kindnet")
    with pytest.raises(Unavailable) as info:
        preflight.gates(cfg, docker_info={"CgroupVersion": "1"}, meminfo_gib=20, inotify=(524288, 512))
    assert "cgroup v1" in str(info.value) and "--allow-cgroup-v1" in (info.value.fix or "")
    preflight.gates(cluster.cluster_config("kindnet", allow_cgroup_v1=True), docker_info={"CgroupVersion": "1"},
                  meminfo_gib=20, inotify=(524288, 512))
    assert "failCgroupV1: false" in cluster.cluster_config("kindnet", allow_cgroup_v1=True).to_yaml()


def test_low_inotify_and_low_memory_are_refused_with_the_fix() -> None:
    cfg = cluster.cluster_config("kindnet")
    with pytest.raises(Unavailable) as info:
        preflight.gates(cfg, docker_info={"CgroupVersion": "2"}, meminfo_gib=20, inotify=(8192, 128))
    assert "sysctl fs.inotify.max_user_watches=524288" in (info.value.fix or "")
    with pytest.raises(Unavailable) as info:
        preflight.gates(cfg, docker_info={"CgroupVersion": "2"}, meminfo_gib=1.0, inotify=(524288, 512))
    assert "1.0 GiB" in str(info.value) and "--workers 1" in (info.value.fix or "")


# -- running the plan (argv contracts through a recording runner) -------------------------------------

def _up(runner: Any, cni: str = "calico", **kw: Any) -> KubeTarget:
    return cluster.up(cni, runner=runner, preflight=False, **kw)  # type: ignore[arg-type]


def _world(cni: str = "calico", *, script: Any = None, **kw: Any) -> World:
    """A World for the script ``up(cni, preflight=False, **chosen)`` runs (LABKIT_HOME must be set first)."""
    world_kw = {k: kw.pop(k) for k in ("registry", "answers", "interrupt", "ran") if k in kw}
    cfg = cluster.cluster_config(cni, **{k: v for k, v in kw.items() if k == "storage"})
    return World(script or cluster.up_script(cni, cfg=cfg, **kw), cni=cni, name=cfg.name, **world_kw)


def test_up_runs_exactly_the_explained_commands_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    world = _world("calico")
    target = _up(world)
    assert target.kubeconfig == str(tmp_path / "kube" / "labkit-calico.yaml")
    script = cluster.up_script("calico", target=target, cfg=cluster.cluster_config("calico"))
    from labkit.steps import substitute

    values = world.values()
    expected = [substitute(s.cmd.argv, values) for s in script.steps
                if s.title != "Start the registry container again if it exists but is stopped"]
    assert [list(a) for a in world.commands()] == expected
    assert lifecycle.saved_config_path("labkit-calico").read_text() == cluster.cluster_config("calico").to_yaml()


@pytest.mark.parametrize("cni,storage", [("calico", None), ("flannel", None), ("kindnet", "longhorn")])
def test_up_interrupted_at_any_step_resumes_and_skips_what_finished(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path, cni: str,
                                                                    storage: str | None) -> None:
    """Ctrl-C at every step index in turn; then `up` again: it finishes, nothing that holds runs twice."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    script = cluster.up_script(cni, cfg=cluster.cluster_config(cni, storage=storage), storage=storage)
    steps = script.steps
    clean = _world(cni, storage=storage, script=script)
    _up(clean, cni, storage=storage)
    assert len(clean.commands()) >= len(steps) - 1  # only the registry's "start it again" step is skipped
    # Every command index for calico; the others add only their own install steps (the kind, registry and
    # verify commands are the same for every option, so calico's run covers them).
    commands = clean.commands()
    load = next(i for i, c in enumerate(commands) if c[1:3] == ("load", "docker-image"))
    if storage:
        network_only = set(_run_clean(cni))
        indices = [i for i, c in enumerate(commands) if c not in network_only]
    else:
        indices = list(range(len(commands) if cni == "calico" else load))
    for i in indices:
        interrupted = commands[i]
        for f in (tmp_path / "kube").glob("*"):
            f.unlink()
        first = _world(cni, storage=storage, script=script, interrupt=i)
        with pytest.raises(KeyboardInterrupt):
            _up(first, cni, storage=storage)
        done = list(first.ran)
        second = _world(cni, storage=storage, script=script, ran=list(done))
        second.registry = first.registry
        _up(second, cni, storage=storage)
        again = second.commands()
        for s in steps:
            if s.check is not None and tuple(s.cmd.argv) in done:
                assert tuple(s.cmd.argv) not in again, f"Ctrl-C at {interrupted[:4]}: {s.title!r} ran twice"
        assert again[-1] == clean.commands()[-1]  # the re-run got to the end


@pytest.mark.parametrize("cni,storage", [("flannel", None), ("calico", None), ("kindnet", "longhorn")])
def test_steps_that_cannot_simply_run_again_have_a_check(home: Path, cni: str, storage: str | None) -> None:
    """What is slow or fails when repeated (create, docker run, network connect, downloads, the CRD and
    operator applies, copying into nodes, enabling iscsid) is skipped on a re-run by its check."""
    must = ("Create the kind cluster", "Start the registry container (", "Attach the registry",
            "Download the CNI reference plugins", "Copy bridge into node", "Install Calico's CRDs",
            "Install the Tigera operator", "Enable iscsid on")
    steps = cluster.up_script(cni, storage=storage).steps
    guarded = [s for s in steps if s.title.startswith(must)]
    assert len(guarded) >= 3
    assert [s.title for s in guarded if s.check is None] == []


def _run_clean(cni: str) -> list[tuple[str, ...]]:
    world = _world(cni)
    _up(world, cni)
    return world.commands()


def test_a_stopped_registry_container_is_started_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    world = _world("kindnet", registry="stopped")
    _up(world, "kindnet", verify=False)
    docker = [c[:2] for c in world.commands() if c[0] == "docker" and c[1] in ("start", "run")]
    assert docker == [("docker", "start")]  # `docker run` would fail on the stopped container's name
    assert world.registry == "running"
    fresh = _world("kindnet", registry="absent")
    _up(fresh, "kindnet", verify=False)
    assert [c[:2] for c in fresh.commands() if c[0] == "docker" and c[1] in ("start", "run")] == [("docker", "run")]
    running = _world("kindnet", registry="running")
    _up(running, "kindnet", verify=False)
    assert not [c for c in running.commands() if c[0] == "docker" and c[1] in ("start", "run")]


def test_the_registry_check_compares_the_running_state_not_the_exit_code(home: Path) -> None:
    step = next(s for s in cluster.up_script("kindnet").steps if s.cmd.argv[:2] == ("docker", "run"))
    assert step.check is not None and step.check.argv[:2] == ("sh", "-c")
    assert step.check.argv[2] == 'test "$(docker inspect -f "{{.State.Running}}" "$1" 2>/dev/null)" = true'
    assert step.check.argv[-1] == "kind-registry"  # a positional argument, never spliced into the script


def test_a_readiness_timeout_names_what_was_not_ready_and_why(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    events = "Warning  FailedCreatePodSandBox  pod/calico-node-x: plugin type=\"calico\" failed"
    world = _world("calico", answers={("rollout", "status", "-n", "calico-system", "daemonset/calico-node"):
                                      (1, "timed out"), ("get", "events", "-n", "calico-system"): (0, events)})
    with pytest.raises(StepFailed) as info:
        _up(world)
    assert "calico-node on every node" in str(info.value) and "FailedCreatePodSandBox" in info.value.diagnostics
    assert "run the plan again" in (info.value.fix or "")


def test_a_cluster_made_with_another_config_stops_up_before_any_change(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    fake = ScriptedRunner({("kind", "get", "clusters"): (0, "labkit-calico\n")})
    with pytest.raises(lifecycle.ClusterConflict):
        _up(fake)
    assert fake.argvs() == [["kind", "get", "clusters"]]


def test_down_deletes_the_cluster_and_the_labs_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    for p in (lifecycle.saved_config_path("labkit-x"), kubeconfig_path("labkit-x")):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    fake = ScriptedRunner({("kind", "delete", "cluster"): 0})
    lifecycle.down("labkit-x", runner=fake, kind="kind")
    assert fake.argvs() == [["kind", "delete", "cluster", "--name", "labkit-x", "--kubeconfig",
                             str(tmp_path / "kube" / "labkit-x.yaml")]]
    assert not lifecycle.saved_config_path("labkit-x").exists()
    with pytest.raises(BadInput):
        lifecycle.down("production")


# -- every manifest, strictly -----------------------------------------------------------------------

def _builtin_manifests() -> list[dict[str, Any]]:
    objs = verify_net.manifests(IMAGE) + verify_net.manifests(IMAGE, cross_node=False)[1:2]
    return objs + [verify_net.deny_policy(), plans.registry_configmap()]


def _from_plans() -> list[dict[str, Any]]:
    """Every object any up plan sends on stdin to kubectl."""
    out = []
    for cni in network.INSTALLABLE:
        for step in cluster.up_script(cni).steps:
            if step.cmd.stdin and step.cmd.argv[0] == "kubectl":
                out += [d for d in yaml.safe_load_all(step.cmd.stdin) if d]
    return out


def _crd_schemas() -> dict[str, Any]:
    return dict(yaml.safe_load((SCHEMAS / "operator.tigera.io-v1.yaml").read_text())["kinds"])


def _validate(obj: dict[str, Any], minor: str) -> None:
    if obj["apiVersion"] == "operator.tigera.io/v1":
        schema = _crd_schemas().get(obj["kind"])
        if schema is None:
            pytest.fail(f"no hand-kept schema for {obj['kind']}: add one to tests/schemas/")
        jsonschema.validate(obj, schema)
        return
    kubernetes_validate.validate(obj, minor, strict=True)  # SchemaNotFoundError fails the test


@pytest.mark.parametrize("minor", MINORS)
def test_every_manifest_labkit_sends_is_valid_for_each_supported_kubernetes(minor: str) -> None:
    objs = _builtin_manifests() + _from_plans()
    assert {o["kind"] for o in objs} >= {"Namespace", "StatefulSet", "Service", "Pod", "NetworkPolicy", "ConfigMap",
                                         "Installation", "APIServer", "Goldmane", "Whisker"}
    for obj in objs:
        _validate(obj, minor)


def test_every_object_labkit_creates_is_labelled() -> None:
    for obj in _builtin_manifests() + _from_plans():
        assert obj["metadata"]["labels"]["io.labkit.managed"] == "true", obj["kind"]


@pytest.mark.parametrize("mutate,error", [
    (lambda o: o[1]["spec"].__setitem__("replicas", "two"), kubernetes_validate.ValidationError),
    (lambda o: o[1]["spec"]["template"]["spec"].__setitem__("restartPolicyy", "Always"),
     kubernetes_validate.ValidationError),
    (lambda o: o[4]["spec"]["containers"][0].pop("name"), kubernetes_validate.ValidationError),
])
def test_a_broken_manifest_fails_validation(mutate: Any, error: type[Exception]) -> None:
    objs = copy.deepcopy(verify_net.manifests(IMAGE))
    mutate(objs)
    with pytest.raises(error):
        for obj in objs:
            kubernetes_validate.validate(obj, MINORS[-1], strict=True)


def test_a_custom_resource_without_a_schema_is_a_failure_not_a_pass() -> None:
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(network.option("calico").manifests(config.profile("calico"))[0], MINORS[-1],
                                     strict=True)


@pytest.mark.parametrize("mutate", [
    lambda i: i["spec"]["calicoNetwork"]["ipPools"][0].__setitem__("encapsulation", "GRE"),
    lambda i: i["spec"]["calicoNetwork"]["ipPools"][0].__setitem__("blocksize", 26),
    lambda i: i["spec"]["calicoNetwork"]["ipPools"][0].__setitem__("cidr", "192.168.0.0"),
    lambda i: i["metadata"].__setitem__("name", "calico"),
])
def test_the_hand_kept_calico_schema_catches_mistakes(mutate: Any) -> None:
    inst = copy.deepcopy(network.option("calico").manifests(config.profile("calico"))[0])
    mutate(inst)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(inst, _crd_schemas()["Installation"])


@pytest.mark.parametrize("cni", ["cilium", "cilium-kpr"])
def test_cilium_values_match_the_hand_kept_chart_subset(cni: str) -> None:
    schema = yaml.safe_load((SCHEMAS / "cilium-values.yaml").read_text())
    opt = network.option(cni)
    values = opt.helm_values(opt.cluster_config())
    jsonschema.validate(values, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**values, "ipam": {"mode": "kubernets"}}, schema)


# -- every expectation is a check ---------------------------------------------------------------------

def _net_verify(cni: str = "calico", **kw: Any) -> tuple[Any, World]:
    plan = network.option(cni).verify(KubeTarget.for_kind("labkit"), image=IMAGE, **kw)
    return plan, World(plan, cni=cni)


def test_every_verify_expectation_is_a_check(home: Path) -> None:
    for cni in network.CNIS:
        for step in network.option(cni).verify(KubeTarget.for_kind("labkit"), image=IMAGE).steps:
            if step.expect:
                assert step.expect_match or step.capture_match or step.ok_codes != (0,), step.title


def test_a_healthy_cluster_passes_the_verify_and_captures_what_it_compared(home: Path) -> None:
    plan, world = _net_verify()
    plan.run(world, sleep=lambda s: None)
    assert plan.values == {k: v for k, v in world.values().items() if k in plan.values}
    assert set(plan.values) == {"ECHO0_IP", "ECHO1_IP", "SVC_IP", "KUBE_SVC_IP", "PROBE_NODE", "ECHO0_NODE"}


@pytest.mark.parametrize("part,answer,failing", [
    (("getent", "hosts", "kubernetes.default.svc"), (0, "10.96.0.99  kubernetes.default.svc.cluster.local\n"),
     "DNS: resolve the API server's Service name"),                         # a wrong address is not an answer
    (("getent", "hosts", "echo.labkit-verify.svc"), (0, "10.96.0.1  echo.labkit-verify.svc.cluster.local\n"),
     "DNS: resolve the echo Service"),
    (("http://192.168.1.7:8080/",), (0, "echo-0 on labkit-worker2\n"), "Pod to pod across nodes"),  # probe's node
    (("http://192.168.1.7:8080/",), (0, "<html>404 from something else</html>"), "Pod to pod across nodes"),
    (("http://192.168.2.9:8080/",), (0, "echo-1 on labkit-worker\n"), "Pod to pod on the same node"),
    (("http://10.96.4.4:8080/",), (0, "hello"), "Pod to Service (ClusterIP)"),
    (("jsonpath={.status.podIP}/{.status.phase}/{.status.containerStatuses[0].ready}",),
     (0, "192.168.1.99/Running/true"), "echo-0 is still Running at the address probed (before the blocked request)"),
])
def test_a_wrong_answer_fails_the_step_that_expects_it(home: Path, part: tuple[str, ...], answer: Any,
                                                       failing: str) -> None:
    plan, world = _net_verify()
    world.answers = {part: answer}
    with pytest.raises(StepFailed) as info:
        plan.run(world, sleep=lambda s: None)
    assert info.value.step.title == failing


def test_a_block_that_is_really_a_dead_echo_pod_fails(home: Path) -> None:
    """curl fails while the policy is on, but echo-0 restarted with another address: not a policy block."""
    plan, world = _net_verify()
    alive = ("jsonpath={.status.podIP}/{.status.phase}/{.status.containerStatuses[0].ready}",)
    world.answers = {alive: [(0, "192.168.1.7/Running/true"), (0, "192.168.1.8/Running/false")]}
    with pytest.raises(StepFailed) as info:
        plan.run(world, sleep=lambda s: None)
    assert info.value.step.title.endswith("(after the blocked request)")


def test_flannel_not_enforcing_must_still_answer_from_echo_0(home: Path) -> None:
    plan, world = _net_verify("flannel")
    plan.run(world, sleep=lambda s: None)
    step = next(s for s in plan.steps if s.title.startswith("The policy is NOT enforced"))
    assert step.expect_match == r"\Aecho-0 on ${ECHO0_NODE}\s*\Z"
    plan, world = _net_verify("flannel")
    world.answers = {("http://192.168.1.7:8080/",): [(0, f"echo-0 on {world.w1}"), (0, "")]}
    with pytest.raises(StepFailed) as info:
        plan.run(world, sleep=lambda s: None)
    assert info.value.step is step or info.value.step.title == step.title


def test_coredns_is_waited_for_after_every_cni(home: Path) -> None:
    for cni in network.CNIS:
        install = next(p for p in cluster.up_script(cni).plans if p.part == "network")
        titles = [s.title for s in install.steps]
        assert titles[-2:] == ["Wait for every node to be Ready", "Wait for CoreDNS"], cni
