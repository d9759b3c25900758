"""ipywidgets pieces for the notebooks (imported only there).

Widgets mirror a notebook's ``parameters`` cell: each selector starts at the
parameter's value, so a headless papermill run and a click in JupyterLab do the
same thing. Output always goes to stdout too (``labkit.log``), never only to a widget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def bench_form(suite: str, *, cells: Sequence[str], all_cells: Sequence[str], tests: Sequence[str],
               all_tests: Sequence[str], profile: str, on_run: Callable[[dict[str, Any]], Any]) -> Any:
    """A small form: cells, tests, profile and a Run button calling ``on_run(choices)``."""
    import ipywidgets as w

    cell_box = w.SelectMultiple(options=list(all_cells), value=tuple(cells), description="cells", rows=7)
    test_box = w.SelectMultiple(options=list(all_tests), value=tuple(tests), description="tests", rows=6)
    prof = w.ToggleButtons(options=["quick", "full"], value=profile, description="profile")
    button = w.Button(description=f"Run {suite} benchmark", button_style="primary", icon="play")
    out = w.Output()

    def click(_: Any) -> None:
        with out:
            on_run({"cells": list(cell_box.value), "tests": list(test_box.value), "profile": prof.value})

    button.on_click(click)
    return w.VBox([w.HBox([cell_box, test_box]), prof, button, out])


def choice(label: str, options: Sequence[str], value: str, on_change: Callable[[str], Any], *,
           render_initial: bool = True) -> Any:
    """A dropdown starting at the parameter's value; ``on_change(new)`` renders into an Output below it.

    With ``render_initial=False`` the parameter's own rendering is left to a plain cell (so papermill
    and nbval see it; widget output is not saved in the notebook)."""
    import ipywidgets as w

    box = w.Dropdown(options=list(options), value=value, description=label)
    out = w.Output()

    def changed(change: dict[str, Any]) -> None:
        out.clear_output()
        with out:
            on_change(change["new"])

    box.observe(changed, names="value")
    if render_initial:
        with out:
            on_change(value)
    return w.VBox([box, out])
