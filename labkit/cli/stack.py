"""``labkit <component> up|down|status``: a component's engine-tier stack from the terminal.

Every component whose :class:`~labkit.components.base.Component` sets ``engine_up``/``engine_down``/``engine_status``
gets a verb of its own name; each hook takes ``(name, options)`` and returns the text to print.
"""

from __future__ import annotations

import argparse

from labkit.errors import BadInput


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``labkit <component> up|down|status`` for every component with an engine-tier stack."""
    from labkit.components import all_components

    for comp in all_components():
        if comp.engine_up is None:
            continue
        e = sub.add_parser(comp.name, help=f"the {comp.title.lower()} stack on the local engine: up, down, status",
                           description=f"Start (or reuse), remove, or list the engine-tier {comp.title.lower()} stack "
                           f"of chapter {comp.chapter}. Everything is labelled; `labkit clean` removes it too.")
        e.add_argument("action", choices=["up", "down", "status"])
        e.add_argument("--name", default="lab", help="stack name (default: lab)")
        e.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="a setting of the stack (repeatable), e.g. scrape_interval=5s or port.prometheus=9091")
        e.add_argument("--plan", action="store_true", help="print what `up` would run; change nothing "
                       "(where the component can say: pipeline)")
        e.set_defaults(func=run, component=comp.name)


def run(args: argparse.Namespace) -> int:
    from labkit.components import get

    comp = get(args.component)
    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInput("--option", item, "KEY=VALUE", fix="e.g. --option scrape_interval=5s")
        options[key] = value
    action = {"up": comp.engine_up, "down": comp.engine_down, "status": comp.engine_status}[args.action]
    assert action is not None
    if getattr(args, "plan", False):
        options["plan"] = "yes"
    text = action(args.name, options)
    if text:
        print(text)
    return 0
