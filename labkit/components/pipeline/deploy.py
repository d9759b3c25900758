"""The deploy step on plain Docker: a gate that checks, then ``docker run REGISTRY/REPO@sha256:…``.

The gate refuses, in this order (``Refused.reason``):

1. ``tag-moved`` — the tag now points at another digest than the one the pipeline signed;
2. ``not-in-registry`` — the registry does not have that digest (HEAD manifest → 404);
3. ``unsigned`` — no valid signature from the lab's key (``cosign verify`` fails);
4. ``commit-mismatch`` — signed, but for another commit (the signature's ``io.labkit.commit`` annotation):
   this is what stops a *rollback* to an older, correctly signed release;
5. ``no-sbom`` — no verified CycloneDX attestation.

Only then is the image pulled **by digest** (the daemon checks every byte against it) and run by digest,
with labels saying which commit, run, digest, SBOM and signer it is and who deployed it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit import docker
from labkit._run import Cmd
from labkit.components.pipeline import sign
from labkit.components.pipeline.settings import REVISION
from labkit.components.pipeline.toolbox import Journal
from labkit.errors import LabkitError

if TYPE_CHECKING:
    from labkit.components.pipeline.lab import EngineLab

REASONS = ("tag-moved", "not-in-registry", "unsigned", "commit-mismatch", "no-sbom")
P = "io.labkit.pipeline."


class Refused(LabkitError):
    """The deploy gate said no; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"deploy refused ({reason}): {detail}",
                         fix="deploy a digest the pipeline built, pushed and signed for that commit")


@dataclass(frozen=True)
class Release:
    """What the pipeline vouches for after signing: read by deploy and shown by the audit."""

    commit: str
    repository: str  # REGISTRY/REPO
    digest: str  # sha256:… of the manifest in the registry
    image_id: str  # the local config digest (docker's image id)
    sbom_sha256: str
    sbom_components: int
    signer: str
    run_id: str

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"

    @property
    def tag(self) -> str:
        return f"{self.repository}:{self.commit}"

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.commit}.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> Release:
        return cls(**json.loads(path.read_text()))


def split_ref(ref: str) -> tuple[str, str, str]:
    """``127.0.0.1:15443/labkit/app@sha256:x`` → (registry, ``labkit/app``, ``sha256:x``); a tag likewise."""
    registry, _, rest = ref.partition("/")
    repo, sep, reference = rest.partition("@")
    if not sep:
        repo, _, reference = rest.rpartition(":")
    return registry, repo, reference


def gate(lab: EngineLab, ref: str, journal: Journal, *, expected_digest: str | None = None,
         expected_commit: str | None = None, stage: str = "deploy") -> str:
    """The verified digest behind ``ref`` (a tag or a digest), or :class:`Refused`."""
    registry, repo, reference = split_ref(ref)
    if registry != lab.registry:
        raise Refused("not-in-registry", f"{ref} is not in the lab's registry {lab.registry}")
    if reference.startswith("sha256:"):
        digest = reference
    else:
        current = lab.client.manifest_digest(repo, reference)
        if current is None:
            raise Refused("not-in-registry", f"tag {reference} does not exist in {repo}")
        digest = current
    if expected_digest and digest != expected_digest:
        raise Refused("tag-moved", f"{ref} now points to {digest[:19]}…, the signed release is "
                                   f"{expected_digest[:19]}…")
    if lab.client.manifest_digest(repo, digest) is None:
        raise Refused("not-in-registry", f"{repo}@{digest[:19]}… is not in the registry")
    pinned = f"{registry}/{repo}@{digest}"
    plain = sign.verify(lab.tools, journal, pinned, stage=stage)
    if not plain.ok:
        raise Refused("unsigned", f"{pinned}: {plain.error}")
    if expected_commit and plain.commit != expected_commit:
        raise Refused("commit-mismatch", f"{pinned} is signed for commit {plain.commit[:12] or '(none)'}, "
                                         f"not {expected_commit[:12]}")
    att = sign.verify_attestation(lab.tools, journal, pinned, stage=stage)
    if not att.ok:
        raise Refused("no-sbom", f"{pinned}: {att.error}")
    return digest


def pull_cmd(lab: EngineLab, ref: str) -> Cmd:
    return Cmd(("docker", "--config", str(lab.layout.docker_config), "pull", "--quiet", ref))


def provenance(release: Release, deployed_by: str) -> dict[str, str]:
    """The labels a deployed container carries: claims the audit checks against reality."""
    return {REVISION: release.commit, P + "digest": release.digest, P + "image": release.ref,
            P + "sbom": f"sha256:{release.sbom_sha256[:16]} ({release.sbom_components} components)",
            P + "signer": release.signer, P + "run": release.run_id, P + "deployer": deployed_by}


def run_by_digest(lab: EngineLab, release: Release, journal: Journal, *, deployed_by: str,
                  stage: str = "deploy") -> Any:
    """Pull by digest, replace the app container, run by digest; the new container."""
    journal.run(pull_cmd(lab, release.ref), stage=stage, timeout=300)
    return run_container(lab, release.ref, provenance(release, deployed_by), journal, stage=stage)


def run_container(lab: EngineLab, image: str, labels: dict[str, str], journal: Journal, *,
                  name: str | None = None, stage: str = "deploy") -> Any:
    name = name or lab.app_name
    app = name == lab.app_name
    old = docker.container(name)
    if old is not None:
        docker.remove_container(old)
    port = lab.app_port if app else 0
    journal.note(stage, f"$ docker run -d --name {name} -p 127.0.0.1:{port or ''}:8080 {image}")
    box = lab.objects.container(image, name=name, part="app" if app else "by hand", labels=labels,
                                ports={"8080/tcp": ("127.0.0.1", port or None)})
    if app and not lab.app_port:
        from labkit.components.pipeline.registry import published_port

        lab.app_port = published_port(docker.attrs(box), "8080/tcp")  # keep the same URL for later deploys
    return box


def serving(url: str) -> str:
    """What the app answers at ``url`` ('' when it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return str(resp.read().decode(errors="replace"))
    except (urllib.error.URLError, OSError):
        return ""


def wait_serving(url: str, commit: str, *, timeout: float) -> float:
    """Seconds until ``url`` answers with ``commit=<sha>`` (ready means serving *this* commit)."""
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout:
        last = serving(url)
        if f"commit={commit}" in last:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise LabkitError(f"{url} did not serve commit {commit[:12]} within {timeout:g} s (last answer: {last[:120]!r})",
                      fix="look at `docker logs` of the app container")
