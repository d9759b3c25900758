"""Docker Swarm on the engine target: a single-node swarm on the local daemon, or many nodes in containers.

:class:`LocalSwarm` makes the local daemon a one-node swarm, but never takes over a swarm
it did not create. :class:`DindSwarm` runs each node as a Docker-in-Docker container
(without ``--privileged``, which fails on kernels like our CI's; see
``environments/images/dind/``) on a labelled bridge network, copies the app image into
every node, and joins them into one swarm with an attachable overlay network.
Both are context managers that remove what they made, and both say which Swarm
features this kernel supports (:func:`kernel_features`): without IPVS, services use
DNS round-robin endpoints and host-mode ports; without ESP, overlays are unencrypted.

>>> with DindSwarm(nodes=3) as sw:                                  # doctest: +SKIP
...     print(sw.explain())
"""

from __future__ import annotations

from labkit.targets.swarm.dind import OVERLAY, DindSwarm, NodeFailed
from labkit.targets.kernel import KernelFeatures, daemon_kernel_features, kernel_features
from labkit.targets.swarm.local import (
    GWBRIDGE,
    Leftover,
    LocalSwarm,
    SwarmNotOurs,
    leftovers,
    local_state,
    remove_leftover,
)

__all__ = ["GWBRIDGE", "OVERLAY", "KernelFeatures", "kernel_features", "daemon_kernel_features", "LocalSwarm",
           "DindSwarm", "SwarmNotOurs", "NodeFailed", "Leftover", "leftovers", "remove_leftover", "local_state"]
