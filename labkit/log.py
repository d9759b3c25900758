"""One logging door: lines go to stdout so notebooks and papermill logs show progress (secrets masked)."""

from __future__ import annotations

import sys

from labkit.redact import redact

_quiet = False


def log(message: str) -> None:
    """Print one progress line (flushed, so papermill --log-output shows it live)."""
    if not _quiet:
        print(redact(message), file=sys.stdout, flush=True)


def set_quiet(quiet: bool) -> None:
    """Silence progress lines (tests, machine-readable CLI output)."""
    global _quiet
    _quiet = quiet
