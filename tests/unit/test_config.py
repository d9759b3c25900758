"""ClusterConfig → kind v1alpha4: structure, kubeadm API per Kubernetes version, bad input."""

from __future__ import annotations

import pytest
import yaml

from labkit.targets.kind import config
from labkit.targets.kind.config import ClusterConfig, Mount, PortMapping
from labkit.errors import BadInput


def test_default_is_one_control_plane_two_workers_pinned_by_digest() -> None:
    cfg = yaml.safe_load(ClusterConfig().to_yaml())
    assert cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4" and cfg["kind"] == "Cluster" and cfg["name"] == "labkit"
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane", "worker", "worker"]
    assert all("@sha256:" in n["image"] and n["image"].startswith("kindest/node:v1.36.") for n in cfg["nodes"])
    assert "disableDefaultCNI" not in cfg["networking"] and "kubeadmConfigPatches" not in cfg


def test_cni_profiles_turn_the_default_cni_off_with_matching_subnets() -> None:
    calico = yaml.safe_load(config.profile("calico").to_yaml())
    assert calico["networking"]["disableDefaultCNI"] is True
    assert calico["networking"]["podSubnet"] == "192.168.0.0/16"  # Calico's default IPPool
    kpr = yaml.safe_load(config.profile("cilium-kpr").to_yaml())
    assert kpr["networking"]["kubeProxyMode"] == "none"


def test_metrics_patches_use_v1beta4_lists_for_kubernetes_1_36() -> None:
    cfg = config.profile("monitoring")
    assert cfg.kubeadm_api == "kubeadm.k8s.io/v1beta4"
    cluster = yaml.safe_load(cfg.kubeadm_patches()[0])
    assert cluster["controllerManager"]["extraArgs"] == [{"name": "bind-address", "value": "0.0.0.0"}]
    assert yaml.safe_load(cfg.kubeadm_patches()[1])["metricsBindAddress"] == "0.0.0.0:10249"


def test_metrics_patches_use_v1beta3_maps_below_1_36(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "node_image", lambda k=None: "kindest/node:v1.35.0@sha256:" + "0" * 64)
    cfg = ClusterConfig(metrics_bind_all=True, kube_proxy_mode="none")
    assert cfg.kubeadm_api == "kubeadm.k8s.io/v1beta3"
    patches = cfg.kubeadm_patches()
    assert yaml.safe_load(patches[0])["scheduler"]["extraArgs"] == {"bind-address": "0.0.0.0"}
    assert len(patches) == 1  # no kube-proxy to patch when it is replaced


def test_ports_and_mounts_render_like_kinds_docs() -> None:
    cfg = ClusterConfig(port_mappings=(PortMapping(30080, 8080),), mounts=(Mount("/tmp/x", "/data", True),))
    nodes = yaml.safe_load(cfg.to_yaml())["nodes"]
    assert nodes[0]["extraPortMappings"] == [{"containerPort": 30080, "hostPort": 8080,
                                              "listenAddress": "127.0.0.1", "protocol": "TCP"}]
    assert "extraPortMappings" not in nodes[1]
    assert all(n["extraMounts"] == [{"hostPath": "/tmp/x", "containerPath": "/data", "readOnly": True}]
               for n in nodes)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "Prod"}, "starting with 'labkit'"),
    ({"name": "kind"}, "starting with 'labkit'"),
    ({"workers": 20}, "0-8 workers"),
    ({"kube_proxy_mode": "userspace"}, "iptables, nftables, ipvs, none"),
    ({"pod_subnet": "10.96.0.0/12"}, "non-overlapping"),
    ({"pod_subnet": "10.244.0.0/33"}, "IPv4 CIDR"),
    ({"kubernetes": "1.20"}, "1.36"),
    ({"port_mappings": (PortMapping(80, 8080), PortMapping(81, 8080))}, "each host port once"),
    ({"mounts": (Mount("/a", "/b", propagation="Shared"),)}, "HostToContainer"),
])
def test_bad_config_values_are_refused_with_what_is_allowed(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(BadInput, match=match):
        ClusterConfig(**kwargs)  # type: ignore[arg-type]


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(BadInput, match="calico"):
        config.profile("weave")
    assert {"default", "no-cni", "calico", "cilium-kpr", "monitoring"} <= set(config.profiles())


def test_kubernetes_1_37_uses_its_own_pinned_image_and_v1beta4() -> None:
    cfg = config.profile("monitoring", kubernetes="1.37")
    assert cfg.image == config.node_image("1.37") and cfg.image.startswith("kindest/node:v1.37.")
    assert cfg.kubeadm_api == "kubeadm.k8s.io/v1beta4"  # kubeadm 1.37 removed v1beta3
    assert config.min_kind(cfg) == "0.33.0"


def test_no_containerd_patch_is_rendered_for_the_registry() -> None:
    # kind v0.32.0's kind-with-registry.sh: "the containerd config patch is not necessary with images from
    # kind v0.27.0+"; hosts.toml files in /etc/containerd/certs.d are read as they are.
    assert "containerdConfigPatches" not in yaml.safe_load(ClusterConfig().to_yaml())
