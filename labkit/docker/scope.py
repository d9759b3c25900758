"""Labelled Docker objects: the label set, a :class:`Scope` that removes what it made, and ``clean``'s view.

Containers, networks and volumes labkit makes carry ``io.labkit.managed=true`` (plus a session
id), so :func:`managed` finds them and :func:`remove` removes them, even after a crash.
:class:`Scope` removes what it created when the ``with`` block ends, also on errors, Ctrl-C and
SIGTERM (see :mod:`labkit.signals`).
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.docker.client import NoSuchObject, call
from labkit.errors import LabkitError
from labkit.log import log

if TYPE_CHECKING:
    from docker.models.containers import Container
    from docker.models.networks import Network
    from docker.models.volumes import Volume

MANAGED = "io.labkit.managed"
SESSION = "io.labkit.session"
ROLE = "io.labkit.role"
OWNER = "io.labkit.owner"  # host:pid of the process that made it (the reaper's clue)


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

    def _labels(self, role: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**(extra or {}), **labels(self.session, role), OWNER: owner()}

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
        """Start a detached, labelled container (``kwargs`` go to the SDK's ``containers.create``)."""
        kwargs["labels"] = self._labels(role, kwargs.get("labels"))
        log(f"$ docker run -d --name {name} {'--network ' + network + ' ' if network else ''}{image}"
            f"{' ' + shlex.join(command) if command else ''}")
        pending = _Pending("containers", name, self.session)
        self._created.append(pending)  # adopted before it exists: an interruption mid-create still removes it
        c = call(lambda cl: cl.containers.create(
            image, command=list(command) if command else None, name=name, network=network, **kwargs))
        self._created[self._created.index(pending)] = c  # adopted before start: a failed start is still removed
        call(lambda _: c.start())
        return c  # type: ignore[no-any-return]

    def network(self, name: str, *, driver: str = "bridge", options: Mapping[str, str] | None = None,
                subnet: str | None = None, gateway: str | None = None, **kwargs: Any) -> Network:
        """``docker network create`` (``subnet``/``gateway`` give it a fixed IPAM pool)."""
        log(f"$ docker network create -d {driver} {name}")
        if subnet:
            from docker.types import IPAMConfig, IPAMPool

            kwargs["ipam"] = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=gateway)])
        pending = _Pending("networks", name, self.session)
        self._created.append(pending)
        n = call(lambda cl: cl.networks.create(name, driver=driver, options=dict(options or {}),
                                               labels=self._labels("network"), **kwargs))
        self._created[self._created.index(pending)] = n
        return n  # type: ignore[no-any-return]

    def volume(self, name: str, *, driver: str = "local", driver_opts: Mapping[str, str] | None = None) -> Volume:
        log(f"$ docker volume create {name}")
        pending = _Pending("volumes", name, self.session)
        self._created.append(pending)
        v = call(lambda cl: cl.volumes.create(name, driver=driver, driver_opts=dict(driver_opts or {}),
                                              labels=self._labels("volume")))
        self._created[self._created.index(pending)] = v
        return v  # type: ignore[no-any-return]

    def adopt(self, obj: Any) -> None:
        """Have the scope remove ``obj`` (anything with ``.remove``) on exit."""
        self._created.append(obj)


@dataclass(frozen=True)
class _Pending:
    """An object being created: if the block ends before the daemon answered (Ctrl-C, SIGTERM), the daemon
    may still have made it, so it is looked up by name and removed."""

    collection: str  # containers | networks | volumes
    name: str
    session: str

    def remove(self) -> None:
        try:
            obj = call(lambda cl: getattr(cl, self.collection).get(self.name))
        except NoSuchObject:
            return
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


def managed(*, include_images: bool = True) -> list[Managed]:
    """Every Docker object carrying the labkit label."""
    flt = {"label": f"{MANAGED}=true"}

    def of(kind: str, x: Any, name: str) -> Managed:
        lab = (x.attrs.get("Labels") or x.attrs.get("Config", {}).get("Labels") or {}) if hasattr(x, "attrs") else {}
        return Managed(kind, x.id, name, lab.get(SESSION, ""), lab.get(OWNER, ""))

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
