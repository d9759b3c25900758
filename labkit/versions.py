"""Read the pinned versions in ``environments/versions.yaml`` (data, not code)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from labkit.errors import LabkitError


def project_root() -> Path:
    """The labkit checkout (holds ``environments/`` and ``notebooks/``)."""
    return Path(__file__).resolve().parent.parent


def environments_dir() -> Path:
    """``environments/``; ``LABKIT_ENVIRONMENTS`` overrides (an installed wheel has none)."""
    override = os.environ.get("LABKIT_ENVIRONMENTS")
    path = Path(override) if override else project_root() / "environments"
    if not (path / "versions.yaml").is_file():
        raise LabkitError(
            f"environments directory not found at {path} (no versions.yaml)",
            fix="run labkit from a checkout (pip install -e .) or set LABKIT_ENVIRONMENTS=/path/to/environments",
        )
    return path


@functools.cache
def pins() -> dict[str, Any]:
    """The parsed ``versions.yaml``."""
    import yaml

    path = environments_dir() / "versions.yaml"
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or data.get("schema") != 1:
        raise LabkitError(f"{path}: expected a mapping with 'schema: 1'", fix="restore it from git")
    return data


def tools_image() -> str:
    """The lab's tools image reference, ``repository:tag`` (never ``latest``)."""
    tools = pins()["images"]["tools"]
    return f"{tools['repository']}:{tools['tag']}"


def base_image() -> str:
    return str(pins()["images"]["base"])
