"""The only module that imports the Docker SDK.

Containers, networks and volumes labkit makes carry ``io.labkit.managed=true``
(plus a session id), so :func:`managed` finds them and :func:`remove_managed`
removes them, even after a crash. :class:`Scope` removes what it created when the
``with`` block ends, also on errors and Ctrl-C.
"""

from __future__ import annotations

import functools
import shlex
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit._run import Result
from labkit.errors import DockerUnavailable, ImageMissing, LabkitError
from labkit.log import log

if TYPE_CHECKING:  # the SDK is imported lazily: `import labkit` must stay light
    import docker
    from docker.models.containers import Container
    from docker.models.networks import Network
    from docker.models.volumes import Volume

MANAGED = "io.labkit.managed"
SESSION = "io.labkit.session"
ROLE = "io.labkit.role"

#: HTTP timeout for the daemon; commands inside containers are bounded by `timeout(1)`.
API_TIMEOUT = 900

_DOCKER_FIX = (
    "start Docker (Linux: `sudo dockerd &` or `sudo systemctl start docker`; macOS/Windows: open Docker Desktop), "
    "and make sure your user may use it (`docker info` must work)"
)


def labels(session: str | None = None, role: str | None = None, **extra: str) -> dict[str, str]:
    """The label set every labkit object carries."""
    out = {MANAGED: "true"}
    if session:
        out[SESSION] = session
    if role:
        out[ROLE] = role
    out.update({f"io.labkit.{k}": v for k, v in extra.items()})
    return out


def new_session_id() -> str:
    return uuid.uuid4().hex[:10]


@functools.cache
def client() -> docker.DockerClient:
    """A connected Docker client, or :class:`DockerUnavailable` with the fix."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise LabkitError("the Docker SDK is not installed", fix="pip install -r requirements.txt") from exc
    try:
        c = docker.from_env(timeout=API_TIMEOUT)
        c.ping()
    except DockerException as exc:
        raise DockerUnavailable(f"the Docker daemon is not reachable: {exc}", fix=_DOCKER_FIX) from exc
    return c


def available() -> bool:
    try:
        client()
    except DockerUnavailable:
        client.cache_clear()
        return False
    return True


def info() -> dict[str, Any]:
    """``docker info`` as a dict."""
    return dict(_call(lambda: client().info()))


def server_version() -> str:
    return str(_call(lambda: client().version()).get("Version", "unknown"))


def _call(fn: Any) -> Any:
    """Run an SDK call, turning connection failures into :class:`DockerUnavailable`."""
    import requests
    from docker.errors import DockerException

    try:
        return fn()
    except requests.exceptions.ConnectionError as exc:
        client.cache_clear()
        raise DockerUnavailable(f"lost the Docker daemon: {exc}", fix=_DOCKER_FIX) from exc
    except DockerException as exc:
        if "Connection aborted" in str(exc) or "connection refused" in str(exc).lower():
            client.cache_clear()
            raise DockerUnavailable(f"lost the Docker daemon: {exc}", fix=_DOCKER_FIX) from exc
        raise


def image_exists(ref: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        _call(lambda: client().images.get(ref))
    except ImageNotFound:
        return False
    return True


def require_image(ref: str, *, fix: str) -> None:
    if not image_exists(ref):
        raise ImageMissing(f"image {ref} is not present locally", fix=fix)


#: What a command run inside a container gave back (same shape as a subprocess result).
ExecResult = Result


def exec_in(container: Container, argv: Sequence[str], *, timeout: float, quiet: bool = False) -> ExecResult:
    """Run ``argv`` in a running container, bounded by ``timeout`` seconds (coreutils ``timeout``)."""
    argv = [str(a) for a in argv]
    if not quiet:
        log(f"$ docker exec {container.name} {shlex.join(argv)}")
    bounded = ["timeout", "--kill-after=5", f"{timeout:g}", *argv]
    api = client().api

    def go() -> ExecResult:
        ex = api.exec_create(container.id, bounded, stdout=True, stderr=True)
        out, err = api.exec_start(ex["Id"], demux=True)
        code = api.exec_inspect(ex["Id"])["ExitCode"]
        return ExecResult(tuple(argv), int(code if code is not None else -1), _text(out), _text(err))

    return _call(go)  # type: ignore[no-any-return]


def exec_detached(container: Container, argv: Sequence[str]) -> None:
    """Start ``argv`` in the background inside a running container (servers)."""
    log(f"$ docker exec -d {container.name} {shlex.join(argv)}")
    api = client().api
    _call(lambda: api.exec_start(api.exec_create(container.id, list(argv))["Id"], detach=True))


def is_running(container: Container) -> bool:
    """Whether the container still exists and runs (False after a kill or removal)."""
    from docker.errors import NotFound

    try:
        container.reload()
    except NotFound:
        return False
    return container.status == "running"


def _text(data: bytes | None) -> str:
    return data.decode(errors="replace") if data else ""


@dataclass
class Scope:
    """Creates labelled Docker objects and removes them all when the block ends.

    >>> with Scope(session="abc") as s:                       # doctest: +SKIP
    ...     net = s.network("labkit-abc-net")
    ...     box = s.container("labkit/tools:0.2.0", name="labkit-abc-srv", network=net.name)
    """

    session: str = field(default_factory=new_session_id)
    keep: bool = False
    _created: list[Any] = field(default_factory=list)

    def __enter__(self) -> Scope:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove everything this scope created, newest first; never raises."""
        while self._created:
            obj = self._created.pop()
            if not self.keep:
                _remove_quietly(obj)

    def container(
        self,
        image: str,
        *,
        name: str,
        command: Sequence[str] | None = None,
        role: str = "workload",
        network: str | None = None,
        **kwargs: Any,
    ) -> Container:
        """Start a detached, labelled container (``kwargs`` go to ``containers.run``)."""
        kwargs.setdefault("labels", {})
        kwargs["labels"] = {**kwargs["labels"], **labels(self.session, role)}
        log(f"$ docker run -d --name {name} {'--network ' + network + ' ' if network else ''}{image}"
            f"{' ' + shlex.join(command) if command else ''}")
        c = _call(lambda: client().containers.create(
            image, command=list(command) if command else None, name=name, network=network, **kwargs))
        self._created.append(c)  # adopted before start: a failed start is still removed
        _call(c.start)
        return c  # type: ignore[no-any-return]

    def network(self, name: str, *, driver: str = "bridge", options: Mapping[str, str] | None = None,
                **kwargs: Any) -> Network:
        log(f"$ docker network create -d {driver} {name}")
        n = _call(lambda: client().networks.create(
            name, driver=driver, options=dict(options or {}), labels=labels(self.session, "network"), **kwargs))
        self._created.append(n)
        return n  # type: ignore[no-any-return]

    def volume(self, name: str, *, driver: str = "local", driver_opts: Mapping[str, str] | None = None) -> Volume:
        log(f"$ docker volume create {name}")
        v = _call(lambda: client().volumes.create(
            name, driver=driver, driver_opts=dict(driver_opts or {}), labels=labels(self.session, "volume")))
        self._created.append(v)
        return v  # type: ignore[no-any-return]

    def adopt(self, obj: Any) -> None:
        """Have the scope remove ``obj`` (anything with ``.remove``) on exit."""
        self._created.append(obj)


def _remove_quietly(obj: Any) -> None:
    from docker.errors import DockerException, NotFound

    try:
        if hasattr(obj, "attrs") and obj.__class__.__name__ == "Container":
            obj.remove(force=True, v=True)
        else:
            obj.remove()
    except NotFound:
        pass
    except (DockerException, OSError) as exc:
        log(f"! could not remove {getattr(obj, 'name', obj)}: {exc} (run `labkit clean`)")
    except Exception as exc:  # noqa: BLE001 - cleanup must never mask the real error
        log(f"! could not remove {getattr(obj, 'name', obj)}: {exc} (run `labkit clean`)")


@dataclass(frozen=True)
class Managed:
    kind: str  # container | network | volume | image
    id: str
    name: str


def managed(*, include_images: bool = True) -> list[Managed]:
    """Every Docker object carrying the labkit label."""
    c = client()
    flt = {"label": f"{MANAGED}=true"}
    found: list[Managed] = []
    found += [Managed("container", x.id, x.name) for x in _call(lambda: c.containers.list(all=True, filters=flt))]
    found += [Managed("network", x.id, x.name) for x in _call(lambda: c.networks.list(filters=flt))]
    found += [Managed("volume", x.id, x.name) for x in _call(lambda: c.volumes.list(filters=flt))]
    if include_images:
        for img in _call(lambda: c.images.list(filters=flt)):
            found.append(Managed("image", img.id, ", ".join(img.tags) or img.short_id))
    return found


def remove(item: Managed) -> None:
    """Remove one managed object (containers with their anonymous volumes)."""
    from docker.errors import NotFound

    c = client()
    try:
        if item.kind == "container":
            _call(lambda: c.containers.get(item.id).remove(force=True, v=True))
        elif item.kind == "network":
            _call(lambda: c.networks.get(item.id).remove())
        elif item.kind == "volume":
            _call(lambda: c.volumes.get(item.id).remove(force=True))
        elif item.kind == "image":
            _call(lambda: c.images.remove(item.id, force=True))
    except NotFound:
        pass


def iter_build_log(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    for chunk in chunks:
        if "stream" in chunk and chunk["stream"].strip():
            yield chunk["stream"].rstrip()
        if "error" in chunk:
            raise LabkitError(f"image build failed: {chunk['error'].strip()}",
                              fix="read the build log above; apt needs a reachable Debian mirror")


def build_image(context: str, *, dockerfile: str, tag: str, buildargs: Mapping[str, str] | None = None,
                labels_: Mapping[str, str] | None = None, timeout: float = 900) -> str:
    """``docker build`` through the SDK; logs each build line; returns the image id."""
    api = client().api
    log(f"$ docker build -t {tag} -f {dockerfile} {context}")
    stream = api.build(path=context, dockerfile=dockerfile, tag=tag, buildargs=dict(buildargs or {}),
                       labels=dict(labels_ or {}), rm=True, forcerm=True, decode=True, timeout=int(timeout))
    for line in iter_build_log(stream):
        log("  " + line)
    return str(client().images.get(tag).id)
