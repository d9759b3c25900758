"""Chapter 08's kind tier by contract: plans with a pinned source on every step, checks that compare values,
strict schemas for every manifest, values documented key by key, real helm/kubectl flags."""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from labkit.components import up
from labkit.components.pipeline import admission, gitops, kind_verify
from labkit.errors import BadInput
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget
from labkit.versions import environments_dir, pins

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
MINORS = [f"{m}.0" for m in pins()["components"]["supported_kubernetes"]]
OPTIONS = ["argocd", "flux"]
IMAGE = "labkit/tools:0.2.0"
TAG = re.compile(r"/(?:blob|tree)/([^/]+)/|/releases/download/([^/]+)/")


def _cfg(option: str) -> ClusterConfig:
    return up.cluster_config(pipeline=option)


def _plans(option: str) -> list[Plan]:
    opt = gitops.option(option)
    target = KubeTarget.for_kind(_cfg(option).name)
    return [opt.install(target, _cfg(option)), opt.verify(target, image=IMAGE, cfg=_cfg(option)),
            opt.uninstall(target, _cfg(option))]


def _steps(option: str) -> list[Step]:
    return [s for p in _plans(option) for s in p.steps]


def _pinned_tags() -> set[str]:
    tags: set[str] = set()
    for spec in pins()["components"]["pipeline"].values():
        tags |= {str(t) for t in spec.get("tags", [])} | {str(spec[k]) for k in ("version", "app_version") if k in spec}
    return tags


@pytest.mark.parametrize("option", OPTIONS)
def test_every_step_names_its_source_at_a_pinned_version(option: str) -> None:
    tags = _pinned_tags()
    for step in _steps(option):
        assert step.source, f"{step.title}: no source"
        if step.source.startswith("labkit: "):
            assert len(step.source) > len("labkit: ") + 10, f"{step.title}: say why it is labkit's own"
            continue
        match = TAG.search(step.source)
        assert match, f"{step.title}: {step.source} is not pinned to a tag"
        assert (match.group(1) or match.group(2)) in tags, f"{step.title}: {step.source} names an unpinned version"


def test_a_source_at_another_version_would_fail() -> None:
    match = TAG.search("https://github.com/argoproj/argo-helm/blob/argo-cd-9.0.0/charts/argo-cd/values.yaml")
    assert match and match.group(1) not in _pinned_tags()


@pytest.mark.parametrize("option", OPTIONS)
def test_the_verify_compares_values_not_exit_codes(option: str) -> None:
    opt = gitops.option(option)
    plan = opt.verify(KubeTarget.for_kind(_cfg(option).name), image=IMAGE, cfg=_cfg(option))
    checks = [s for s in plan.steps if s.expect_match or s.capture_match]
    assert {s.capture for s in plan.steps if s.capture} == {"COMMIT", "DIGEST", "DEPLOY"}
    titles = " | ".join(s.title for s in checks)
    for needed in ("pod runs exactly the signed digest", "answers with the new commit", "refuses an unsigned image",
                   "refuses the tampered release tag", "signed by the lab's key", "at that revision"
                   if option == "argocd" else "artifact is that commit"):
        assert needed in titles, needed
    served = next(s for s in plan.steps if "answers with the new commit" in s.title)
    assert served.expect_match == r"commit=${COMMIT}"
    refused = [s for s in plan.steps if s.title.startswith("Admission refuses")]
    assert all("--dry-run=server" in s.cmd.argv and "exit=1" in str(s.expect_match) for s in refused)


@pytest.mark.parametrize("option", OPTIONS)
def test_no_step_carries_a_secret(option: str) -> None:
    for step in _steps(option):
        text = " ".join(step.cmd.argv) + (step.cmd.stdin or "") + " ".join(step.cmd.env.values())
        assert "PRIVATE KEY" not in text and "COSIGN_PASSWORD" not in text
        if "cosign" in step.cmd.argv and ("sign" in " ".join(step.cmd.argv) or "attest" in " ".join(step.cmd.argv)):
            assert "< passphrase" in " ".join(step.cmd.argv) or "generate-key-pair" not in step.cmd.argv


def _deploy_dir() -> list[dict[str, Any]]:
    d = environments_dir() / "pipeline" / "app" / "deploy"
    return [yaml.safe_load((d / f).read_text()) for f in ("deployment.yaml", "service.yaml")]


def _manifests(option: str) -> list[dict[str, Any]]:
    return gitops.option(option).manifests(_cfg(option)) + _deploy_dir()


def _crd_schemas() -> dict[str, Any]:
    return dict(yaml.safe_load((SCHEMAS / "pipeline-crds.yaml").read_text()))


def _validate(obj: dict[str, Any], minor: str) -> None:
    if "." in obj["apiVersion"].split("/")[0]:  # a CRD: the hand-kept subset (tests/schemas/pipeline-crds.yaml)
        schema = _crd_schemas().get(obj["kind"])
        if schema is None:
            pytest.fail(f"no hand-kept schema for {obj['kind']}: add one to tests/schemas/pipeline-crds.yaml")
        jsonschema.validate(obj, schema)
        return
    kubernetes_validate.validate(obj, minor, strict=True)


@pytest.mark.parametrize("minor", MINORS)
@pytest.mark.parametrize("option", OPTIONS)
def test_every_manifest_is_valid_for_each_supported_kubernetes(option: str, minor: str) -> None:
    objs = _manifests(option)
    kinds = {o["kind"] for o in objs}
    assert kinds >= {"Namespace", "ImageValidatingPolicy", "Deployment", "Service"}
    assert kinds & {"Application", "GitRepository", "Kustomization"}
    for obj in objs:
        _validate(obj, minor)
        assert obj["metadata"]["labels"]["io.labkit.managed"] == "true", obj["kind"]


@pytest.mark.parametrize(("kind", "mutate"), [
    ("Application", lambda o: o["spec"]["source"].pop("repoURL")),
    ("Application", lambda o: o["spec"]["syncPolicy"]["automated"].__setitem__("selfheal", True)),
    ("GitRepository", lambda o: o["spec"].__setitem__("url", "git://labkit-git/app.git")),
    ("GitRepository", lambda o: o["spec"].__setitem__("interval", "30 seconds")),
    ("Kustomization", lambda o: o["spec"].pop("prune")),
    ("ImageValidatingPolicy", lambda o: o["spec"].__setitem__("validationActions", ["Block"])),
    ("ImageValidatingPolicy", lambda o: o["spec"]["attestors"][0]["cosign"]["ctlog"].__setitem__("ignoreTlog", True)),
])
def test_the_hand_kept_schemas_catch_mistakes(kind: str, mutate: Any) -> None:
    obj = copy.deepcopy(next(o for opt in OPTIONS for o in _manifests(opt) if o["kind"] == kind))
    mutate(obj)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, _crd_schemas()[kind])


def test_a_broken_deploy_manifest_fails_strict_validation() -> None:
    dep = copy.deepcopy(_deploy_dir()[0])
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, MINORS[-1], strict=True)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and not ("." in k and prefix.startswith("configs")):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


@pytest.mark.parametrize(("chart", "tag"), [("argocd", "argo-cd-10.1.1"), ("kyverno", "v1.19.0")])
def test_every_helm_value_is_documented_with_its_upstream_default(chart: str, tag: str) -> None:
    folder = environments_dir() / "pipeline" / chart
    values = _flatten(yaml.safe_load((folder / "values.yaml").read_text()))
    sources = yaml.safe_load((folder / "values.sources.yaml").read_text())
    assert set(values) == set(sources)
    for key, doc in sources.items():
        assert f"/blob/{tag}/" in doc["source"] and "values.yaml" in doc["source"], key
        assert "default" in doc and len(doc["why"]) > 20, key


def test_argocd_and_kyverno_values_are_what_the_plans_send() -> None:
    argo = gitops.option("argocd")
    step = next(s for s in argo.controller(KubeTarget.for_kind("labkit")).steps if "upgrade" in s.cmd.argv)
    assert yaml.safe_load(step.cmd.stdin or "") == argo.helm_values() == yaml.safe_load(
        (environments_dir() / "pipeline" / "argocd" / "values.yaml").read_text())
    assert "--version" in step.cmd.argv and "10.1.1" in step.cmd.argv
    kyv = next(s for s in admission.install(KubeTarget.for_kind("labkit"), _cfg("argocd")).steps
               if "upgrade" in s.cmd.argv)
    assert yaml.safe_load(kyv.cmd.stdin or "") == admission.values() and "3.9.0" in kyv.cmd.argv


def test_flux_installs_from_the_pinned_release_manifest() -> None:
    step = next(s for s in gitops.option("flux").controller(KubeTarget.for_kind("labkit")).steps
                if "--server-side" in s.cmd.argv)
    assert step.cmd.argv[-1] == "https://github.com/fluxcd/flux2/releases/download/v2.9.4/install.yaml"


def test_up_composes_the_pipeline_after_the_cni_and_refuses_unknown_options() -> None:
    script = up.up_script(pipeline="flux")
    parts = [p.part for p in script.plans]
    assert parts.index("pipeline") > parts.index("network") and script.plans[-1].part == "pipeline"
    with pytest.raises(BadInput):
        up.up_script(pipeline="jenkins")
    with pytest.raises(BadInput):
        up.up_script(pipeline="argocd@9.9.9")


def test_the_cluster_audit_links_pods_to_signed_commits() -> None:
    pods = {"items": [{"metadata": {"namespace": "labkit-app", "name": "labkit-app-1", "labels": {}},
                       "status": {"containerStatuses": [{"image": "kind-registry:5000/labkit/app@sha256:aa",
                                                         "imageID": "kind-registry:5000/labkit/app@sha256:aa"}]}}]}
    rows = kind_verify.audit_rows(pods, {"sha256:aa": "c0ffee" * 6}, "deadbeef" * 5)
    assert rows[0]["signed_for_commit"] == "c0ffeec0ffee" and rows[0]["synced_revision"] == "deadbeefdead"
    assert kind_verify.audit_rows(pods, {}, "x")[0]["signed_for_commit"] == "NOT SIGNED"


# -- real helm and kubectl: every flag the plans pass exists in the pinned CLIs ---------------------------------

def _tool(name: str) -> Path:
    cache = Path(os.environ.get("LABKIT_TOOLS_CACHE", Path.home() / ".cache" / "labkit" / "test-tools"))
    path = cache / name
    if not path.exists():
        reason = f"real {name} binary not in {cache} (scripts/fetch_test_tools.sh)"
        if os.environ.get("LABKIT_REQUIRE_TEST_TOOLS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _subcommand(args: list[str]) -> tuple[list[str], list[str]]:
    words: list[str] = []
    rest = list(args)
    while rest[:1] and rest[0] in ("-n", "--namespace"):  # global flags before the subcommand
        rest = rest[2:]
    for a in rest:
        if a.startswith("-"):
            break
        words.append(a)
        if len(words) == 2 or words[0] in ("apply", "wait", "annotate", "get", "delete", "run", "upgrade",
                                            "uninstall"):
            break
    flags = [a.split("=", 1)[0] for a in args if a.startswith("--")]
    return words, flags


@pytest.mark.contract
@pytest.mark.parametrize("tool", ["kubectl", "helm"])
def test_every_flag_exists_in_the_real_cli(tool: str) -> None:
    binary = _tool(tool)
    seen: dict[tuple[str, ...], set[str]] = {}
    for option in OPTIONS:
        for step in _steps(option):
            argv = list(step.cmd.argv)
            if "sh" in argv[:1] and tool in " ".join(argv):  # kubectl wrapped to keep its stderr
                argv = argv[argv.index("sh", 1) + 1:]
            if not argv or Path(argv[0]).name != tool:
                continue
            args = argv[1:]
            while args and args[0] in ("--kubeconfig", "--context"):
                args = args[2:]
            words, flags = _subcommand(args)
            seen.setdefault(tuple(words), set()).update(f for f in flags if f not in ("--kubeconfig", "--context"))
    assert seen
    globals_help = subprocess.run([str(binary), "options" if tool == "kubectl" else "--help"], capture_output=True,
                                  text=True, timeout=60).stdout
    for words, flags in seen.items():
        help_text = subprocess.run([str(binary), *words, "--help"], capture_output=True, text=True, timeout=60).stdout
        for flag in flags:
            assert re.search(rf"(?<![\w-]){re.escape(flag)}\b", help_text + globals_help), f"{tool} {words}: {flag}"
