"""Before a kind cluster is made: refuse hosts that cannot run it, and find the CLIs the plan needs.

Every refusal names the value, what is needed and the fix, and happens before anything exists.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labkit.errors import DockerUnavailable, LabkitError, PortInUse, ToolMissing, Unavailable
from labkit.targets.kind.config import ClusterConfig, kubernetes_version

INOTIFY_WATCHES = 524288  # kind's known-issues page: fs.inotify.max_user_watches
INOTIFY_INSTANCES = 512  # and fs.inotify.max_user_instances


def read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def inotify_limits() -> tuple[int | None, int | None]:
    return (read_int("/proc/sys/fs/inotify/max_user_watches"), read_int("/proc/sys/fs/inotify/max_user_instances"))


def mem_available_gib() -> float | None:
    """MemAvailable from /proc/meminfo in GiB (None where there is none: macOS)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024**2
    except (OSError, ValueError):
        return None
    return None


def gates(cfg: ClusterConfig, *, docker_info: dict[str, Any] | None = None, meminfo_gib: float | None = None,
          inotify: tuple[int | None, int | None] | None = None) -> None:
    """Refuse to create a cluster this host cannot run, before anything is made (doctor's blockers for kind)."""
    if docker_info is None:
        from labkit import docker

        try:
            docker_info = docker.info()
        except LabkitError as exc:
            raise DockerUnavailable(f"Docker is not answering: {exc.message}",
                                    fix="start Docker, then run this again") from exc
    cgroup = str(docker_info.get("CgroupVersion", "2"))
    if cgroup == "1" and cfg.fail_cgroup_v1 and kubernetes_version(cfg.image) >= (1, 35):
        raise Unavailable(f"this host runs cgroup v1, and the kubelet of Kubernetes "
                          f"{'.'.join(map(str, kubernetes_version(cfg.image)))} refuses to start on cgroup v1 "
                          "(kind only warns, then times out)",
                          fix="use a cgroup v2 host (boot with systemd.unified_cgroup_hierarchy=1), or pass "
                              "--allow-cgroup-v1 (sets the kubelet's failCgroupV1: false; deprecated upstream)")
    watches, instances = inotify if inotify is not None else inotify_limits()
    nodes = cfg.control_planes + cfg.workers
    if instances is not None and watches is not None and nodes > 1 and (
            instances < INOTIFY_INSTANCES or watches < INOTIFY_WATCHES):
        raise Unavailable(f"inotify limits too low for a {nodes}-node cluster (max_user_watches={watches}, "
                          f"max_user_instances={instances}): kubelets fail with 'too many open files'",
                          fix=f"sudo sysctl fs.inotify.max_user_watches={INOTIFY_WATCHES} "
                              f"fs.inotify.max_user_instances={INOTIFY_INSTANCES}")
    need = 1.5 + 0.75 * nodes  # GiB: a control plane ~1.5, each extra node and the workloads ~0.75 (an estimate)
    if meminfo_gib is None:
        meminfo_gib = mem_available_gib()
    if meminfo_gib is not None and meminfo_gib < need:
        raise Unavailable(f"{meminfo_gib:.1f} GiB memory available; a {nodes}-node cluster wants about {need:.1f} GiB",
                          fix="close other workloads, give Docker Desktop more memory, or use --workers 1")


def resolve_tools(extra: Iterable[str] = (), host: Iterable[str] = ("docker",), *,
                  cfg: ClusterConfig | None = None) -> dict[str, str]:
    """Paths of kind, kubectl and the ``extra`` CLIs (helm), each held to the gate the pins imply for
    ``cfg`` (default: the pinned default cluster): kind ≥ the node image's ``min_kind``, kubectl in the
    skew window of its Kubernetes, helm ≥ its minimum. Missing or outside → :class:`ToolMissing` naming
    the version needed, why, and the fix; before anything is created.

    ``host`` names plain commands the plan runs on this machine (docker, curl, …), which only need to exist."""
    from labkit import tools

    minor = cfg.kubernetes if cfg is not None else None
    found = {"kind": tools.require("kind", need=tools.need_for("kind", kubernetes=minor)),
             "kubectl": tools.require("kubectl", need=tools.need_for("kubectl", kubernetes=minor)),
             "helm": "helm"}
    for name in extra:
        found[name] = tools.require(name, need=tools.need_for(name, kubernetes=minor))
    for cli in host:
        if shutil.which(cli) is None:
            raise ToolMissing(cli, "not found on PATH", fix=f"install {cli}")
    return found


def registry_port_ok() -> None:
    """The local registry's host port is free, or already held by the registry itself."""
    from labkit import docker
    from labkit.targets.engine import port_free
    from labkit.targets.kind.plans import registry_pin

    name, port = str(registry_pin()["name"]), int(registry_pin()["host_port"])
    box = docker.container(name)
    running = box is not None and box.status == "running"
    if not running and not port_free(port):
        raise PortInUse(port, fix=f"stop what listens on {port} (`ss -ltnp 'sport = :{port}'`), or pass "
                                  "--no-registry")
