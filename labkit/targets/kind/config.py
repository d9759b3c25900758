"""Cluster configuration: a frozen dataclass that renders kind's ``v1alpha4`` YAML.

>>> cfg = ClusterConfig(name="labkit", workers=2, disable_default_cni=True, pod_subnet="192.168.0.0/16")
>>> print(cfg.to_yaml())                                           # doctest: +SKIP

Every value is checked when the config is made (a bad one raises :class:`BadInput`
naming what is allowed), so a config that exists renders to YAML kind accepts.
kubeadm patches are written in the kubeadm API the chosen Kubernetes expects:
kind v0.32 generates ``kubeadm.k8s.io/v1beta4`` (``extraArgs`` as a name/value list)
for Kubernetes >= 1.36 and ``v1beta3`` (a map) below that.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.errors import BadInput
from labkit.versions import environments_dir, pins

ROLES = ("control-plane", "worker")
PROXY_MODES = ("iptables", "nftables", "ipvs", "none")
PROPAGATION = ("None", "HostToContainer", "Bidirectional")
REGISTRY_NAME = "kind-registry"
REGISTRY_PORT = 5001
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int
    listen_address: str = "127.0.0.1"
    protocol: str = "TCP"

    def render(self) -> dict[str, Any]:
        return {"containerPort": self.container_port, "hostPort": self.host_port,
                "listenAddress": self.listen_address, "protocol": self.protocol}


@dataclass(frozen=True)
class Mount:
    host_path: str
    container_path: str
    read_only: bool = False
    propagation: str = "None"

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hostPath": self.host_path, "containerPath": self.container_path}
        if self.read_only:
            out["readOnly"] = True
        if self.propagation != "None":
            out["propagation"] = self.propagation
        return out


@dataclass(frozen=True)
class NodeImage:
    """A pinned ``kindest/node`` image and the oldest kind that supports it (``tools.kind.node_images``)."""

    kubernetes: str  # minor, e.g. "1.36"
    ref: str  # kindest/node:v1.36.1@sha256:…
    min_kind: str  # e.g. "0.32.0"
    why: str  # why older kind releases do not do
    source: str  # upstream, pinned to a tag

    @property
    def tag(self) -> str:
        """The reference without its digest, for people: ``kindest/node:v1.36.1``."""
        return self.ref.split("@", 1)[0]


def node_images() -> dict[str, NodeImage]:
    """Every pinned node image, by Kubernetes minor."""
    table = pins()["tools"]["kind"]["node_images"]
    return {str(minor): NodeImage(str(minor), str(e["image"]), str(e["min_kind"]), str(e.get("why", "")),
                                  str(e.get("source", ""))) for minor, e in table.items()}


def node_image_pin(kubernetes: str | None = None) -> NodeImage:
    """The pinned node image for a Kubernetes minor (None: the pinned default), with its kind minimum."""
    minor = kubernetes or str(pins()["tools"]["kind"]["default_kubernetes"])
    images = node_images()
    if minor not in images:
        raise BadInput("Kubernetes version", minor, ", ".join(images),
                       fix="pin its node image (with digest and min_kind) under tools.kind.node_images in "
                       "environments/versions.yaml")
    return images[minor]


def node_image(kubernetes: str | None = None) -> str:
    """The node image reference pinned (by digest) for a Kubernetes minor in versions.yaml."""
    return node_image_pin(kubernetes).ref


def min_kind(cfg: ClusterConfig | None = None) -> str:
    """The oldest kind that can make ``cfg`` (default: the default config): its node image decides."""
    return node_image_pin(cfg.kubernetes if cfg is not None else None).min_kind


def kubernetes_version(image: str) -> tuple[int, int]:
    match = re.search(r":v(\d+)\.(\d+)", image)
    if not match:
        raise BadInput("node image", image, "kindest/node:vMAJOR.MINOR.PATCH[@sha256:…]")
    return int(match.group(1)), int(match.group(2))


def _check_subnet(what: str, value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value)
    except ValueError:
        raise BadInput(what, value, "an IPv4 CIDR such as 10.244.0.0/16", fix=f"e.g. {what}='10.244.0.0/16'") from None


@dataclass(frozen=True)
class ClusterConfig:
    """What a lab cluster looks like; ``to_yaml()`` gives the kind config."""

    name: str = "labkit"
    kubernetes: str | None = None  # minor, e.g. "1.36"; None = the pinned default
    control_planes: int = 1
    workers: int = 2
    disable_default_cni: bool = False
    pod_subnet: str = "10.244.0.0/16"
    service_subnet: str = "10.96.0.0/16"
    kube_proxy_mode: str = "iptables"
    port_mappings: tuple[PortMapping, ...] = ()
    mounts: tuple[Mount, ...] = ()
    registry: bool = True  # wire the local registry at creation (localhost:5001 -> kind-registry:5000);
    # node images from kind v0.27 on read /etc/containerd/certs.d, so no containerd config patch is needed
    # (kind v0.32.0 site/static/examples/kind-with-registry.sh: "not necessary with images from kind v0.27.0+")
    metrics_bind_all: bool = False  # control-plane metrics on 0.0.0.0 (kube-prometheus-stack)
    node_labels: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    fail_cgroup_v1: bool = True  # False: let Kubernetes >= 1.35's kubelet start on a cgroup v1 host (deprecated)

    def __post_init__(self) -> None:
        if not self.name.startswith("labkit") or not _NAME.match(self.name) or len(self.name) > 40:
            raise BadInput("cluster name", self.name, "lower-case letters, digits and '-', starting with 'labkit' "
                           "(so `labkit clean` can find it), at most 40 characters", fix="e.g. name='labkit-calico'")
        if not 1 <= self.control_planes <= 3 or not 0 <= self.workers <= 8:
            raise BadInput("node count", (self.control_planes, self.workers),
                           "1-3 control planes and 0-8 workers (one machine)")
        if self.kube_proxy_mode not in PROXY_MODES:
            raise BadInput("kubeProxyMode", self.kube_proxy_mode, ", ".join(PROXY_MODES))
        pods = _check_subnet("pod_subnet", self.pod_subnet)
        svcs = _check_subnet("service_subnet", self.service_subnet)
        if pods.overlaps(svcs):
            raise BadInput("subnets", (self.pod_subnet, self.service_subnet), "non-overlapping pod and service CIDRs")
        for m in self.mounts:
            if m.propagation not in PROPAGATION:
                raise BadInput("mount propagation", m.propagation, ", ".join(PROPAGATION))
        host_ports = [p.host_port for p in self.port_mappings]
        if len(set(host_ports)) != len(host_ports):
            raise BadInput("hostPort", host_ports, "each host port once")
        for p in self.port_mappings:
            ports_ok = 0 < p.container_port < 65536 and 0 < p.host_port < 65536
            if p.protocol not in ("TCP", "UDP", "SCTP") or not ports_ok:
                raise BadInput("port mapping", p, "ports 1-65535, protocol TCP, UDP or SCTP")
        self.image  # noqa: B018 - validates the Kubernetes version early

    @property
    def image(self) -> str:
        return node_image(self.kubernetes)

    @property
    def kubeadm_api(self) -> str:
        """kubeadm's config API for this Kubernetes, as kind v0.32 generates it."""
        return "kubeadm.k8s.io/v1beta4" if kubernetes_version(self.image) >= (1, 36) else "kubeadm.k8s.io/v1beta3"

    def _args(self, args: dict[str, str]) -> Any:
        if self.kubeadm_api.endswith("v1beta4"):
            return [{"name": k, "value": v} for k, v in args.items()]
        return dict(args)

    def kubeadm_patches(self) -> list[str]:
        """kubeadm config patches: metrics on 0.0.0.0 (else Down in Prometheus); kubelet on cgroup v1."""
        import yaml

        patches = []
        if not self.fail_cgroup_v1:
            kubelet = {"kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
                       "failCgroupV1": False}
            patches.append(yaml.safe_dump(kubelet, sort_keys=False))
        if not self.metrics_bind_all:
            return patches
        bind = {"bind-address": "0.0.0.0"}
        cluster = {"kind": "ClusterConfiguration", "apiVersion": self.kubeadm_api,
                   "controllerManager": {"extraArgs": self._args(bind)},
                   "scheduler": {"extraArgs": self._args(bind)},
                   "etcd": {"local": {"extraArgs": self._args({"listen-metrics-urls": "http://0.0.0.0:2381"})}}}
        patches.append(yaml.safe_dump(cluster, sort_keys=False))
        if self.kube_proxy_mode != "none":
            proxy = {"kind": "KubeProxyConfiguration", "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                     "metricsBindAddress": "0.0.0.0:10249"}
            patches.append(yaml.safe_dump(proxy, sort_keys=False))
        return patches

    def render(self) -> dict[str, Any]:
        nodes: list[dict[str, Any]] = []
        for i in range(self.control_planes + self.workers):
            node: dict[str, Any] = {"role": "control-plane" if i < self.control_planes else "worker",
                                    "image": self.image}
            if i == 0 and self.port_mappings:
                node["extraPortMappings"] = [p.render() for p in self.port_mappings]
            if self.mounts:
                node["extraMounts"] = [m.render() for m in self.mounts]
            if self.node_labels and i >= self.control_planes:
                node["labels"] = dict(self.node_labels)
            nodes.append(node)
        networking: dict[str, Any] = {"podSubnet": self.pod_subnet, "serviceSubnet": self.service_subnet,
                                      "kubeProxyMode": self.kube_proxy_mode}
        if self.disable_default_cni:
            networking["disableDefaultCNI"] = True
        cfg: dict[str, Any] = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": self.name,
                               "nodes": nodes, "networking": networking}
        if self.kubeadm_patches():
            cfg["kubeadmConfigPatches"] = self.kubeadm_patches()
        return cfg

    def node_names(self) -> list[str]:
        """kind's node container names: ``<name>-control-plane[N]``, ``<name>-worker[N]`` (N from 2)."""
        def suffix(i: int) -> str:
            return "" if i == 0 else str(i + 1)
        return ([f"{self.name}-control-plane{suffix(i)}" for i in range(self.control_planes)] +
                [f"{self.name}-worker{suffix(i)}" for i in range(self.workers)])

    def to_yaml(self) -> str:
        """The kind config; multi-line patches as readable ``|`` blocks."""
        import yaml

        class Dumper(yaml.SafeDumper):
            pass

        def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
            style = "|" if "\n" in value else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        Dumper.add_representer(str, text)
        return yaml.dump(self.render(), Dumper=Dumper, sort_keys=False)


def profile(name: str, /, **overrides: Any) -> ClusterConfig:
    """A named profile from ``environments/kind/<name>.yaml`` (keys are ClusterConfig fields)."""
    import yaml

    path = environments_dir() / "kind" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (environments_dir() / "kind").glob("*.yaml"))
        raise BadInput("kind profile", name, ", ".join(known))
    data = dict(yaml.safe_load(path.read_text()) or {})
    data.pop("description", None)
    data["port_mappings"] = tuple(PortMapping(**p) for p in data.get("port_mappings", ()))
    data["mounts"] = tuple(Mount(**m) for m in data.get("mounts", ()))
    data["node_labels"] = tuple((data.get("node_labels") or {}).items())
    return ClusterConfig(**{**data, **overrides})


def profiles() -> list[str]:
    return sorted(p.stem for p in Path(environments_dir() / "kind").glob("*.yaml"))
