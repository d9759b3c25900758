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
        c = call(lambda cl: cl.containers.create(
            image, command=list(command) if command else None, name=name, network=network, **kwargs))
        self._created.append(c)  # adopted before start: a failed start is still removed
        call(lambda _: c.start())
        return c  # type: ignore[no-any-return]

    def network(self, name: str, *, driver: str = "bridge", options: Mapping[str, str] | None = None,
                subnet: str | None = None, gateway: str | None = None, **kwargs: Any) -> Network:
        """``docker network create`` (``subnet``/``gateway`` give it a fixed IPAM pool)."""
        log(f"$ docker network create -d {driver} {name}")
        if subnet:
            from docker.types import IPAMConfig, IPAMPool

            kwargs["ipam"] = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=gateway)])
        n = call(lambda cl: cl.networks.create(name, driver=driver, options=dict(options or {}),
                                               labels=self._labels("network"), **kwargs))
        self._created.append(n)
        return n  # type: ignore[no-any-return]

    def volume(self, name: str, *, driver: str = "local", driver_opts: Mapping[str, str] | None = None) -> Volume:
        log(f"$ docker volume create {name}")
        v = call(lambda cl: cl.volumes.create(name, driver=driver, driver_opts=dict(driver_opts or {}),
                                              labels=self._labels("volume")))
        self._created.append(v)
        return v  # type: ignore[no-any-return]

    def adopt(self, obj: Any) -> None:
        """Have the scope remove ``obj`` (anything with ``.remove``) on exit."""
        self._created.append(obj)


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
    found += [of("container", x, x.name) for x in call(lambda c: c.containers.list(all=True, filters=flt))]
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
