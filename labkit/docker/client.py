"""The connection to the Docker daemon: one cached client, a quick probe, and error translation.

Nothing outside :mod:`labkit.docker` sees the SDK: calls go through :func:`call`, which turns
the SDK's exceptions into labkit's (:class:`DockerUnavailable`, :class:`NoSuchObject`,
:class:`DockerError`), so callers never import ``docker.errors``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from labkit.errors import DockerUnavailable, LabkitError

if TYPE_CHECKING:  # the SDK is imported lazily: `import labkit` must stay light
    import docker

#: HTTP timeout of ordinary calls; commands inside containers are bounded by `timeout(1)`.
API_TIMEOUT = 900
#: The availability probe answers within this, even when a daemon accepts the socket and hangs.
PROBE_TIMEOUT = float(os.environ.get("LABKIT_DOCKER_PROBE_TIMEOUT", "5"))

DOCKER_FIX = (
    "start Docker (Linux: `sudo dockerd &` or `sudo systemctl start docker`; macOS/Windows: open Docker Desktop), "
    "and make sure your user may use it (`docker info` must work)"
)

T = TypeVar("T")


class NoSuchObject(LabkitError):
    """A container, network, volume or image that is not there (the SDK's NotFound)."""


class DockerError(LabkitError):
    """The daemon refused a request; ``explanation`` is its own message."""

    def __init__(self, message: str, explanation: str = "", *, fix: str | None = None) -> None:
        self.explanation = explanation or message
        super().__init__(message, fix=fix)


def _sdk() -> Any:
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise LabkitError("the Docker SDK is not installed", fix="pip install -r requirements.txt") from exc
    return docker


def probe(timeout: float = PROBE_TIMEOUT) -> None:
    """Ask the daemon for ``/_ping`` with a short timeout; :class:`DockerUnavailable` says why not."""
    sdk = _sdk()
    try:
        c = sdk.from_env(timeout=max(1, int(round(timeout))))
    except sdk.errors.DockerException as exc:
        raise DockerUnavailable(f"the Docker daemon is not reachable: {exc}", fix=DOCKER_FIX) from exc
    try:
        c.ping()
    except Exception as exc:  # noqa: BLE001 - connection refused, timeout, TLS: all mean "not reachable"
        raise DockerUnavailable(f"the Docker daemon did not answer within {timeout:g} s: {exc}",
                                fix=DOCKER_FIX) from exc
    finally:
        c.close()


@functools.cache
def _client() -> docker.DockerClient:
    probe()
    return _sdk().from_env(timeout=API_TIMEOUT)


def available(timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a daemon answers within ``timeout`` seconds (never waits for the long API timeout)."""
    try:
        probe(timeout)
    except DockerUnavailable:
        _client.cache_clear()
        return False
    return True


def reset() -> None:
    """Forget the cached connection (after the daemon restarted, or in tests)."""
    _client.cache_clear()


def call(fn: Callable[[docker.DockerClient], T]) -> T:
    """Run ``fn(client)``, translating the SDK's failures into labkit's errors."""
    import requests

    sdk = _sdk()
    try:
        return fn(_client())
    except requests.exceptions.ConnectionError as exc:
        _client.cache_clear()
        raise DockerUnavailable(f"lost the Docker daemon: {exc}", fix=DOCKER_FIX) from exc
    except sdk.errors.NotFound as exc:
        raise NoSuchObject(str(getattr(exc, "explanation", None) or exc)) from exc
    except sdk.errors.APIError as exc:
        raise DockerError(f"the Docker daemon refused: {exc}", str(exc.explanation or exc)) from exc
    except requests.exceptions.RequestException as exc:  # read timeouts, chunked-encoding errors mid-stream
        raise DockerError(f"the Docker daemon's answer broke off: {exc}", str(exc)) from exc
    except sdk.errors.DockerException as exc:
        text = str(exc)
        if "Connection aborted" in text or "connection refused" in text.lower():
            _client.cache_clear()
            raise DockerUnavailable(f"lost the Docker daemon: {exc}", fix=DOCKER_FIX) from exc
        raise DockerError(f"Docker: {exc}", text) from exc


def info() -> dict[str, Any]:
    """``docker info`` as a dict."""
    return dict(call(lambda c: c.info()))


def version() -> dict[str, Any]:
    """``docker version`` (server side) as a dict."""
    return dict(call(lambda c: c.version()))


def server_version() -> str:
    return str(version().get("Version", "unknown"))
