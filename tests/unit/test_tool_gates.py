"""Version gates derived from the pins: which kind, kubectl and helm labkit accepts, and the reason it gives.

The tools here are real executables (tiny shell scripts in tmp_path that print what the real tool
prints), run through labkit's real runner, exactly as ``labkit doctor`` and ``labkit up`` find them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit import doctor, tools
from labkit.errors import BadInput, ToolMissing
from labkit.targets.kind import config, preflight
from labkit.versions import pins


def _script(directory: Path, name: str, output: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    assert "'" not in output
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\n")  # a shell builtin: PATH is empty here
    path.chmod(0o755)
    return path


def kind_says(version: str) -> str:
    return f"kind v{version} go1.24.2 linux/amd64"  # `kind version`


def kubectl_says(version: str) -> str:  # `kubectl version --client -o json`
    return json.dumps({"clientVersion": {"major": "1", "minor": version.split(".")[1],
                                         "gitVersion": f"v{version}", "platform": "linux/amd64"},
                       "kustomizeVersion": "v5.7.1"}, indent=2)


def helm_says(version: str) -> str:
    return f"v{version}+g1234abc"  # `helm version --short`


SAYS = {"kind": kind_says, "kubectl": kubectl_says, "helm": helm_says}


@pytest.fixture()
def own_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """labkit's bin directory in a temp LABKIT_HOME, and a PATH without kind, kubectl or helm."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-amd64")
    return tmp_path / "home" / "bin"


def _install(own_bin: Path, **versions: str) -> None:
    for name, version in versions.items():
        _script(own_bin, name, SAYS[name](version))


# --- the gates come from the pins ------------------------------------------------------------------


def test_the_kind_minimum_is_the_node_images_not_a_hand_written_one() -> None:
    kind = pins()["tools"]["kind"]
    assert "min_version" not in kind  # nothing to drift
    default = kind["node_images"][kind["default_kubernetes"]]
    assert config.min_kind() == default["min_kind"] == "0.32.0"
    assert tools.need_for("kind").low == (0, 32, 0)
    assert config.min_kind(config.ClusterConfig(kubernetes="1.37")) == "0.33.0"
    assert tools.need_for("kind", kubernetes="1.37").low == (0, 33, 0)


def test_node_image_stays_a_digest_pinned_string() -> None:
    ref = config.node_image()
    assert isinstance(ref, str)
    assert ref == "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"
    assert config.node_image("1.37").startswith("kindest/node:v1.37.0@sha256:a1ed56cf")
    assert config.ClusterConfig(kubernetes="1.37").image == config.node_image("1.37")
    assert config.node_image_pin().tag == "kindest/node:v1.36.1"


def test_an_unpinned_kubernetes_names_the_pinned_ones() -> None:
    with pytest.raises(BadInput) as info:
        config.node_image("1.30")
    assert info.value.allowed == "1.36, 1.37" and "min_kind" in (info.value.fix or "")


def test_every_tool_pin_says_when_it_was_checked_and_where_its_facts_come_from() -> None:
    for name in ("kind", "kubectl", "helm"):
        spec = pins()["tools"][name]
        assert str(spec["checked"]) == "2026-11-30", name
        assert spec["version"].lstrip("v") in spec["source"], name  # a release page of the pinned tag
        assert spec["checksum_url"].startswith("https://") and "{version}" in spec["checksum_url"], name
    for minor, image in pins()["tools"]["kind"]["node_images"].items():
        assert f"/v{image['min_kind']}" in image["source"], minor  # the kind release that publishes it
        assert image["image"].startswith(f"kindest/node:v{minor}.") and "@sha256:" in image["image"], minor
        assert str(image["checked"]) == "2026-11-30", minor
    kubectl, helm = pins()["tools"]["kubectl"], pins()["tools"]["helm"]
    assert "/v1.31.0/" in kubectl["min_source"] and "/v3.13.0/" in helm["min_source"]


@pytest.mark.parametrize(("server", "window"), [("1.36", ((1, 35), (1, 37))), ("v1.34.2", ((1, 33), (1, 35))),
                                                ("1.37", ((1, 36), (1, 38))),
                                                ("1.31", ((1, 31), (1, 32))),  # never below 1.31
                                                ("1.29", ((1, 31), (1, 30)))])  # nothing fits: an empty window
def test_the_kubectl_window_is_the_skew_policy_above_the_floor(server: str,
                                                               window: tuple[tuple[int, int], ...]) -> None:
    assert tools.kubectl_window(server) == window


def test_the_default_kubectl_window_follows_the_node_image() -> None:
    assert config.node_image_pin().kubernetes == "1.36"
    assert tools.need_for("kubectl").allowed == "1.35–1.37 for Kubernetes 1.36"
    assert tools.need_for("kubectl", kubernetes="1.37").allowed == "1.36–1.38 for Kubernetes 1.37"


def test_a_cluster_labkit_did_not_make_sets_the_window_from_its_server() -> None:
    gate = tools.kubectl_need("1.33")
    assert gate.accepts("1.32.4") and gate.accepts("1.34.0") and not gate.accepts("1.36.1")
    assert "allows 1.32–1.34 against Kubernetes 1.33" in (gate.problem("1.36.1") or "")
    unknown = tools.kubectl_need(None)  # server version not known: only the floor
    assert unknown.accepts("1.40.0") and not unknown.accepts("1.30.9")


# --- refusals name the version needed and why --------------------------------------------------------


def test_kind_031_is_refused_for_the_136_node_image_with_the_reason(own_bin: Path) -> None:
    _install(own_bin, kind="0.31.0", kubectl="1.36.1")
    with pytest.raises(ToolMissing) as info:
        preflight.resolve_tools(host=())
    err = info.value
    assert err.tool == "kind"
    assert err.reason.startswith("kind 0.31.0 is older than 0.32.0, the first kind release that supports node "
                                 "image kindest/node:v1.36.1 (kind v0.32.0 release notes: ")
    assert "kind load" in err.reason and "https://github.com/kubernetes-sigs/kind/releases/tag/v0.32.0" in err.reason
    assert "labkit tools install kind" in (err.fix or "") and "v0.33.0" in (err.fix or "")


def test_kind_032_is_refused_for_kubernetes_137_but_fine_for_136(own_bin: Path) -> None:
    _install(own_bin, kind="0.32.0", kubectl="1.36.1")
    assert preflight.resolve_tools(host=())["kind"] == str(own_bin / "kind")
    with pytest.raises(ToolMissing) as info:
        preflight.resolve_tools(host=(), cfg=config.ClusterConfig(kubernetes="1.37"))
    assert "older than 0.33.0" in info.value.reason and "kindest/node:v1.37.0" in info.value.reason


def test_kubectl_130_is_refused_it_lacks_wait_for_create_and_is_outside_the_window(own_bin: Path) -> None:
    _install(own_bin, kind="0.33.0", kubectl="1.30.2")
    with pytest.raises(ToolMissing) as info:
        preflight.resolve_tools(host=())
    err = info.value
    assert err.tool == "kubectl"
    assert err.reason.startswith("kubectl 1.30.2: the plans use `kubectl wait --for=create`, which kubectl has "
                                 "since 1.31 (")
    assert "the skew policy allows 1.35–1.37 against Kubernetes 1.36" in err.reason
    assert "labkit tools install kubectl" in (err.fix or "")


def test_kubectl_132_against_a_136_server_is_outside_the_skew_window(own_bin: Path) -> None:
    _install(own_bin, kind="0.33.0", kubectl="1.32.4")
    with pytest.raises(ToolMissing) as info:
        preflight.resolve_tools(host=())
    assert "kubectl 1.32.4" in info.value.reason and "allows 1.35–1.37 against Kubernetes 1.36" in info.value.reason
    assert "version-skew-policy" in info.value.reason


def test_kubectl_newer_than_the_window_is_refused_too(own_bin: Path) -> None:
    _install(own_bin, kind="0.33.0", kubectl="1.38.0")
    with pytest.raises(ToolMissing, match="kubectl 1.38.0: .* allows 1.35–1.37"):
        preflight.resolve_tools(host=())


def test_helm_312_is_refused_uninstall_ignore_not_found_needs_313(own_bin: Path) -> None:
    _install(own_bin, kind="0.33.0", kubectl="1.36.1", helm="3.12.3")
    with pytest.raises(ToolMissing) as info:
        preflight.resolve_tools(["helm"], host=())
    err = info.value
    assert err.tool == "helm"
    assert err.reason.startswith("helm 3.12.3 is older than 3.13.0: labkit removes charts with "
                                 "`helm uninstall --ignore-not-found`, new in Helm 3.13.0 (")
    assert "labkit tools install helm" in (err.fix or "")


@pytest.mark.parametrize(("kind", "kubectl", "helm"), [("0.33.0", "1.36.1", "3.13.0"), ("0.32.0", "1.35.0", "4.2.3"),
                                                       ("0.33.1", "1.37.9", "3.19.2")])
def test_versions_in_range_are_accepted(own_bin: Path, kind: str, kubectl: str, helm: str) -> None:
    _install(own_bin, kind=kind, kubectl=kubectl, helm=helm)
    found = preflight.resolve_tools(["helm"], host=())
    assert found == {name: str(own_bin / name) for name in ("kind", "kubectl", "helm")}


def test_a_tool_the_pin_cannot_satisfy_is_not_offered_labkit_install(own_bin: Path) -> None:
    _install(own_bin, kubectl="1.36.1")
    info = tools.find("kubectl", need=tools.kubectl_need("1.33"))  # another cluster's server
    assert not info.ok and info.fix and info.fix.startswith("install a kubectl 1.32–1.34 for Kubernetes 1.33 by hand")
    assert "labkit tools install" not in info.fix  # it would install v1.36.1, which does not fit either


# --- doctor shows the same gates ----------------------------------------------------------------------


def test_doctor_warns_about_a_kubectl_outside_the_window_with_the_window_and_why(own_bin: Path) -> None:
    _install(own_bin, kubectl="1.32.4")
    check = doctor._tool("kubectl")
    assert check.status == doctor.WARN
    assert "kubectl 1.32.4" in check.detail and "1.35–1.37 against Kubernetes 1.36" in check.detail
    assert "wait --for=create" in check.detail and str(own_bin / "kubectl") in check.detail
    assert "labkit tools install kubectl" in check.fix


def test_doctor_shows_the_accepted_range_beside_a_tool_that_passes(own_bin: Path) -> None:
    _install(own_bin, kind="0.33.0", kubectl="1.36.1")
    kind, kubectl = doctor._tool("kind"), doctor._tool("kubectl")
    assert kind.status == doctor.OK and kind.detail.endswith("(pinned v0.33.0; accepts ≥ 0.32.0 for "
                                                             "kindest/node:v1.36.1)")
    assert kubectl.status == doctor.OK and "accepts 1.35–1.37 for Kubernetes 1.36" in kubectl.detail
