"""Bad input and faults that need no Docker: each gives one clear error."""

from __future__ import annotations

import socket
import subprocess
import sys

from labkit.errors import PortInUse


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_no_docker_daemon_is_a_blocker_with_a_fix() -> None:
    res = _cli("doctor", "--fast", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert res.returncode == 1
    assert "✗ docker daemon" in res.stdout and "fix: start Docker" in res.stdout


def test_bench_without_docker_fails_cleanly() -> None:
    res = _cli("bench", "net", "--cells", "loopback", "--reps", "2", env={"DOCKER_HOST": "unix:///nonexistent/x.sock"})
    assert res.returncode == 1
    assert "Docker daemon is not reachable" in res.stderr and "Fix:" in res.stderr
    assert "Traceback" not in res.stderr


def test_lab_refuses_a_taken_port() -> None:
    from labkit import lab

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        try:
            lab.open_lab(port=port)
        except PortInUse as exc:
            assert str(port) in exc.message and "LABKIT_PORT" in (exc.fix or "")
        else:
            raise AssertionError("open_lab started on a taken port")


def test_jupyter_command_is_loopback_with_a_token() -> None:
    from labkit import lab

    argv = lab.jupyter_argv(port=8899, browser=False)
    assert "--ip=127.0.0.1" in argv and "--port=8899" in argv and "--no-browser" in argv
    token = next(a for a in argv if a.startswith("--IdentityProvider.token="))
    assert len(token.split("=", 1)[1]) >= 32
    assert argv[-1] in ("notebooks/00-start-here.ipynb", "--allow-root", "--no-browser")
    assert "notebooks/00-start-here.ipynb" in argv
