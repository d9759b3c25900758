"""What a mesh is compared with: the same two services with no proxy, and with a plain HAProxy on each side.

================  ==================================================================  ==========
path              the request goes                                                    proxies
================  ==================================================================  ==========
``floor``         client → server's HAProxy ``:8082``, which answers itself            (the generator's own floor:
                  (``http-request return``: no app behind it)                          no app, one hop)
``none``          client → server app ``:8080``                                       0
``haproxy``       client → its HAProxy ``127.0.0.1:18080`` → server's HAProxy ``:8081``  2 (the shape of two
                  → app ``127.0.0.1:8080``                                            sidecars, without TLS)
================  ==================================================================  ==========

HAProxy 2.6 is Debian bookworm's. It runs as a container in each app's network namespace, like a sidecar,
but it captures nothing: the client addresses it explicitly (what a mesh makes unnecessary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit import docker
from labkit.components.mesh import pods

ROLE_HAPROXY = "mesh-haproxy"
COMMON = """global
  maxconn 4096
  nbthread {threads}
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
"""
SERVER = COMMON + """frontend app
  bind :8081
  default_backend app
backend app
  server app 127.0.0.1:8080
frontend floor
  bind :8082
  http-request return status 200 content-type text/plain string ok
"""
CLIENT = COMMON + """frontend out
  bind 127.0.0.1:18080
  default_backend server
backend server
  server server {server}:8081
"""
#: cell → (host the client's generator calls, port, proxy containers whose CPU/memory count)
PATHS = {"floor": ("server", 8082), "none": ("server", 8080), "haproxy": ("127.0.0.1", 18080)}


@dataclass
class Baseline:
    server: pods.Pod
    client: pods.Pod
    proxies: dict[str, Any]  # "server" / "client" → HAProxy container

    def target(self, cell: str) -> tuple[str, int]:
        host, port = PATHS[cell]
        return (self.server.ip if host == "server" else host), port

    def containers(self, cell: str) -> list[Any]:
        """The containers a cell's path runs through (its proxies when it has any)."""
        return [self.client.app, self.server.app] + ([self.proxies["server"]] if cell != "none" else []) + \
            ([self.proxies["client"]] if cell == "haproxy" else [])


def haproxy(scope: docker.Scope, image: str, pod: pods.Pod, config: str) -> Any:
    """HAProxy in ``pod``'s network namespace; its config arrives in an environment variable (no file on the host)."""
    return scope.container(image, name=f"{pod.app.name}-haproxy", role=ROLE_HAPROXY,
                           network_mode=f"container:{pod.app.id}", environment={"HAPROXY_CFG": config},
                           command=["sh", "-c", 'printf "%s\\n" "$HAPROXY_CFG" > /tmp/haproxy.cfg && '
                                    "exec haproxy -db -f /tmp/haproxy.cfg"])


def up(scope: docker.Scope, *, prefix: str, threads: int = 2) -> Baseline:
    """The no-proxy pair and an HAProxy beside each (server first: the client's HAProxy needs its IP)."""
    app_image, _ = pods.images()
    net = scope.network(f"{prefix}-net").name
    server = pods.start_app(scope, app_image, prefix=prefix, name="server", service="server", version="v1",
                            network=net, hosts={}, admin=False)
    client = pods.start_app(scope, app_image, prefix=prefix, name="client", service="client", version="v1",
                            network=net, hosts={"server": server.ip}, admin=False)
    proxies = {"server": haproxy(scope, app_image, server, SERVER.format(threads=threads)),
               "client": haproxy(scope, app_image, client, CLIENT.format(threads=threads, server=server.ip))}
    return Baseline(server, client, proxies)
