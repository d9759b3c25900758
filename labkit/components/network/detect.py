"""Which CNI does a cluster run? Recognised by its DaemonSet, through the Kubernetes client."""

from __future__ import annotations

from typing import Any

#: DaemonSet name -> CNI; the default CNI (kindnet) last, so a CNI installed over it wins.
CNI_DAEMONSETS = (("cilium", "cilium"), ("calico-node", "calico"), ("kube-flannel-ds", "flannel"),
                  ("weave-net", "weave"), ("kindnet", "kindnet"))


def detect_cni(api: Any) -> str | None:
    """The CNI of the cluster behind ``api`` (a :class:`labkit.k8s.Cluster`), or None when none is recognised."""
    names = {d.name for d in api.daemonsets()}
    return next((cni for ds, cni in CNI_DAEMONSETS if ds in names), None)
