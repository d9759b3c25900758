"""Labelled Docker objects: the label set, a :class:`Scope` that removes what it made, and ``clean``'s view.

Containers, networks and volumes labkit makes carry ``io.labkit.managed=true`` (plus a session
id), so :func:`managed` finds them and :func:`remove` removes them, even after a crash.
:class:`Scope` removes what it created when the ``with`` block ends, also on errors, Ctrl-C and
SIGTERM (see :mod:`labkit.signals`).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from labkit.docker.client import NoSuchObject, call
from labkit.docker.commands import network_create_argv, run_argv, volume_create_argv
from labkit.errors import ImageMissing, LabkitError
from labkit.log import log

if TYPE_CHECKING:
    from docker.models.containers import Container
    from docker.models.networks import Network
    from docker.models.volumes import Volume

MANAGED = "io.labkit.managed"
SESSION = "io.labkit.session"
ROLE = "io.labkit.role"
OWNER = "io.labkit.owner"  # host:pid of the process that made it (the reaper's clue)
CHAPTER = "io.labkit.chapter"  # the chapter (notebook) that made it: `labkit reset CHAPTER` removes it
CHAPTER_ENV = "LABKIT_CHAPTER"


def current_chapter() -> str | None:
    """The chapter this process works for: ``$LABKIT_CHAPTER``, else the notebook JupyterLab runs this kernel
    for (``$JPY_SESSION_NAME``, set by jupyter_server for every kernel it starts), e.g. ``01-engine``."""
    value = os.environ.get(CHAPTER_ENV, "").strip()
    if not value:
        session = os.environ.get("JPY_SESSION_NAME", "")
        stem = PurePath(session).stem if session.endswith(".ipynb") else ""
        value = stem if re.fullmatch(r"\d\d-[a-z0-9][a-z0-9-]*", stem) else ""
    return value or None


def labels(session: str | None = None, role: str | None = None, **extra: str) -> dict[str, str]:
    """The label set every labkit object carries (with the chapter, when one is known)."""
    out = {MANAGED: "true"}
    if session:
        out[SESSION] = session
    if role:
        out[ROLE] = role
    chapter = current_chapter()
    if chapter:
        out[CHAPTER] = chapter
    out.update({f"io.labkit.{k}": v for k, v in extra.items()})
    return out


def new_session_id() -> str:
    return uuid.uuid4().hex[:10]


def owner() -> str:
    """``host:pid`` of this process: a leftover whose owner is gone on this host may be reaped."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Scope:
    """Creates labelled Docker objects and removes them all when the block ends.

    >>> with Scope(session="abc") as s:                       # doctest: +SKIP
    ...     net = s.network("labkit-abc-net")
    ...     box = s.container("labkit/tools:0.2.0", name="labkit-abc-srv", network=net.name)
    """

    session: str = field(default_factory=new_session_id)
    keep: bool = False
    #: False for services meant to outlive this process (the workshop mirror): no owner label, so the
    #: reaper leaves them alone; `labkit clean` still removes them
    owned: bool = True
    _created: list[Any] = field(default_factory=list)
    #: every command this scope printed, as argv, in order (what a learner would type to make the same objects)
    commands: list[list[str]] = field(default_factory=list)

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

    def _labels(self, role: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**(extra or {}), **labels(self.session, role), **({OWNER: owner()} if self.owned else {})}

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
        """Start a detached, labelled container (``kwargs`` go to the SDK's ``containers.create``).

        The ``$ docker run …`` line it prints is rendered from these same arguments
        (:func:`labkit.docker.commands.run_argv`): typing it makes the same container."""
        kwargs["labels"] = self._labels(role, kwargs.get("labels"))
        self._show(run_argv(image, name=name, command=command, network=network, **kwargs))
        pending = _Pending("containers", name, self.session)
        self._created.append(pending)  # adopted before it exists: an interruption mid-create still removes it
        try:
            c = call(lambda cl: cl.containers.create(
                image, command=list(command) if command else None, name=name, network=network, **kwargs))
        except NoSuchObject as exc:
            if "image" not in exc.message.lower():
                raise
            raise ImageMissing(f"image {image} is not present locally, so container {name} cannot start",
                               fix="build the lab's images with `labkit images build --all` (or `make images`); "
                                   f"an image from a registry: `docker pull {image}`") from exc
        self._created[self._created.index(pending)] = c  # adopted before start: a failed start is still removed
        call(lambda _: c.start())
        return c  # type: ignore[no-any-return]

    def _show(self, rendered: Any) -> None:
        self.commands.append(list(rendered.argv))
        log("$ " + rendered.shell())

    def network(self, name: str, *, driver: str = "bridge", options: Mapping[str, str] | None = None,
                subnet: str | None = None, gateway: str | None = None, **kwargs: Any) -> Network:
        """``docker network create`` (``subnet``/``gateway`` give it a fixed IPAM pool)."""
        lab = self._labels("network")
        self._show(network_create_argv(name, driver=driver, options=options, subnet=subnet, gateway=gateway,
                                       labels=lab, **kwargs))
        if subnet:
            from docker.types import IPAMConfig, IPAMPool

            kwargs["ipam"] = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=gateway)])
        pending = _Pending("networks", name, self.session)
        self._created.append(pending)
        n = call(lambda cl: cl.networks.create(name, driver=driver, options=dict(options or {}), labels=lab,
                                               **kwargs))
        self._created[self._created.index(pending)] = n
        return n  # type: ignore[no-any-return]

    def volume(self, name: str, *, driver: str = "local", driver_opts: Mapping[str, str] | None = None) -> Volume:
        lab = self._labels("volume")
        self._show(volume_create_argv(name, driver=driver, driver_opts=driver_opts, labels=lab))
        pending = _Pending("volumes", name, self.session)
        self._created.append(pending)
        v = call(lambda cl: cl.volumes.create(name, driver=driver, driver_opts=dict(driver_opts or {}), labels=lab))
        self._created[self._created.index(pending)] = v
        return v  # type: ignore[no-any-return]

    def adopt(self, obj: Any) -> None:
        """Have the scope remove ``obj`` (anything with ``.remove``) on exit."""
        self._created.append(obj)

    def create_container(self, name: str, create: Any) -> Any:
        """``create()`` a container called ``name`` some other way (e.g. the low-level API), adopted *before* the
        daemon answers: Ctrl-C or SIGTERM mid-create still removes it (looked up by name and session)."""
        pending = _Pending("containers", name, self.session)
        self._created.append(pending)
        made = create()
        self._created[self._created.index(pending)] = made
        return made

    def owner_labels(self, role: str) -> dict[str, str]:
        """The labels :meth:`container` gives (session, role, chapter, and the owner the reaper reads)."""
        return self._labels(role)


@dataclass(frozen=True)
class _Pending:
    """An object being created: if the block ends before the daemon answered (Ctrl-C, SIGTERM), the daemon
    may still have made it, so it is looked up by name and removed."""

    collection: str  # containers | networks | volumes
    name: str
    session: str

    def remove(self) -> None:
        import time

        # the request was cut short on our side, but the daemon may still be making the object: look a few times
        for attempt in range(6):
            try:
                obj = call(lambda cl: getattr(cl, self.collection).get(self.name))
                break
            except NoSuchObject:
                if attempt == 5:
                    return
                time.sleep(0.5)
        attrs = obj.attrs or {}
        found = attrs.get("Labels") or (attrs.get("Config") or {}).get("Labels") or {}
        if found.get(SESSION) == self.session:  # ours: a same-named object of someone else is left alone
            _remove_quietly(obj)


def _remove_quietly(obj: Any) -> None:
    try:
        if obj.__class__.__name__ == "Container":
            call(lambda _: obj.remove(force=True, v=True))
        elif hasattr(obj, "attrs") and hasattr(obj, "client"):  # an SDK network or volume
            call(lambda _: obj.remove())
        else:  # labkit's own handles (host links, loop devices, cluster objects)
            obj.remove()
    except NoSuchObject:
        pass
    except Exception as exc:  # noqa: BLE001 - cleanup must never mask the real error
        message = exc.message if isinstance(exc, LabkitError) else str(exc)
        log(f"! could not remove {getattr(obj, 'name', obj)}: {message} (run `labkit clean`)")


@dataclass(frozen=True)
class Managed:
    kind: str  # container | network | volume | image
    id: str
    name: str
    session: str = ""
    owner: str = ""
    chapter: str = ""


def managed(*, include_images: bool = True) -> list[Managed]:
    """Every Docker object carrying the labkit label."""
    flt = {"label": f"{MANAGED}=true"}

    def of(kind: str, x: Any, name: str) -> Managed:
        lab = (x.attrs.get("Labels") or x.attrs.get("Config", {}).get("Labels") or {}) if hasattr(x, "attrs") else {}
        return Managed(kind, x.id, name, lab.get(SESSION, ""), lab.get(OWNER, ""), lab.get(CHAPTER, ""))

    found: list[Managed] = []
    # sparse: the list answer itself (no inspect per container, which races with other sessions removing theirs)
    found += [of("container", x, (x.attrs.get("Names") or [x.id])[0].lstrip("/"))
              for x in call(lambda c: c.containers.list(all=True, filters=flt, sparse=True))]
    found += [of("network", x, x.name) for x in call(lambda c: c.networks.list(filters=flt))]
    found += [of("volume", x, x.name) for x in call(lambda c: c.volumes.list(filters=flt))]
    if include_images:
        for img in call(lambda c: c.images.list(filters=flt)):
            found.append(of("image", img, ", ".join(img.tags) or img.short_id))
    return found


def remove(item: Managed) -> None:
    """Remove one managed object (containers with their anonymous volumes)."""
    try:
        if item.kind == "container":
            call(lambda c: c.containers.get(item.id).remove(force=True, v=True))
        elif item.kind == "network":
            call(lambda c: c.networks.get(item.id).remove())
        elif item.kind == "volume":
            call(lambda c: c.volumes.get(item.id).remove(force=True))
        elif item.kind == "image":
            call(lambda c: c.images.remove(item.id, force=True))
    except NoSuchObject:
        pass


def owner_gone(owner: str) -> bool:
    """``host:pid`` names a process on this host that no longer runs (a missing or foreign owner: not gone)."""
    import os
    import socket

    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def reap(*, dry_run: bool = False) -> list[Managed]:
    """Remove the labelled containers, networks and volumes of labkit processes that are gone (a restarted
    kernel, a SIGKILLed job); objects of running sessions and objects without an owner are left alone."""
    order = {"container": 1, "network": 2, "volume": 3}
    dead = sorted((m for m in managed(include_images=False) if m.owner and owner_gone(m.owner)),
                  key=lambda m: order.get(m.kind, 5))
    for item in dead:
        log(f"{'would remove' if dry_run else 'removing'} {item.kind} {item.name}: its labkit process "
            f"({item.owner}) is gone")
        if not dry_run:
            remove(item)
    return dead
