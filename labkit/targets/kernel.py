"""What this host's kernel offers the lab: IPVS and ESP for Swarm, iSCSI for Longhorn, br_netfilter for Flannel."""

from __future__ import annotations

import gzip
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit import docker


# --- what this kernel can do -------------------------------------------------------------------------------

@dataclass(frozen=True)
class KernelFeatures:
    """Which Swarm data-plane features the daemon's kernel has; ``None`` means we could not tell."""

    ipvs: bool | None
    esp: bool | None
    basis: str  # how it was decided, for the chapter to show

    @property
    def endpoint_mode(self) -> str:
        """``vip`` needs IPVS; ``dnsrr`` works on every kernel, so it is the choice when unsure."""
        return "vip" if self.ipvs else "dnsrr"

    @property
    def publish_mode(self) -> str:
        """The ingress routing mesh needs IPVS; ``host`` ports work everywhere."""
        return "ingress" if self.ipvs else "host"

    @property
    def encrypted_overlay(self) -> bool:
        return bool(self.esp)

    def explain(self) -> str:
        def word(v: bool | None) -> str:
            return "present" if v else ("absent" if v is False else "unknown")
        lines = [f"IPVS: {word(self.ipvs)}; ESP (IPsec): {word(self.esp)} ({self.basis}).",
                 f"Services use --endpoint-mode {self.endpoint_mode} and ports publish with mode={self.publish_mode}."]
        if not self.ipvs:
            lines.append("A full kernel (CONFIG_IP_VS) adds a virtual IP per service that load-balances across its "
                         "tasks (the default --endpoint-mode vip) and the ingress routing mesh: a published port "
                         "answers on every node and reaches any task. Here clients resolve tasks by DNS instead, "
                         "and a port answers only on nodes that run a task.")
        if not self.esp:
            lines.append("A full kernel (CONFIG_INET_ESP) adds encrypted overlays (--opt encrypted: IPsec between "
                         "nodes); here overlay traffic between nodes is plain VXLAN.")
        return "\n".join(lines)


def kernel_features(*, root: str | os.PathLike[str] = "/", release: str | None = None) -> KernelFeatures:
    """Decide IPVS and ESP from ``/proc/config.gz`` if the kernel exposes it, else by probing.

    ``y`` counts as present; ``m`` counts as present when the module is loaded or its ``.ko``
    file is installed (the kernel loads it on first use). Without a config, IPVS is present
    when ``/proc/net/ip_vs`` or ``/sys/module/ip_vs`` exists or the module file is installed, and
    ESP when ``esp4`` is loaded or installed; otherwise it is absent if the module tree is readable
    (nothing to load) and unknown if not. ``root`` lets tests point at a fake tree.
    """
    base = Path(root)
    release = release or platform.release()
    modules = base / "lib" / "modules" / release

    def module(name: str) -> bool:
        return (base / "sys" / "module" / name).exists() or any(modules.rglob(f"{name}.ko*"))

    config = base / "proc" / "config.gz"
    if config.is_file():
        values = _config_values(config, ("CONFIG_IP_VS", "CONFIG_INET_ESP"))

        def decide(key: str, mod: str) -> bool:
            v = values.get(key)
            return v == "y" or (v == "m" and module(mod))
        return KernelFeatures(decide("CONFIG_IP_VS", "ip_vs"), decide("CONFIG_INET_ESP", "esp4"),
                              f"read from /proc/config.gz of kernel {release}")
    tree = modules.is_dir()
    ipvs = (base / "proc" / "net" / "ip_vs").exists() or module("ip_vs")
    esp = module("esp4")
    return KernelFeatures(ipvs if ipvs or tree else None, esp if esp or tree else None,
                          f"probed /proc/net/ip_vs, /sys/module and /lib/modules/{release} (no /proc/config.gz)")


def _config_values(path: Path, keys: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            key, sep, value = line.strip().partition("=")
            if sep and key in keys:
                out[key] = value
    return out


def daemon_kernel_features() -> KernelFeatures:
    """:func:`kernel_features` of the kernel the Docker daemon runs on (and its containers, and DinD nodes).

    Without a reachable daemon (Binder, replay) this machine's own kernel is read, and the basis says so."""
    if not docker.available():
        found = kernel_features()
        return KernelFeatures(found.ipvs, found.esp, f"no Docker daemon answers: {found.basis} (this machine's own "
                                                     "kernel; a daemon elsewhere may differ)")
    theirs = str(docker.info().get("KernelVersion", ""))
    if theirs and theirs != platform.release():
        return KernelFeatures(None, None, f"the Docker daemon runs kernel {theirs}, not this one: its features "
                                          "cannot be read from here, so labkit uses the modes that work everywhere")
    return kernel_features()


# --- what kind nodes inherit from this kernel (they share it) ----------------------------------------------

BR_NETFILTER_PATH = "/proc/sys/net/bridge/bridge-nf-call-iptables"
BR_NETFILTER_FIX = ("sudo modprobe br_netfilter (to keep it after a reboot: echo br_netfilter | sudo tee "
                    "/etc/modules-load.d/br_netfilter.conf)")


def br_netfilter_support(*, root: str | os.PathLike[str] = "/") -> tuple[bool | None, str]:
    """Is ``br_netfilter`` loaded (its sysctl exists)? flanneld exits without it. ``None``: cannot tell from
    here (not Linux: Docker Desktop's VM kernel decides; the Flannel plan checks inside a node instead)."""
    if platform.system() != "Linux":
        return None, f"{platform.system()}: the Docker VM's kernel decides (checked inside a node after creation)"
    path = Path(root) / BR_NETFILTER_PATH.lstrip("/")
    if path.exists():
        return True, f"{BR_NETFILTER_PATH} exists (br_netfilter loaded)"
    return False, f"{BR_NETFILTER_PATH} is missing: br_netfilter is not loaded"


def iscsi_support() -> tuple[bool, str]:
    """Does the host kernel offer iSCSI to kind nodes (they share it)? Linux only. Necessary for Longhorn,
    not sufficient: whether iscsid works inside a node is probed after the nodes exist (the install plan)."""
    if platform.system() != "Linux":
        return False, f"{platform.system()}: Docker Desktop's VM kernel is not known to carry iscsi_tcp"
    if Path("/sys/module/iscsi_tcp").exists():
        return True, "iscsi_tcp loaded"
    release = platform.release()
    mods = Path("/lib/modules") / release
    if mods.is_dir() and any(mods.rglob("iscsi_tcp.ko*")):
        return True, f"iscsi_tcp available as a module for {release} (loaded on first use)"
    return False, f"kernel {release} has no iscsi_tcp (not loaded, no module under {mods})"
