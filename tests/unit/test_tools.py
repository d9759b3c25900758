"""Finding the field's CLIs and reading their versions (gates: test_tool_gates.py; installs:
test_tools_install.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labkit import tools
from labkit.errors import BadInput, CommandError, ToolMissing
from labkit.versions import pins
from tests.fakes import ScriptedRunner

KUBECTL_JSON = """{
  "clientVersion": {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.1",
    "gitCommit": "0123456789abcdef0123456789abcdef01234567",
    "gitTreeState": "clean",
    "buildDate": "2026-05-14T10:12:00Z",
    "goVersion": "go1.25.2",
    "compiler": "gc",
    "platform": "linux/amd64"
  },
  "kustomizeVersion": "v5.7.1"
}
"""


@pytest.mark.parametrize(("name", "output", "version"), [
    ("kind", "kind v0.27.0 go1.23.4 linux/amd64\n", "0.27.0"),
    ("kind", "kind v0.28.0-alpha.1+4d5bd3e9 go1.24.1 linux/arm64\n", "0.28.0"),
    ("kubectl", KUBECTL_JSON, "1.36.1"),
    ("kubectl", "Client Version: v1.31.4\nKustomize Version: v5.4.2\n", "1.31.4"),  # a plain-text fallback
    ("helm", "v4.2.3+g1234abc\n", "4.2.3"),
    ("helm", "v3.14.2+gc309b6f\n", "3.14.2"),
    ("docker", "Docker version 28.2.2, build e6534b4\n", "28.2.2"),
    ("docker", "Docker version 20.10.24+dfsg1, build 297e128\n", "20.10.24"),
    ("kind", "bash: kind: command not found\n", None),
    ("kubectl", "", None),
])
def test_parse_version_of_real_outputs(name: str, output: str, version: str | None) -> None:
    assert tools.parse_version(name, output) == version


def test_version_tuples_compare_numerically() -> None:
    assert tools.version_tuple("1.9.0") < tools.version_tuple("1.30.0")  # "1.9.0" > "1.30.0" as strings
    assert tools.version_tuple("20.10.24") >= tools.version_tuple("20.10")
    assert tools.version_tuple("v0.27.0") == (0, 27, 0)


# --- find ---------------------------------------------------------------------------------------


VERSION_ARGS = {"kind": ("version",), "kubectl": ("version", "--client", "-o", "json"), "helm": ("version", "--short"),
                "docker": ("--version",)}


def asked(path: Path, answer: Any) -> ScriptedRunner:
    """The version command of the tool at ``path`` answering ``answer`` (stdout, ``(rc, stdout)`` or an
    exception); any other command, another copy of the tool included, fails the test."""
    return ScriptedRunner({(str(path), *VERSION_ARGS[path.name]): answer}, anywhere=False)


def nothing() -> ScriptedRunner:
    """A runner for a test in which no command may run."""
    return ScriptedRunner({})


def _executable(directory: Path, name: str, mode: int = 0o755) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


@pytest.fixture()
def own_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """labkit's bin dir in a temp LABKIT_HOME, and a PATH with nothing on it."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-amd64")
    path = tmp_path / "home" / "bin"
    path.mkdir(parents=True)
    return path


def test_find_reads_the_version_of_a_tool_in_labkits_bin(own_bin: Path) -> None:
    kind = _executable(own_bin, "kind")
    runner = asked(kind, "kind v0.32.0 go1.24.2 linux/amd64\n")
    info = tools.find("kind", runner=runner)
    assert info.ok and info.problem is None and info.fix is None
    assert (info.path, info.version, info.pinned) == (str(kind), "0.32.0", pins()["tools"]["kind"]["version"])
    [call] = runner.calls
    assert call.argv == [str(kind), "version"]
    assert call.check is False and call.timeout <= 60


@pytest.mark.parametrize(("name", "args"), [("kubectl", ["version", "--client", "-o", "json"]),
                                            ("helm", ["version", "--short"]),
                                            ("docker", ["--version"])])
def test_find_asks_each_tool_for_its_version_its_own_way(own_bin: Path, name: str, args: list[str]) -> None:
    path = _executable(own_bin, name)
    runner = ScriptedRunner({(str(path), *args): ""}, anywhere=False)
    tools.find(name, runner=runner)
    assert runner.calls[0].argv == [str(path), *args]


def test_labkits_bin_wins_over_path(own_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = _executable(own_bin, "helm")
    _executable(tmp_path / "elsewhere", "helm")
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert tools.find("helm", runner=asked(ours, "v4.2.3+gabc")).path == str(ours)


def test_a_non_executable_file_in_labkits_bin_is_passed_over(own_bin: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _executable(own_bin, "helm", mode=0o644)
    theirs = _executable(tmp_path / "elsewhere", "helm")
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert tools.find("helm", runner=asked(theirs, "v4.2.3+gabc")).path == str(theirs)


def test_too_old_a_tool_is_a_problem_with_a_fix(own_bin: Path) -> None:
    kind = _executable(own_bin, "kind")
    info = tools.find("kind", runner=asked(kind, "kind v0.20.0 go1.20.4 linux/amd64"))
    assert not info.ok and info.version == "0.20.0"
    assert info.problem and info.problem.startswith("kind 0.20.0 is older than 0.32.0")
    assert info.fix and "labkit tools install kind" in info.fix and pins()["tools"]["kind"]["version"] in info.fix


def test_the_lowest_accepted_version_itself_is_accepted(own_bin: Path) -> None:
    kubectl = _executable(own_bin, "kubectl")
    gate = tools.need_for("kubectl")
    lowest = ".".join(map(str, gate.low))
    assert tools.find("kubectl", runner=asked(kubectl, KUBECTL_JSON.replace("v1.36.1", f"v{lowest}"))).ok
    below = f"{gate.low[0]}.{gate.low[1] - 1}.99"
    assert not tools.find("kubectl", runner=asked(kubectl, KUBECTL_JSON.replace("v1.36.1", f"v{below}"))).ok


def test_docker_is_held_to_its_minimum_and_has_no_pin(own_bin: Path) -> None:
    docker = _executable(own_bin, "docker")
    old = tools.find("docker", runner=asked(docker, "Docker version 19.03.15, build 99e3ed8"))
    assert not old.ok and "older than 20.10" in (old.problem or "") and "Docker" in (old.fix or "")
    new = tools.find("docker", runner=asked(docker, "Docker version 20.10.24+dfsg1, build 297e128"))
    assert new.ok and new.pinned is None


def test_missing_tool_is_not_found_with_an_install_hint(own_bin: Path) -> None:
    runner = nothing()
    info = tools.find("kind", runner=runner)
    assert not info.ok and info.path is None and info.problem == "not found"
    assert info.fix and "install kind" in info.fix and "go install sigs.k8s.io/kind@" in info.fix
    assert runner.calls == []


def test_unreadable_version_is_a_problem(own_bin: Path) -> None:
    helm = _executable(own_bin, "helm")
    info = tools.find("helm", runner=asked(helm, (1, "Error: unknown command \"version\"")))
    assert not info.ok and info.problem == "could not read its version" and info.fix


def test_a_tool_that_hangs_is_a_problem_not_an_exception(own_bin: Path) -> None:
    path = _executable(own_bin, "kubectl")
    hung = CommandError([str(path), "version"], None, "", "", timeout=20)
    info = tools.find("kubectl", runner=asked(path, hung))
    assert not info.ok and info.path == str(path)
    assert info.problem and info.problem.startswith("`kubectl` did not answer") and "timed out" in info.problem


def test_find_never_raises_for_a_binary_that_cannot_run(own_bin: Path) -> None:
    broken = own_bin / "kind"
    broken.write_bytes(b"\x7fELF\x02built for another machine")
    broken.chmod(0o755)
    info = tools.find("kind")  # the real runner
    assert not info.ok and info.path == str(broken) and info.fix


def test_require_returns_the_path_or_raises_tool_missing(own_bin: Path) -> None:
    with pytest.raises(ToolMissing) as info:
        tools.require("helm", runner=nothing())
    assert info.value.tool == "helm" and info.value.reason == "not found" and "helm" in (info.value.fix or "")
    helm = _executable(own_bin, "helm")
    assert tools.require("helm", runner=asked(helm, "v4.2.3+g1234abc")) == str(helm)


def test_unknown_tool_names_the_known_ones() -> None:
    with pytest.raises(BadInput) as info:
        tools.spec("podman")
    assert info.value.value == "podman" and info.value.allowed == "docker, kind, kubectl, helm"


@pytest.mark.parametrize("name", ["kind", "kubectl", "helm"])
def test_install_hint_offers_labkit_install_only_where_a_release_exists(monkeypatch: pytest.MonkeyPatch,
                                                                        name: str) -> None:
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-amd64")
    assert f"labkit tools install {name}" in tools.install_hint(name)
    assert "labkit tools install" not in tools.install_hint(name, offer_install=False)  # after it failed
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-riscv64")  # no such release asset
    assert "labkit tools install" not in tools.install_hint(name)
    assert pins()["tools"][name]["version"] in tools.install_hint(name)


@pytest.mark.parametrize(("system", "machine", "key"), [("Linux", "x86_64", "linux-amd64"),
                                                        ("Linux", "aarch64", "linux-arm64"),
                                                        ("Darwin", "arm64", "darwin-arm64"),
                                                        ("Linux", "riscv64", "linux-riscv64")])
def test_platform_key_matches_the_release_asset_names(monkeypatch: pytest.MonkeyPatch, system: str, machine: str,
                                                      key: str) -> None:
    monkeypatch.setattr(tools.platform, "system", lambda: system)
    monkeypatch.setattr(tools.platform, "machine", lambda: machine)
    assert tools.platform_key() == key
