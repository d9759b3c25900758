"""Engine tier of chapter 08, for real: forge → CI → TLS registry → cosign → gated deploy → audit.

One lab serves the module (its first build is the only cold one). The redaction net is switched off for the
whole module, so every log, output and error below is what the tools and labkit themselves produced; the
secrets test at the end searches all of it for the registry password, the key passphrase, the Docker
credential and private-key material.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit import docker
from labkit.components.pipeline import audit, deploy, runner, scenarios, sign
from labkit.components.pipeline.lab import EngineLab
from labkit.components.pipeline.settings import Secret
from labkit.errors import LabkitError
from tests.fakes import leftovers, sdk_client

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]

PASSWORD = "lab-S3cret-Pw"
PASSPHRASE = "lab-S3cret-Pw-cosign"
SEEN: list[str] = []  # every message and output of this module, for the secrets test


def _identity(text: str) -> str:
    return text


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineLab]:
    mp = pytest.MonkeyPatch()
    import labkit.components.pipeline.toolbox as toolbox_mod
    import labkit.log
    import labkit.redact
    import labkit.steps

    for mod in (labkit.redact, labkit.log, toolbox_mod, labkit.steps):  # the net off: test what tools print
        mp.setattr(mod, "redact", _identity)
    logs = tmp_path_factory.mktemp("pipeline-logs")
    mp.setenv("LABKIT_HOME", str(tmp_path_factory.mktemp("labkit-home")))  # bench labs and logs stay in tmp
    the_lab = EngineLab(registry_password=Secret(PASSWORD), passphrase=Secret(PASSPHRASE), logs=logs)
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down()
        mp.undo()


@pytest.fixture(autouse=True)
def _record_output(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    out, err = capfd.readouterr()
    SEEN.append(out + err)


def _refused(fn: Any, reason: str) -> deploy.Refused:
    with pytest.raises(deploy.Refused) as info:
        fn()
    SEEN.append(str(info.value))
    assert info.value.reason == reason, info.value.message
    return info.value


def _running_digest(lab: EngineLab) -> str:
    box = docker.container(lab.app_name)
    assert box is not None
    image = docker.image_attrs(str(docker.attrs(box)["Image"]))
    return next(d for d in image["RepoDigests"] if d.startswith(lab.registry)).partition("@")[2]


@pytest.fixture(scope="module")
def released(lab: EngineLab) -> dict[str, Any]:
    """The first commit released, then a developer's change released: both results."""
    first = lab.run(lab.first_commit)
    sha = lab.forge.change("hello from the engine test, version 2")
    second = lab.run(sha)
    return {"first": first, "second": second, "commit": sha}


def test_a_new_commit_reaches_the_running_service_with_its_digest(lab: EngineLab, released: dict[str, Any]) -> None:
    result = released["second"]
    assert [r["stage"] for r in result.timings] == ["clone", "build", "push", "sbom", "sign", "deploy", "ready"]
    assert all(r["status"] == "ok" for r in result.timings)
    assert f"commit={released['commit']}" in lab.serving()  # served within the ready timeout (30 s) of the deploy
    assert _running_digest(lab) == result.release.digest == lab.client.manifest_digest("labkit/app", released["commit"])
    assert result.extra["cached_steps"] >= 5  # a message-only commit reuses the toolchain and the compile
    assert result.sbom.components > 50 and result.sbom.vulnerabilities_listed == 0  # an inventory, not a scan
    v = sign.verify(lab.tools, lab.journal, result.release.ref)
    assert v.ok and v.commit == released["commit"]


def test_the_gate_refuses_an_unsigned_image_and_the_old_release_keeps_running(lab: EngineLab,
                                                                              released: dict[str, Any]) -> None:
    digest = scenarios.unsigned_push(lab)
    _refused(lambda: lab.gate(f"{lab.repo_ref}@{digest}"), "unsigned")
    _refused(lambda: lab.deploy(f"{lab.repo_ref}:laptop", expected_commit=released["commit"]), "unsigned")
    assert f"commit={released['commit']}" in lab.serving()


def test_the_gate_refuses_a_tampered_tag(lab: EngineLab, released: dict[str, Any]) -> None:
    release = released["second"].release
    unsigned = lab.client.manifest_digest("labkit/app", "laptop")
    assert scenarios.move_tag(lab, released["commit"], unsigned) == unsigned  # the tag now names other content
    err = _refused(lambda: lab.gate(release.tag, expected_digest=release.digest, expected_commit=release.commit),
                   "tag-moved")
    assert unsigned[:19] in err.message and release.digest[:19] in err.message
    _refused(lambda: lab.gate(release.tag, expected_commit=release.commit), "unsigned")  # trusting the tag
    assert scenarios.move_tag(lab, released["commit"], release.digest) == release.digest  # put it back


def test_the_gate_refuses_a_rollback_to_an_older_signed_release(lab: EngineLab, released: dict[str, Any]) -> None:
    older = released["first"].release
    _refused(lambda: lab.gate(older.ref, expected_commit=released["commit"]), "commit-mismatch")
    assert lab.gate(older.ref, expected_commit=older.commit) == older.digest  # signed, for its own commit


def test_deploying_a_digest_not_in_the_registry_is_refused(lab: EngineLab, released: dict[str, Any]) -> None:
    missing = f"{lab.repo_ref}@sha256:{'0' * 64}"
    _refused(lambda: lab.deploy(missing, expected_commit=released["commit"]), "not-in-registry")
    _refused(lambda: lab.gate(f"{lab.repo_ref}:no-such-tag"), "not-in-registry")


def test_a_copy_keeps_the_digest_but_not_the_signature(lab: EngineLab, released: dict[str, Any]) -> None:
    release = released["second"].release
    mirror = f"{lab.registry}/labkit/mirror:v2"
    assert scenarios.copy(lab, release.ref, mirror) == release.digest
    v = sign.verify(lab.tools, lab.journal, f"{lab.registry}/labkit/mirror@{release.digest}")
    assert not v.ok and "no signatures found" in v.error


def test_the_audit_links_every_running_container_to_its_commit(lab: EngineLab, released: dict[str, Any]) -> None:
    unsigned = lab.client.manifest_digest("labkit/app", "laptop")
    scenarios.run_by_hand(lab, f"{lab.repo_ref}@{unsigned}",
                          claim={"io.labkit.pipeline.digest": released["second"].release.digest})
    table = audit.table(lab)
    SEEN.append(table.to_string())
    running = {c.name for c in lab.objects.containers() if docker.is_running(c)}
    assert set(table["container"]) == running  # the table is what runs, no more, no less
    app = table[table["container"] == lab.app_name].iloc[0]
    assert (app["commit"], app["signed_commit"], app["commit_on_main"]) == (released["commit"][:12],) * 2 + ("yes",)
    assert app["signature"].startswith("OK") and app["sbom"].startswith("CycloneDX")
    rogue = table[table["part"] == "by hand"].iloc[0]
    assert rogue["signature"].startswith("FAIL") and "is what runs" in rogue["problems"]
    assert not audit.linked(table)  # the by-hand container breaks the chain …
    docker.remove_container(docker.container(rogue["container"]))
    assert audit.linked(audit.table(lab))  # … and without it every app container links to a signed commit


def test_a_failing_build_stops_at_build_and_keeps_its_log(lab: EngineLab, released: dict[str, Any]) -> None:
    good = (lab.forge.workdir / "server.c").read_text()
    sha = lab.forge.change(good.replace("int main(void) {", "int main(void) { this is not C;"), path="server.c",
                           message="app: a broken change")
    with pytest.raises(runner.StageFailed) as info:
        lab.run(sha)
    SEEN.append(str(info.value))
    assert info.value.stage == "build"
    assert [(r["stage"], r["status"]) for r in info.value.timings] == [("clone", "ok"), ("build", "failed")]
    assert "RUN gcc" in info.value.message and info.value.log.exists()
    assert "error:" in info.value.log.read_text()  # the compiler's own message, kept
    assert lab.client.manifest_digest("labkit/app", sha) is None  # nothing was pushed
    lab.forge.change(good, path="server.c", message="app: revert the broken change")


def test_a_wrong_passphrase_fails_signing_clearly(lab: EngineLab, released: dict[str, Any]) -> None:
    with pytest.raises(runner.StageFailed) as info:
        runner.run(lab, released["commit"], Secret("not-the-passphrase"), deploy_it=False)
    SEEN.append(str(info.value))
    assert info.value.stage == "sign" and "wrong passphrase" in info.value.message


def test_wrong_registry_credentials_are_a_clear_error(lab: EngineLab, released: dict[str, Any]) -> None:
    with pytest.raises(LabkitError) as info:
        lab.login(Secret("not-the-password"))
    SEEN.append(str(info.value))
    assert "refused the pipeline's credentials (401)" in info.value.message
    config = lab.layout.docker_config / "config.json"
    good = config.read_text()
    stale = base64.b64encode(b"labci:an-old-password").decode()
    config.write_text(good.replace(base64.b64encode(f"labci:{PASSWORD}".encode()).decode(), stale))
    try:
        with pytest.raises(runner.StageFailed) as failed:
            lab.run(lab.forge.change("pushed with a stale credential"))
        SEEN.append(str(failed.value))
        assert failed.value.stage == "push" and "(401)" in failed.value.message
    finally:
        lab.login(lab.registry_password)


def test_the_registry_going_away_mid_push_is_a_clear_error(lab: EngineLab, released: dict[str, Any]) -> None:
    big = lab.forge.workdir / "payload.bin"
    big.write_bytes(bytes(range(256)) * 4096 * 24)  # 24 MiB in its own layer: the push takes a while
    dockerfile = lab.forge.workdir / "Dockerfile"
    original = dockerfile.read_text()
    dockerfile.write_text(original.replace("COPY message.txt", "COPY payload.bin /srv/payload.bin\nCOPY message.txt"))
    sha = lab.forge.commit("app: a big payload")
    before = set(lab.logs.iterdir())

    def stop_when_pushing() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            runs = [d for d in set(lab.logs.iterdir()) - before if (d / "build.log").exists()]
            if runs:
                time.sleep(0.3)  # the push has begun
                lab.stop_registry()
                return
            time.sleep(0.05)

    stopper = threading.Thread(target=stop_when_pushing)
    stopper.start()
    try:
        with pytest.raises(runner.StageFailed) as info:
            lab.run(sha)
        SEEN.append(str(info.value))
        assert info.value.stage == "push" and "could not be reached" in info.value.message
    finally:
        stopper.join()
        lab.start_registry()
        big.unlink()
        dockerfile.write_text(original)
        lab.forge.commit("app: drop the payload")
    assert lab.client.manifest_digest("labkit/app", released["commit"]) == released["second"].release.digest


def test_the_benchmark_suites_store_tidy_rows(lab: EngineLab, tmp_path: Path) -> None:
    from labkit import bench

    run = bench.run("pipeline", cells=["warm"], reps=2, store=tmp_path / "store")
    rows = run.rows()
    ok = rows[rows["status"] == "ok"]
    assert set(ok["metric"]) >= {"lead_time_s", "stage_build_s", "stage_sign_s", "stage_ready_s"}
    assert len(ok[ok["metric"] == "lead_time_s"]) == 2
    assert leftovers(run.meta()["session_id"]) == []
    build = bench.run("pipeline-build", tests=["change"], reps=2, store=tmp_path / "store")
    sizes = build.rows().query("metric == 'image_bytes'").groupby("cell")["value"].median()
    assert sizes["single-stage"] > sizes["multi-stage"] + 100e6  # the compiler ships in the single-stage image
    assert leftovers(build.meta()["session_id"]) == []


def test_no_secret_or_private_key_appears_anywhere(lab: EngineLab) -> None:
    texts = list(SEEN)
    texts += [p.read_text(errors="replace") for p in lab.logs.rglob("*") if p.is_file()]
    for box in lab.objects.containers():
        texts.append(docker.logs(box, tail=100000))
        texts.append(str(docker.attrs(box)))  # env, args, labels: what `docker inspect` shows
    from labkit.components.pipeline import explain

    texts += [explain.lab_plan(lab), explain.run_plan(lab), str(lab), repr(lab.passphrase)]
    needles = [PASSWORD, base64.b64encode(f"labci:{PASSWORD}".encode()).decode(), "PRIVATE KEY"]
    found = {n: sum(t.count(n) for t in texts) for n in needles}
    assert len(texts) > 40
    assert found == dict.fromkeys(needles, 0)  # PASSPHRASE starts with PASSWORD: both are searched


def test_down_removes_everything_the_lab_made(lab: EngineLab) -> None:
    root = lab.root
    lab.down()
    assert leftovers(lab.session) == []
    images = sdk_client().images.list(filters={"label": f"io.labkit.session={lab.session}"})
    assert images == [] and not root.exists()


def test_sigterm_during_up_leaves_nothing(tmp_path: Path) -> None:
    session = "lksig" + docker.new_session_id()[:5]
    code = ("import time\nfrom pathlib import Path\nfrom labkit.components.pipeline.lab import EngineLab\n"
            f"with EngineLab(session={session!r}, logs=Path({str(tmp_path)!r}), root=Path({str(tmp_path / 'lab')!r})):"
            "\n    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any("registry" in n for n in leftovers(session)):
        time.sleep(0.2)
    assert any("registry" in n for n in leftovers(session)), proc.stdout.read() if proc.poll() else ""
    proc.terminate()
    out, _ = proc.communicate(timeout=120)
    assert "removed" in out, out[-2000:]
    assert leftovers(session) == []
