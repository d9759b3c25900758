"""The lab's own images, built locally FROM ``debian:bookworm-slim``.

The base image is pulled where a registry is reachable; elsewhere it is made by
``environments/images/base/bootstrap.sh`` from a Debian mirror (needs root and
debootstrap). Lab images are tagged from ``versions.yaml``, never ``latest``.
"""

from __future__ import annotations

import os

from labkit import docker
from labkit._run import Runner, default_runner
from labkit.errors import CommandError, ImageMissing, ToolMissing
from labkit.log import log
from labkit.versions import base_image, pins, project_root, tools_image

BOOTSTRAP = "environments/images/base/bootstrap.sh"


def _base_fix() -> str:
    return (
        f"either `docker pull {base_image()}` where a registry is reachable, or build it from a Debian mirror: "
        f"`sudo apt-get install debootstrap && sudo bash {BOOTSTRAP}`"
    )


def ensure_base(*, runner: Runner | None = None, bootstrap: bool = True) -> str:
    """Make sure the base image exists: present, pulled, or bootstrapped from the mirror."""
    ref = base_image()
    if docker.image_exists(ref):
        return ref
    run = runner or default_runner()
    pulled = run.run(["docker", "pull", ref], timeout=300, check=False)
    if pulled.ok and docker.image_exists(ref):
        return ref
    log(f"! could not pull {ref}: {(pulled.stderr or pulled.stdout).strip()[-200:]}")
    if not bootstrap:
        raise ImageMissing(f"base image {ref} is missing and could not be pulled", fix=_base_fix())
    if os.geteuid() != 0:
        raise ImageMissing(f"base image {ref} is missing, could not be pulled, and bootstrapping needs root",
                           fix=_base_fix())
    try:
        run.run(["bash", str(project_root() / BOOTSTRAP)], timeout=900)
    except (CommandError, ToolMissing) as exc:
        raise ImageMissing(f"base image {ref} is missing and the bootstrap failed: {exc}", fix=_base_fix()) from exc
    return ref


def names() -> list[str]:
    """Every lab image versions.yaml lists with a Dockerfile (tools, dind, and each chapter's own)."""
    return [n for n, spec in pins()["images"].items() if isinstance(spec, dict) and "dockerfile" in spec]


def ref(name: str) -> str:
    """``repository:tag`` of lab image ``name`` (never ``latest``)."""
    from labkit.errors import BadInput

    spec = pins()["images"].get(name)
    if not isinstance(spec, dict) or "dockerfile" not in spec:
        raise BadInput("lab image", name, ", ".join(names()), fix="`labkit images list` shows them")
    return f"{spec['repository']}:{spec['tag']}"


def build(name: str, *, force: bool = False, runner: Runner | None = None) -> str:
    """Build lab image ``name`` FROM the local base image (skipped when present, unless ``force``)."""
    ref(name)  # a clear error for an unknown name
    return _build(name, force=force, runner=runner)


def ensure(name: str) -> str:
    """Lab image ``name``, built first if it is missing (what a chapter calls before it runs a container)."""
    image = ref(name)
    return image if docker.image_exists(image) else build(name)


def build_tools(*, force: bool = False, runner: Runner | None = None) -> str:
    """Build the tools image (iperf3, fio, sockperf, qperf, iproute2, curl, procps)."""
    return _build("tools", force=force, runner=runner)


def dind_image() -> str:
    """The Docker-in-Docker node image reference, ``repository:tag`` (never ``latest``)."""
    spec = pins()["images"]["dind"]
    return f"{spec['repository']}:{spec['tag']}"


def build_dind(*, force: bool = False, runner: Runner | None = None) -> str:
    """Build the Docker-in-Docker node image (Debian's docker.io; runs without ``--privileged``)."""
    return _build("dind", force=force, runner=runner)


def ensure_dind() -> str:
    """The DinD node image reference, built first if it is missing."""
    ref = dind_image()
    if docker.image_exists(ref):
        return ref
    return build_dind()


def _build(name: str, *, force: bool, runner: Runner | None) -> str:
    """Build ``images.<name>`` of versions.yaml FROM the local base image; its tag goes in as a build arg."""
    spec = pins()["images"][name]
    ref = f"{spec['repository']}:{spec['tag']}"
    if not force and docker.image_exists(ref):
        log(f"✓ {ref} already built")
        return ref
    ensure_base(runner=runner)
    dockerfile = project_root() / spec["dockerfile"]
    docker.build_image(
        str(dockerfile.parent), dockerfile=dockerfile.name, tag=ref,
        buildargs={f"LABKIT_{name.upper()}_VERSION": str(spec["tag"])},
        labels_=docker.labels(role=name),
    )
    log(f"✓ built {ref}")
    return ref


def ensure_tools() -> str:
    """The tools image reference, built first if it is missing."""
    ref = tools_image()
    if docker.image_exists(ref):
        return ref
    return build_tools()


__all__ = ["build", "build_dind", "build_tools", "dind_image", "ensure", "ensure_base", "ensure_dind", "ensure_tools",
           "names", "ref"]
