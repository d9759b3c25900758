"""labkit-xds: labkit's OWN small xDS server (not Istio's istiod, not Envoy's go-control-plane).

It speaks Envoy's REST-JSON xDS (``api_type: REST``, transport v3): every ``refresh_delay`` each sidecar POSTs a
DiscoveryRequest to ``/v3/discovery:clusters``, ``:endpoints`` and ``:routes`` and gets a DiscoveryResponse with
the full current state; Envoy applies a response whose ``version_info`` is new. An operator (labkit) changes the
state over HTTP — the part of a control plane a learner can read in one sitting:

====================================  ==========================================================
``POST /labkit/split``                ``{"server-v1": 50, "server-v2": 50}``: the traffic split
``POST /labkit/retries``              ``{"num_retries": 3}``: retry on 5xx / reset / connect failure (0: off)
``POST /labkit/endpoints``            ``{"server-v1": ["172.18.0.3"]}``: the registry (labkit knows the IPs,
                                      as the Kubernetes API is istiod's registry)
``GET  /labkit/state``                version, split, retries, registry, requests served per type
====================================  ==========================================================

Why REST and not gRPC ADS: standard library only (no grpcio/protobuf), JSON a learner can read; the cost is
polling, so a change lands within ``refresh_delay`` (1 s) instead of being pushed.

Runs inside a container of the mesh-app image: ``python3 /opt/labkit-mesh/xds_server.py`` with this folder
mounted read-only (environment: XDS_PORT, XDS_SPLIT, XDS_MTLS, XDS_TLS, XDS_HOST).
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    from labkit.components.mesh import envoy, identity
except ImportError:  # inside the labkit-xds container: this folder is mounted at /opt/labkit-mesh
    import envoy  # type: ignore[no-redef]
    import identity  # type: ignore[no-redef]

KINDS = {"clusters": envoy.CLUSTER_TYPE, "endpoints": envoy.CLA_TYPE, "routes": envoy.ROUTE_TYPE}


@dataclass
class XdsState:
    """What labkit-xds serves; every change by an operator bumps ``version``."""

    split: dict[str, int] = field(default_factory=lambda: {"server-v1": 100})
    retries: int = 0
    mtls: bool = True
    tls: str = "1.3"
    host: str = "server"
    app_port: int = envoy.APP_PORT
    version: int = 1
    registry: dict[str, list[str]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        return {"version": self.version, "split": dict(self.split), "retries": self.retries,
                "registry": {k: list(v) for k, v in self.registry.items()}, "requests": dict(self.requests)}


def resources(state: XdsState, kind: str, names: list[str]) -> list[dict[str, Any]]:
    """The current resources of one type (``clusters``, ``endpoints``, ``routes``)."""
    server_id = identity.spiffe_id(state.host)
    if kind == "clusters":
        return [envoy.upstream_cluster(n, server_id=server_id, mtls=state.mtls, eds=envoy.rest_source(),
                                       port=state.app_port, tls=state.tls) for n in state.split]
    if kind == "endpoints":
        return [{"cluster_name": n, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": ip, "port_value": state.app_port}}}}
            for ip in state.registry.get(n, [])]}]} for n in (names or list(state.split))]
    return [envoy.route_config(state.host, state.split, retries=state.retries, port=state.app_port)]


def respond(state: XdsState, kind: str, request: dict[str, Any]) -> dict[str, Any]:
    """A DiscoveryResponse for ``kind``. Endpoints are versioned by content (they change without an operator)."""
    with state.lock:
        state.requests[kind] = state.requests.get(kind, 0) + 1
        res = resources(state, kind, list(request.get("resource_names") or []))
        version = str(state.version)
        if kind == "endpoints":
            version += f"-{zlib.crc32(json.dumps(res, sort_keys=True).encode()):08x}"
        return envoy.discovery_response(version, KINDS[kind], res)


def change(state: XdsState, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    """Apply an operator's POST; (HTTP status, reply). Bad input is refused with what is allowed."""
    if not isinstance(body, dict):
        return 400, {"error": "the body must be a JSON object"}
    with state.lock:
        if path == "/labkit/split":
            if not body or any(not isinstance(w, int) or isinstance(w, bool) or w < 0 for w in body.values()) \
                    or sum(body.values()) == 0:
                return 400, {"error": "split must map cluster names to non-negative integer weights, not all 0"}
            state.split = {str(k): int(v) for k, v in body.items()}
        elif path == "/labkit/retries":
            n = body.get("num_retries")
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10:
                return 400, {"error": "num_retries must be a whole number from 0 to 10"}
            state.retries = n
        elif path == "/labkit/endpoints":
            if any(not isinstance(v, list) for v in body.values()):
                return 400, {"error": "endpoints must map cluster names to lists of IPs"}
            state.registry.update({str(k): [str(ip) for ip in v] for k, v in body.items()})
            return 200, state.snapshot()  # content-versioned: no bump needed
        else:
            return 404, {"error": f"unknown path {path}: /labkit/split, /labkit/retries, /labkit/endpoints"}
        state.version += 1
        return 200, state.snapshot()


def make_handler(state: XdsState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            n = int(self.headers.get("Content-Length", "0") or 0)
            try:
                return json.loads(self.rfile.read(n) or b"{}")
            except ValueError:
                return None

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self._body()
            if self.path.startswith("/v3/discovery:"):
                kind = self.path.split(":", 1)[1]
                if kind not in KINDS:
                    self._send(404, {"error": f"labkit-xds serves {', '.join(KINDS)}; not {kind}"})
                    return
                self._send(200, respond(state, kind, body if isinstance(body, dict) else {}))
                return
            self._send(*change(state, self.path, body))

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/labkit/state":
                with state.lock:
                    self._send(200, state.snapshot())
            else:
                self._send(404, {"error": f"unknown path {self.path}: GET /labkit/state"})

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet under polling
            return

    return Handler


def state_from_env(env: dict[str, str]) -> XdsState:
    return XdsState(split=json.loads(env.get("XDS_SPLIT", '{"server-v1": 100}')), mtls=env.get("XDS_MTLS", "1") == "1",
                    tls=env.get("XDS_TLS", "1.3"), host=env.get("XDS_HOST", "server"))


def serve(port: int = envoy.XDS_PORT, state: XdsState | None = None, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """A started-on-demand server (``serve_forever()`` it, or run it in a thread in tests)."""
    return ThreadingHTTPServer((host, port), make_handler(state or state_from_env(dict(os.environ))))


if __name__ == "__main__":
    server = serve(int(os.environ.get("XDS_PORT", str(envoy.XDS_PORT))))
    print(f"labkit-xds (REST-JSON xDS v3) on :{server.server_address[1]}", flush=True)
    server.serve_forever()
