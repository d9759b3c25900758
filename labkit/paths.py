"""Where labkit keeps things on this machine (each overridable by an env var)."""

from __future__ import annotations

import os
from pathlib import Path

from labkit.versions import project_root


def labkit_home() -> Path:
    """Downloaded tools and state: ``LABKIT_HOME`` or ``~/.local/share/labkit``."""
    return Path(os.environ.get("LABKIT_HOME", Path.home() / ".local" / "share" / "labkit"))


def bin_dir() -> Path:
    return labkit_home() / "bin"


def results_dir() -> Path:
    """The default results store: ``LABKIT_RESULTS`` or ``results/`` in the checkout."""
    return Path(os.environ.get("LABKIT_RESULTS", project_root() / "results"))


def scratch_dir() -> Path:
    """Benchmark scratch files (fio data, loop images): ``LABKIT_SCRATCH`` or ``/var/tmp/labkit``.

    It must be on a real disk (not tmpfs) for the storage baselines to mean anything.
    """
    return Path(os.environ.get("LABKIT_SCRATCH", "/var/tmp/labkit"))
