"""SIGTERM and SIGHUP end a run the way Ctrl-C does, so every ``finally`` and ``__exit__`` runs.

A JupyterLab "Restart kernel", ``timeout``, systemd and CI runners send SIGTERM (a closed terminal
sends SIGHUP). Python's default action ends the process at once, without cleanup: scopes,
cluster teardowns and run writers would leave labelled objects behind and runs marked
``running``. While a :func:`terminating` block runs, those signals raise :class:`Terminated`, a
:class:`KeyboardInterrupt`, so the same cleanup that Ctrl-C triggers runs, and a run is stored
as *interrupted*. Further signals during that cleanup are ignored (a SIGKILL still ends it).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, SIGHUP): clean up, then end."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"terminated by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def terminating() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise :class:`Terminated` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        for s in SIGNALS:  # one interruption: cleanup must not be interrupted again
            signal.signal(s, signal.SIG_IGN)
        raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
