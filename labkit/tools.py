"""The field's CLIs: find them, hold them to version gates derived from the pins, fetch pinned ones.

``find("kind")`` looks in labkit's own bin directory first, then on PATH, and checks the version
against :func:`need_for`: the gate that ``environments/versions.yaml`` implies, with the reason.

- kind: at least the ``min_kind`` of the node image (kindest/node v1.36.1 needs kind 0.32.0).
- kubectl: 1.31 or newer (``kubectl wait --for=create``) and within one minor of the server
  (the skew policy): 1.35–1.37 against Kubernetes 1.36.
- helm: 3.13.0 or newer (``helm uninstall --ignore-not-found``).

``install("kind")`` downloads the pinned release and the checksum file published beside it, and
installs only what matches (see :func:`install`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
from dataclasses import dataclass
from typing import Any

from labkit._run import Runner, default_runner
from labkit.errors import BadInput, LabkitError, ToolMissing
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
class Need:
    """Which versions of a tool labkit accepts (``low`` up to the minor ``high``), and why.

    ``refusal`` is the sentence shown for a version outside the range (``{version}`` is filled in);
    ``allowed`` is the short form doctor shows beside a version that passes."""

    tool: str
    low: tuple[int, ...]
    refusal: str
    allowed: str
    high: tuple[int, int] | None = None  # newest accepted major.minor, inclusive

    def accepts(self, version: str) -> bool:
        v = version_tuple(version)
        return v >= self.low and (self.high is None or v[:2] <= self.high)

    def problem(self, version: str) -> str | None:
        """Why ``version`` will not do, or None."""
        return None if self.accepts(version) else self.refusal.format(version=version)


@dataclass(frozen=True)
class ToolInfo:
    """What ``find`` learned about one tool."""

    name: str
    path: str | None
    version: str | None
    pinned: str | None
    problem: str | None = None
    fix: str | None = None
    need: Need | None = None

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


def _dotted(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


# --- version gates, derived from the pins ---------------------------------------------------------


def kind_need(kubernetes: str | None = None) -> Need:
    """kind must be at least the ``min_kind`` of the node image for ``kubernetes`` (default: the pinned one)."""
    from labkit.targets.kind.config import node_image_pin

    image = node_image_pin(kubernetes)
    return Need("kind", version_tuple(image.min_kind),
                f"kind {{version}} is older than {image.min_kind}, the first kind release that supports node "
                f"image {image.tag} ({image.why}: {image.source})",
                f"≥ {image.min_kind} for {image.tag}")


def kubectl_window(server: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The kubectl minors labkit accepts against a server minor: its skew window, never below the floor.

    >>> kubectl_window("1.36")
    ((1, 35), (1, 37))"""
    s = spec("kubectl")
    major, minor = version_tuple(server)[:2]
    skew = int(s.get("skew_minors", 1))
    floor_major, floor_minor = version_tuple(str(s["min_version"]))[:2]
    low = max((floor_major, floor_minor), (major, minor - skew))
    return low, (major, minor + skew)


def kubectl_need(server: str | None) -> Need:
    """kubectl against a server minor (``"1.36"``, ``"v1.36.2"``); ``None``: server unknown, the floor only."""
    s = spec("kubectl")
    floor = version_tuple(str(s["min_version"]))
    floor_text = f"{s['min_why']} ({s['min_source']})"
    if server is None:
        return Need("kubectl", floor, f"kubectl {{version}}: {floor_text}", f"≥ {_dotted(floor[:2])}")
    low, high = kubectl_window(server)
    server_minor = _dotted(version_tuple(server)[:2])
    window = f"{_dotted(low)}–{_dotted(high)}"
    return Need("kubectl", (*low, 0), f"kubectl {{version}}: {floor_text}, and the skew policy allows {window} "
                f"against Kubernetes {server_minor} ({s['skew_source']})",
                f"{window} for Kubernetes {server_minor}", high)


def _min_need(name: str) -> Need:
    s = spec(name)
    minimum = str(s["min_version"])
    why = f": {s['min_why']} ({s['min_source']})" if s.get("min_why") else ""
    return Need(name, version_tuple(minimum), f"{name} {{version}} is older than {minimum}{why}", f"≥ {minimum}")


def need_for(name: str, *, kubernetes: str | None = None) -> Need:
    """The gate for ``name`` with a kind cluster of Kubernetes ``kubernetes`` (default: the pinned minor)."""
    if name == "kind":
        return kind_need(kubernetes)
    if name == "kubectl":
        from labkit.targets.kind.config import node_image_pin

        return kubectl_need(node_image_pin(kubernetes).kubernetes)
    return _min_need(name)


# --- finding a tool --------------------------------------------------------------------------------


def platform_key() -> str:
    """``linux-amd64`` style key used by the download URLs and checksums."""
    system = platform.system().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    return f"{system}-{arch}"


def installable(name: str) -> bool:
    """Can ``labkit tools install name`` fetch a release for this platform?"""
    return name != "docker" and platform_key() in (spec(name).get("platforms") or ())


def _by_hand(name: str) -> str:
    s = spec(name)
    return str(s.get("install_hint", "")).format(version=s.get("version", ""))


def install_hint(name: str, *, offer_install: bool = True) -> str:
    """How to get ``name``; ``offer_install=False`` when `labkit tools install` itself just failed."""
    if name == "docker":
        return _DOCKER_FIX
    s = spec(name)
    manual = f"install {name} {s.get('version', '')} by hand: {_by_hand(name)}"
    if offer_install and installable(name):
        return (f"run `labkit tools install {name}` (downloads {s['version']}, checks its published sha256, "
                f"installs into {bin_dir()}, which labkit searches before PATH), or {manual}")
    return manual


def _fix(name: str, gate: Need) -> str:
    pinned = spec(name).get("version") if name != "docker" else None
    if pinned and not gate.accepts(str(pinned)):  # the pin itself does not fit (another cluster's server)
        return f"install a {name} {gate.allowed} by hand: {_by_hand(name)}"
    return install_hint(name)


def locate(name: str) -> str | None:
    """Path of ``name``: labkit's bin directory first, then PATH."""
    own = bin_dir() / name
    if own.is_file() and os.access(own, os.X_OK):
        return str(own)
    return shutil.which(name)


def find(name: str, *, runner: Runner | None = None, need: Need | None = None) -> ToolInfo:
    """Locate ``name``, read its version and hold it to ``need`` (default :func:`need_for`); never raises
    for a missing or unusable tool."""
    gate = need if need is not None else need_for(name)
    pinned = spec(name).get("version")
    path = locate(name)
    if path is None:
        return ToolInfo(name, None, None, pinned, "not found", install_hint(name), gate)
    version, problem = read_version(name, path, runner=runner)
    if version is None:
        return ToolInfo(name, path, None, pinned, problem, install_hint(name), gate)
    problem = gate.problem(version)
    return ToolInfo(name, path, version, pinned, problem, _fix(name, gate) if problem else None, gate)


def read_version(name: str, path: str, *, runner: Runner | None = None) -> tuple[str | None, str | None]:
    """(version, None) or (None, why it could not be read)."""
    try:
        res = (runner or default_runner()).run([path, *_VERSION_ARGS[name]], timeout=20, check=False, quiet=True)
    except LabkitError as exc:  # timed out, or cannot be executed at all
        return None, f"`{name}` did not answer: {exc.message}"
    version = parse_version(name, res.stdout + res.stderr)
    return (version, None) if version else (None, "could not read its version")


def require(name: str, *, runner: Runner | None = None, need: Need | None = None) -> str:
    """Path of a usable ``name``, or :class:`ToolMissing` saying which version is needed, why, and how."""
    info = find(name, runner=runner, need=need)
    if not info.ok:
        raise ToolMissing(name, info.problem or "unusable", fix=info.fix or install_hint(name))
    assert info.path is not None
    return info.path


def spec_docker_min() -> str:
    """Oldest Docker server labkit supports."""
    return str(pins()["tools"]["docker"]["min_version"])
