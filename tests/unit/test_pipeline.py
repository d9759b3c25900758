"""Chapter 08's engine tier without Docker: parsers on recorded real outputs, the journal, secrets, the plan
the chapter shows, the harness catalog, the charts, the CLI."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from labkit import redact
from labkit._run import Cmd
from labkit.components.pipeline import build, cells, deploy, explain, report, runner, sign
from labkit.components.pipeline.lab import EngineLab
from labkit.components.pipeline.registry import config_yml, published_port
from labkit.components.pipeline.sbom import summarize
from labkit.components.pipeline.settings import CLI, Layout, Secret, Settings, basic_auth, write_private
from labkit.components.pipeline.toolbox import Journal, Toolbox
from labkit.errors import BadInput, CommandError, LabkitError
from tests.fakes import ScriptedRunner

DATA = Path(__file__).resolve().parents[1] / "data" / "pipeline"


def test_a_recorded_warm_build_log_gives_its_steps_and_cache_hits() -> None:
    steps, cached, ids = build.parse((DATA / "build-warm.log").read_text())
    assert (steps, cached) == (19, 5)  # toolchain, WORKDIR, COPY server.c, gcc, COPY --from: all reused
    assert len(ids) >= steps and all(len(i) == 12 for i in ids)


def test_a_failed_build_names_its_step_and_the_compilers_reason() -> None:
    out = "Step 4/17 : COPY server.c .\n ---> Using cache\nStep 5/17 : RUN gcc -O2 -Wall -o /src/server server.c\n"
    err = ("DEPRECATED: The legacy builder is deprecated\nThe command '/bin/sh -c gcc -O2 -Wall -o /src/server "
           "server.c' returned a non-zero code: 1\n")
    step, reason = build.failed_step(out, err)
    assert step.startswith("Step 5/17 : RUN gcc") and "non-zero code: 1" in reason
    assert build.failed_step("", "unable to prepare context: path not found")[0].startswith("(before the first step")


def test_build_cmd_tags_by_commit_and_forces_the_legacy_builder() -> None:
    cmd = build.build_cmd(Path("/src"), tag="127.0.0.1:1/labkit/app:abc", build_args={"COMMIT": "abc"},
                          labels={"io.labkit.managed": "true"}, no_cache=True)
    assert cmd.argv[:3] == ("docker", "build", "--force-rm") and cmd.argv[-1] == "/src"
    assert "--no-cache" in cmd.argv and "COMMIT=abc" in cmd.argv and cmd.env == {"DOCKER_BUILDKIT": "0"}


def test_cosign_verify_outputs_parse_into_the_signed_commit() -> None:
    ok = sign.parse_verify("r", 0, (DATA / "cosign-verify.stdout").read_text(),
                           (DATA / "cosign-verify.stderr").read_text())
    assert ok.ok and ok.commit == "d9d8f298ed317c5698f7cf756e29556c1fb79117"
    bad = sign.parse_verify("r", 1, "", (DATA / "cosign-verify-unsigned.stderr").read_text())
    assert not bad.ok and bad.error == "error during command execution: no signatures found" and bad.commit == ""


def test_a_recorded_sbom_attestation_carries_the_cyclonedx_inventory_of_the_digest() -> None:
    with gzip.open(DATA / "cosign-verify-attestation.stdout.gz", "rt") as fh:
        v = sign.parse_attestation("r", 0, fh.read(), "")
    claim = v.claims[0]
    assert claim["predicateType"] == "https://cyclonedx.org/bom" and claim["components"] == 89
    assert claim["subject"].startswith("e4fcfe65492a")  # the digest in cosign-verify.stdout


def test_sbom_summary_counts_components_and_says_nothing_was_scanned(tmp_path: Path) -> None:
    doc = tmp_path / "sbom.cdx.json"
    doc.write_text('{"specVersion": "1.5", "components": [{"type": "library"}, {"type": "library"}, '
                   '{"type": "operating-system"}], "vulnerabilities": []}')
    s = summarize(doc)
    assert (s.spec, s.components, s.by_type, s.vulnerabilities_listed) == (
        "CycloneDX 1.5", 3, {"library": 2, "operating-system": 1}, 0)


def test_a_secret_is_masked_registered_and_kept_out_of_argv() -> None:
    s = Secret("lab-S3cret-Pw-unit")
    assert repr(s) == str(s) == "Secret('***')" and "lab-S3cret-Pw-unit" not in f"{s!r} {s}"
    assert redact.redact("pw=lab-S3cret-Pw-unit") == "pw=***"
    token = basic_auth("labci", s)
    assert redact.redact(f"auth {token}") == "auth ***"  # docker's config.json form is a secret too
    with pytest.raises(BadInput):
        Secret("short")


def test_the_journal_logs_commands_never_the_secret_on_stdin(tmp_path: Path) -> None:
    pw = Secret("journal-S3cret-1")
    fake = ScriptedRunner({("docker", "exec"): (0, "hashed\n", "a warning")})
    j = Journal(tmp_path / "run", fake)
    j.run(Toolbox("box").cmd("htpasswd", "-niBC", "5", "labci", stdin=True), stage="lab", secret=pw)
    assert fake.calls[0].stdin == "journal-S3cret-1"  # the tool gets it on stdin …
    text = (tmp_path / "run" / "lab.log").read_text()
    assert "journal-S3cret-1" not in text and "(a secret on stdin)" in text  # … the log never sees it
    assert "hashed" in text and "[stderr] a warning" in text


def test_a_failed_command_names_the_stage_log(tmp_path: Path) -> None:
    j = Journal(tmp_path / "run", ScriptedRunner({("docker",): (1, "", "boom")}))
    with pytest.raises(CommandError) as info:
        j.run(Cmd(("docker", "push", "x")), stage="push")
    assert str(tmp_path / "run" / "push.log") in str(info.value)


@pytest.mark.parametrize(("stderr", "meaning"), [
    ("unauthorized: authentication required", "refused the pipeline's credentials (401)"),
    ("dial tcp 127.0.0.1:15443: connect: connection refused", "could not be reached"),
    ("Error: signing [x]: getting signer: reading key: decrypt: encrypted: decryption failed", "wrong passphrase"),
])
def test_known_failures_are_said_in_words(stderr: str, meaning: str) -> None:
    err = runner.diagnose(CommandError(["docker", "push", "x"], 1, "", stderr))
    assert meaning in err.message and err.fix
    other = CommandError(["docker", "push", "x"], 1, "", "something else")
    assert runner.diagnose(other) is other


def test_layout_and_private_files_are_owner_only(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "lab").make()
    assert stat.S_IMODE(os.stat(layout.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(layout.host("tls")).st_mode) == 0o700
    path = write_private(layout.host("auth", "htpasswd"), "labci:$2y$05$x\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("bad", [{"registry_port": 70000}, {"app_port": -1}, {"forge_port": True},
                                 {"bcrypt_cost": 3}, {"bcrypt_cost": 31}])
def test_bad_settings_are_refused_with_what_is_allowed(bad: dict[str, object]) -> None:
    with pytest.raises(BadInput):
        Settings(**bad)  # type: ignore[arg-type]


def test_refs_split_and_releases_round_trip(tmp_path: Path) -> None:
    assert deploy.split_ref("127.0.0.1:15443/labkit/app@sha256:ab") == ("127.0.0.1:15443", "labkit/app", "sha256:ab")
    assert deploy.split_ref("127.0.0.1:15443/labkit/app:c0ffee") == ("127.0.0.1:15443", "labkit/app", "c0ffee")
    rel = deploy.Release("c0ffee", "127.0.0.1:1/labkit/app", "sha256:ab", "sha256:cd", "ef", 89, "sha256:12", "r1")
    assert deploy.Release.load(rel.save(tmp_path)) == rel and rel.ref.endswith("@sha256:ab")
    labels = deploy.provenance(rel, "labkit runner")
    assert labels["org.opencontainers.image.revision"] == "c0ffee"
    assert labels["io.labkit.pipeline.digest"] == "sha256:ab"


def test_signing_a_tag_is_refused() -> None:
    with pytest.raises(BadInput):
        sign.sign(Toolbox("x"), Journal(Path("/nonexistent")), "127.0.0.1:1/labkit/app:latest", Secret("12345678"),
                  annotations={})


def test_the_registry_config_has_tls_and_htpasswd_and_ports_are_read_back() -> None:
    text = config_yml()
    assert "tls:" in text and "htpasswd:" in text and "path: /auth/htpasswd" in text
    attrs = {"NetworkSettings": {"Ports": {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}]}}}
    assert published_port(attrs, "5000/tcp") == 32768
    with pytest.raises(LabkitError):
        published_port({"Name": "/x", "NetworkSettings": {"Ports": {}}}, "5000/tcp")


def test_the_plan_shows_what_runs_and_never_a_secret() -> None:
    lab = EngineLab(settings=CLI, registry_password=Secret("plan-S3cret-Pw"), passphrase=Secret("plan-S3cret-pp"))
    text = explain.lab_plan(lab) + explain.run_plan(lab)
    assert "plan-S3cret" not in text and text.count("<<< (secret on stdin)") == 5
    assert "127.0.0.1:15443/labkit/app:${COMMIT}" in text and "--tlog-upload=false" in text
    lines = explain.run_lines(lab, "c0ffee", "r1")
    signing = next(ln for ln in lines if ln.stage == "sign")
    assert signing.cmd == sign.sign_cmd(lab.tools, f"{lab.repo_ref}@${{DIGEST}}",
                                        {sign.COMMIT: "c0ffee", "io.labkit.run": "r1"})  # the runner's own builder
    assert [ln.stage for ln in lines][0] == "clone" and lines[-1].stage == "ready"


def test_the_bench_offers_warm_and_cold_and_the_two_build_strategies() -> None:
    from labkit.bench.plan import plan
    from labkit.errors import Unavailable

    p = plan("pipeline")
    assert [c.name for c in p.cells] == ["warm", "cold"] and p.cells[1].baseline == "warm" and p.reps == 3
    b = plan("pipeline-build", profile="full")
    assert [c.name for c in b.cells] == ["multi-stage", "single-stage"] and [t.name for t in b.tests] == ["cold",
                                                                                                      "change"]
    with pytest.raises(BadInput):
        plan("pipeline", tests=["throughput"])
    with pytest.raises(Unavailable):
        plan("pipeline", target="kind")
    from labkit.bench.schema import METRICS

    assert {f"stage_{s}_s" for s in cells.STAGE_METRICS} <= set(METRICS)


def _rows() -> pd.DataFrame:
    rows = []
    for cell, build_s in (("warm", 5.0), ("cold", 50.0)):
        for rep in range(2):
            values = {f"stage_{s}_s": 1.0 for s in cells.STAGE_METRICS}
            values["stage_build_s"] = build_s + rep
            values["lead_time_s"] = sum(values.values())
            rows += [{"suite": "pipeline", "cell": cell, "status": "ok", "metric": m, "value": v, "test": "lead-time"}
                     for m, v in values.items()]
    for cell, size in (("multi-stage", 75e6), ("single-stage", 266e6)):
        rows += [{"suite": "pipeline-build", "cell": cell, "status": "ok", "metric": m, "value": v, "test": "change"}
                 for m, v in (("build_s", 6.0), ("image_bytes", size), ("cached_steps", 5.0))]
    return pd.DataFrame(rows)


def test_stage_table_and_charts_come_from_the_tidy_rows() -> None:
    table = report.stage_table(_rows())
    assert list(table.columns) == ["warm", "cold"] and table.loc["build", "cold"] == "50.50 [50.00–51.00]"
    assert table.loc["lead_time", "warm"].startswith("13.50") and table.loc["n", "cold"] == "2"
    fig = report.lead_time_figure(_rows(), where="unit test")
    assert [t.name for t in fig.data] == list(cells.STAGE_METRICS) and "cold 58.5 s" in fig.layout.title.text
    assert "single-stage 266.0 MB" in report.build_figure(_rows()).layout.title.text
    assert report.build_table(_rows()).loc[("single-stage", "change"), "image_MB"] == 266.0


def test_the_dora_note_names_its_source_and_why_ours_is_not_comparable() -> None:
    note = report.dora_note(22.0)
    assert report.DORA_SOURCE in note and "less than one hour" in note and "**22 s**" in note
    assert "Not comparable" in note
    assert all("0.74.0" in c for c in report.trivy_commands())


def test_the_cli_verb_plans_and_reports_without_a_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from labkit.cli.main import main

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    assert main(["pipeline", "up", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "127.0.0.1:15443" in out and "cosign sign" in out
    assert main(["pipeline", "status"]) == 0 and "no pipeline stack is up" in capsys.readouterr().out
    assert main(["pipeline", "down"]) == 0
    with pytest.raises(SystemExit):
        main(["pipeline", "sideways"])


def test_the_chapter_table_lists_the_pipeline() -> None:
    from labkit import chapters

    table = chapters.table()
    row = table[table["notebook"].astype(str).str.contains("08-pipeline")].iloc[0]
    assert "Argo CD" in row["options"] and row["in this checkout"] == "yes"


def _runs(dockerfile: str) -> list[str]:
    """RUN instructions with continuation lines joined, as the builder reads them."""
    text = dockerfile.replace("\\\n", " ")
    return [ln.strip() for ln in text.splitlines() if ln.startswith("RUN ")]


def test_the_toolchain_image_carries_exactly_the_apps_first_build_step() -> None:
    from labkit.components.pipeline.forge import app_source
    from labkit.versions import environments_dir

    toolchain = (environments_dir() / "images" / "pipeline-toolchain" / "Dockerfile").read_text()
    app = (app_source() / "Dockerfile").read_text()
    single = (app_source() / "Dockerfile.single").read_text()
    assert _runs(toolchain)[0] == _runs(app)[0] == _runs(single)[0]  # else the cache never matches
    assert "FROM debian:bookworm-slim\n" in toolchain and "FROM debian:bookworm-slim AS build" in app
