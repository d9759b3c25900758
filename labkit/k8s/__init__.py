"""The only door to the Kubernetes API: nothing else in labkit imports ``kubernetes``.

Rule (DESIGN §2): *plans* go through kubectl and helm argv, so they can be explained and typed by a
learner; *reads, waits and diagnostics* go through this client.
"""

from __future__ import annotations

from labkit.k8s.client import ApiError, Cluster, connect
from labkit.k8s.parse import DaemonSetInfo, NodeInfo, PodInfo, rest_path

__all__ = ["ApiError", "Cluster", "DaemonSetInfo", "NodeInfo", "PodInfo", "connect", "rest_path"]
