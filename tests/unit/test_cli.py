"""The ``labkit`` command line: usage errors, help, and the verbs that need no Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import cli, tools

VERBS = ("doctor", "images", "clean", "bench", "runs", "compare", "report", "lab", "tools")


def test_unknown_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'frobnicate'" in err and "usage: labkit" in err


def test_no_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2 and "VERB" in capsys.readouterr().err


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert f"    {verb} " in out, verb  # one line of help per verb


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_its_own_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([verb, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: labkit {verb}")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from labkit import __version__

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"labkit {__version__}"


def test_bench_with_one_repetition_fails_in_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "net", "--reps", "1", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit: error: bad repetitions: 1") and "Fix: use --reps 6" in err
    assert not (tmp_path / "runs").exists()  # nothing was started


@pytest.mark.parametrize(("argv", "message"), [
    (["bench", "storage", "--profile", "turbo"], "allowed: quick, full"),
    (["bench", "net", "--cells", "loopback,wormhole"], "'wormhole'"),
    (["bench", "net", "--impair-cells", "bridge"], "only together with --impair"),
    (["bench", "storage", "--impair", "rate=90%"], "storage impairment"),
])
def test_bad_bench_requests_exit_2_before_anything_runs(argv: list[str], message: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_runs_on_an_empty_store_says_how_to_start_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["runs", "--store", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"no runs in {tmp_path}; start one with `labkit bench net`"


def test_runs_lists_stored_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from labkit.bench.store import Store

    st = Store(tmp_path)
    with st.new_run({"suite": "storage", "run_id": "20261126T180000.000Z-abcdef"}):
        pass
    assert cli.main(["runs", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "20261126T180000.000Z-abcdef" in out and "complete" in out and "storage" in out


def test_compare_of_unknown_runs_exits_1_with_a_store_error(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", "x", "y", "--store", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"labkit: error: no run 'x' in {tmp_path}" in err and "Fix: `labkit runs` lists them" in err


def test_report_of_an_unknown_run_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "latest", "--store", str(tmp_path)]) == 1
    assert "no runs in" in capsys.readouterr().err


def test_tools_install_needs_a_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["tools", "install"])
    assert info.value.code == 2 and "needs a NAME: kind, kubectl or helm" in capsys.readouterr().err


def test_tools_install_without_a_published_checksum_refuses_with_the_manual_fix(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], httpserver) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-amd64")
    version = tools.spec("kind")["version"]
    sums = f"/kubernetes-sigs/kind/releases/download/{version}/kind-linux-amd64.sha256sum"
    httpserver.expect_request(sums).respond_with_data("Not Found", status=404)
    assert cli.main(["tools", "install", "kind", "--mirror", httpserver.url_for("/")]) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "Fix: nothing was installed" in err and f"install kind {version} by hand" in err
    assert "labkit tools install" not in err  # the command that just failed is not its own fix
    assert [r.path for r, _ in httpserver.log] == [sums]  # the binary is not even fetched
    assert not (tmp_path / "bin" / "kind").exists()


def test_tools_list_shows_each_tool_and_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing here
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-amd64")
    assert cli.main(["tools", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(tools.TOOLS)
    assert all("not found (fix: " in line for line in lines)
    assert all(f"labkit tools install {name}" in line for name, line in zip(tools.TOOLS, lines, strict=True)
               if name != "docker")


def test_ctrl_c_exits_130_and_says_how_to_clean_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from labkit.cli import bench as bench_cli

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(bench_cli, "runs", interrupted)
    assert cli.main(["runs", "--store", str(tmp_path)]) == 130
    assert "labkit clean" in capsys.readouterr().err
