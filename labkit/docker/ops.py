"""Operations on containers, images and networks, for everything in labkit that is not a door.

Each function takes plain values or a container returned by :class:`~labkit.docker.Scope` and
goes through :func:`~labkit.docker.client.call`, so failures arrive as labkit errors.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from labkit._run import Result
from labkit.docker.client import NoSuchObject, call
from labkit.docker.scope import labels
from labkit.errors import ImageMissing, LabkitError
from labkit.log import log

if TYPE_CHECKING:
    from docker.models.containers import Container

#: What a command run inside a container gave back (same shape as a subprocess result).
ExecResult = Result


def _text(data: bytes | None) -> str:
    return data.decode(errors="replace") if data else ""


def exec_in(container: Container, argv: Sequence[str], *, timeout: float, quiet: bool = False,
            shown: Sequence[str] | None = None) -> ExecResult:
    """Run ``argv`` in a running container, bounded by ``timeout`` seconds (coreutils ``timeout``).

    ``shown`` is what the log line prints instead of ``argv`` (a command carrying a secret)."""
    argv = [str(a) for a in argv]
    if not quiet:
        log(f"$ docker exec {container.name} {shlex.join(shown if shown is not None else argv)}")
    bounded = ["timeout", "--kill-after=5", f"{timeout:g}", *argv]

    def go(client: Any) -> ExecResult:
        api = client.api
        ex = api.exec_create(container.id, bounded, stdout=True, stderr=True)
        out, err = api.exec_start(ex["Id"], demux=True)
        code = api.exec_inspect(ex["Id"])["ExitCode"]
        return ExecResult(tuple(shown if shown is not None else argv), int(code if code is not None else -1),
                          _text(out), _text(err))

    return call(go)


def exec_detached(container: Container, argv: Sequence[str]) -> None:
    """Start ``argv`` in the background inside a running container (servers)."""
    log(f"$ docker exec -d {container.name} {shlex.join(argv)}")
    call(lambda c: c.api.exec_start(c.api.exec_create(container.id, list(argv))["Id"], detach=True))


def is_running(container: Container) -> bool:
    """Whether the container still exists and runs (False after a kill or removal)."""
    try:
        call(lambda _: container.reload())
    except NoSuchObject:
        return False
    return container.status == "running"


def attrs(container: Container) -> dict[str, Any]:
    """The container's ``docker inspect`` document, fresh."""
    call(lambda _: container.reload())
    return dict(container.attrs)


def ip_on(container: Container, network: str) -> str:
    """The container's address on ``network``."""
    return str(attrs(container)["NetworkSettings"]["Networks"][network]["IPAddress"])


def logs(container: Container, *, tail: int | str = 30, since: float | None = None) -> str:
    """The last ``tail`` lines of ``docker logs`` (written after the unix time ``since``, if given); a description
    of the failure when they cannot be read."""
    kwargs: dict[str, Any] = {"tail": tail} if since is None else {"tail": tail, "since": since}
    try:
        return _text(call(lambda _: container.logs(**kwargs)))
    except LabkitError as exc:
        return f"(logs unavailable: {exc.message})"


def diff(container: Container) -> list[dict[str, Any]]:
    """``docker diff``: what the container changed in its writable layer."""
    return list(call(lambda _: container.diff()) or [])


def put_archive(container: Container, path: str, data: BinaryIO) -> None:
    """Unpack a tar stream into ``path`` inside the container."""
    call(lambda _: container.put_archive(path, data))


def container(ref: str) -> Container | None:
    """The container named (or with id) ``ref``, or None."""
    try:
        return call(lambda c: c.containers.get(ref))
    except NoSuchObject:
        return None


def containers(*, label: str, all: bool = True) -> list[Container]:  # noqa: A002 - docker's own word
    """Containers carrying ``label`` (``key`` or ``key=value``). Listed sparse, then each looked up: one removed
    in between (by another session, or a run tearing down its cells) is skipped rather than an error."""
    found = call(lambda c: c.containers.list(all=all, filters={"label": label}, sparse=True))
    return [box for box in (container(x.id) for x in found) if box is not None]


def create(image: str, command: Sequence[str] | None = None, *, role: str, **kwargs: Any) -> Container:
    """Create (not start) a labelled container; the caller removes it (prefer :class:`Scope`)."""
    kwargs["labels"] = {**kwargs.get("labels", {}), **labels(role=role)}
    return call(lambda c: c.containers.create(image, list(command) if command else None, **kwargs))


def start(box: Container) -> None:
    call(lambda _: box.start())


def wait(box: Container, *, timeout: float) -> int:
    """Wait for the container to exit; its exit code."""
    return int(call(lambda _: box.wait(timeout=timeout)).get("StatusCode", -1))


def remove_container(box: Container) -> None:
    with suppress(NoSuchObject):
        call(lambda _: box.remove(force=True, v=True))


def create_raw(image: str, *, name: str, hostname: str, network: str, command: Sequence[str] | None,
               labels_: Mapping[str, str], host_config: Mapping[str, Any],
               host_config_extra: Mapping[str, Any] | None = None) -> Container:
    """Create a container through the low-level API, for host-config fields the high-level one lacks
    (``MaskedPaths``/``ReadonlyPaths``: the CLI's ``--security-opt systempaths=unconfined``)."""
    def go(c: Any) -> Container:
        hc = c.api.create_host_config(network_mode=network, **host_config)
        hc.update(host_config_extra or {})
        made = c.api.create_container(image, command=list(command) if command else None, name=name,
                                      hostname=hostname, host_config=hc, labels=dict(labels_))
        return c.containers.get(made["Id"])
    return call(go)


def network_exists(name: str) -> bool:
    try:
        call(lambda c: c.networks.get(name))
    except NoSuchObject:
        return False
    return True


def networks_named(name: str) -> list[tuple[str, dict[str, Any]]]:
    """(id, inspect document) of networks called exactly ``name``."""
    return [(n.id, dict(n.attrs)) for n in call(lambda c: c.networks.list(names=[name])) if n.name == name]


def remove_network(net_id: str) -> None:
    with suppress(NoSuchObject):
        call(lambda c: c.networks.get(net_id).remove())


def image_exists(ref: str) -> bool:
    try:
        call(lambda c: c.images.get(ref))
    except NoSuchObject:
        return False
    return True


def require_image(ref: str, *, fix: str) -> None:
    if not image_exists(ref):
        raise ImageMissing(f"image {ref} is not present locally", fix=fix)


def image_attrs(ref: str) -> dict[str, Any]:
    """``docker image inspect``: Size, RootFS layers, RepoDigests, Config …"""
    return dict(call(lambda c: c.images.get(ref).attrs))


def save_image(ref: str, path: Path) -> Path:
    """``docker save REF > PATH`` (named, so ``docker load`` restores the tag)."""
    with path.open("wb") as fh:
        for chunk in call(lambda c: c.images.get(ref).save(named=True)):
            fh.write(chunk)
    return path


@contextmanager
def saved_image(ref: str) -> Iterator[Path]:
    """The image as a ``docker save`` archive in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="labkit-img-") as tmp:
        yield save_image(ref, Path(tmp) / "image.tar")


def swarm_node_attrs(node_id: str) -> dict[str, Any]:
    return dict(call(lambda c: c.nodes.get(node_id).attrs))


def swarm_leave() -> None:
    log("$ docker swarm leave --force")
    call(lambda c: c.swarm.leave(force=True))


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
    log(f"$ docker build -t {tag} -f {dockerfile} {context}")
    stream = call(lambda c: c.api.build(path=context, dockerfile=dockerfile, tag=tag,
                                        buildargs=dict(buildargs or {}), labels=dict(labels_ or {}), rm=True,
                                        forcerm=True, decode=True, timeout=int(timeout)))
    for line in iter_build_log(stream):
        log("  " + line)
    return str(call(lambda c: c.images.get(tag).id))
