"""Image references, split the way docker and containerd split them, and where each sits in the mirror."""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_PATH = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, order=True)
class ImageRef:
    """A normalised reference: ``host`` (registry), ``path`` (repository), ``tag`` and/or ``digest``."""

    host: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        """Docker's normalisation: no host means docker.io, a one-word Docker Hub name means ``library/NAME``.
        Anything that is not a reference (a template bug, a sentence) is a ValueError."""
        text = ref.strip()
        rest, _, digest = text.partition("@")
        if digest and not _DIGEST.fullmatch(digest):
            raise ValueError(f"bad digest in {ref!r}")
        tag = None
        if ":" in rest.rsplit("/", 1)[-1]:
            rest, tag = rest.rsplit(":", 1)
        first, _, remainder = rest.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            host, path = first, remainder
        else:
            host, path = DOCKER_HUB, rest
        if not _HOST.fullmatch(host):
            raise ValueError(f"bad registry host {host!r} in {ref!r}")
        if tag is not None and not _TAG.fullmatch(tag):
            raise ValueError(f"bad tag {tag!r} in {ref!r}")
        if host in ("index.docker.io", "registry-1.docker.io"):
            host = DOCKER_HUB
        if host == DOCKER_HUB and "/" not in path:
            path = "library/" + path
        if not _PATH.fullmatch(path):
            raise ValueError(f"bad repository path {path!r} in {ref!r}")
        if tag is None and not digest:
            tag = "latest"
        return cls(host, path, tag, digest or None)

    def __str__(self) -> str:
        return f"{self.host}/{self.path}" + (f":{self.tag}" if self.tag else "") + \
            (f"@{self.digest}" if self.digest else "")

    def with_digest(self, digest: str) -> ImageRef:
        return ImageRef(self.host, self.path, self.tag, digest)

    def mirror_path(self) -> str:
        """The repository inside the mirror: Docker Hub's unprefixed (dockerd's ``registry-mirrors`` and
        containerd both ask a docker.io mirror for ``/v2/library/nginx/…``), every other host as the first
        path component (``quay.io/cilium/cilium``; a dotted component can never be a Docker Hub namespace)."""
        if self.host == DOCKER_HUB:
            return self.path
        if ":" in self.host:
            raise ValueError(f"{self}: a registry with a port is local already, not mirrored")
        return f"{self.host}/{self.path}"


def looks_like_image(text: str) -> bool:
    """A string that parses as an image reference (and has no spaces)."""
    if not isinstance(text, str) or not text.strip() or " " in text.strip():
        return False
    try:
        ImageRef.parse(text)
    except ValueError:
        return False
    return True
