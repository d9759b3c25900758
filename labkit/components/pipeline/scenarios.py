"""What the gate and the audit are for: an image pushed by hand, a tag moved, a copy, a container run by hand.

Each is something that happens in real registries — someone with push rights builds on their laptop, a tag
is re-pointed (by mistake or by an attacker), an image is mirrored — done here for real, so the chapter can
show the gate refusing it and the audit finding it.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from labkit._run import Cmd
from labkit.components.pipeline import build as building
from labkit.components.pipeline.settings import Layout
from labkit.components.pipeline.deploy import run_container
from labkit.errors import LabkitError

if TYPE_CHECKING:
    from labkit.components.pipeline.lab import EngineLab

AUTH = ("--authfile", Layout.inside("docker", "config.json"))


def unsigned_push(lab: EngineLab, *, message: str = "built on a laptop, never in CI", tag: str = "laptop") -> str:
    """Build the app from the working copy with another message, outside CI, and push it with the registry
    credentials (as anyone with push rights can): the digest, which nobody signed."""
    src = lab.layout.host("work", "laptop")
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(lab.forge.workdir, src, ignore=shutil.ignore_patterns(".git"))
    (src / "message.txt").write_text(message + "\n")
    ref = f"{lab.repo_ref}:{tag}"
    head = lab.forge.head() or "unknown"
    cmd = building.build_cmd(src, tag=ref, build_args={"COMMIT": head}, labels=lab.image_labels())
    building.build(cmd, tag=ref, journal=lab.journal, stage="laptop", record=lab.layout.host("created-images.txt"))
    lab.journal.run(lab.push_cmd(ref), stage="laptop", timeout=lab.settings.push_timeout)
    digest = lab.client.manifest_digest(lab.settings.repository, tag)
    if not digest:
        raise LabkitError(f"pushed {ref} but the registry does not list it")
    return digest


def copy_cmd(lab: EngineLab, source: str, dest: str) -> Cmd:
    """``skopeo copy`` between two references of the lab's registry, digests preserved, TLS verified."""
    ca = Layout.inside("ca")
    return lab.tools.cmd("skopeo", "copy", "--quiet", "--preserve-digests", *AUTH, "--src-cert-dir", ca,
                         "--dest-cert-dir", ca, f"docker://{source}", f"docker://{dest}")


def inspect_cmd(lab: EngineLab, ref: str) -> Cmd:
    return lab.tools.cmd("skopeo", "inspect", *AUTH, "--cert-dir", Layout.inside("ca"), "--format", "{{.Digest}}",
                         f"docker://{ref}")


def copy(lab: EngineLab, source: str, dest: str) -> str:
    """Copy ``source`` to ``dest`` with skopeo; the digest skopeo reads back at ``dest``."""
    lab.journal.run(copy_cmd(lab, source, dest), stage="copy", timeout=300)
    return lab.journal.run(inspect_cmd(lab, dest), stage="copy", timeout=60).stdout.strip()


def move_tag(lab: EngineLab, tag: str, digest: str) -> str:
    """Re-point ``REPO:tag`` at ``digest`` (a tag is just a name): what a tampered tag looks like."""
    return copy(lab, f"{lab.repo_ref}@{digest}", f"{lab.repo_ref}:{tag}")


def run_by_hand(lab: EngineLab, ref: str, *, name: str | None = None, claim: dict[str, str] | None = None) -> Any:
    """``docker pull`` + ``docker run`` of ``ref`` without the gate (``claim``: labels it pretends to have)."""
    lab.journal.run(Cmd(("docker", "--config", str(lab.layout.docker_config), "pull", "--quiet", ref)),
                    stage="by-hand", timeout=300)
    return run_container(lab, ref, dict(claim or {}), lab.journal, name=name or f"lk-{lab.session}-by-hand",
                         stage="by-hand")


copy_image = copy
