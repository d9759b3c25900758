"""The components of the lab, one folder each, found through this registry.

Each component package (``labkit/components/<name>/``) defines ``COMPONENT``: its chapter, its
options (``labkit up --<flag> OPTION``), and its benchmark suites. Adding a component means making
its folder and adding its name to :data:`NAMES`; ``labkit up``, the CLI, the bench harness, the
chapter list and the contract tests all read this registry.
"""

from __future__ import annotations

import importlib

from labkit.components.base import Component, NotInstalled, Option, Options, Retired
from labkit.errors import BadInput

#: Every component, in chapter order: the one registration a new component adds itself to.
NAMES = ("engine", "orchestration", "network", "storage", "monitoring", "logging", "mesh", "pipeline")


def get(name: str) -> Component:
    """The component called ``name`` (``network``, ``storage``, …)."""
    if name not in NAMES:
        raise BadInput("component", name, ", ".join(NAMES))
    return importlib.import_module(f"labkit.components.{name}").COMPONENT  # type: ignore[no-any-return]


def all_components() -> list[Component]:
    return [get(n) for n in NAMES]


def installable() -> list[Component]:
    """Components with options for ``labkit up``, in install order (network first)."""
    return sorted((c for c in all_components() if c.up_flag), key=lambda c: c.up_order)


__all__ = ["NAMES", "Component", "NotInstalled", "Option", "Options", "Retired", "all_components", "get",
           "installable"]
