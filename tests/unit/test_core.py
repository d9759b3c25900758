"""The subprocess door, tool discovery and pinned downloads, doctor rendering."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.error
from pathlib import Path

import pytest

from labkit import doctor, tools
from labkit._run import Cmd, Result, SubprocessRunner
from labkit.errors import ChecksumMismatch, CommandError, LabkitError, ToolMissing
from tests.conftest import python_cmd


def test_failing_command_error_reads_like_a_bug_report() -> None:
    argv = python_cmd("import sys; sys.stderr.write('boom happened'); sys.exit(3)")
    with pytest.raises(CommandError) as info:
        SubprocessRunner().run(argv, timeout=30, quiet=True)
    err = info.value
    assert err.returncode == 3 and err.argv == argv and "boom happened" in err.stderr
    assert "exit code 3" in str(err) and "boom happened" in str(err) and "-c" in str(err)


def test_check_false_returns_the_result_and_env_keeps_path() -> None:
    res = SubprocessRunner().run(python_cmd("import os; print(os.environ['LK_X'], bool(os.environ.get('PATH')))"),
                                 timeout=30, env={"LK_X": "yes"}, check=False, quiet=True)
    assert res.ok and res.stdout.split() == ["yes", "True"]


def test_timeout_is_an_error_with_the_timeout() -> None:
    with pytest.raises(CommandError) as info:
        SubprocessRunner().run(python_cmd("import time; time.sleep(5)"), timeout=0.5, quiet=True)
    assert info.value.timeout == 0.5 and "timed out" in str(info.value)


def test_missing_binary_is_tool_missing() -> None:
    with pytest.raises(ToolMissing, match="no-such-tool-lk"):
        SubprocessRunner().run(["no-such-tool-lk"], timeout=5, quiet=True)


def test_cmd_shell_line_is_pasteable() -> None:
    assert Cmd(("kubectl", "apply", "-f", "a b.yaml"), env={"KUBECONFIG": "/x y"}).shell() == \
        "KUBECONFIG='/x y' kubectl apply -f 'a b.yaml'"


@pytest.mark.parametrize(("name", "output", "version"), [
    ("kind", "kind v0.27.0 go1.23.4 linux/amd64", "0.27.0"),
    ("helm", "v4.2.3+g1234abc", "4.2.3"),
    ("docker", "Docker version 28.2.2, build e6534b4", "28.2.2"),
    ("kubectl", '{"clientVersion": {"gitVersion": "v1.36.1"}}', "1.36.1"),
    ("kind", "no version here", None),
])
def test_parse_version(name: str, output: str, version: str | None) -> None:
    assert tools.parse_version(name, output) == version


class FakeRunner:
    def __init__(self, stdout: str) -> None:
        self.stdout, self.calls = stdout, []

    def run(self, argv: list[str], **kw: object) -> Result:
        self.calls.append(list(argv))
        return Result(tuple(argv), 0, self.stdout, "")


@pytest.fixture()
def own_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (tmp_path / "bin").mkdir()
    return tmp_path / "bin"


def test_find_prefers_labkits_bin_and_checks_the_minimum(own_bin: Path) -> None:
    kind = own_bin / "kind"
    kind.write_text("#!/bin/sh\n")
    kind.chmod(0o755)
    ok = tools.find("kind", runner=FakeRunner("kind v0.32.0 go1.24 linux/amd64"))
    assert ok.ok and ok.path == str(kind) and ok.version == "0.32.0"
    old = tools.find("kind", runner=FakeRunner("kind v0.20.0 go1.20 linux/amd64"))
    assert not old.ok and "older than" in (old.problem or "") and old.fix


def test_find_missing_tool_says_how_to_install(own_bin: Path) -> None:
    info = tools.find("helm", runner=FakeRunner(""))
    assert not info.ok and info.problem == "not found" and "helm" in (info.fix or "")
    with pytest.raises(ToolMissing, match="helm"):
        tools.require("helm", runner=FakeRunner(""))


def _tarball(member: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


class Resp(io.BytesIO):
    def __enter__(self) -> Resp:
        return self

    def __exit__(self, *a: object) -> None:
        self.close()


def _helm_spec(monkeypatch: pytest.MonkeyPatch, sha: str) -> None:
    spec = {"version": "v9.9.9", "url": "https://example.invalid/helm-{version}-{os}-{arch}.tar.gz",
            "archive_member": "{os}-{arch}/helm", "sha256": {"linux-amd64": sha}}
    monkeypatch.setattr(tools, "spec", lambda name: dict(spec))
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-amd64")


def test_install_verifies_sha256_and_extracts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blob = _tarball("linux-amd64/helm", b"#!/bin/sh\necho helm\n")
    _helm_spec(monkeypatch, hashlib.sha256(blob).hexdigest())
    urls = []
    path = tools.install("helm", dest=tmp_path, opener=lambda url: (urls.append(url), Resp(blob))[1])
    assert urls == ["https://example.invalid/helm-v9.9.9-linux-amd64.tar.gz"]
    assert path.read_bytes() == b"#!/bin/sh\necho helm\n" and os.access(path, os.X_OK)


def test_install_refuses_a_checksum_mismatch_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    _helm_spec(monkeypatch, "0" * 64)
    with pytest.raises(ChecksumMismatch) as info:
        tools.install("helm", dest=tmp_path, opener=lambda url: Resp(b"tampered"))
    assert info.value.expected == "0" * 64 and "nothing was installed" in (info.value.fix or "")
    assert list(tmp_path.iterdir()) == []


def test_install_download_failure_is_tool_missing_with_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _helm_spec(monkeypatch, "0" * 64)

    def offline(url: str) -> Resp:
        raise urllib.error.URLError("no route to host")

    with pytest.raises(ToolMissing, match="download of .* failed") as info:
        tools.install("helm", dest=tmp_path, opener=offline)
    assert "helm" in (info.value.fix or "")


def test_install_without_a_pinned_checksum_refuses_before_downloading(tmp_path: Path) -> None:
    called = []
    with pytest.raises(ToolMissing, match="unverified"):
        tools.install("kind", dest=tmp_path, opener=lambda url: called.append(url))
    assert called == []


def test_docker_is_not_installed_by_labkit() -> None:
    with pytest.raises(LabkitError, match="does not install Docker"):
        tools.install("docker")


def test_doctor_exit_code_and_render() -> None:
    rows = [doctor.Check("python", doctor.OK, "3.11", "never shown"),
            doctor.Check("kind", doctor.WARN, "not found", "install kind")]
    assert doctor.exit_code(rows) == 0
    text = doctor.render(rows)
    assert "fix: install kind" in text and "never shown" not in text and "0 blocker(s), 1 warning(s)" in text
    rows.append(doctor.Check("docker daemon", doctor.FAIL, "not reachable", "start Docker"))
    assert doctor.exit_code(rows) == 1 and "✗ docker daemon" in doctor.render(rows)


def test_port_free_sees_a_bound_port() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert not doctor.port_free(s.getsockname()[1])


def test_importing_labkit_loads_no_heavy_dependency() -> None:
    import subprocess
    import sys

    code = ("import sys, labkit, labkit.cli, labkit.errors; "
            "print(sorted(m for m in ('docker', 'kubernetes', 'plotly', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
