"""The *cluster* target: any kubeconfig context, attached read-only (the kubeconfig is never written).

The client and every kubectl/helm argv use the same file and context (:mod:`labkit.kubeconfig`), so what
labkit reads through the API and what a learner types act on the same cluster. Verifying and
benchmarking such a cluster: :func:`labkit.components.connect.connect`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.targets.kube import KubeTarget

if TYPE_CHECKING:
    from labkit.k8s import Cluster


def attach(context: str | None = None, kubeconfig: str | None = None, *, kubectl: str = "kubectl",
           helm: str = "helm") -> tuple[KubeTarget, Cluster]:
    """The kubectl/helm spelling and a probed API client for ``context`` (default: the current one)."""
    from labkit import k8s

    target = KubeTarget.for_context(context, kubeconfig, kubectl=kubectl, helm=helm)
    return target, k8s.connect(context=target.context, kubeconfig=target.kubeconfig)
