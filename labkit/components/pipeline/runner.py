"""labkit's own CI runner: on each new commit, clone → build → push → SBOM → sign → verified deploy → ready.

Why labkit's own and not ``act`` (nektos/act, which runs GitHub Actions workflows locally): here only
``run:`` steps and the local ``actions/checkout`` work (every marketplace action needs github.com), act in
host mode adds a workspace copy and its own YAML semantics, and its cost was under a second per run in the
prototype — so speed does not decide; clarity does. These stages are small typed functions with their own
timings, logs and a :class:`StageFailed` that names the stage. The same pipeline as a workflow file is in
the app's ``.github/workflows/release.yml`` (the chapter runs it once with act where act is installed).

A failed stage stops the run: no later stage runs, nothing is pushed after a failed build, and the stage's
log is kept (``StageFailed.log``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.components.pipeline import build as building, deploy, sbom as sboms, sign
from labkit.components.pipeline.settings import Secret
from labkit.components.pipeline.toolbox import Journal
from labkit.errors import LabkitError
from labkit.log import log

if TYPE_CHECKING:
    import pandas as pd

    from labkit.components.pipeline.lab import EngineLab


class StageFailed(LabkitError):
    """A pipeline run stopped at ``stage``; ``log`` is that stage's full log (kept)."""

    def __init__(self, stage: str, cause: LabkitError, log_path: Path, timings: list[dict[str, Any]]) -> None:
        self.stage, self.cause, self.log, self.timings = stage, cause, log_path, timings
        super().__init__(f"pipeline stopped at stage {stage}: {cause.message}",
                         fix=(cause.fix + "; " if cause.fix and str(log_path) not in cause.fix else "")
                         + f"full log kept: {log_path}")


@dataclass
class RunResult:
    """One pipeline run: the release it made (None without deploy), per-stage seconds, where its logs are."""

    run_id: str
    commit: str
    release: deploy.Release | None
    timings: list[dict[str, Any]]
    logs: Path
    built: building.Built | None = None
    sbom: sboms.SBOM | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lead_time_s(self) -> float:
        return float(sum(r["seconds"] for r in self.timings))

    def stages(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.timings)


#: Known failure phrases → what they mean, and what to do (stderr of docker/cosign, matched case-insensitively).
DIAGNOSES = (
    (("unauthorized", "authentication required", "401"), "the registry refused the pipeline's credentials (401)",
     "log in again with the right password: lab.login(password), i.e. `docker --config <lab>/docker login "
     "<registry> --username labci --password-stdin`"),
    (("connection refused", "no such host", "connection reset", "unexpected eof", "i/o timeout"),
     "the registry could not be reached (it went away during the stage)",
     "start the registry again (`docker start <lab>-registry`) and re-run: layers already uploaded are kept"),
    (("decryption failed", "reading key: decrypt"), "cosign could not decrypt the signing key: wrong passphrase",
     "give the passphrase the key pair was made with (a new key pair means a new public key for every verifier)"),
)


def diagnose(exc: LabkitError) -> LabkitError:
    """A command failure said in words, with the tool's own last line kept (never a secret: all redacted)."""
    text = exc.message.lower()
    for phrases, meaning, fix in DIAGNOSES:
        if any(p in text for p in phrases):
            last = [ln for ln in exc.message.splitlines() if ln.strip()][-1].strip()
            return LabkitError(f"{meaning}: {last}", fix=fix)
    return exc


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


@dataclass
class _Clock:
    rows: list[dict[str, Any]] = field(default_factory=list)
    current: str = ""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.current = name
        t0 = time.monotonic()
        status = "ok"
        try:
            yield
        except BaseException:
            status = "failed"
            raise
        finally:
            self.rows.append({"stage": name, "seconds": round(time.monotonic() - t0, 3), "status": status})
            log(f"  {'✓' if status == 'ok' else '✗'} {name:<6} {self.rows[-1]['seconds']:6.2f} s")


def run(lab: EngineLab, commit: str, passphrase: Secret, *, no_cache: bool = False, dockerfile: str = "Dockerfile",
        deploy_it: bool = True, deployed_by: str = "labkit runner") -> RunResult:
    """One commit through every stage. A failure raises :class:`StageFailed` (the stage, its log, the timings)."""
    run_id = new_run_id()
    journal = Journal(lab.logs / run_id, lab.runner)
    clock = _Clock()
    log(f"pipeline run {run_id}: commit {commit[:12]}" + (" (no cache)" if no_cache else ""))
    try:
        return _stages(lab, commit, passphrase, run_id, journal, clock, no_cache=no_cache, dockerfile=dockerfile,
                       deploy_it=deploy_it, deployed_by=deployed_by)
    except LabkitError as exc:
        stage = clock.current or "clone"
        if isinstance(exc, deploy.Refused):
            journal.note(stage, f"refused: {exc.message}")
        raise StageFailed(stage, diagnose(exc), journal.path(stage), clock.rows) from exc


def _stages(lab: EngineLab, commit: str, passphrase: Secret, run_id: str, journal: Journal, clock: _Clock, *,
            no_cache: bool, dockerfile: str, deploy_it: bool, deployed_by: str) -> RunResult:
    work = f"work/runs/{run_id}"
    tag = f"{lab.repo_ref}:{commit}"
    with clock.stage("clone"):
        lab.forge.clone_at(commit, lab.layout.inside(*work.split("/"), "src"), journal=journal)
    with clock.stage("build"):
        cmd = building.build_cmd(lab.layout.host(*work.split("/"), "src"), tag=tag, dockerfile=dockerfile,
                                 build_args={"COMMIT": commit}, no_cache=no_cache,
                                 labels=lab.image_labels())
        built = building.build(cmd, tag=tag, journal=journal, record=lab.layout.host("created-images.txt"))
    with clock.stage("push"):
        journal.run(lab.push_cmd(tag), stage="push", timeout=lab.settings.push_timeout)
        digest = lab.client.manifest_digest(lab.settings.repository, commit)
        if not digest:
            raise LabkitError(f"pushed {tag} but the registry has no manifest for it")
    ref = f"{lab.repo_ref}@{digest}"
    with clock.stage("sbom"):
        cache = f"work/runs/{run_id}/trivy-cache" if no_cache else "cache/trivy"
        sb = sboms.make(tag, work, lab.tools, lab.layout, journal, cache=cache)
    with clock.stage("sign"):
        sign.sign(lab.tools, journal, ref, passphrase, annotations={sign.COMMIT: commit, "io.labkit.run": run_id})
        sign.attest(lab.tools, journal, ref, lab.layout.inside(*work.split("/"), "sbom.cdx.json"), passphrase)
    release = deploy.Release(commit, lab.repo_ref, digest, built.image_id, sb.sha256, sb.components, lab.signer,
                             run_id)
    release.save(lab.layout.host("releases"))
    if deploy_it:
        with clock.stage("deploy"):
            deploy.gate(lab, ref, journal, expected_digest=digest, expected_commit=commit)
            deploy.run_by_digest(lab, release, journal, deployed_by=f"{deployed_by} (run {run_id})")
        with clock.stage("ready"):
            deploy.wait_serving(lab.app_url, commit, timeout=lab.settings.ready_timeout)
    return RunResult(run_id, commit, release, clock.rows, journal.directory, built, sb,
                     {"cached_steps": built.cached_steps, "build_steps": built.steps, "image_bytes": built.size_bytes})


def watch(lab: EngineLab, passphrase: Secret, *, interval: float = 1.0, max_runs: int = 1,
          timeout: float = 600.0) -> list[RunResult]:
    """Poll the forge's main with ``git ls-remote`` every ``interval`` s; run the pipeline for each new head."""
    seen = lab.forge.head()
    done: list[RunResult] = []
    t0 = time.monotonic()
    while len(done) < max_runs and time.monotonic() - t0 < timeout:
        head = lab.forge.head()
        if head and head != seen:
            done.append(run(lab, head, passphrase))
            seen = head
        else:
            time.sleep(interval)
    return done
