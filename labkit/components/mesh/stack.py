"""``labkit mesh up|down|status``: an Envoy sidecar mesh left running for the terminal.

client → server (v1 and v2) with mTLS 1.3 and labkit-xds, whose operator API is published on 127.0.0.1 (18000 by
default), so a learner can change the split with curl and watch it with the client. Unlike a chapter's cells
(removed when their scope ends), these objects stay until ``labkit mesh down`` (or ``labkit clean``): they carry
the labkit labels and the session ``mesh-stack`` but no owner process, so the reaper of dead runs leaves them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit import docker
from labkit.components.mesh import envoy
from labkit.components.mesh.mesh import Mesh
from labkit.components.mesh.spec import MeshSpec, UnknownOption
from labkit.errors import PortInUse

SESSION = "mesh-stack"
PREFIX = "lk-mesh"
PORT = envoy.XDS_PORT


class StackScope(docker.Scope):
    """A scope whose objects outlive the process: labelled and in session ``mesh-stack``, but without an owner
    (the reaper removes objects whose owner process is gone) and never removed when the block ends."""

    def __init__(self) -> None:
        super().__init__(session=SESSION, keep=True)

    def _labels(self, role: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        out = super()._labels(role, extra)
        out.pop(docker.OWNER, None)
        return out


def _objects() -> list[docker.Managed]:
    from labkit.components.mesh.pods import managed

    return managed(SESSION)


def _spec(options: Mapping[str, str] | None) -> MeshSpec:
    """A spec from ``--option KEY=VALUE`` strings (``mtls=off``, ``control=file``, ``fail_rate=0.3``)."""
    settings: dict[str, Any] = {"control": "xds", "versions": 2}
    for key, value in (options or {}).items():
        if key in ("versions", "concurrency"):
            settings[key] = int(value) if str(value).isdigit() else value
        elif key == "fail_rate":
            try:
                settings[key] = float(value)
            except ValueError as exc:
                raise UnknownOption("fail_rate", value, "a fraction from 0 to 1") from exc
        elif key == "intruder":
            settings[key] = str(value).lower() in ("1", "true", "yes")
        else:
            settings[key] = value
    return MeshSpec.of(**settings)


def up(name: str = "lab", options: Mapping[str, str] | None = None, *, port: int | None = None) -> str:
    """Start the mesh (or say that it runs); what to type next. A taken port is refused with the fix."""
    from labkit.targets.engine import port_free

    if any(m.kind == "container" for m in _objects()):
        return "the mesh is already running (labkit mesh down removes it)\n\n" + status()
    spec = _spec(options)
    port = PORT if port is None else port
    if spec.control == "xds" and not port_free(port):
        raise PortInUse(port, fix=f"choose another: --port {port + 1} (labkit-xds's operator API listens there)")
    scope = StackScope()
    try:
        m = Mesh.up(scope, spec, prefix=PREFIX, xds_port=port if spec.control == "xds" else None)
    except BaseException:
        for item in _objects():  # half-made: remove it (the scope keeps its objects, on purpose)
            docker.remove(item)
        raise
    return _usage(m, name)


def _usage(m: Mesh, name: str) -> str:
    client = m.pod("client").app.name
    lines = [f"mesh '{name}': {', '.join(m.pods)} with Envoy sidecars (mTLS {m.spec.mtls}, TLS {m.spec.tls}, "
             f"control {m.spec.control}) on network {m.network}", "",
             "call the server from the client (through both sidecars):",
             f"  docker exec {client} python3 /opt/labkit/probe.py server 8080 --path /whoami",
             "watch which version answers:",
             f"  docker exec {client} python3 /opt/labkit/splitwatch.py server 8080 3 20"]
    if m.xds_port:
        lines += ["change the traffic split / retries (labkit-xds, labkit's own control plane):",
                  f"  curl -s -XPOST 127.0.0.1:{m.xds_port}/labkit/split -d '{{\"server-v1\": 50, \"server-v2\": 50}}'",
                  f"  curl -s -XPOST 127.0.0.1:{m.xds_port}/labkit/retries -d '{{\"num_retries\": 3}}'",
                  f"  curl -s 127.0.0.1:{m.xds_port}/labkit/state"]
    lines += ["each sidecar's admin (stats, config):"]
    lines += [f"  {p.name:10} http://127.0.0.1:{p.admin_port}/stats/prometheus" for p in m.pods.values()]
    lines += ["", "stop: labkit mesh down"]
    return "\n".join(lines)


def status(name: str = "lab", options: Mapping[str, str] | None = None) -> str:
    """What of the mesh runs (containers with their state; networks)."""
    found = _objects()
    if not found:
        return "no mesh running (labkit mesh up starts one)"
    rows = []
    for item in sorted(found, key=lambda m: (m.kind, m.name)):
        state = ""
        if item.kind == "container":
            box = docker.container(item.id)
            state = docker.attrs(box).get("State", {}).get("Status", "?") if box is not None else "gone"
        rows.append(f"{item.kind:10} {item.name:40} {state}")
    return "\n".join(rows)


def down(name: str = "lab", options: Mapping[str, str] | None = None) -> str:
    """Remove every object of the mesh (containers first, then the network)."""
    order = {"container": 0, "network": 1, "volume": 2}
    found = sorted(_objects(), key=lambda m: order.get(m.kind, 3))
    for item in found:
        docker.remove(item)
    return f"removed {len(found)} objects" if found else "nothing to remove (no mesh running)"
