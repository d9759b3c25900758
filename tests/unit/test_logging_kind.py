"""Chapter 06's kind tier offline: provenance of every step at the pinned chart tags, values explained key by key,
strict manifests, the verify's checks (found with labels; missing stays missing), LogQL parsing, host gates."""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from labkit.components import up as cluster
from labkit.components.base import Retired, leaf_keys
from labkit.components.logging import kube_verify, loki, options
from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.steps import Plan, StepFailed
from labkit.targets.kube import KubeTarget
from labkit.versions import environments_dir, pins
from tests.fakes import Call, ScriptedRunner

MINORS = [f"{m}.0" for m in pins()["components"]["supported_kubernetes"]]
PIN = pins()["components"]["logging"]["loki"]
TARGET = KubeTarget.for_kind("labkit")
TOKEN = "labkit-token-0123456789ab"
IMAGE = "labkit/tools:0.2.0"


def _plans() -> list[Plan]:
    opt = options.option("loki")
    cfg = cluster.cluster_config("kindnet", logging="loki")
    return [opt.install(TARGET, cfg), kube_verify.plan(TARGET, image=IMAGE, token=TOKEN), opt.uninstall(TARGET)]


def _pinned_refs() -> set[str]:
    fb = PIN["fluent_bit"]
    return {f"loki-{PIN['version']}", f"fluent-bit-{fb['version']}", f"v{PIN['app_version']}", fb["docs_commit"],
            pins()["tools"]["kubectl"]["version"]}


def test_every_kind_step_cites_its_source_at_the_pinned_version() -> None:
    refs = _pinned_refs()
    for plan in _plans():
        for step in plan.steps:
            assert step.source, f"{plan.title}: step {step.title!r} has no source"
            if step.source.startswith("labkit:"):
                assert len(step.source) > len("labkit: ") + 10, step.title
                continue
            m = re.match(r"https://github\.com/[^/]+/[^/]+/blob/([^/]+)/", step.source)
            assert m, f"{step.title}: {step.source} is not a file at a tag"
            assert m.group(1) in refs, f"{step.title}: {step.source} names {m.group(1)}, not a pinned version"


def test_a_source_at_another_version_would_be_caught() -> None:
    assert "loki-6.55.0" not in _pinned_refs() and "fluent-bit-0.57.0" not in _pinned_refs()


def test_helm_installs_pin_chart_versions_and_send_the_values_files() -> None:
    install = _plans()[0]
    helm = [s for s in install.steps if "upgrade" in s.cmd.argv]
    assert len(helm) == 2
    for step, spec in zip(helm, (PIN, PIN["fluent_bit"]), strict=True):
        argv = list(step.cmd.argv)
        assert argv[argv.index("--install") + 2] == spec["chart"]
        assert argv[argv.index("--version") + 1] == str(spec["version"])
        assert argv[argv.index("--namespace") + 1] == "logging" and "--kubeconfig" in argv
        assert yaml.safe_load(step.cmd.stdin or "") == yaml.safe_load((environments_dir() / spec["values"]).read_text())
    ready = [s for s in install.steps if s.capture == "FLUENT_BIT_READY"][0]
    assert re.fullmatch(ready.capture_match or "", "3/3") and not re.fullmatch(ready.capture_match or "", "2/3")
    assert not re.fullmatch(ready.capture_match or "", "0/0")


@pytest.mark.parametrize("name", ["loki", "fluent-bit"])
def test_every_value_is_explained_with_its_upstream_line_and_default(name: str) -> None:
    base = environments_dir() / "logging" / name
    values = leaf_keys(yaml.safe_load((base / "values.yaml").read_text()))
    sources = yaml.safe_load((base / "values.sources.yaml").read_text())
    tag = f"{name}-{PIN['version'] if name == 'loki' else PIN['fluent_bit']['version']}"
    for leaf in values:
        assert any(leaf == k or leaf.startswith(k + ".") for k in sources), f"{name}: {leaf} is not explained"
    for key, entry in sources.items():
        assert any(v == key or v.startswith(key + ".") for v in values), f"{name}: {key} is explained but not set"
        assert f"/blob/{tag}/" in entry["source"] and "#L" in entry["source"], entry["source"]
        assert entry["why"] and "default" in entry


# Hand-kept subsets of the charts' values (loki 18.11.0 values.yaml; fluent-bit 0.58.1 values.yaml, which has no
# schema of its own): only the keys labkit sets, additionalProperties false, so a typo fails here.
_OBJ = {"type": "object"}
LOKI_SCHEMA = {"type": "object", "additionalProperties": False, "properties": {
    "deploymentMode": {"enum": ["Monolithic", "SingleBinary", "SimpleScalable", "Distributed"]},
    "loki": {"type": "object", "additionalProperties": False, "properties": {
        "auth_enabled": {"type": "boolean"}, "commonConfig": _OBJ, "storage": _OBJ, "schemaConfig": _OBJ,
        "limits_config": _OBJ, "compactor": _OBJ}},
    "singleBinary": {"type": "object", "additionalProperties": False, "properties": {
        "replicas": {"type": "integer", "minimum": 0, "maximum": 1}, "persistence": _OBJ, "resources": _OBJ}},
    **{k: {"type": "object", "additionalProperties": False, "properties": {"replicas": {"const": 0}}}
       for k in ("read", "write", "backend")},
    **{k: {"type": "object", "additionalProperties": False, "properties": {"enabled": {"type": "boolean"}}}
       for k in ("chunksCache", "resultsCache", "minio", "lokiCanary", "test", "gateway")},
    "sidecar": {"type": "object", "additionalProperties": False, "properties": {"rules": _OBJ}}}}
FB_SCHEMA = {"type": "object", "additionalProperties": False, "properties": {
    "kind": {"enum": ["DaemonSet", "Deployment", "StatefulSet"]}, "testFramework": _OBJ, "tolerations": {
        "type": "array"}, "resources": _OBJ, "config": {"type": "object", "additionalProperties": False, "properties": {
            k: {"type": "string"} for k in ("inputs", "filters", "outputs")}},
    "daemonSetVolumes": {"type": "array"}, "daemonSetVolumeMounts": {"type": "array"}}}


def test_values_match_the_hand_kept_chart_subsets_and_a_typo_fails() -> None:
    opt = options.option("loki")
    jsonschema.validate(opt.helm_values(), LOKI_SCHEMA)
    jsonschema.validate(opt.fluent_bit_values(), FB_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**opt.helm_values(), "singelBinary": {"replicas": 1}}, LOKI_SCHEMA)


def test_loki_values_avoid_the_laptop_traps_and_fluent_bit_ships_to_loki_with_pod_labels() -> None:
    opt = options.option("loki")
    v = opt.helm_values()
    assert v["singleBinary"]["replicas"] == 1 and not v["chunksCache"]["enabled"] and not v["resultsCache"]["enabled"]
    assert v["loki"]["schemaConfig"]["configs"][0]["store"] == "tsdb"
    out = opt.fluent_bit_values()["config"]
    assert "multiline.parser cri" in out["inputs"] and "Refresh_Interval 5" in out["inputs"]
    assert "Name loki" in out["outputs"] and "Host loki.logging.svc.cluster.local" in out["outputs"]
    for label in ("namespace=$kubernetes['namespace_name']", "pod=$kubernetes['pod_name']"):
        assert label in out["outputs"]


@pytest.mark.parametrize("minor", MINORS)
def test_every_manifest_the_chapter_applies_is_valid_for_each_supported_kubernetes(minor: str) -> None:
    objs = [o for group in kube_verify.manifests(IMAGE, TOKEN).values() for o in group]
    objs += [d for s in _plans()[1].steps if s.cmd.stdin for d in yaml.safe_load_all(s.cmd.stdin) if d]
    assert {o["kind"] for o in objs} == {"Namespace", "Pod"}
    for obj in objs:
        kubernetes_validate.validate(obj, minor, strict=True)
        assert obj["metadata"]["labels"]["io.labkit.managed"] == "true"
    bad = kube_verify.manifests(IMAGE, TOKEN)["writer"][1]
    bad["spec"]["containers"][0]["command"] = "echo"  # must be a list
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, MINORS[-1], strict=True)


def test_the_token_is_an_argument_never_spliced_into_the_script() -> None:
    pod = kube_verify.manifests(IMAGE, "x; rm -rf /")["writer"][1]
    assert pod["spec"]["containers"][0]["command"] == ["sh", "-c", 'sleep 10; echo "$1"; exec sleep 3600', "sh",
                                                       "x; rm -rf /"]


# -- the verify, run against a scripted cluster -----------------------------------------------------------------

def _stream(pod: str, line: str, **labels: str) -> str:
    stream = {"container": pod, "job": "fluent-bit", "namespace": kube_verify.NAMESPACE, "pod": pod,
              "service_name": pod, **labels}
    return json.dumps({"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": stream, "values": [["1796032757584080468", json.dumps({"log": line})]]}]}}, separators=(",", ":"))


EMPTY = json.dumps({"status": "success", "data": {"resultType": "streams", "result": []}}, separators=(",", ":"))


def _runner(*, writer: str, late: str) -> ScriptedRunner:
    def answer(call: Call) -> Any:
        text = urllib.parse.unquote(" ".join(call.argv))
        if "query_range" in text:
            return writer if 'pod="writer"' in text else late
        return 0
    return ScriptedRunner({("kubectl",): answer, ("kind",): answer, ("sleep",): 0}, anywhere=False)


def test_the_verify_passes_when_the_token_arrives_with_its_labels_and_the_late_one_never_does() -> None:
    plan = kube_verify.plan(TARGET, image=IMAGE, token=TOKEN)
    fake = _runner(writer=_stream("writer", TOKEN), late=EMPTY)
    plan.run(fake, sleep=lambda s: None)
    queries = [c for c in fake.calls if "query_range" in " ".join(c.argv)]
    assert len(queries) == 3 and all(c.argv[:3] == ["kubectl", "--kubeconfig", TARGET.kubeconfig] for c in queries)
    assert any("patch" in c.argv and '"nodeSelector"' in " ".join(c.argv) for c in fake.calls)


@pytest.mark.parametrize(("writer", "late", "failing"), [
    (EMPTY, EMPTY, "Find the token in Loki"),                                                # never arrived
    (_stream("writer", TOKEN, namespace="default"), EMPTY, "Find the token in Loki"),          # wrong labels
    (_stream("writer", "another run's token"), EMPTY, "Find the token in Loki"),               # not our token
    (_stream("writer", TOKEN), _stream("late", TOKEN + "-late"), "MISSING while the collector is down"),
])
def test_the_verify_fails_when_the_pipeline_is_broken(writer: str, late: str, failing: str) -> None:
    plan = kube_verify.plan(TARGET, image=IMAGE, token=TOKEN, within_s=4)
    with pytest.raises(StepFailed) as info:
        plan.run(_runner(writer=writer, late=late), sleep=lambda s: None)
    assert failing in info.value.step.title


# -- LogQL ----------------------------------------------------------------------------------------------------

def test_logql_answers_become_frames_with_one_column_per_label() -> None:
    df = loki.parse(_stream("writer", TOKEN))
    assert list(df.columns[:2]) == ["ts", "line"] and df.loc[0, "pod"] == "writer" and TOKEN in df.loc[0, "line"]
    assert str(df.loc[0, "ts"]) == "2026-11-30 09:59:17.584080468+00:00"
    vec = loki.parse({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"pod": "w"}, "value": [1796032757.5, "42"]}]}})
    assert vec.loc[0, "value"] == 42 and vec.loc[0, "pod"] == "w"
    assert loki.parse(EMPTY).empty
    with pytest.raises(LabkitError, match="parse error"):
        loki.parse({"status": "error", "error": "parse error at line 1, col 2"})


def test_loki_is_reached_through_the_service_proxy_or_a_url() -> None:
    lk = loki.Loki.on(TARGET, runner=ScriptedRunner({("get", "--raw"): _stream("writer", TOKEN)}))
    df = lk.query_range('{namespace="labkit-verify-logging"} |= "x"', limit=5)
    assert df.loc[0, "namespace"] == "labkit-verify-logging"
    argv = lk.argv("/loki/api/v1/query_range", {"query": "{a=\"b\"}", "limit": 5})
    assert argv[-1].startswith("/api/v1/namespaces/logging/services/loki:3100/proxy/loki/api/v1/query_range?query=")
    assert loki.Loki.at("http://127.0.0.1:3100/").url == "http://127.0.0.1:3100"
    for bad in (lambda: loki.Loki.at("127.0.0.1:3100"), lambda: loki.range_params("error"),
                lambda: loki.range_params("{a=\"b\"}", direction="sideways")):
        with pytest.raises(BadInput):
            bad()
    broken = loki.Loki.on(TARGET, runner=ScriptedRunner({("kubectl",): (1, "", "Error from server (NotFound)")},
                                                        anywhere=False))
    with pytest.raises(LabkitError, match="NotFound"):
        broken.query_range('{a="b"}')
    assert not broken.ready()


# -- composition and host gates --------------------------------------------------------------------------------

def test_labkit_up_composes_logging_after_the_network_and_refuses_no_cni() -> None:
    script = cluster.up_script("kindnet", logging="loki")
    parts = [p.part for p in script.plans]
    assert parts.index("logging") > parts.index("network")
    assert script.plans[-1].title.startswith("Verify logging")
    with pytest.raises(BadInput):
        cluster.up_script("none", logging="loki")
    assert "logging" in cluster.flags()


def test_low_inotify_limits_are_refused_with_the_sysctl_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options, "inotify_limits", lambda: {"max_user_watches": 8192, "max_user_instances": 128})
    with pytest.raises(Unavailable) as info:
        options.option("loki").check_host()
    assert "max_user_instances = 128" in info.value.message and "sysctl" in (info.value.fix or "")
    monkeypatch.setattr(options, "inotify_limits", lambda: {"max_user_watches": 524288, "max_user_instances": 512})
    options.option("loki").check_host()


@pytest.mark.parametrize(("name", "error", "words"), [
    ("promtail", Retired, "end of life"), ("elk", Unavailable, "JVM heap"), ("fluentd", Unavailable, "Ruby"),
    ("alloy", Unavailable, "could not be read at a tag"), ("graylog", BadInput, "loki")])
def test_options_not_installed_say_why(name: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as info:
        options.option(name)
    assert words in str(info.value)


# -- the kind tier's measurement, against a scripted cluster ---------------------------------------------------

def test_measure_loki_counts_what_arrived_and_times_it_by_polls() -> None:
    from labkit.components.logging import kube_measure
    from tests.fakes import Clock

    clock = Clock(start=1000.0)
    polls = {"n": 0}

    def answer(call: Call) -> Any:
        text = urllib.parse.unquote_plus(" ".join(call.argv))
        if "query_range" not in text:
            return 0
        polls["n"] += 1
        token = re.search(r'\|= "([^"]+)"', text).group(1)  # type: ignore[union-attr]
        seen = 2 if polls["n"] == 1 else 3
        values = [[str(10**18 + s), json.dumps({"log": f"{token} seq={s} t={999.5 + s * 0.1:.9f} level=INFO pad=x\n",
                                                "stream": "stdout"})] for s in range(seen)]
        return json.dumps({"status": "success", "data": {"resultType": "streams", "result": [
            {"stream": {"pod": "emit-0"}, "values": values}]}})

    fake = ScriptedRunner({("kubectl",): answer, ("kind",): answer, ("sleep",): 0}, anywhere=False)
    df = kube_measure.measure_loki(TARGET, image="labkit/logging-emitter:0.1.0", rates=(100,), count=4,
                                   settle_s=30, runner=fake, clock=clock, sleep=clock.sleep)
    row = df.iloc[0]
    assert (row["sent"], row["stored"], row["loss_pct"]) == (4, 3, 25.0)  # seq 3 never arrived: lost, said so
    assert row["delay_p50_ms"] > 0 and row["poll_ms"] == 1000
    argvs = [" ".join(c.argv) for c in fake.calls]
    assert any(a.startswith("kind load docker-image labkit/logging-emitter:0.1.0 --name labkit") for a in argvs)
    pod = [yaml.safe_load_all(c.stdin) for c in fake.calls if c.stdin][0]
    for obj in pod:
        kubernetes_validate.validate(obj, MINORS[-1], strict=True)
    assert argvs[-1].endswith("delete namespace labkit-measure-logging --ignore-not-found --wait=false")
    with pytest.raises(BadInput):
        kube_measure.measure_loki(TARGET, image="x", rates=(0,))
