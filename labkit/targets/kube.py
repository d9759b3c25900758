"""Where Kubernetes steps run: a kind cluster labkit made, or any kubeconfig context.

A :class:`KubeTarget` only knows how to spell commands for its cluster: every
``kubectl``/``helm`` argv carries ``--kubeconfig`` (and ``--context`` when one was
chosen), so the user's own ``~/.kube/config`` is never read or changed by accident
and a transcript pasted into a shell does exactly what labkit did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labkit.paths import labkit_home


def kubeconfig_path(name: str) -> Path:
    """The lab's own kubeconfig for a kind cluster labkit made (kind writes it with mode 0600)."""
    return labkit_home() / "kube" / f"{name}.yaml"


@dataclass(frozen=True)
class KubeTarget:
    name: str  # the kind cluster's name, or the context's name for a cluster labkit did not make
    kubeconfig: str
    context: str | None = None  # None: the kubeconfig's current context
    kind_cluster: str | None = None  # set when the cluster is a kind cluster (enables `kind load`)
    kind: str = "kind"
    kubectl_bin: str = "kubectl"
    helm_bin: str = "helm"

    @classmethod
    def for_kind(cls, name: str, *, kind: str = "kind", kubectl: str = "kubectl", helm: str = "helm") -> KubeTarget:
        return cls(name, str(kubeconfig_path(name)), None, name, kind, kubectl, helm)

    @classmethod
    def for_context(cls, context: str | None = None, kubeconfig: str | None = None, *, kubectl: str = "kubectl",
                    helm: str = "helm") -> KubeTarget:
        """A cluster labkit did not make: the file and context :func:`labkit.kubeconfig.resolve` picks
        (a ``KUBECONFIG`` list is honoured; the file is read, never written)."""
        from labkit.kubeconfig import resolve

        where = resolve(kubeconfig, context)
        return cls(where.context, where.path, where.context, kubectl_bin=kubectl, helm_bin=helm)

    def _where(self) -> tuple[str, ...]:
        return ("--kubeconfig", self.kubeconfig) + (("--context", self.context) if self.context else ())

    def kubectl(self, *args: str) -> tuple[str, ...]:
        """``kubectl --kubeconfig … [--context …] ARGS``."""
        return (self.kubectl_bin, *self._where(), *args)

    def helm(self, *args: str) -> tuple[str, ...]:
        """``helm ARGS --kubeconfig … [--kube-context …]`` (helm spells the context flag differently)."""
        ctx = ("--kube-context", self.context) if self.context else ()
        return (self.helm_bin, *args, "--kubeconfig", self.kubeconfig, *ctx)

    @property
    def node_prefix(self) -> str:
        """kind names its node containers ``<cluster>-control-plane``, ``<cluster>-worker``, ``…-worker2``."""
        return self.kind_cluster or self.name
