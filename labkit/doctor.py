"""Prerequisite checks, each with the fix for its problem.

``checks()`` returns rows; ``render()`` prints them as a table. Only *blockers*
(``fail``) make ``labkit doctor`` exit non-zero: no Docker daemon, too old a Python.
Missing or out-of-range kind/kubectl/helm, cgroup v1, low inotify limits, no kubeconfig
or unreachable download sites are warnings, because they only close the kind (or
cluster) tier, not the lab. Each row says what was actually checked.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from labkit import tools
from labkit.errors import DockerUnavailable
from labkit.targets.engine import port_free
from labkit.targets.kind.preflight import INOTIFY_INSTANCES, INOTIFY_WATCHES, read_int as _read_int

OK, WARN, FAIL = "ok", "warn", "fail"
SYMBOL = {OK: "✓", WARN: "!", FAIL: "✗"}

MIN_MEM_GIB = 4.0
MIN_DISK_GIB = 10.0
DEFAULT_PORTS = (5001,)  # the kind local registry (localhost:5001)
PROBE_TIMEOUT = 3.0  # seconds per site; all sites are probed at once
# Image registries the kind chapters pull from (node images, Calico/Cilium, Flannel, Kubernetes images).
# Download sites (kind/kubectl/helm releases, manifests, chart repositories) come from versions.yaml.
REGISTRIES = ("https://registry-1.docker.io/v2/", "https://registry.k8s.io/v2/", "https://quay.io/v2/",
              "https://ghcr.io/v2/")
_URL_KEYS = ("url", "repo", "manifest")  # versions.yaml keys ending so hold a download URL


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def checks(*, ports: Sequence[int] = DEFAULT_PORTS, probe_privileged: bool = True,
           probe_network: bool = True) -> list[Check]:
    """Run every check; never raises. ``probe_network``: try the download sites (at most ~3.5 s, while the
    other checks run)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="doctor-sites") as pool:
        network = pool.submit(_sites) if probe_network else None
        rows = [_python()]
        docker_rows, docker_info = _docker()
        rows += docker_rows
        rows.append(_cgroup(docker_info))
        if docker_info is not None and probe_privileged:
            rows.append(_privileged())
        rows += [_inotify(), _memory(), _disk(), _br_netfilter(), _iscsi()]
        rows += [_tool(name) for name in ("kind", "kubectl", "helm")]
        rows.append(_kubeconfig())
        if network is not None:
            try:
                rows.append(network.result())
            except Exception as exc:  # noqa: BLE001 - doctor never raises; say what was not checked
                rows.append(Check("download sites", WARN, f"not probed: {type(exc).__name__}: {exc}"))
        rows += [_host_tool("fio", "the S0 host-filesystem storage baseline")]
        rows += [_port(p) for p in ports]
    return rows


def exit_code(rows: Iterable[Check]) -> int:
    return 1 if any(r.status == FAIL for r in rows) else 0


def render(rows: Sequence[Check]) -> str:
    """A plain-text table (also what notebooks print)."""
    width = max(len(r.name) for r in rows)
    lines = []
    for r in rows:
        lines.append(f"{SYMBOL[r.status]} {r.name.ljust(width)}  {r.detail}")
        if r.fix and r.status != OK:
            lines.append(f"  {' ' * width}  fix: {r.fix}")
    blockers = sum(r.status == FAIL for r in rows)
    warns = sum(r.status == WARN for r in rows)
    lines.append(f"\n{blockers} blocker(s), {warns} warning(s)")
    return "\n".join(lines)


def frame(rows: Sequence[Check]) -> object:
    """The checks as a pandas DataFrame (for notebooks)."""
    import pandas as pd

    return pd.DataFrame([r.__dict__ for r in rows])


def _python() -> Check:
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro}"
    if v < (3, 11):
        return Check("python", FAIL, text, "use Python 3.11 or newer")
    return Check("python", OK, text)


def _docker() -> tuple[list[Check], dict | None]:
    from labkit import docker

    if shutil.which("docker") is None:
        cli = Check("docker CLI", WARN, "not on PATH (labkit uses the API; the CLI is for you)",
                    tools.install_hint("docker"))
    else:
        cli = Check("docker CLI", OK, shutil.which("docker") or "")
    try:
        info = docker.info()
    except DockerUnavailable as exc:
        return [cli, Check("docker daemon", FAIL, exc.message.splitlines()[0], exc.fix or "")], None
    version = str(info.get("ServerVersion", "?"))
    minimum = str(tools.spec_docker_min())
    if tools.version_tuple(version) < tools.version_tuple(minimum):
        return [cli, Check("docker daemon", FAIL, f"server {version} < {minimum}", "upgrade Docker")], info
    detail = f"server {version}, {info.get('Driver', '?')} storage, {info.get('NCPU', '?')} CPUs"
    return [cli, Check("docker daemon", OK, detail)], info


def _cgroup(info: dict | None) -> Check:
    version = str(info.get("CgroupVersion", "")) if info else ""
    if not version:
        version = "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"
    if version == "1":
        return Check("cgroup", WARN, "cgroup v1: kind with Kubernetes >= 1.35 will not start (kubelet "
                     "refuses cgroup v1 unless failCgroupV1: false)",
                     "boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2); the engine chapters work as is")
    return Check("cgroup", OK, f"cgroup v{version}")


def _privileged() -> Check:
    from labkit import docker
    from labkit.versions import base_image

    if not docker.image_exists(base_image()):
        return Check("privileged containers", WARN, f"not probed ({base_image()} missing)",
                     "run `labkit images build` first")
    box = None
    try:
        box = docker.create(base_image(), ["true"], role="doctor-probe", privileged=True)
        docker.start(box)
        docker.wait(box, timeout=30)
    except Exception as exc:  # noqa: BLE001 - any failure means "not allowed here"
        reason = str(getattr(exc, "explanation", None) or exc).splitlines()[0]
        reason = reason.split("unable to start container process: ")[-1][:160]
        return Check("privileged containers", WARN, f"refused: {reason}",
                     "kind nodes need --privileged; use a host where it works (the engine chapters do not need it)")
    finally:
        if box is not None:
            docker.remove_container(box)
    return Check("privileged containers", OK, "allowed (kind nodes can run)")


def _inotify() -> Check:
    watches = _read_int("/proc/sys/fs/inotify/max_user_watches")
    instances = _read_int("/proc/sys/fs/inotify/max_user_instances")
    if watches is None or instances is None:
        return Check("inotify", OK, "not Linux: not applicable")
    detail = f"max_user_watches={watches}, max_user_instances={instances}"
    if watches < INOTIFY_WATCHES or instances < INOTIFY_INSTANCES:
        return Check("inotify", WARN, detail + " (multi-node kind and log tailers hit 'too many open files')",
                     f"sudo sysctl fs.inotify.max_user_watches={INOTIFY_WATCHES} "
                     f"fs.inotify.max_user_instances={INOTIFY_INSTANCES}")
    return Check("inotify", OK, detail)


def _memory() -> Check:
    try:
        meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        avail = int(meminfo["MemAvailable"].split()[0]) / 1024**2
    except (OSError, KeyError, ValueError):
        return Check("memory", OK, f"not read on {platform.system()}")
    if avail < MIN_MEM_GIB:
        return Check("memory", WARN, f"{avail:.1f} GiB available", f"free memory: a multi-node kind cluster wants "
                     f"{MIN_MEM_GIB:g}+ GiB (Istio 8 GiB)")
    return Check("memory", OK, f"{avail:.1f} GiB available")


def _disk() -> Check:
    from labkit.paths import labkit_home

    path = labkit_home()
    probe = path if path.exists() else Path.home()
    free = shutil.disk_usage(probe).free / 1024**3
    if free < MIN_DISK_GIB:
        return Check("disk", WARN, f"{free:.1f} GiB free at {probe}", "free space: images and kind nodes need "
                     f"{MIN_DISK_GIB:g}+ GiB (`docker system prune`)")
    return Check("disk", OK, f"{free:.1f} GiB free at {probe}")


def _br_netfilter() -> Check:
    from labkit.targets.kernel import BR_NETFILTER_FIX, br_netfilter_support

    ok, why = br_netfilter_support()
    if ok is not False:  # loaded, or not Linux (then the Flannel plan checks inside a node)
        return Check("br_netfilter (Flannel)", OK, why)
    return Check("br_netfilter (Flannel)", WARN, why + "; flanneld exits at start without it (the other CNIs do "
                 "not need it; Docker >= 27.3 no longer loads it)", BR_NETFILTER_FIX)


def _iscsi() -> Check:
    from labkit.targets.kernel import iscsi_support

    ok, why = iscsi_support()
    if ok:
        return Check("iSCSI (Longhorn)", OK, why + "; whether iscsid runs inside kind nodes is checked by `up` "
                     "after they exist")
    return Check("iSCSI (Longhorn)", WARN, why + "; Longhorn on kind needs it (the other storage options do not)",
                 "a Linux kernel with iscsi_tcp (`sudo modprobe iscsi_tcp`)")


def _tool(name: str) -> Check:
    """The tool, held to the gate the pins imply for the default kind cluster (kubectl: its skew window)."""
    info = tools.find(name)
    if info.ok:
        pin = f"pinned {info.pinned}; " if info.pinned else ""
        allowed = f"{pin}accepts {info.need.allowed}" if info.need else pin.rstrip("; ")
        return Check(name, OK, f"{info.version} at {info.path}" + (f" ({allowed})" if allowed else ""))
    where = f"; found at {info.path}" if info.path else ""
    return Check(name, WARN, f"{info.problem}{where}; the kind chapters need it", info.fix or "")


def _kubeconfig() -> Check:
    """Whether a kubeconfig exists for the ``cluster`` target: the file is read, the cluster is not contacted."""
    from labkit import kubeconfig
    from labkit.errors import BadInput

    spec = kubeconfig.default_spec()
    files = [p for p in spec.split(os.pathsep) if p and Path(p).expanduser().is_file()]
    origin = "$KUBECONFIG" if os.environ.get("KUBECONFIG") else "KUBECONFIG unset"
    if not files:
        return Check("kubeconfig", WARN, f"none ({spec} does not exist; {origin}): the cluster target needs one "
                     "(labkit's own kind clusters keep their own)",
                     "only for a cluster labkit did not make: point KUBECONFIG at its kubeconfig")
    try:
        found = kubeconfig.resolve()
    except BadInput as exc:
        return Check("kubeconfig", WARN, exc.message, exc.fix or "")
    return Check("kubeconfig", OK, f"{found.path}: current context {found.context} (file read; the cluster was "
                 "not contacted)")


def sites() -> dict[str, str]:
    """HTTPS endpoints the kind chapters need, with what each serves: the image registries, and the hosts
    of the download URLs pinned in versions.yaml (tool releases, manifests, chart repositories)."""
    from labkit.versions import pins

    out = dict.fromkeys(REGISTRIES, "images")

    def walk(node: dict, what: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, what)
            elif isinstance(value, str) and str(key).endswith(_URL_KEYS) and value.startswith("https://"):
                root = f"https://{urlsplit(value).netloc}/"
                if what not in out.setdefault(root, what):
                    out[root] += f", {what}"

    for name, spec in pins()["tools"].items():
        walk(spec, f"{name} releases")
    walk(pins().get("components") or {}, "manifests and charts")
    return out


def _sites(timeout: float = PROBE_TIMEOUT) -> Check:
    """Can this machine reach the registries and download sites? All at once, ``timeout`` s each."""
    from labkit import downloads

    wanted = sites()
    mirror = os.environ.get(downloads.MIRROR_ENV)
    if mirror:
        wanted[mirror.rstrip("/") + "/"] = f"{downloads.MIRROR_ENV}"
    answers = downloads.probe_all(wanted, timeout=timeout)
    down = {url: why for url, why in answers.items() if why is not None}
    host = {url: urlsplit(url).netloc for url in wanted}
    if not down:
        return Check("download sites", OK, f"all {len(wanted)} answer over HTTPS: " + ", ".join(host.values()))
    by_reason: dict[str, list[str]] = {}
    for url, why in down.items():
        by_reason.setdefault(why, []).append(f"{host[url]} [{wanted[url]}]")
    lost = "; ".join(f"{why}: {', '.join(names)}" for why, names in by_reason.items())
    return Check("download sites", WARN, f"{len(down)} of {len(wanted)} unreachable from here ({lost}); the kind "
                 "chapters pull images and download tools, manifests and charts from them",
                 f"allow HTTPS to them, or use a registry mirror for the images and {downloads.MIRROR_ENV} for "
                 "kind/kubectl/helm")


def _host_tool(name: str, why: str) -> Check:
    path = shutil.which(name)
    if path:
        return Check(f"host {name}", OK, path)
    return Check(f"host {name}", WARN, f"not found; needed for {why}", f"apt-get install {name}")


def _port(port: int) -> Check:
    if port_free(port):
        return Check(f"port {port}", OK, "free")
    return Check(f"port {port}", WARN, "in use", f"stop what listens on {port} (`ss -ltnp 'sport = :{port}'`)")


__all__ = ["Check", "checks", "render", "exit_code", "port_free"]
