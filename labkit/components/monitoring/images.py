"""The chapter's five images, from one multi-target Dockerfile (environments/images/monitoring/Dockerfile).

``labkit.images`` builds a Dockerfile's last stage; these need ``--target`` (one ``apt-get update`` for all
five, then one flat image per program), so this module runs ``docker build`` itself through
:mod:`labkit._run`, with the legacy builder (no BuildKit here). Each image is built once and reused.
"""

from __future__ import annotations

from pathlib import Path

from labkit import docker
from labkit._run import Cmd, Runner, default_runner
from labkit.errors import BadInput, ImageMissing, LabkitError
from labkit.log import log
from labkit.versions import pins, project_root

#: part of a stack → versions.yaml image name
IMAGE_OF = {"prometheus": "monitoring-prometheus", "alertmanager": "monitoring-alertmanager",
            "node-exporter": "monitoring-node-exporter", "blackbox": "monitoring-blackbox-exporter",
            "receiver": "monitoring-py", "demo": "monitoring-py", "container-exporter": "monitoring-py",
            "synth": "monitoring-py"}
NAMES = tuple(dict.fromkeys(IMAGE_OF.values()))




def spec(name: str) -> dict[str, object]:
    entry = pins()["images"].get(name)
    if name not in NAMES or not isinstance(entry, dict) or "build" not in entry:
        raise BadInput("monitoring image", name, ", ".join(NAMES))
    return entry


def ref(name: str) -> str:
    """``repository:tag`` of a monitoring image (never ``latest``)."""
    entry = spec(name)
    return f"{entry['repository']}:{entry['tag']}"


def of(part: str) -> str:
    """The image a stack part runs."""
    return ref(IMAGE_OF[part])


def build_cmd(name: str, root: Path | None = None) -> Cmd:
    """The exact ``docker build`` for one image (paths under ``root``, default this checkout)."""
    entry = spec(name)
    b = entry["build"]
    assert isinstance(b, dict)
    dockerfile = (root if root is not None else project_root()) / str(b["dockerfile"])
    return Cmd(("docker", "build", "--target", str(b["target"]), "--build-arg", f"NAME={b['name']}",
                "--label", "io.labkit.managed=true", "--label", f"io.labkit.role={name}",
                "--tag", ref(name), "--file", str(dockerfile), str(dockerfile.parent)),
               env={"DOCKER_BUILDKIT": "0"})


def build(name: str, *, force: bool = False, runner: Runner | None = None, timeout: float = 1200) -> str:
    """Build one image FROM the local base image (skipped when present, unless ``force``)."""
    image = ref(name)
    if not force and docker.image_exists(image):
        return image
    from labkit import images as lab_images

    lab_images.ensure_base(runner=runner)
    cmd = build_cmd(name)
    log(f"building {image} (the first build of the chapter's images takes 1-3 minutes: one apt-get update, "
        "then one image per program)")
    try:
        (runner or default_runner()).run(list(cmd.argv), env=dict(cmd.env), timeout=timeout, quiet=False)
    except LabkitError as exc:
        raise ImageMissing(f"could not build {image}: {exc.message}",
                           fix="the build runs apt-get against deb.debian.org (bookworm and trixie): check the "
                               "mirror is reachable, then run it again") from exc
    return image


def ensure_images(parts: tuple[str, ...] | list[str] | None = None, *,
                  runner: Runner | None = None) -> dict[str, str]:
    """The images the given stack parts run (all five by default), built first where missing."""
    names = dict.fromkeys(IMAGE_OF[p] for p in parts) if parts else dict.fromkeys(NAMES)
    return {n: build(n, runner=runner) for n in names}


def missing() -> list[str]:
    return [n for n in NAMES if not docker.image_exists(ref(n))]


