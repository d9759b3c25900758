"""Secrets stay out of logs and errors; a hung Docker daemon is noticed in seconds, not in 15 minutes."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from labkit import docker, redact
from labkit._run import Cmd
from labkit.errors import CommandError, LabkitError
from labkit.log import log
from labkit.steps import Step, shell

SECRET = "lab-S3cret-Pw-4242"
KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBb0bBb0bBb0bBb0bBb0b\n-----END EC PRIVATE KEY-----"


def test_a_registered_secret_never_reaches_a_log_line_or_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    redact.register(SECRET)
    log(f"docker login --password {SECRET}")
    err = CommandError(["docker", "login", "-p", SECRET], 1, f"stdout {SECRET}", f"denied for {SECRET}")
    assert SECRET not in capsys.readouterr().out
    assert SECRET not in str(err) and SECRET not in " ".join(err.argv) and SECRET not in err.stderr
    assert SECRET not in str(LabkitError(f"bad {SECRET}", fix=f"use {SECRET}"))


def test_private_keys_are_masked_even_unregistered() -> None:
    text = redact.redact(f"here is the key:\n{KEY}\nend")
    assert "MHcCAQEE" not in text and "PRIVATE KEY-----***-----END" in text


def test_secret_environment_variables_are_masked_where_a_command_is_shown() -> None:
    cmd = Cmd(("cosign", "sign", "--key", "k"), env={"COSIGN_PASSWORD": "hunter22", "HOME": "/tmp"})
    assert "hunter22" not in cmd.shell() and "COSIGN_PASSWORD=***" in cmd.shell() and "HOME=/tmp" in cmd.shell()
    assert "hunter22" not in shell(cmd) and "hunter22" not in Step("sign", cmd).explain()


def test_the_join_token_of_a_dind_swarm_is_registered_as_a_secret() -> None:
    source = Path(docker.__file__).parents[1].joinpath("targets/swarm/dind.py").read_text()
    assert "redact.register(token)" in source and '"<worker join token>"' in source


@pytest.fixture()
def hung_daemon(tmp_path: Path) -> str:
    """A unix socket that accepts connections and never answers: a wedged dockerd."""
    path = str(tmp_path / "docker.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"unix://{path}"
    stop.set()
    t.join(timeout=2)
    for c in held:
        c.close()
    srv.close()


def test_a_hung_daemon_is_reported_unavailable_within_seconds(hung_daemon: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", hung_daemon)
    docker.reset()
    t0 = time.monotonic()
    assert docker.available(timeout=2) is False
    assert time.monotonic() - t0 < 10  # the old probe waited for the 900 s API timeout
    from labkit.targets import replay

    t0 = time.monotonic()
    monkeypatch.setenv("LABKIT_DOCKER_PROBE_TIMEOUT", "2")
    assert replay.resolve("auto") in ("replay",)
    assert time.monotonic() - t0 < 10
