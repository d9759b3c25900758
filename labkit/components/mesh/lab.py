"""The chapter's live objects across notebook cells: one Scope, its meshes, removed together; and the reset.

A ``with`` block cannot span notebook cells, so :class:`Lab` holds the :class:`~labkit.docker.Scope` itself.
``close()`` (the clean-up cell, interpreter exit) removes everything it made; a SIGTERM or Ctrl-C *during* one of
its calls removes everything too (:func:`labkit.signals.terminating`); what a killed kernel leaves carries its
owner's pid, so the next run's reaper (or ``labkit clean --dead``) removes it. ``reset()`` puts the chapter back
to its start (no meshes) and keeps the built images.

>>> lab = Lab()                                    # doctest: +SKIP
>>> m = lab.mesh(intruder=True)                    # made once, reused by later cells
>>> lab.do(verify.run, m)                          # any function taking (scope, ...)
>>> lab.close()
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import Any, TypeVar

from labkit import docker
from labkit.components.mesh import pods
from labkit.components.mesh.mesh import Mesh
from labkit.components.mesh.spec import MeshSpec
from labkit.signals import terminating

T = TypeVar("T")


class Lab:
    def __init__(self, *, keep: bool = False) -> None:
        self.keep = keep
        self.scope = docker.Scope(keep=keep)
        self.meshes: dict[str, Mesh] = {}
        self.closed = False
        atexit.register(self.close)

    @property
    def session(self) -> str:
        return self.scope.session

    def do(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(scope, *args, **kwargs)``; an interruption (Ctrl-C, SIGTERM) removes everything, then propagates."""
        try:
            with terminating():
                return fn(self.scope, *args, **kwargs)
        except KeyboardInterrupt:
            self.close()
            raise

    def mesh(self, name: str = "mesh", **settings: Any) -> Mesh:
        """The lab's mesh called ``name`` with ``settings`` (a :class:`MeshSpec`), made on first use."""
        spec = MeshSpec.of(**settings)
        known = self.meshes.get(name)
        if known is not None and known.spec == spec:
            return known
        if known is not None:
            raise ValueError(f"mesh {name!r} exists with other settings ({known.spec.as_dict()}); use another name "
                             "or lab.reset()")
        self.meshes[name] = self.do(lambda scope: Mesh.up(scope, spec, prefix=f"lk-{scope.session}-{name}"))
        return self.meshes[name]

    def leftovers(self) -> list[str]:
        """Names of Docker objects of this lab's session still present (after ``close()``: none).

        Listing races with other people's removals on a shared daemon (a container listed, then gone before it
        is inspected): such a listing is simply taken again."""
        return [m.name for m in pods.managed(self.session)]

    def close(self) -> None:
        """Remove everything this lab made (never raises; safe to call twice)."""
        if not self.closed:
            self.closed = True
            self.scope.close()
            self.meshes.clear()

    def reset(self) -> Lab:
        """Back to the chapter's start: every mesh removed, images kept; the lab is ready for new meshes."""
        self.close()
        self.scope = docker.Scope(keep=self.keep)
        self.closed = False
        return self

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
