"""The subprocess door (labkit/_run.py): errors read like bug reports, the env is inherited."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from labkit._run import Cmd, Result, SubprocessRunner
from labkit.errors import CommandError, LabkitError, ToolMissing
from tests.conftest import python_cmd

FAIL = "import sys; sys.stderr.write('boom'); sys.exit(3)"


def test_failing_command_raises_command_error_with_its_data() -> None:
    argv = python_cmd(FAIL)
    with pytest.raises(CommandError) as info:
        SubprocessRunner().run(argv, timeout=30, quiet=True)
    err = info.value
    assert err.argv == argv
    assert err.returncode == 3
    assert err.stderr == "boom"
    assert err.timeout is None


def test_command_error_message_has_the_shell_line_and_the_stderr_tail() -> None:
    argv = python_cmd(FAIL)
    with pytest.raises(CommandError) as info:
        SubprocessRunner().run(argv, timeout=30, quiet=True)
    message = str(info.value)
    assert f"exit code 3: {shlex.join(argv)}" in message  # pasteable, quoted like a shell needs
    assert message.rstrip().endswith("boom")


def test_message_keeps_only_the_last_lines_of_a_long_stderr() -> None:
    code = "import sys; [print(f'line {i}', file=sys.stderr) for i in range(40)]; sys.exit(1)"
    with pytest.raises(CommandError) as info:
        SubprocessRunner().run(python_cmd(code), timeout=30, quiet=True)
    message = str(info.value)
    assert "line 39" in message and "line 25" in message
    assert "line 24" not in message  # the tail is 15 lines
    assert info.value.stderr.count("\n") == 40  # the error still carries all of it


def test_message_falls_back_to_stdout_when_stderr_is_empty() -> None:
    with pytest.raises(CommandError) as info:
        SubprocessRunner().run(python_cmd("print('only stdout'); raise SystemExit(2)"), timeout=30, quiet=True)
    assert "only stdout" in str(info.value) and info.value.stdout.strip() == "only stdout"


def test_check_false_returns_the_result_instead_of_raising() -> None:
    res = SubprocessRunner().run(python_cmd(FAIL), timeout=30, check=False, quiet=True)
    assert isinstance(res, Result)
    assert (res.returncode, res.stderr, res.ok) == (3, "boom", False)


def test_stdin_is_fed_and_argv_items_become_strings(tmp_path: Path) -> None:
    res = SubprocessRunner().run(
        [*python_cmd("import sys; print(sys.stdin.read().upper(), sys.argv[1:])"), tmp_path, 5],
        timeout=30, stdin="hello", quiet=True)
    assert res.ok
    assert res.stdout.strip() == f"HELLO {[str(tmp_path), '5']}"
    assert res.argv[-2:] == (str(tmp_path), "5")


def test_timeout_raises_command_error_with_the_timeout_and_partial_output() -> None:
    code = "import time; print('started', flush=True); time.sleep(30)"
    with pytest.raises(CommandError) as info:
        SubprocessRunner().run(python_cmd(code), timeout=0.5, quiet=True)
    err = info.value
    assert err.timeout == 0.5 and err.returncode is None
    assert "timed out after 0.5 s" in str(err)
    assert "started" in err.stdout and "started" in str(err)  # what it printed before it hung


def test_env_adds_to_the_parent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LK_PARENT", "from-parent")
    monkeypatch.setenv("LK_OVERRIDE", "parent")
    code = "import os; print(*(os.environ[k] for k in ('LK_PARENT', 'LK_OVERRIDE', 'LK_NEW', 'PATH')))"
    res = SubprocessRunner().run(python_cmd(code), timeout=30, env={"LK_NEW": "new", "LK_OVERRIDE": "child"},
                                 quiet=True)
    assert res.stdout.split() == ["from-parent", "child", "new", os.environ["PATH"]]
    assert "LK_NEW" not in os.environ and os.environ["LK_OVERRIDE"] == "parent"  # the parent is untouched


def test_missing_binary_raises_tool_missing_with_a_fix() -> None:
    with pytest.raises(ToolMissing) as info:
        SubprocessRunner().run(["labkit-no-such-tool", "--version"], timeout=5, quiet=True)
    err = info.value
    assert err.tool == "labkit-no-such-tool"
    assert err.fix and "labkit-no-such-tool" in err.fix


def test_unexecutable_binary_is_a_labkit_error(tmp_path: Path) -> None:
    binary = tmp_path / "kind"
    binary.write_bytes(b"\x7fELF\x02not really an executable")
    binary.chmod(0o755)
    with pytest.raises(LabkitError, match="kind"):
        SubprocessRunner().run([str(binary), "version"], timeout=5, quiet=True)


def test_the_command_is_logged_as_a_pasteable_line(capsys: pytest.CaptureFixture[str]) -> None:
    SubprocessRunner().run([sys.executable, "-c", "pass", "a b"], timeout=30, env={"LK_X": "1 2"})
    out = capsys.readouterr().out
    assert f"$ LK_X='1 2' {shlex.quote(sys.executable)} -c pass 'a b'" in out


def test_quiet_logs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    SubprocessRunner().run(python_cmd("pass"), timeout=30, quiet=True)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(("cmd", "line"), [
    (Cmd(("kubectl", "get", "pods")), "kubectl get pods"),
    (Cmd(("kubectl", "apply", "-f", "a b.yaml")), "kubectl apply -f 'a b.yaml'"),
    (Cmd(("sh", "-c", "echo $HOME; it's")), "sh -c 'echo $HOME; it'\"'\"'s'"),
    (Cmd(("echo", "")), "echo ''"),
    (Cmd(("kind", "get", "clusters"), env={"KUBECONFIG": "/x y", "A": "1"}), "KUBECONFIG='/x y' A=1 kind get clusters"),
])
def test_cmd_shell_quotes_like_a_shell_needs(cmd: Cmd, line: str) -> None:
    assert cmd.shell() == line
    assert shlex.split(line)[-len(cmd.argv):] == list(cmd.argv)  # pasting it gives back the argv


@pytest.mark.parametrize(("code", "ok", "timed_out"), [(0, True, False), (1, False, False), (124, False, True),
                                                      (137, False, True)])
def test_result_flags(code: int, ok: bool, timed_out: bool) -> None:
    res = Result(("x",), code, "", "")
    assert (res.ok, res.timed_out) == (ok, timed_out)
