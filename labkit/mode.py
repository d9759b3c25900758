"""Live or replay: whether notebooks measure on this machine or show recorded results."""

from __future__ import annotations

import os

from labkit.errors import BadInput

MODES = ("auto", "live", "replay")
_BINDER_VARS = ("BINDER_LAUNCH_HOST", "BINDER_REPO_URL", "BINDER_SERVICE_HOST")


def on_binder() -> bool:
    return any(os.environ.get(v) for v in _BINDER_VARS)


def resolve(mode: str = "auto") -> str:
    """``live`` or ``replay``. ``auto`` (or ``LABKIT_MODE``) picks live when a Docker daemon answers."""
    if mode not in MODES:
        raise BadInput("mode", mode, ", ".join(MODES))
    if mode == "auto":
        mode = os.environ.get("LABKIT_MODE", "auto")
        if mode not in MODES:
            raise BadInput("LABKIT_MODE", mode, ", ".join(MODES))
    if mode != "auto":
        return mode
    if on_binder():
        return "replay"
    from labkit import engine

    return "live" if engine.available() else "replay"


def recordings_dir() -> str:
    """Recorded real runs shipped with the lab (``environments/recordings``)."""
    from labkit.versions import environments_dir

    return str(environments_dir() / "recordings")
