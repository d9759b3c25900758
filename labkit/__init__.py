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
