"""Bad input, as a new user types it: one clear error that names the value, nothing made, no traceback.

Every case runs the real CLI in-process. None may reach Docker, a cluster or the store: each is refused
while the request is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import cli

CASES = [
    (["up", "--cni", "nope", "--plan"], "nope"),
    (["up", "--cni", "weave", "--plan"], "retired"),
    (["up", "--cni", "calico@v3.0.0", "--plan"], "v3.0.0"),
    (["up", "--storage", "nfs", "--plan"], "nfs"),
    (["up", "--storage", "rook-ceph", "--plan"], "Rook-Ceph"),
    (["up", "--cni", "none", "--storage", "openebs", "--plan"], "none"),
    (["up", "--workers", "99", "--plan"], "99"),
    (["up", "--workers", "-1", "--plan"], "-1"),
    (["up", "--name", "Labkit", "--plan"], "Labkit"),
    (["up", "--name", "", "--plan"], "''"),
    (["up", "--kubernetes", "1.20", "--plan"], "1.20"),
    (["up", "--kubernetes", "abc", "--plan"], "abc"),
    (["up", "--monitoring", "x", "--plan"], "--monitoring"),
    (["down", "--name", "mycluster"], "mycluster"),
    (["verify"], "--cni"),
    (["verify", "--cni", "nope", "--plan"], "nope"),
    (["bench", "disk"], "disk"),
    (["bench", "net", "--target", "moon"], "moon"),
    (["bench", "net", "--cells", "nope"], "nope"),
    (["bench", "net", "--cells", "bridge,bridge"], "bridge"),
    (["bench", "net", "--reps", "1"], "1"),
    (["bench", "net", "--reps", "0"], "0"),
    (["bench", "net", "--duration", "0.1"], "0.1"),
    (["bench", "net", "--duration", "9999"], "9999"),
    (["bench", "net", "--tests", "udp2"], "udp2"),
    (["bench", "net", "--impair", "rate=150%"], "150%"),
    (["bench", "net", "--impair", "rate=abc"], "rate=abc"),
    (["bench", "net", "--impair", "wbps=50mb"], "wbps=50mb"),
    (["bench", "net", "--impair-cells", "bridge"], "--impair-cells"),
    (["bench", "net", "--impair", "rate=90%", "--impair-cells", "nope"], "nope"),
    (["bench", "net", "--impair", "rate=90%", "--ab", "--cells", "host"], "host"),
    (["bench", "storage", "--size", "12X"], "12X"),
    (["bench", "storage", "--tests", "nope"], "nope"),
    (["bench", "net", "--profile", "turbo"], "turbo"),
    (["bench", "net", "--cni", "calico"], "--cni"),
    (["bench", "net", "--target", "kind", "--cni", "weave"], "weave"),
    (["bench", "net", "--target", "cluster"], "--context"),
    (["bench", "storage", "--target", "cluster", "--context", "x"], "--storage-class"),
    (["bench", "net", "--target", "kind", "--ab"], "--ab"),
    (["bench", "storage", "--target", "kind", "--storage", "nfs"], "nfs"),
    (["lab", "--port", "99999"], "99999"),
    (["lab", "--port", "abc"], "abc"),
    (["doctor", "--port", "0"], "0"),
    (["tools", "install", "nope"], "nope"),
    (["tools", "install"], "NAME"),
    (["clean", "--context", "nope", "--kubeconfig", "/nonexistent/kubeconfig"], "/nonexistent/kubeconfig"),
    (["bench", "net", "--target", "cluster", "--context", "x", "--kubeconfig", "/nonexistent/kc"], "/nonexistent/kc"),
]


@pytest.mark.parametrize(("argv", "named"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_clear_error_naming_the_value(argv: list[str], named: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABKIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # nothing may be made, even by mistake
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code in (1, 2), (code, err)
    assert "error" in err and named in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("meta.json"))


def test_a_store_that_cannot_be_written_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "net", "--store", "/proc/x", "--cells", "loopback", "--reps", "2"]) == 1
    err = capsys.readouterr().err
    assert "/proc/x cannot be written" in err and "Traceback" not in err
