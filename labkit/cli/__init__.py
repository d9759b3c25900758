"""The ``labkit`` command line: :mod:`labkit.cli.main` (lab, clusters, tools) and :mod:`labkit.cli.bench`."""

from __future__ import annotations

from labkit.cli.main import main, parser

__all__ = ["main", "parser"]
