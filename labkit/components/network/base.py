"""What every CNI option shares: the NetworkOption base class and the steps each install ends with.

Kept apart from :mod:`labkit.components.network.options` (the registry of options), so the option modules
(calico, cilium, flannel) import this and the registry imports them, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit.components.base import Option
from labkit.components.kube import nodes_ready_step, rollout_step as _rollout
from labkit.components.network import verify as verify_net
from labkit.errors import BadInput
from labkit.steps import Plan, Step
from labkit.targets.kind import sources as src
from labkit.targets.kind.config import ClusterConfig, node_image_pin
from labkit.targets.kube import KubeTarget

TIMEOUT = 300.0


def _pins(name: str) -> dict[str, Any]:
    from labkit.components.base import pin

    return pin("network", name)


def _nodes_ready(target: KubeTarget, timeout: float, cfg: ClusterConfig | None = None) -> list[Step]:
    """Every node Ready, then CoreDNS serving: the verify's DNS steps need both once a CNI is up."""
    kubernetes = cfg.kubernetes if cfg is not None else None
    return [nodes_ready_step(target, timeout, source=src.k8s_source(src.KUBECTL_WAIT, kubernetes)),
            _rollout(target, "kube-system", "deployment/coredns", timeout, "Wait for CoreDNS",
                     source=src.k8s_source(src.COREDNS_MANIFEST, kubernetes),
                     why="CoreDNS pods stay Pending or unready until the pod network works; the verify's first "
                         "checks are DNS lookups")]


def tested_note(option: str, cfg: ClusterConfig) -> str:
    """"" when the cluster's Kubernetes minor is one upstream lists as tested for ``option``, else a warning."""
    tested = [str(m) for m in _pins(option).get("tested_kubernetes") or ()]
    minor = node_image_pin(cfg.kubernetes).kubernetes
    if not tested or minor in tested:
        return ""
    return (f" Note: upstream tests this release on Kubernetes {', '.join(tested)}, not {minor} "
            f"({_pins(option).get('tested_source', '')}); it may work, untested.")


@dataclass(frozen=True)
class NetworkOption(Option):
    component = "network"
    enforces_policy: bool = True
    installed_with: str = ""
    between_nodes: str = ""

    # -- what the cluster must look like ------------------------------------------------------------
    def config_needs(self) -> dict[str, Any]:
        return {"disable_default_cni": True}

    def check_config(self, cfg: ClusterConfig) -> None:
        """Raise :class:`BadInput` when ``cfg`` conflicts with this CNI, naming the fix."""
        for key, want in self.config_needs().items():
            have = getattr(cfg, key)
            if have != want:
                raise BadInput(f"kind config {key} for {self.name}", have, repr(want),
                               fix=f"use profile('{self.profile}') or ClusterConfig(..., {key}={want!r}); "
                               f"`labkit up --cni {self.name}` does this for you")

    @property
    def profile(self) -> str:
        return self.name if self.name != "kindnet" else "default"

    def cluster_config(self, **overrides: Any) -> ClusterConfig:
        """A cluster config that suits this CNI (its kind profile + the needs + ``overrides``)."""
        from labkit.targets.kind.config import profile

        cfg = profile(self.profile, **{**self.config_needs(), **overrides})
        self.check_config(cfg)
        return cfg

    # -- plans -------------------------------------------------------------------------------------
    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None,
               cross_node: bool | None = None) -> Plan:
        if cross_node is None:
            cross_node = cfg is None or cfg.control_planes + cfg.workers >= 2
        return verify_net.plan(target, image=image, enforces_policy=self.enforces_policy, cni=self.name,
                               cross_node=cross_node, kubernetes=cfg.kubernetes if cfg is not None else None)

    def datapath(self, cfg: ClusterConfig | None = None) -> Any:
        """How a packet crosses this CNI (:class:`labkit.components.network.datapath.Datapath`), with sources."""
        from labkit.components.network import datapath

        if self.name not in datapath.FACTS:
            raise BadInput("CNI with a datapath", self.name, ", ".join(datapath.FACTS))
        return datapath.FACTS[self.name](self, cfg)

    def row(self) -> dict[str, Any]:
        needs = ", ".join(f"{k}={v}" for k, v in self.config_needs().items()) or "-"
        return {"option": self.name, "version": self.version, "installed with": self.installed_with,
                "between nodes": self.between_nodes,
                "NetworkPolicy": "enforced" if self.enforces_policy else "NOT enforced", "kind config needs": needs}
