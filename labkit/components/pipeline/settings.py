"""What the engine-tier pipeline is made of: names, ports, secrets, and where its files live.

Secrets are :class:`Secret` values: registered with :mod:`labkit.redact` the moment they exist, masked in
``repr``, and handed to tools only on stdin or in a mode-0600 file (never in argv, never in a container's
environment, which ``docker inspect`` shows to anyone who may use Docker).
"""

from __future__ import annotations

import base64
import os
import secrets as pysecrets
from dataclasses import dataclass
from pathlib import Path

from labkit import redact
from labkit.errors import BadInput

#: Label keys of the pipeline's own provenance (on the app containers it deploys).
PART = "io.labkit.pipeline.part"
REVISION = "org.opencontainers.image.revision"
STAGES = ("clone", "build", "push", "sbom", "sign", "deploy", "ready")


class Secret:
    """A password or passphrase: ``repr``/``str`` show ``***``; :meth:`reveal` is the one explicit way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or len(value) < 8:
            raise BadInput("secret", "***", "a string of 8 characters or more")
        self._value = value
        redact.register(value)

    @classmethod
    def generate(cls) -> Secret:
        """A fresh random secret (what the lab uses unless you give one)."""
        return cls(pysecrets.token_urlsafe(18))

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def basic_auth(user: str, password: Secret) -> str:
    """``base64(user:password)``, as Docker stores it in config.json; registered as a secret too."""
    token = base64.b64encode(f"{user}:{password.reveal()}".encode()).decode()
    redact.register(token)
    return token


@dataclass(frozen=True)
class Settings:
    """Ports (0: Docker picks a free one), the registry user and repository, and the bcrypt cost.

    ``labkit pipeline up`` uses fixed ports (:data:`CLI`) so the URLs stay the same between commands."""

    registry_port: int = 0
    forge_port: int = 0
    app_port: int = 0
    user: str = "labci"
    repository: str = "labkit/app"
    bcrypt_cost: int = 5  # htpasswd -B's default; distribution checks it on every request (NOTES: cost 10 ≈ +0.5 s)
    ready_timeout: float = 30.0  # the new commit must be served this long after the deploy starts
    push_timeout: float = 300.0

    def __post_init__(self) -> None:
        for name in ("registry_port", "forge_port", "app_port"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
                raise BadInput(name.replace("_", " "), value, "0 (Docker picks) or a TCP port 1-65535")
        if not 4 <= self.bcrypt_cost <= 17:
            raise BadInput("bcrypt cost", self.bcrypt_cost, "4-17 (htpasswd -C; 5 is its default)")


#: The terminal's stack (``labkit pipeline up``): fixed, documented ports.
CLI = Settings(registry_port=15443, forge_port=18080, app_port=18081)
CLI_SETTINGS = CLI


@dataclass(frozen=True)
class Layout:
    """The lab's directory (mode 0700) and what is in it; the tool belt sees it as ``/lab``."""

    root: Path

    MOUNT = "/lab"

    def host(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @staticmethod
    def inside(*parts: str) -> str:
        return "/".join([Layout.MOUNT, *parts])

    @property
    def ca_cert(self) -> Path:  # public: what clients trust
        return self.host("ca", "ca.crt")

    @property
    def docker_config(self) -> Path:  # `docker login` writes config.json (0600) here, never ~/.docker
        return self.host("docker")

    def make(self) -> Layout:
        for sub in ("", "ca", "tls", "auth", "registry", "registry-data", "docker", "keys", "git", "work",
                    "home", "cache"):
            d = self.host(sub) if sub else self.root
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)
        return self


def write_private(path: Path, text: str) -> Path:
    """Write a file only its owner can read (0600), creating it that way (no window with wider rights)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    return path
