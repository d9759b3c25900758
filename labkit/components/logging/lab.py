"""The chapter's live objects across notebook cells: one Scope, one collector, one mtail, removed together.

A ``with`` block cannot span notebook cells, so :class:`Lab` holds the :class:`~labkit.docker.Scope`
itself. ``close()`` (the clean-up cell, interpreter exit) removes everything it made; a SIGTERM or Ctrl-C
*during* one of its calls removes everything too (:func:`labkit.signals.terminating`); and what a
killed kernel leaves carries its owner's pid, so the next run's reaper (or ``labkit clean --dead``)
removes it.

>>> lab = Lab()                                                  # doctest: +SKIP
>>> lab.do(verify_token, lab.collector)                          # any function taking (scope, ...)
>>> lab.close()
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import Any, TypeVar

from labkit import docker
from labkit.components.logging.collector import Collector
from labkit.components.logging.mtail import Mtail
from labkit.signals import terminating

T = TypeVar("T")


class Lab:
    def __init__(self, *, keep: bool = False) -> None:
        self.scope = docker.Scope(keep=keep)
        self._collector: Collector | None = None
        self._mtail: Mtail | None = None
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

    @property
    def collector(self) -> Collector:
        """The chapter's collector (started on first use; started again if it was stopped)."""
        if self._collector is None:
            self._collector = self.do(Collector.up)
        elif self._collector.alive():
            self._collector.start()
        return self._collector

    @property
    def mtail(self) -> Mtail:
        if self._mtail is None:
            self._mtail = self.do(Mtail.up, self.collector)
        return self._mtail

    def leftovers(self) -> list[str]:
        """Names of Docker objects of this lab's session still present (after ``close()``: none)."""
        return [m.name for m in docker.managed(include_images=False) if m.session == self.session]

    def close(self) -> None:
        """Remove everything this lab made (never raises; safe to call twice)."""
        if not self.closed:
            self.closed = True
            self.scope.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
