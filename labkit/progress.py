"""Progress you can see: a bar with an ETA in a notebook, plain lines in papermill logs and terminals.

A long cell used to print "repetition k/6 done" every couple of minutes and nothing else. A
:class:`Progress` counts units of work (one measurement each), each with the seconds it is planned
to take. Before the first unit ends, the ETA is the plan; after, it is the plan for what is left,
scaled by how far the measured pace has strayed from the plan so far (a slow host stretches it).

In a Jupyter kernel it draws an ipywidgets bar that updates in place *and* prints a plain line at
most every ``every_s`` seconds, so papermill's ``--log-output`` and a terminal show the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from labkit.log import log


def duration(seconds: float) -> str:
    """``75`` → ``"1 min 15 s"``; ``3700`` → ``"1 h 01 min"``; under a minute, whole seconds."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """Units done out of a planned total, with elapsed time and an ETA.

    ``planned_s`` holds one entry per unit: the seconds that unit is planned to take (its weight).
    ``callback(done, total)``, when given, is called after every unit (the harness's ``progress=``).
    ``planned=False`` says there is no measured plan (``planned_s`` then only counts units): no ETA is
    shown until a unit has finished, then the mean pace so far estimates the rest.
    """

    def __init__(self, title: str, planned_s: Sequence[float], *, every_s: float = 30.0,
                 widget: bool | None = None, callback: Callable[[int, int], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, planned: bool = True) -> None:
        self.title = title
        self.has_plan = planned
        self.planned = [max(0.001, float(x)) if planned else 1.0 for x in planned_s]
        self.total = len(self.planned)
        self.done = 0
        self.every_s = every_s
        self.callback = callback
        self.clock = clock
        self.t0 = clock()
        self._last_line = self.t0
        self._bar: Any = None
        if widget if widget is not None else _in_kernel():
            self._bar = _widget(title, self.total)

    @property
    def elapsed(self) -> float:
        return self.clock() - self.t0

    def eta(self) -> float:
        """Seconds left: the plan for the rest, scaled by measured pace over planned pace so far."""
        left = sum(self.planned[self.done:])
        spent = sum(self.planned[:self.done])
        return left * (self.elapsed / spent) if spent > 0 and self.elapsed > 0 else left

    def line(self, what: str = "") -> str:
        pct = 100 * self.done / self.total if self.total else 100
        ahead = "planned" if self.done == 0 else "left"
        parts = [f"{self.title}: {self.done}/{self.total} ({pct:.0f} %)", f"{duration(self.elapsed)} elapsed"]
        if self.has_plan or self.done:
            parts.append(f"about {duration(self.eta())} {ahead}" + ("" if self.has_plan else " at the pace so far"))
        else:
            parts.append("no time plan measured here: an estimate follows the first step")
        return " · ".join(parts + ([what] if what else []))

    def start(self) -> Progress:
        log(self.line("starting"))
        self._draw("starting")
        return self

    def step(self, what: str = "", *, force_line: bool = False) -> None:
        """One unit finished (``what`` names it)."""
        self.done = min(self.total, self.done + 1)
        now = self.clock()
        if force_line or self.done == self.total or now - self._last_line >= self.every_s:
            self._last_line = now
            log(self.line(what))
        self._draw(what)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self, status: str = "done") -> None:
        if self._bar is not None:
            bar, label = self._bar
            bar.bar_style = "success" if status == "done" else "danger"
            label.value = f"{self.title}: {status} after {duration(self.elapsed)} ({self.done}/{self.total})"

    def _draw(self, what: str) -> None:
        if self._bar is not None:
            bar, label = self._bar
            bar.value = self.done
            label.value = self.line(what)


def _widget(title: str, total: int) -> Any:
    try:
        import ipywidgets as w
        from IPython.display import display
    except ImportError:  # a kernel without ipywidgets: plain lines only
        return None
    bar = w.IntProgress(value=0, min=0, max=max(1, total), description="", layout=w.Layout(width="40%"))
    label = w.HTML(value=title)
    display(w.HBox([bar, label]))
    return bar, label
