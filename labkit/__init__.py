"""labkit: a hands-on lab for the components that run containers in production.

The public surface is small and cheap to import: heavy dependencies (the Docker
SDK, the kubernetes client, pandas, plotly) load only when a function needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from labkit.errors import (  # noqa: E402
    BadInput,
    CommandError,
    DockerUnavailable,
    LabkitError,
    ToolMissing,
)
from labkit.components import NAMES as _COMPONENTS  # noqa: E402 - light: no Docker, Kubernetes or pandas



#: The modules notebooks and scripts may import (``from labkit import network, bench, plots``): the
#: public API. Everything else may move; tests/notebooks check that chapters use only these.
PUBLIC = {
    "bench": "labkit.bench", "plots": "labkit.plots", "widgets": "labkit.widgets", "chapters": "labkit.chapters",
    "doctor": "labkit.doctor", "clean": "labkit.clean", "clusters": "labkit.clusters", "images": "labkit.images",
    "replay": "labkit.targets.replay", "swarm": "labkit.targets.swarm", "errors": "labkit.errors",
    "versions": "labkit.versions", "tools": "labkit.tools", "manifests": "labkit.manifests",
    "units": "labkit.units", "progress": "labkit.progress", "checks": "labkit.checks", "diagrams": "labkit.diagrams",
    # every registered component, by its name (labkit.components.NAMES is the one registration)
    **{name: f"labkit.components.{name}" for name in _COMPONENTS},
}


def __getattr__(name: str) -> object:
    """``from labkit import network`` imports the public module on first use (``import labkit`` stays light)."""
    import importlib

    if name in PUBLIC:
        return importlib.import_module(PUBLIC[name])
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


def connect(context: str | None = None, kubeconfig: str | None = None) -> object:
    """Attach to an existing cluster (see :func:`labkit.components.connect.connect`): verify and benchmark it."""
    from labkit.components import connect as connecting

    return connecting.connect(context=context, kubeconfig=kubeconfig)


__all__ = [
    "__version__",
    "connect",
    "LabkitError",
    "BadInput",
    "CommandError",
    "DockerUnavailable",
    "ToolMissing",
]
