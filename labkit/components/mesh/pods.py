"""An engine-tier "pod": the app container, the init step that captures its traffic, and the Envoy sidecar.

The three steps Kubernetes + Istio take for a pod, on a plain Docker engine (everything through a
:class:`~labkit.docker.Scope`, so it is labelled and removed with the scope):

1. **app** — the workload (``labkit/mesh-app``), no extra capabilities, on the mesh's bridge network. It owns
   the network namespace, so it publishes the sidecar's admin port on 127.0.0.1 (a joiner cannot publish).
2. **init** — ``mesh-iptables.sh`` in the app's namespace with ``NET_ADMIN`` and nothing else; it installs the
   REDIRECT rules, prints the nat table and exits (the only step with a capability, like ``istio-init``).
3. **sidecar** — Envoy as uid 1337 in the same namespace (``--network container:<app>``), no capabilities. Its
   agent waits until labkit has delivered the identity (CA, certificate, key: mode 0400) and the bootstrap,
   then becomes Envoy — what Istio's pilot-agent does before Envoy starts.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from labkit import docker
from labkit.components.mesh import envoy, pki
from labkit.components.mesh.spec import MeshError, SidecarFailed

PROXY_UID = 1337
APP_UID = 1000
ROLE_APP, ROLE_INIT, ROLE_SIDECAR = "mesh-app", "mesh-init", "mesh-sidecar"


@dataclass
class Pod:
    """One workload: its app container, its sidecar (None without a mesh), and how to reach them."""

    name: str  # workload name: client, server-v1, ...
    service: str
    version: str
    app: Any
    ip: str
    sidecar: Any = None
    admin_port: int | None = None
    capture: str = ""  # the nat table the init step printed

    @property
    def admin(self) -> str:
        if self.admin_port is None:
            raise MeshError(f"{self.name} has no sidecar (no admin port)")
        return f"http://127.0.0.1:{self.admin_port}"


def managed(session: str) -> list[docker.Managed]:
    """The labelled objects of ``session``. Listing races with other people's removals on a shared daemon (listed,
    then gone before it is inspected: NoSuchObject); such a listing is taken again."""
    for _ in range(5):
        try:
            return [m for m in docker.managed(include_images=False) if m.session == session]
        except docker.NoSuchObject:
            time.sleep(0.2)
    return [m for m in docker.managed(include_images=False) if m.session == session]


def images() -> tuple[str, str]:
    """(app image, sidecar image): built from versions.yaml when missing."""
    from labkit import images as lab_images

    return lab_images.ensure("mesh-app"), lab_images.ensure("mesh-envoy")


def start_app(scope: docker.Scope, image: str, *, prefix: str, name: str, service: str, version: str, network: str,
              hosts: dict[str, str], env: dict[str, str] | None = None, admin: bool = True,
              command: list[str] | None = None) -> Pod:
    """Start the app container of workload ``name``; callers' ``hosts`` map service names to IPs (/etc/hosts)."""
    kwargs: dict[str, Any] = {"environment": {"SERVICE": service, "VERSION": version, **(env or {})},
                              "extra_hosts": dict(hosts), "hostname": name}
    if admin:
        kwargs["ports"] = {f"{envoy.ADMIN_PORT}/tcp": ("127.0.0.1", None)}
    box = scope.container(image, name=f"{prefix}-{name}", role=ROLE_APP, network=network, command=command,
                          labels={"io.labkit.mesh.workload": name}, **kwargs)
    pod = Pod(name, service, version, box, docker.ip_on(box, network))
    if admin:
        pod.admin_port = int(docker.attrs(box)["NetworkSettings"]["Ports"][f"{envoy.ADMIN_PORT}/tcp"][0]["HostPort"])
    return pod


def capture_traffic(scope: docker.Scope, image: str, pod: Pod, *, timeout: float = 60) -> str:
    """The init step: REDIRECT rules in the pod's namespace (NET_ADMIN only); returns the nat table it printed."""
    box = scope.container(image, name=f"{pod.app.name}-init", role=ROLE_INIT, network_mode=f"container:{pod.app.id}",
                          cap_add=["NET_ADMIN"], user="0", entrypoint=["/usr/local/bin/mesh-iptables.sh"],
                          environment={"PROXY_UID": str(PROXY_UID), "INBOUND_PORT": str(envoy.INBOUND_PORT),
                                       "OUTBOUND_PORT": str(envoy.OUTBOUND_PORT),
                                       "EXCLUDE_INBOUND_PORTS": str(envoy.ADMIN_PORT)})
    code = docker.wait(box, timeout=timeout)
    out = docker.logs(box, tail=200)
    docker.remove_container(box)
    if code != 0:
        raise MeshError(f"the init step of {pod.name} failed (exit {code}): {out.strip()[-600:]}",
                        fix="it needs NET_ADMIN and a kernel with the nat table and the owner match (xt_owner)")
    pod.capture = out
    return out


def start_sidecar(scope: docker.Scope, image: str, pod: Pod, *, bundle: dict[str, bytes], bootstrap: dict[str, Any],
                  concurrency: int = 2, extra: dict[str, bytes] | None = None) -> Any:
    """Start Envoy beside ``pod``'s app, then deliver its identity and bootstrap (its agent waits for them)."""
    box = scope.container(image, name=f"{pod.app.name}-proxy", role=ROLE_SIDECAR,
                          network_mode=f"container:{pod.app.id}", user=str(PROXY_UID),
                          command=["--concurrency", str(concurrency), "--log-level", "warn", "--drain-time-s", "1"],
                          labels={"io.labkit.mesh.workload": pod.name})
    files = {f"certs/{k}": v for k, v in bundle.items()}
    files.update({f"dyn/{k}": v for k, v in (extra or {}).items()})
    files["boot/envoy.json"] = json.dumps(bootstrap, indent=1).encode()
    docker.put_archive(box, envoy.MESH_DIR, _stream(pki.tar(files, uid=PROXY_UID, marker="boot/.ready")))
    pod.sidecar = box
    return box


def _stream(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def admin_get(pod: Pod, path: str, *, timeout: float = 3.0, method: str = "GET") -> str:
    """An Envoy admin request (``/ready``, ``/stats?filter=…``, ``/clusters``, ``/config_dump``…) from the host."""
    req = urllib.request.Request(pod.admin + path, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
        return str(resp.read().decode())


def stats(pod: Pod, regex: str) -> dict[str, int]:
    """Counters and gauges whose name matches ``regex`` (Envoy's ``/stats?filter=``)."""
    out: dict[str, int] = {}
    for line in admin_get(pod, "/stats?filter=" + urllib.request.quote(regex)).splitlines():
        k, _, v = line.partition(": ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def envoy_error(box: Any) -> str:
    """Why Envoy stopped: its ``critical`` log line (or the agent's own message), else the last lines."""
    lines = docker.logs(box, tail=40).splitlines()
    crit = [ln.split("] ", 2)[-1] for ln in lines if "[critical]" in ln]
    agent = [ln for ln in lines if ln.startswith("mesh-agent:")]
    return (crit or agent or [" | ".join(lines[-3:]) or "no output"])[0]


def wait_ready(pod: Pod, *, timeout: float = 30.0) -> float:
    """Seconds until the sidecar's ``/ready`` says LIVE; :class:`SidecarFailed` with Envoy's reason if it exits."""
    t0 = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - t0 < timeout:
        try:
            if admin_get(pod, "/ready", timeout=1.0).strip() == "LIVE":
                return time.monotonic() - t0
        except (OSError, urllib.error.URLError) as exc:
            last = str(getattr(exc, "reason", exc))
        if not docker.is_running(pod.sidecar):
            raise SidecarFailed(pod.sidecar.name, envoy_error(pod.sidecar))
        time.sleep(0.1)
    raise SidecarFailed(pod.sidecar.name, f"/ready did not say LIVE within {timeout:g} s ({last})")


def healthy_upstreams(pod: Pod) -> dict[str, list[str]]:
    """Cluster → healthy member addresses, from the sidecar's ``/clusters``."""
    out: dict[str, list[str]] = {}
    for line in admin_get(pod, "/clusters").splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[2] == "health_flags" and parts[3] == "healthy":
            out.setdefault(parts[0], []).append(parts[1])
    return out


def wait_upstreams(pod: Pod, clusters: list[str], *, timeout: float = 20.0) -> None:
    """Until ``pod``'s sidecar knows a healthy member of every cluster (EDS from labkit-xds arrives by polling)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if all(healthy_upstreams(pod).get(c) for c in clusters):
            return
        time.sleep(0.2)
    raise MeshError(f"the sidecar of {pod.name} has no healthy member in {clusters} after {timeout:g} s "
                    f"(it has {healthy_upstreams(pod)})",
                    fix="is the server running, and did its IP reach the sidecar?")


def set_log_level(pod: Pod, logger: str, level: str) -> None:
    """Change one Envoy logger at run time (``connection=debug`` shows why a TLS handshake failed)."""
    admin_get(pod, f"/logging?{logger}={level}", method="POST")


def log_lines(box: Any, pattern: str, *, since: float | None = None, tail: int | str = 400) -> list[str]:
    """Distinct matches of ``pattern`` (group 1 if any) in the container's log (only what it wrote after the unix
    time ``since``, if given: the same refusal logged twice is two events, and set arithmetic would hide the
    second), in the order written."""
    text = docker.logs(box, tail=tail if since is None else "all", since=since)
    found = [m.group(1) if m.groups() else m.group(0) for m in re.finditer(pattern, text)]
    return list(dict.fromkeys(found))
