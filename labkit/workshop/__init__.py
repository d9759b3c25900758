"""The trainer's offline kit (``labkit workshop``): a bundle by digest, a registry mirror, the room's settings.

* :func:`prepare` (online, before the workshop): what the kind chapters pull, read from ``labkit up``'s plans,
  copied into a bundle directory by digest (:mod:`labkit.workshop.bundle` describes the format);
* :func:`verify`: a bundle copy is whole (every sha256);
* :func:`serve` (in the room): the registry mirror filled from the bundle, each served digest checked;
* ``labkit up --mirror HOST:PORT`` (:func:`labkit.targets.kind.plans.mirror_plan`) wires kind nodes to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit.workshop.bundle import BundleError, verify
from labkit.workshop.kit import collect, prepare
from labkit.workshop.refs import ImageRef


def serve(bundle: Path | str, *, port: int = 5000, bind: str = "0.0.0.0", network: str | None = None,
          name: str | None = None, session: str | None = None) -> dict[str, Any]:
    """Start (or reuse) the mirror for ``bundle`` and load it; returns its URL on this machine and the per-image
    result (pushed or already there, the digest it serves)."""
    from labkit.workshop import mirror

    root = Path(bundle).resolve()
    verify(root)
    base = mirror.start(root, port, bind=bind, network=network, name=name or mirror.NAME, session=session)
    return {"url": base, "images": mirror.load(root, base, hashes=False)}


__all__ = ["BundleError", "ImageRef", "collect", "prepare", "serve", "verify"]
