"""Clusters labkit did not make (EKS, GKE, k3s, a lab rack): run the components' verifies on them in place.

>>> conn = connect(context="my-cluster")          # doctest: +SKIP
>>> conn.verify_plan().run()                      # the network verify, with the CNI detected
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from labkit.errors import BadInput
from labkit.steps import Plan
from labkit.targets.kube import KubeTarget
from labkit.versions import tools_image


@dataclass
class Connected:
    """An existing cluster: run the same verify and benchmark steps against it."""

    target: KubeTarget
    api: Any  # labkit.k8s.Cluster
    cni: str | None

    def verify_plan(self, *, cni: str | None = None, image: str | None = None) -> Plan:
        from labkit.components import network

        name = cni or self.cni
        if not name:
            raise BadInput("CNI", None, ", ".join(network.CNIS),
                           fix="labkit could not recognise this cluster's CNI from its DaemonSets; pass cni=...")
        nodes = [n for n in self.api.nodes() if n.ready]
        return network.option(name).verify(self.target, image=image or tools_image(), cross_node=len(nodes) >= 2)

    def verify_storage_plan(self, storage_class: str, *, image: str | None = None) -> Plan:
        """The persistence verify against any StorageClass of this cluster (Rook-Ceph, Portworx, …)."""
        from labkit.components.storage import verify

        classes = self.api.storage_classes() if hasattr(self.api, "storage_classes") else None
        if classes is not None and storage_class not in classes:
            raise BadInput("StorageClass", storage_class, ", ".join(classes) or "(none in this cluster)",
                           fix="`kubectl get storageclass` lists them")
        return verify.plan(self.target, storage_class=storage_class, image=image or tools_image(),
                           option=storage_class)

    def verify(self, *, cni: str | None = None, image: str | None = None, runner: Any = None) -> Plan:
        """Run the network verify; ``image`` must be pullable by this cluster (push the tools image first)."""
        plan = self.verify_plan(cni=cni, image=image)
        plan.run(runner)
        return plan


def connect(context: str | None = None, kubeconfig: str | os.PathLike[str] | None = None, *,
            kubectl: str = "kubectl", helm: str = "helm") -> Connected:
    """Attach to an existing cluster by kubeconfig context (read only: the kubeconfig is never written).

    The client and every kubectl/helm argv use the same file and context (:mod:`labkit.kubeconfig`)."""
    from labkit.components.network.detect import detect_cni
    from labkit.targets.cluster import attach

    target, api = attach(context, os.fspath(kubeconfig) if kubeconfig else None, kubectl=kubectl, helm=helm)
    return Connected(target, api, detect_cni(api))
