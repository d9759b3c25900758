"""The field's CLIs: find them, check their versions, fetch pinned ones.

``find("kind")`` looks in labkit's own bin directory first, then on PATH.
``install("helm")`` downloads the version pinned in ``environments/versions.yaml``
and refuses it unless its sha256 matches the checksum the project publishes
(recorded in that file). Where no checksum is recorded, labkit does not download:
it says how to install the tool instead.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit._run import Runner, default_runner
from labkit.errors import BadInput, ChecksumMismatch, LabkitError, ToolMissing
from labkit.log import log
from labkit.paths import bin_dir
from labkit.versions import pins

TOOLS = ("docker", "kind", "kubectl", "helm")

_VERSION_ARGS: dict[str, list[str]] = {
    "docker": ["--version"],
    "kind": ["version"],
    "kubectl": ["version", "--client", "-o", "json"],
    "helm": ["version", "--short"],
}

_DOCKER_FIX = "install Docker Engine (Linux: apt-get install docker.io; macOS/Windows: Docker Desktop)"


@dataclass(frozen=True)
class ToolInfo:
    """What ``find`` learned about one tool."""

    name: str
    path: str | None
    version: str | None
    pinned: str | None
    problem: str | None = None
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.path is not None and self.problem is None


def spec(name: str) -> dict[str, Any]:
    """The ``tools.<name>`` entry of versions.yaml."""
    if name not in TOOLS:
        raise BadInput("tool", name, ", ".join(TOOLS))
    return dict(pins()["tools"][name])


def parse_version(name: str, output: str) -> str | None:
    """Pull the version out of a tool's own version output."""
    if name == "kubectl":
        try:
            return str(json.loads(output)["clientVersion"]["gitVersion"]).lstrip("v")
        except (ValueError, KeyError, TypeError):
            pass
    match = re.search(r"v?(\d+\.\d+\.\d+)", output)
    return match.group(1) if match else None


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def install_hint(name: str) -> str:
    if name == "docker":
        return _DOCKER_FIX
    s = spec(name)
    hint = str(s.get("install_hint", "")).format(version=s.get("version", ""))
    text = f"install {name} {s.get('version', '')}: {hint}"
    if (s.get("sha256") or {}).get(platform_key()):
        text += f"; or run `labkit tools install {name}` (sha256-verified download)"
    return text


def locate(name: str) -> str | None:
    """Path of ``name``: labkit's bin directory first, then PATH."""
    own = bin_dir() / name
    if own.is_file() and os.access(own, os.X_OK):
        return str(own)
    return shutil.which(name)


def find(name: str, *, runner: Runner | None = None) -> ToolInfo:
    """Locate ``name`` and read its version; never raises for a missing tool."""
    s = spec(name) if name != "docker" else dict(pins()["tools"]["docker"])
    pinned = s.get("version")
    path = locate(name)
    if path is None:
        return ToolInfo(name, None, None, pinned, "not found", install_hint(name))
    try:
        res = (runner or default_runner()).run([path, *_VERSION_ARGS[name]], timeout=20, check=False, quiet=True)
    except LabkitError as exc:  # timed out, or cannot be executed at all
        return ToolInfo(name, path, None, pinned, f"`{name}` did not answer: {exc.message}", install_hint(name))
    version = parse_version(name, res.stdout + res.stderr)
    if version is None:
        return ToolInfo(name, path, None, pinned, "could not read its version", install_hint(name))
    minimum = s.get("min_version")
    if minimum and version_tuple(version) < version_tuple(str(minimum)):
        return ToolInfo(name, path, version, pinned, f"version {version} is older than {minimum}", install_hint(name))
    return ToolInfo(name, path, version, pinned)


def require(name: str, *, runner: Runner | None = None) -> str:
    """Path of a usable ``name``, or :class:`ToolMissing` saying how to get it."""
    info = find(name, runner=runner)
    if not info.ok:
        raise ToolMissing(name, info.problem or "unusable", fix=info.fix or install_hint(name))
    assert info.path is not None
    return info.path


def platform_key() -> str:
    """``linux-amd64`` style key used by the download URLs and checksums."""
    system = platform.system().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    return f"{system}-{arch}"


Opener = Callable[[str], Any]


def install(name: str, *, dest: Path | None = None, opener: Opener | None = None, timeout: float = 120.0) -> Path:
    """Download the pinned ``name`` into labkit's bin directory, verified by sha256."""
    if name == "docker":
        raise LabkitError("labkit does not install Docker", fix=_DOCKER_FIX)
    s = spec(name)
    key = platform_key()
    os_name, arch = key.split("-", 1)
    expected = (s.get("sha256") or {}).get(key)
    url = str(s["url"]).format(version=s["version"], os=os_name, arch=arch)
    if not expected:
        raise ToolMissing(
            name,
            f"no published sha256 for {s['version']} ({key}) is recorded in environments/versions.yaml, "
            "so labkit will not download it unverified",
            fix=install_hint(name),
        )
    data = _download(url, opener=opener, timeout=timeout, name=name)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ChecksumMismatch(
            url, expected, actual,
            fix=f"nothing was installed; retry (a proxy may have altered it) or {install_hint(name)}",
        )
    if s.get("archive_member"):
        data = _extract(data, str(s["archive_member"]).format(os=os_name, arch=arch), url)
    target = (dest or bin_dir()) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    tmp.write_bytes(data)
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    tmp.replace(target)
    log(f"✓ installed {name} {s['version']} at {target} (sha256 verified)")
    return target


def _download(url: str, *, opener: Opener | None, timeout: float, name: str) -> bytes:
    log(f"downloading {url}")
    try:
        if opener is not None:
            with opener(url) as resp:
                return bytes(resp.read())
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (https URL from versions.yaml)
            return bytes(resp.read())
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
        raise ToolMissing(
            name, f"download of {url} failed: {exc}", fix=f"check the network, or {install_hint(name)}"
        ) from exc


def _extract(data: bytes, member: str, url: str) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            handle = tar.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except (tarfile.TarError, KeyError) as exc:
        raise LabkitError(f"{url}: archive has no {member}",
                          fix="report this; the pinned archive layout changed") from exc


def spec_docker_min() -> str:
    """Oldest Docker server labkit supports."""
    return str(pins()["tools"]["docker"]["min_version"])
