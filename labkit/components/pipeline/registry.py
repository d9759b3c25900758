"""A real registry: Distribution 2.8.3 (Debian trixie's docker-registry) with TLS from the lab CA and htpasswd.

A registry stores **blobs** (layers, configs) by their sha256 and **manifests** that list them; a manifest's
own sha256 is the image's **digest**. A *tag* is a name that points at a manifest and can be moved to
another one at any time; a digest cannot change without the content changing. Hence: deploy by digest.

:class:`RegistryClient` is a few lines of the registry HTTP API (stdlib ``urllib``, TLS verified against the
lab CA): what the deploy gate and the audit ask the registry themselves.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from labkit.components.pipeline.settings import Layout, Secret, basic_auth
from labkit.components.pipeline.toolbox import Objects, host_user
from labkit.errors import LabkitError

#: Sent with every manifest request: without the schema2/OCI types Distribution 2.8 may answer a tag with a
#: converted schema1 manifest whose digest differs from the one pushed (registry/handlers/manifests.go).
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def config_yml(realm: str = "labkit-registry") -> str:
    """The registry's config: TLS, htpasswd, filesystem storage, deletes allowed (keys: Distribution's
    docs/configuration.md at v2.8.3)."""
    return f"""version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :5000
  tls:
    certificate: /certs/server.crt
    key: /certs/server.key
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: {realm}
    path: /auth/htpasswd
"""


def start(objects: Objects, layout: Layout, image: str, *, port: int) -> Any:
    """The registry container on ``127.0.0.1:<port>`` (0: Docker picks), as your user, data in the lab dir."""
    path = layout.host("registry", "config.yml")
    path.write_text(config_yml())
    ro = "ro"
    return objects.container(image, name=f"lk-{objects.session}-registry", part="registry",
                             ports={"5000/tcp": ("127.0.0.1", port or None)}, user=host_user(), volumes={
                                 str(path): {"bind": "/etc/docker/registry/config.yml", "mode": ro},
                                 str(layout.host("tls", "server.crt")): {"bind": "/certs/server.crt", "mode": ro},
                                 str(layout.host("tls", "server.key")): {"bind": "/certs/server.key", "mode": ro},
                                 str(layout.host("auth", "htpasswd")): {"bind": "/auth/htpasswd", "mode": ro},
                                 str(layout.host("registry-data")): {"bind": "/var/lib/docker-registry",
                                                                     "mode": "rw"}})


def published_port(attrs: dict[str, Any], container_port: str) -> int:
    """The host port Docker bound for ``container_port`` (``"5000/tcp"``)."""
    bindings = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    for b in bindings.get(container_port) or []:
        if b.get("HostIp") in ("127.0.0.1", "") and b.get("HostPort"):
            return int(b["HostPort"])
    raise LabkitError(f"{attrs.get('Name', '?')}: no host port for {container_port}",
                      fix="the container did not start; see `docker logs` of it")


@dataclass
class RegistryClient:
    """Manifest HEAD/GET, tags and catalog over HTTPS with basic auth, TLS verified against the lab CA."""

    address: str  # 127.0.0.1:PORT
    ca_cert: str
    user: str
    password: Secret
    timeout: float = 10.0

    def _request(self, method: str, path: str, accept: str = MANIFEST_TYPES) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(f"https://{self.address}{path}", method=method)
        req.add_header("Authorization", f"Basic {basic_auth(self.user, self.password)}")
        req.add_header("Accept", accept)
        ctx = ssl.create_default_context(cafile=self.ca_cert)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=self.timeout) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LabkitError(f"registry {self.address} unreachable: {reason}",
                              fix="is the registry container running? (labkit pipeline status)") from None

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest of a tag or digest (the ``Docker-Content-Digest`` header), None if the registry lacks it."""
        code, headers, _ = self._request("HEAD", f"/v2/{repository}/manifests/{reference}")
        if code == 404:
            return None
        if code == 401:
            raise LabkitError(f"registry {self.address}: 401 unauthorized for user {self.user}",
                              fix="wrong registry credentials: use the lab's own (labkit pipeline status)")
        if code != 200:
            raise LabkitError(f"registry {self.address}: HEAD {repository}:{reference} answered HTTP {code}")
        return headers.get("docker-content-digest")

    def tags(self, repository: str) -> list[str]:
        code, _, body = self._request("GET", f"/v2/{repository}/tags/list", accept="application/json")
        return [] if code == 404 else sorted(json.loads(body).get("tags") or [])

    def catalog(self) -> list[str]:
        _, _, body = self._request("GET", "/v2/_catalog", accept="application/json")
        return list(json.loads(body).get("repositories") or [])

    def ping(self) -> int:
        """HTTP status of ``/v2/`` *without* credentials: 401 means up, TLS verified, auth required."""
        req = urllib.request.Request(f"https://{self.address}/v2/")
        try:
            with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=self.ca_cert), timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


def wait_ready(client: RegistryClient, *, timeout: float = 30.0) -> float:
    """Seconds until ``/v2/`` answers 401 over verified TLS."""
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout:
        try:
            code = client.ping()
            if code == 401:
                return time.monotonic() - t0
            last = f"HTTP {code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(0.1)
    raise LabkitError(f"registry {client.address} not ready after {timeout:g} s (last: {last})",
                      fix="look at `docker logs` of the registry container")
