"""The only door to the Kubernetes API: nothing else in labkit imports ``kubernetes``.

Rule (DESIGN §2): *plans* go through kubectl and helm argv, so they can be explained and typed by a
learner; *reads, waits and diagnostics* go through this client.
"""

from __future__ import annotations

from labkit.k8s.client import Cluster, connect
from labkit.k8s.errors import ApiError, JobFailed, PvcPending
from labkit.k8s.parse import (
    DaemonSetInfo,
    JobInfo,
    NodeInfo,
    PodInfo,
    PvcInfo,
    StorageClassInfo,
    job_pods,
    node_infos,
    rest_path,
    storage_class_infos,
    telling_event,
)

__all__ = ["ApiError", "Cluster", "DaemonSetInfo", "JobFailed", "JobInfo", "NodeInfo", "PodInfo", "PvcInfo",
           "PvcPending", "StorageClassInfo", "connect", "job_pods", "node_infos", "rest_path", "storage_class_infos",
           "telling_event"]
