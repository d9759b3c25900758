"""kind clusters: config (:mod:`.config`), plans (:mod:`.plans`), host gates (:mod:`.preflight`), reuse and
removal (:mod:`.lifecycle`). ``labkit up`` composes components onto them: :mod:`labkit.components.up`."""

from __future__ import annotations

from labkit.targets.kind.config import ClusterConfig, node_image, profile, profiles
from labkit.targets.kind.lifecycle import ClusterConflict, down, load_images

__all__ = ["ClusterConfig", "ClusterConflict", "down", "load_images", "node_image", "profile", "profiles"]
