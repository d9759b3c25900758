"""Where labkit keeps things on this machine (each overridable by an env var)."""

from __future__ import annotations

import os
import tempfile
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


def atomic_write(path: str | os.PathLike[str], text: str, *, mode: int | None = None) -> Path:
    """Write ``text`` to ``path`` so a reader sees the old or the new content, never half of it.

    A temporary file in the same directory is written, fsync'd and renamed over ``path``;
    ``mode`` (e.g. 0o600) is set before the rename. The directory is created if missing."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
