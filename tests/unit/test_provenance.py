"""Upstream provenance (DESIGN §6.7): every kind-tier step and every Helm value cites upstream at the pin.

The checks are plain functions that return the problems they find, so each one is also run on a doctored
input below and must find the problem there: a test that cannot fail proves nothing.

* every step of every `labkit up` combination (each CNI; kindnet with each option of every other
  component) and of every option's uninstall plan has a ``source``: ``labkit: <why>`` or upstream URLs;
* a URL names a file at a tag (or a pinned commit): kind's at the release that published the node image,
  Kubernetes' at the node image's release (website: its ``release-<minor>`` branch), a component's at
  a version found in that component's own pin in environments/versions.yaml;
* every leaf key of an option's Helm values has an entry in the ``values.sources.yaml`` beside its values
  file, with the upstream default, the reason, and a source naming the pinned chart version;
* every pin under ``components`` in versions.yaml records ``checked`` and ``source``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit.components import installable
from labkit.components import up as cluster
from labkit.components.base import Option, leaf_keys, load_values_sources
from labkit.steps import Plan, Step
from labkit.targets.kind.config import node_image_pin
from labkit.targets.kube import KubeTarget
from labkit.versions import environments_dir, pins

URL = re.compile(r"https?://[^\s)\"';,]+")
REF = [re.compile(r"^https://github\.com/(?P<repo>[^/]+/[^/]+)/(?:blob|tree)/(?P<ref>[^/#]+)"),
       re.compile(r"^https://github\.com/(?P<repo>[^/]+/[^/]+)/releases/(?:tag|download)/(?P<ref>[^/#]+)"),
       re.compile(r"^https://raw\.githubusercontent\.com/(?P<repo>[^/]+/[^/]+)/(?P<ref>[^/#]+)/")]
VERSION = re.compile(r"^v?\d+\.\d+(\.\d+)?([-.][0-9A-Za-z.]+)?$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_HOME", "/labkit-home")


# -- what counts as "at the pin" ----------------------------------------------------------------------

def url_ref(url: str) -> tuple[str, str] | None:
    """(owner/repo, ref) of a GitHub file, tree or release URL; None for any other URL."""
    for pattern in REF:
        m = pattern.match(url)
        if m:
            return m.group("repo"), m.group("ref")
    return None


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str | int | float) and VERSION.match(str(v)):
                yield f"{k}-{v}"  # a sub-chart pinned as `name: version` is tagged `name-version` in its monorepo
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str | int | float):
        yield str(node)


def pinned_refs(option: Option, shared: Any = None) -> set[str]:
    """Every version or commit a component option's pin names (its version, sub-pins, pinned URLs), plus those
    of ``shared``: the pins of parts every option of its component installs (e.g. the pipeline's Kyverno and
    cosign beside Argo CD and Flux), which sit beside the options in versions.yaml."""
    refs: set[str] = set()
    for text in _strings(shared or {}):
        if VERSION.match(text) or COMMIT.match(text) or re.match(r"^[\w.-]+-v?\d+\.\d+", text):
            refs.add(text)
        for url in URL.findall(text):
            found = url_ref(url)
            if found:
                refs.add(found[1])
    version = str(option.version)
    if VERSION.match(version):
        refs |= {version, version if version.startswith("v") else f"v{version}"}
    for text in _strings(option.pin):
        text = text.replace("{version}", version)
        if VERSION.match(text) or COMMIT.match(text) or re.match(r"^[\w.-]+-v?\d+\.\d+", text):
            refs.add(text)
        for url in URL.findall(text):
            found = url_ref(url)
            if found:
                refs.add(found[1])
    return refs


def kind_refs(kubernetes: str | None = None) -> dict[str, set[str]]:
    """The refs kind's and Kubernetes' own repositories may be cited at, for the pinned node image."""
    image = node_image_pin(kubernetes)
    return {"kubernetes-sigs/kind": {f"v{image.min_kind}"},
            "kubernetes/kubernetes": {image.tag.rsplit(":", 1)[1]},
            "kubernetes/website": {f"release-{image.kubernetes}"}}


def source_problems(step: Step, allowed: set[str], where: str) -> list[str]:
    """Why ``step``'s source does not cite upstream at the pins ([] when it does)."""
    src = step.source.strip()
    if not src:
        return [f"{where}: {step.title!r} has no source"]
    urls = URL.findall(src)
    if src.startswith("labkit:"):
        reason = URL.sub("", src[len("labkit:"):]).strip(" :;,()")
        return [] if len(reason) >= 20 else [f"{where}: {step.title!r}: 'labkit:' without a reason"]
    if not urls:
        return [f"{where}: {step.title!r}: source {src!r} is neither a URL nor 'labkit: <why>'"]
    out = []
    fixed = kind_refs()
    for url in urls:
        found = url_ref(url)
        if found is None:
            out.append(f"{where}: {step.title!r}: {url} is not a file at a tag (github blob/tree/release/raw URL)")
            continue
        repo, ref = found
        want = fixed.get(repo, allowed)
        if ref not in want:
            out.append(f"{where}: {step.title!r}: {url} is at {ref}, the pins say {sorted(want)}")
    return out


# -- the plans ----------------------------------------------------------------------------------------

def shared_pins(component: str) -> dict[str, Any]:
    """The entries of ``components.<component>`` that are not one of its installable options."""
    from labkit.components import get

    entry = pins()["components"].get(component) or {}
    comp = get(component)
    names = set(comp.options().installable) if comp.options else set()
    return {k: v for k, v in entry.items() if k not in names} if isinstance(entry, dict) else {}


def combinations() -> list[tuple[str, dict[str, str]]]:
    """Each CNI alone, and kindnet with each installable option of every other component."""
    out: list[tuple[str, dict[str, str]]] = []
    for comp in installable():
        assert comp.options is not None and comp.up_flag
        for name in comp.options().installable:
            out.append((name, {}) if comp.up_flag == cluster.NETWORK_FLAG else ("kindnet", {comp.up_flag: name}))
    return out


def options() -> list[tuple[str, Option]]:
    return [(comp.name, comp.options().get(name)) for comp in installable() if comp.options
            for name in comp.options().installable]


def _allowed(plan: Plan, chosen: list[Any]) -> set[str]:
    by_part = {ch.component.name: pinned_refs(ch.option, shared_pins(ch.component.name)) for ch in chosen}
    return by_part.get(plan.part, set())


def up_problems(cni: str, chosen: dict[str, str]) -> list[str]:
    script = cluster.up_script(cni, **chosen)  # type: ignore[arg-type]
    picks = cluster.choose(cni=cni, **chosen)
    where = "up --cni " + cni + "".join(f" --{k} {v}" for k, v in chosen.items())
    return [p for plan in script.plans for step in plan.steps
            for p in source_problems(step, _allowed(plan, picks), f"{where} [{plan.part}]")]


@pytest.mark.parametrize("cni,chosen", combinations(), ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={x}" for k, x in v.items()) or "-")
def test_every_step_of_every_up_plan_cites_upstream_at_the_pinned_version(cni: str, chosen: dict[str, str]) -> None:
    assert up_problems(cni, chosen) == []


@pytest.mark.parametrize("component,option", options(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_every_uninstall_step_cites_upstream_at_the_pinned_version(component: str, option: Option) -> None:
    plan = option.uninstall(KubeTarget.for_kind("labkit"))
    refs = pinned_refs(option, shared_pins(component))
    problems = [p for s in plan.steps for p in source_problems(s, refs, f"uninstall {option.name}")]
    assert problems == []


def test_explain_and_the_transcript_show_every_source() -> None:
    script = cluster.up_script("calico")
    assert script.explain().count("*Source:* ") == len(script.steps)
    assert all(rec.get("source") for rec in script.transcript())


# -- Helm values ----------------------------------------------------------------------------------------

def values_problems(option: Option, sources: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Why ``option``'s Helm values are not each traced to upstream at the pinned chart version."""
    values = option.helm_values(option.cluster_config()) if hasattr(option, "cluster_config") else \
        option.helm_values()
    if not values:
        return []
    sources = option.values_sources() if sources is None else sources
    refs = {str(option.version), f"v{str(option.version).lstrip('v')}"}
    own = url_ref(str((option.pin or {}).get("source", "")))  # a monorepo's chart tag, e.g. loki-18.11.0
    if own and str(option.version).lstrip("v") in own[1]:
        refs.add(own[1])
    refs |= {r for r in pinned_refs(option) if re.match(r"^[a-z][\w.-]*-v?\d+\.\d+", r)}  # sub-charts' own tags
    out = []
    for key in leaf_keys(values):
        entry = sources.get(key)
        if entry is None:
            out.append(f"{option.name}: {key} has no entry in values.sources.yaml")
            continue
        for field in ("source", "default", "why"):
            if field not in entry or (field != "default" and not str(entry[field]).strip()):
                out.append(f"{option.name}: {key}: no {field}")
        found = url_ref(str(entry.get("source", "")))
        if found is None or found[1] not in refs:
            out.append(f"{option.name}: {key}: source {entry.get('source')!r} does not name chart {option.version}")
    return out


@pytest.mark.parametrize("component,option", options(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_every_helm_value_is_traced_to_the_charts_values_at_the_pinned_version(component: str,
                                                                                option: Option) -> None:
    assert values_problems(option) == []


def test_no_values_source_is_left_for_a_key_nobody_sets() -> None:
    dirs: dict[Path, set[str]] = {}
    for _, option in options():
        for relative in option.values_files():
            keys = leaf_keys(yaml.safe_load((environments_dir() / relative).read_text()) or {})
            dirs.setdefault((environments_dir() / relative).parent, set()).update(keys)
    assert dirs, "no option sends Helm values?"
    for folder, keys in dirs.items():
        recorded = set(load_values_sources(str((folder / "values.yaml").relative_to(environments_dir()))))
        assert recorded - keys == set(), f"{folder}: stale entries"
        assert recorded, f"{folder}: no values.sources.yaml"


# -- versions.yaml --------------------------------------------------------------------------------------

def pins_without_provenance(components: dict[str, Any]) -> list[str]:
    """Pins (option entries, and nested pins with a version) that lack ``checked`` or ``source``."""
    out = []

    def visit(path: str, node: Any, is_option: bool) -> None:
        if not isinstance(node, dict):
            return
        if is_option or "version" in node:
            checked = node.get("checked")
            if not isinstance(checked, datetime.date):
                out.append(f"{path}: checked is {checked!r}, not a date")
            if not URL.fullmatch(str(node.get("source", ""))):
                out.append(f"{path}: source is {node.get('source')!r}, not a URL")
        for key, value in node.items():
            if isinstance(value, dict):
                visit(f"{path}.{key}", value, False)

    for name, entry in components.items():
        if not isinstance(entry, dict):
            continue
        if name in ("network", "storage") or all(isinstance(v, dict) for v in entry.values()):
            for option, spec in entry.items():
                visit(f"components.{name}.{option}", spec, True)
        else:
            visit(f"components.{name}", entry, True)
    return out


def test_every_component_pin_records_when_it_was_checked_and_its_source() -> None:
    assert pins_without_provenance(pins()["components"]) == []


def test_supported_kubernetes_is_exactly_the_minors_with_a_pinned_node_image() -> None:
    assert sorted(pins()["components"]["supported_kubernetes"]) == sorted(pins()["tools"]["kind"]["node_images"])


# -- each check above can fail ------------------------------------------------------------------------

def test_the_source_check_finds_a_missing_source_a_wrong_version_and_a_bare_labkit() -> None:
    from labkit._run import Cmd

    calico = cluster.choose(cni="calico")[0].option
    refs = pinned_refs(calico)
    assert "v3.32.1" in refs and "v1.42.3" in refs and "v3.31.2" not in refs

    def step(source: str) -> Step:
        return Step("x", Cmd(("true",)), source=source)

    assert source_problems(step(""), refs, "t")
    assert source_problems(step("https://raw.githubusercontent.com/projectcalico/calico/v3.31.2/manifests/a.yaml"),
                           refs, "t")
    assert source_problems(step("https://github.com/kubernetes-sigs/kind/blob/v0.31.0/README.md"), refs, "t")
    assert source_problems(step("https://github.com/kubernetes/website/blob/main/content/en/docs/x.md"), refs, "t")
    assert source_problems(step("https://docs.tigera.io/calico/latest/getting-started/"), refs, "t")
    assert source_problems(step("labkit:"), refs, "t")
    assert source_problems(step("see the docs"), refs, "t")
    assert not source_problems(step("https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/a.yaml"),
                               refs, "t")
    assert not source_problems(step("labkit: a check upstream has no step for, with its reason"), refs, "t")


def test_the_up_check_finds_a_step_whose_source_was_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.components.network import calico

    real = calico.Calico._operator_source
    monkeypatch.setattr(calico.Calico, "_operator_source", lambda self, path: real(self, path).replace(
        "v1.42.3", "v1.40.2"))
    assert any("v1.40.2" in p for p in up_problems("calico", {}))
    monkeypatch.setattr(calico.Calico, "_operator_source", lambda self, path: "")
    assert any("has no source" in p for p in up_problems("calico", {}))


def test_the_values_check_finds_an_untraced_key_and_a_source_at_another_chart_version() -> None:
    longhorn = next(o for _, o in options() if o.name == "longhorn")
    sources = longhorn.values_sources()
    assert values_problems(longhorn, {k: v for k, v in sources.items() if k != "persistence.defaultClass"})
    stale = {k: {**v, "source": v["source"].replace("v1.12.1", "v1.11.0")} for k, v in sources.items()}
    assert values_problems(longhorn, stale)
    assert values_problems(longhorn, {k: {"source": v["source"]} for k, v in sources.items()})


def test_the_pin_check_finds_a_pin_without_a_date_or_source() -> None:
    components = yaml.safe_load(yaml.safe_dump(pins()["components"], default_flow_style=False))
    del components["network"]["calico"]["checked"]
    components["storage"]["longhorn"]["source"] = "the chart"
    del components["network"]["flannel"]["cni_plugins"]["source"]
    found = pins_without_provenance(components)
    assert any("calico" in p and "checked" in p for p in found)
    assert any("longhorn" in p and "source" in p for p in found)
    assert any("cni_plugins" in p for p in found)
