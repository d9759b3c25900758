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

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
MINORS = [f"{m}.0" for m in pins()["components"]["supported_kubernetes"]]
IMAGE = "labkit/tools:0.2.0"


@pytest.fixture()
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("LABKIT_HOME", "/labkit-home")
    return tmp_path


class Fake:
    """A recording runner: scripted exit codes/stdout per argv prefix; everything else succeeds with ''."""

    def __init__(self, script: dict[tuple[str, ...], Any] | None = None) -> None:
        self.script = script or {}
        self.calls: list[tuple[list[str], str | None]] = []

    def run(self, argv: list[str], *, stdin: str | None = None, env: Any = None, timeout: float = 0,
            check: bool = True, quiet: bool = False) -> Result:
        self.calls.append((list(argv), stdin))
        answer: Any = (0, "")
        for prefix, val in self.script.items():
            if tuple(argv[:len(prefix)]) == prefix or _contains(argv, prefix):
                answer = val
                break
        if isinstance(answer, BaseException):
            raise answer
        rc, out = answer if isinstance(answer, tuple) else (answer, "")
        if check and rc:
            raise CommandError(argv, rc, out, out or "scripted failure")
        return Result(tuple(argv), rc, out, "")

    def argvs(self) -> list[list[str]]:
        return [a for a, _ in self.calls]


def _contains(argv: list[str], part: tuple[str, ...]) -> bool:
    n = len(part)
    return any(tuple(argv[i:i + n]) == part for i in range(len(argv) - n + 1))


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


def test_calico_uses_a_resumable_server_side_apply_and_the_clusters_pod_subnet(home: Path) -> None:
    script = cluster.up_script("calico")
    op = [s for s in script.steps if "tigera-operator.yaml" in " ".join(s.cmd.argv)][0]
    assert op.cmd.argv[-5:] == ("apply", "--server-side", "--force-conflicts", "-f",
                                "https://raw.githubusercontent.com/projectcalico/calico/v3.31.2/manifests/"
                                "tigera-operator.yaml")
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
    assert any(a[:3] == ["sh", "-c", a[2]] and "sha256sum -c" in a[2] for a in argvs)


def test_cilium_kpr_removes_kube_proxy_and_points_the_agent_at_the_api_server(home: Path) -> None:
    script = cluster.up_script("cilium-kpr")
    create = script.steps[0]
    assert "kubeProxyMode: none" in (create.cmd.stdin or "")
    helm = [s for s in script.steps if "upgrade" in s.cmd.argv][0]
    values = yaml.safe_load(helm.cmd.stdin or "")
    assert values["kubeProxyReplacement"] is True and values["k8sServiceHost"] == "labkit-cilium-kpr-control-plane"
    assert helm.cmd.argv[:9] == ("helm", "upgrade", "--install", "cilium", "cilium/cilium", "--version", "1.19.5",
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
    assert network.option("calico@v3.31.2").name == "calico"
    with pytest.raises(BadInput) as info:
        network.option("calico@v3.28.0")
    assert "v3.31.2" in str(info.value) and "versions.yaml" in (info.value.fix or "")
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

def _up(runner: Fake, cni: str = "calico", **kw: Any) -> KubeTarget:
    return cluster.up(cni, runner=runner, preflight=False, **kw)  # type: ignore[arg-type]


def test_up_runs_exactly_the_explained_commands_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    fake = Fake({("kind", "get", "clusters"): (0, ""), ("get", "--raw", "/readyz"): 1,
                 ("get", "deployment", "-n", "tigera-operator"): 1, ("docker", "inspect"): 1,
                 ("getent", "hosts", "kind-registry"): 1,
                 ("echo-0", "-o", "jsonpath={.status.podIP}"): (0, "192.168.1.7"),
                 ("echo-1", "-o", "jsonpath={.status.podIP}"): (0, "192.168.2.9"),
                 ("jsonpath={.spec.clusterIP}",): (0, "10.96.4.4"),
                 ("curl", "-sS", "--max-time", "3", "http://192.168.1.7:8080/"): 0})
    # the policy step must see curl time out once, then the "allowed again" step succeed
    seq = iter([(0, "echo-0 on w2"), (28, ""), (0, "echo-0 on w2")])
    base_run = fake.run

    def run(argv: list[str], **kw: Any) -> Result:
        if "http://192.168.1.7:8080/" in argv:
            fake.calls.append((list(argv), None))
            rc, out = next(seq)
            return Result(tuple(argv), rc, out, "")
        return base_run(argv, **kw)

    fake.run = run  # type: ignore[method-assign]
    target = _up(fake)
    assert target.kubeconfig == str(tmp_path / "kube" / "labkit-calico.yaml")
    script = cluster.up_script("calico", target=target, cfg=cluster.cluster_config("calico"))
    ran = [a for a in fake.argvs() if a[:3] != ["kind", "get", "clusters"]]
    expected = []
    values = {"ECHO0_IP": "192.168.1.7", "ECHO1_IP": "192.168.2.9", "SVC_IP": "10.96.4.4"}
    from labkit.steps import substitute

    for step in script.steps:
        if step.check is not None:
            expected.append(substitute(step.check.argv, values))
        expected.append(substitute(step.cmd.argv, values))
    assert ran == expected
    assert lifecycle.saved_config_path("labkit-calico").read_text() == cluster.cluster_config("calico").to_yaml()


def test_rerun_after_ctrl_c_resumes_where_it_stopped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    first = Fake({("kind", "get", "clusters"): (0, ""), ("get", "--raw", "/readyz"): 1,
                  ("get", "deployment", "-n", "tigera-operator"): 1,
                  ("wait", "--for=condition=Established"): KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        _up(first, verify=False, registry=False)
    assert any("--server-side" in a for a in first.argvs())
    # second run: the cluster answers and the operator exists, so those steps are skipped
    second = Fake({("kind", "get", "clusters"): (0, "labkit-calico\n")})
    _up(second, verify=False, registry=False)
    assert not any(a[:3] == ["kind", "create", "cluster"] for a in second.argvs())
    assert not any("--server-side" in a for a in second.argvs())
    assert any("--for=condition=Established" in a for a in second.argvs())


def test_a_readiness_timeout_names_what_was_not_ready_and_why(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    events = "Warning  FailedCreatePodSandBox  pod/calico-node-x: plugin type=\"calico\" failed"
    fake = Fake({("kind", "get", "clusters"): (0, ""), ("get", "--raw", "/readyz"): 1,
                 ("get", "deployment", "-n", "tigera-operator"): 1,
                 ("rollout", "status", "-n", "calico-system", "daemonset/calico-node"): (1, "timed out"),
                 ("get", "events", "-n", "calico-system"): (0, events)})
    with pytest.raises(StepFailed) as info:
        _up(fake, verify=False, registry=False)
    assert "calico-node on every node" in str(info.value) and "FailedCreatePodSandBox" in info.value.diagnostics
    assert "run the plan again" in (info.value.fix or "")


def test_a_cluster_made_with_another_config_stops_up_before_any_change(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    fake = Fake({("kind", "get", "clusters"): (0, "labkit-calico\n")})
    with pytest.raises(lifecycle.ClusterConflict):
        _up(fake)
    assert fake.argvs() == [["kind", "get", "clusters"]]


def test_down_deletes_the_cluster_and_the_labs_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    for p in (lifecycle.saved_config_path("labkit-x"), kubeconfig_path("labkit-x")):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    fake = Fake()
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
