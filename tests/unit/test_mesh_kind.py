"""The mesh's kind tier offline: every step's source at the pins, helm argv and values, strict manifests, Linkerd's
certificates, the inotify gate, bad input. Nothing needs a cluster; the real thing is tests/e2e/test_mesh_kind.py."""

from __future__ import annotations

import copy
import re
import stat
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from labkit.components import up as cluster
from labkit.components.base import load_values
from labkit.components.mesh import kind, kind_certs, kind_objects, pki
from labkit.errors import BadInput, Unavailable
from labkit.steps import Plan
from labkit.targets.kind.config import node_image_pin
from labkit.targets.kube import KubeTarget
from labkit.versions import environments_dir, pins

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
MESHES = kind.INSTALLABLE
URL = re.compile(r"https?://[^\s)\"';,]+")
GITHUB = re.compile(r"^https://github\.com/(?P<repo>[^/]+/[^/]+)/(?:blob|tree|releases/(?:tag|download))/(?P<ref>[^/#]+)")


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_HOME", "/labkit-home")


def allowed_refs(option: Any) -> dict[str, set[str]]:
    """Refs each repository may be cited at: the option's pin (version, chart, docs commit, pinned URLs), kind's and
    Kubernetes' at the node image's releases."""
    pin = option.pin
    refs = {str(option.version), str(pin.get("docs_commit", ""))}
    for text in yaml.safe_dump(pin).split():
        for url in URL.findall(text):
            m = GITHUB.match(url)
            if m:
                refs.add(m.group("ref"))
    image = node_image_pin()
    return {"*": refs, "kubernetes-sigs/kind": {f"v{image.min_kind}"},
            "kubernetes/kubernetes": {image.tag.rsplit(":", 1)[1].split("@")[0]}}


def source_problems(plan: Plan, refs: dict[str, set[str]]) -> list[str]:
    out = []
    for step in plan.steps:
        src = step.source.strip()
        if src.startswith("labkit:"):
            if len(src) < 30:
                out.append(f"{step.title}: 'labkit:' without a reason")
            continue
        urls = URL.findall(src)
        if not urls:
            out.append(f"{step.title}: no source")
        for url in urls:
            m = GITHUB.match(url)
            if m is None:
                out.append(f"{step.title}: {url} is not a file at a tag")
            elif m.group("ref") not in refs.get(m.group("repo"), refs["*"]):
                out.append(f"{step.title}: {url} is at {m.group('ref')}, not at a pin")
    return out


def mesh_plans(name: str) -> list[Plan]:
    return [p for p in cluster.up_script("kindnet", mesh=name).plans if p.part == "mesh"]


@pytest.mark.parametrize("name", MESHES)
def test_every_install_verify_and_uninstall_step_cites_upstream_at_the_pins(name: str) -> None:
    opt = kind.option(name)
    plans = mesh_plans(name) + [opt.uninstall(KubeTarget.for_kind("labkit"))]
    assert len(plans) == 4  # build the lab image, install, verify, and the uninstall
    assert [p for plan in plans for p in source_problems(plan, allowed_refs(opt))] == []


def test_the_source_check_can_fail() -> None:
    opt = kind.option("linkerd")
    plan = mesh_plans("linkerd")[1]
    bad = copy.deepcopy(plan)
    bad.steps[0] = type(bad.steps[0])(bad.steps[0].title, bad.steps[0].cmd,
                                      source="https://github.com/linkerd/linkerd2/blob/edge-26.8.2/README.md")
    assert source_problems(bad, allowed_refs(opt))
    bad.steps[0] = type(bad.steps[0])(bad.steps[0].title, bad.steps[0].cmd, source="")
    assert any("no source" in p for p in source_problems(bad, allowed_refs(opt)))


def _argvs(plans: list[Plan]) -> list[list[str]]:
    return [list(s.cmd.argv) for p in plans for s in p.steps]


def test_linkerd_installs_the_gateway_api_first_then_both_charts_at_the_pinned_chart_version() -> None:
    plan = mesh_plans("linkerd")[1]
    titles = [s.title for s in plan.steps]
    assert titles.index("Install the Gateway API CRDs v1.5.1 (standard channel)") < titles.index(
        "Install linkerd-crds 2026.8.3") < titles.index("Install linkerd-control-plane 2026.8.3")
    helm = [a for a in _argvs([plan]) if a[0] == "helm" and "upgrade" in a]
    assert all(a[a.index("--version") + 1] == "2026.8.3" for a in helm)
    gw = next(a for a in _argvs([plan]) if "--server-side" in a)
    assert gw[-1] == "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.1/standard-install.yaml"
    cp = helm[-1]
    files = [cp[i + 1] for i, a in enumerate(cp) if a == "--set-file"]
    assert [f.split("=")[0] for f in files] == ["identityTrustAnchorsPEM", "identity.issuer.tls.crtPEM",
                                                "identity.issuer.tls.keyPEM"]
    certs = next(s for s in plan.steps if s.title.startswith("Make the trust anchor"))
    assert all(f.split("=")[1].startswith(certs.cmd.argv[-1]) for f in files)


@pytest.mark.parametrize("name", MESHES)
def test_no_private_key_in_any_argv_or_stdin(name: str) -> None:
    for plan in mesh_plans(name):
        for step in plan.steps:
            assert "PRIVATE KEY" not in " ".join(step.cmd.argv) + (step.cmd.stdin or "")


@pytest.mark.parametrize("name,charts", [("istio", ["base", "istiod"]), ("istio-ambient", ["base", "istiod", "cni",
                                                                                             "ztunnel"])])
def test_istio_installs_its_charts_in_order_at_the_pinned_version_with_their_values(name: str,
                                                                                    charts: list[str]) -> None:
    plan = mesh_plans(name)[1]
    helm = [s for s in plan.steps if s.cmd.argv[0] == "helm" and "upgrade" in s.cmd.argv]
    assert [s.cmd.argv[4] for s in helm] == [f"istio/{c}" for c in charts]
    assert all(s.cmd.argv[s.cmd.argv.index("--version") + 1] == "1.30.3" for s in helm)
    pin = pins()["components"]["mesh"][name]
    istiod = next(s for s in helm if s.cmd.argv[4] == "istio/istiod")
    assert yaml.safe_load(istiod.cmd.stdin) == load_values(pin["values"])
    assert ("profile" in yaml.safe_load(istiod.cmd.stdin)) == (name == "istio-ambient")


def _values_files() -> list[Path]:
    return sorted((environments_dir() / "mesh").rglob("values.yaml"))


def _leaves(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
    return out


@pytest.mark.parametrize("path", _values_files(), ids=lambda p: str(p.parent.relative_to(environments_dir())))
def test_every_helm_value_is_traced_to_the_charts_values_at_its_tag(path: Path) -> None:
    keys = set(_leaves(yaml.safe_load(path.read_text())))
    sources = yaml.safe_load((path.parent / "values.sources.yaml").read_text())
    assert set(sources) == keys, "a key without a source, or a stale source"
    tag = "edge-26.8.3" if "linkerd" in str(path) else "1.30.3"
    for key, entry in sources.items():
        assert {"source", "default", "why"} <= set(entry) and len(str(entry["why"])) > 20, key
        m = GITHUB.match(entry["source"])
        assert m is not None and m.group("ref") == tag, key
        assert _leaves(yaml.safe_load(path.read_text()))[key] != entry["default"], f"{key} equals upstream's default"


def test_every_values_file_the_pins_name_exists_and_is_used() -> None:
    named = {str(v) for name in MESHES for k, v in pins()["components"]["mesh"][name].items() if k.startswith("values")}
    assert {str(p.relative_to(environments_dir())) for p in _values_files()} == named


# -- manifests, strictly -----------------------------------------------------------------------------------------

def _schemas() -> dict[str, Any]:
    return dict(yaml.safe_load((SCHEMAS / "mesh-policies.yaml").read_text())["kinds"])


def _validate(obj: dict[str, Any], minor: str) -> None:
    key = f"{obj['apiVersion']}/{obj['kind']}"
    if "linkerd.io" in key or "istio.io" in key:
        if key not in _schemas():
            pytest.fail(f"no hand-kept schema for {key}: add one to tests/schemas/mesh-policies.yaml")
        jsonschema.validate(obj, _schemas()[key])
        return
    kubernetes_validate.validate(obj, minor, strict=True)


@pytest.mark.parametrize("minor", pins()["components"]["supported_kubernetes"])
@pytest.mark.parametrize("name", MESHES)
def test_every_manifest_is_valid_for_each_supported_kubernetes(name: str, minor: str) -> None:
    objs = kind_objects.lab_manifests(name, "labkit/mesh-app:0.1.0")
    kinds = {o["kind"] for o in objs}
    assert {"Namespace", "ServiceAccount", "Deployment", "Service"} <= kinds
    assert ({"Server", "MeshTLSAuthentication", "AuthorizationPolicy"} if name == "linkerd" else
            {"PeerAuthentication", "AuthorizationPolicy"}) <= kinds
    for obj in objs:
        _validate(obj, minor)
        assert obj["metadata"]["labels"]["io.labkit.managed"] == "true"
    assert objs == [o for o in yaml.safe_load_all(mesh_plans(name)[2].steps[1].cmd.stdin)]  # what the plan sends


@pytest.mark.parametrize("name,index,mutate", [
    ("istio", 0, lambda o: o["spec"]["mtls"].__setitem__("mode", "STRICTT")),
    ("istio", 1, lambda o: o["spec"].__setitem__("actions", "ALLOW")),
    ("linkerd", 0, lambda o: o["spec"].__setitem__("proxyProtocol", "HTTP/3")),
    ("linkerd", 0, lambda o: o["spec"].pop("port")),
    ("linkerd", 1, lambda o: o["spec"].__setitem__("identityRefs", [])),
])
def test_the_hand_kept_policy_schemas_catch_mistakes(name: str, index: int, mutate: Any) -> None:
    obj = copy.deepcopy(kind_objects.policies(name)[index])
    _validate(obj, "1.36")
    mutate(obj)
    with pytest.raises(jsonschema.ValidationError):
        _validate(obj, "1.36")


def test_meshing_is_per_option_on_the_lab_namespace_only() -> None:
    for name, (notes, labels) in kind_objects.MESHING.items():
        ns, plain = kind_objects.lab_manifests(name)[:2]
        assert ns["metadata"].get("annotations", {}) == notes
        assert {k: v for k, v in ns["metadata"]["labels"].items() if not k.startswith("io.labkit")} == labels
        assert set(plain["metadata"]["labels"]) == {"io.labkit.managed", "io.labkit.role"}


def _probe_line(headers: dict[str, str], status: int = 200) -> str:
    """What probe.py prints for the echo's answer (the echo's JSON as a string inside the probe's JSON)."""
    import json

    body = json.dumps({"service": "echo", "headers": headers})
    return json.dumps({"ok": status == 200, "status": status, "body": body, "error": None})


def test_the_verify_expectations_match_what_the_probe_prints() -> None:
    linkerd = _probe_line({"l5d-client-id": "client.mesh-lab.serviceaccount.identity.linkerd.cluster.local"})
    istio = _probe_line({"x-forwarded-client-cert": 'By=spiffe://cluster.local/ns/mesh-lab/sa/echo;Hash=ab;Subject="";'
                                                    "URI=spiffe://cluster.local/ns/mesh-lab/sa/client"})
    assert re.search(kind_objects.IDENTITY["linkerd"], linkerd)
    assert not re.search(kind_objects.IDENTITY["linkerd"], istio)
    assert re.search(kind_objects.IDENTITY["istio"], istio)
    other = _probe_line({"l5d-client-id": "intruder.mesh-lab.serviceaccount.identity.linkerd.cluster.local"})
    assert not re.search(kind_objects.IDENTITY["linkerd"], other)
    refused = next(s for s in mesh_plans("istio")[2].steps if s.title.startswith("A plaintext client"))
    assert re.search(refused.expect_match, _probe_line({}, 403)) and not re.search(refused.expect_match,
                                                                                   _probe_line({}, 200))


# -- Linkerd's certificates, the inotify gate, bad input --------------------------------------------------------

def test_kind_certs_writes_p256_anchor_and_issuer_with_a_0600_key_and_is_idempotent(tmp_path: Path) -> None:
    from cryptography import x509

    d = tmp_path / "id"
    files = kind_certs.write(d)
    assert [f.name for f in files] == ["ca.crt", "issuer.crt", "issuer.key"]
    assert stat.S_IMODE(files[2].stat().st_mode) == 0o600 and stat.S_IMODE(d.stat().st_mode) == 0o700
    anchor, issuer = (x509.load_pem_x509_certificate(f.read_bytes()) for f in files[:2])
    issuer.verify_directly_issued_by(anchor)
    assert pki.describe(issuer)["path_length"] == 0 and pki.describe(anchor)["path_length"] == 1
    before = files[1].read_bytes()
    kind_certs.write(d)
    assert files[1].read_bytes() == before


def test_inotify_limits_below_kinds_known_issue_refuse_ambient_only(monkeypatch: pytest.MonkeyPatch) -> None:
    low = {"max_user_watches": 8192, "max_user_instances": 128}
    assert "max_user_instances=128" in kind.inotify_problem(low.__getitem__)
    assert kind.inotify_problem({"max_user_watches": 524288, "max_user_instances": 512}.__getitem__) == ""
    monkeypatch.setattr(kind, "inotify_problem", lambda read=None: "fs.inotify.max_user_instances=128")
    with pytest.raises(Unavailable) as err:
        kind.option("istio-ambient").check_host()
    assert "sysctl fs.inotify.max_user_instances=512" in (err.value.fix or "")
    kind.option("istio").check_host()


def test_unknown_retired_and_engine_only_meshes() -> None:
    from labkit.components.base import Retired

    with pytest.raises(BadInput) as err:
        cluster.choose(mesh="consul")
    assert "linkerd, istio, istio-ambient" in err.value.allowed
    with pytest.raises(Retired):
        cluster.choose(mesh="osm")
    with pytest.raises(Unavailable, match="Docker engine"):
        cluster.choose(mesh="envoy-sidecar")
    with pytest.raises(BadInput, match="pinned"):
        kind.OPTIONS.get("istio@1.29.0")
    assert set(kind.options_table()["option"]) == {"linkerd", "istio", "istio-ambient", "envoy-sidecar", "osm"}


# -- the tax on kind, against a scripted cluster --------------------------------------------------------------------

def cadvisor_text(cpu: float) -> str:
    """cAdvisor's exposition, as the kubelet serves it (two proxies, one app container that must not count)."""
    series = 'container_{m}{{container="{c}",namespace="mesh-lab",pod="{p}"}} {v}'
    return "\n".join([series.format(m="cpu_usage_seconds_total", c="linkerd-proxy", p="echo-7d-x", v=cpu),
                      series.format(m="cpu_usage_seconds_total", c="linkerd-proxy", p="client-5f-y", v=cpu),
                      series.format(m="cpu_usage_seconds_total", c="echo", p="echo-7d-x", v=99),
                      series.format(m="memory_working_set_bytes", c="linkerd-proxy", p="echo-7d-x", v=20971520)])


def test_kind_measure_runs_openloop_in_both_paths_interleaved_and_reads_proxy_cpu_from_cadvisor() -> None:
    from tests.fakes import ScriptedRunner

    from labkit.components.mesh import kind_bench

    ok = (Path(__file__).resolve().parents[1] / "data" / "openloop-ok.json").read_text()
    late = (Path(__file__).resolve().parents[1] / "data" / "openloop-late.json").read_text()
    cpu = iter([10.0, 10.5] * 10)
    runner = ScriptedRunner({
        ("get", "pods", "-n", "mesh-lab"): "kind-worker kind-worker",
        ("get", "--raw"): lambda call: cadvisor_text(next(cpu)),
        ("deploy/plain-client",): ok,
        ("deploy/client",): late,
    })
    target = KubeTarget.for_kind("labkit")
    rows = kind_bench.kind_measure(target, "linkerd", rates=(100,), seconds=1, reps=2, runner=runner)
    assert list(zip(rows["rep"], rows["path"], strict=True)) == [(0, "none"), (0, "mesh"), (1, "mesh"), (1, "none")]
    mesh_rows = rows[rows["path"] == "mesh"]
    assert (mesh_rows["status"] == "refused").all() and mesh_rows["error"].str.startswith("unavailable:").all()
    assert (mesh_rows["proxy_cpu_cores"] > 0).all() and (mesh_rows["proxy_mem_mib"] == 10).all()  # 20 MiB over 2
    exec_argv = next(c.argv for c in runner.calls if "deploy/client" in c.argv)
    assert exec_argv[exec_argv.index("--") + 1:][:5] == ["openloop", "-h", "echo.mesh-lab", "-p", "8080"]
    assert kind_bench.proxy_labels("istio-ambient")["pod"] == "ztunnel-.*"
