"""``labkit workshop serve``: the room's registry mirror, filled from a bundle, and what each laptop needs.

The mirror is a plain distribution 2.8 registry (Debian trixie's docker-registry, in the lab's
``labkit/registry`` image built FROM the local base image) in one labelled container,
``labkit-workshop-mirror``, with its data in a labelled volume (a second ``serve`` only checks digests).
It is not a pull-through cache: distribution refuses pushes to a proxy and exits at start when the
proxy's upstream is unreachable (docs/configuration.md#proxy at v2.8.3), which is the room's normal state.

Images are pushed from the bundle's OCI layout by a small pusher (blobs, then the manifest bytes unchanged), so
the mirror serves the bundle's digests: Docker Hub content unprefixed (``/v2/library/nginx``: what dockerd's
``registry-mirrors`` asks for), every other registry under its host name (``/v2/quay.io/cilium/cilium``,
reached through containerd's ``hosts.toml`` with ``override_path``). The bundle's ``files/`` are served
over HTTP on the next port (``LABKIT_DOWNLOAD_MIRROR``: kind, kubectl, helm; charts as Helm repositories).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from labkit import docker
from labkit.errors import LabkitError, PortInUse
from labkit.log import log
from labkit.workshop.bundle import images as bundle_images
from labkit.workshop.bundle import verify

NAME = "labkit-workshop-mirror"
ROLE = "workshop-mirror"
ACCEPT = ", ".join(["application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json"])


def request(url: str, *, method: str = "GET", data: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 600) -> tuple[int, bytes, dict[str, str]]:
    """One HTTP request to a registry: (status, body, headers); HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, method=method, data=data, headers={"Accept": ACCEPT, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the mirror we started
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def _ok(status: int, body: bytes, what: str) -> None:
    if status not in (200, 201, 202):
        raise LabkitError(f"the mirror refused {what}: HTTP {status} {body[:300]!r}",
                          fix="see `docker logs labkit-workshop-mirror`")


def push(layout: Path, digest: str, base: str, repo: str, *, tag: str | None = None,
         stats: dict[str, int] | None = None) -> None:
    """Push one image (an index: its children first) from an OCI layout, bytes unchanged; skip blobs the
    repository has (HEAD)."""
    stats = stats if stats is not None else {}

    def blob(d: str) -> Path:
        return layout / "blobs" / d.split(":")[0] / d.split(":")[1]

    raw = blob(digest).read_bytes()
    doc = json.loads(raw)
    media = doc.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    if "manifests" in doc:  # distribution 2.8 accepts an index only when every child manifest is there
        for child in doc["manifests"]:
            push(layout, child["digest"], base, repo, stats=stats)
    else:
        for desc in [doc["config"], *doc.get("layers", [])]:
            if desc.get("urls"):  # foreign layers are not pushed (Windows base images)
                continue
            if request(f"{base}/v2/{repo}/blobs/{desc['digest']}", method="HEAD")[0] == 200:
                stats["blobs_skipped"] = stats.get("blobs_skipped", 0) + 1
                continue
            status, body, hdrs = request(f"{base}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
            _ok(status, body, f"an upload to {repo}")
            loc = hdrs.get("Location") or hdrs.get("location") or ""
            loc = loc if loc.startswith("http") else base + loc
            path = blob(desc["digest"])
            with open(path, "rb") as fh:
                status, body, _ = request(f"{loc}{'&' if '?' in loc else '?'}digest={desc['digest']}", method="PUT",
                                          data=fh, headers={"Content-Type": "application/octet-stream",
                                                            "Content-Length": str(path.stat().st_size)})
            _ok(status, body, f"blob {desc['digest']}")
            stats["blobs_pushed"] = stats.get("blobs_pushed", 0) + 1
    for reference in [digest] + ([tag] if tag else []):
        status, body, _ = request(f"{base}/v2/{repo}/manifests/{reference}", method="PUT", data=raw,
                                  headers={"Content-Type": media})
        _ok(status, body, f"manifest {repo}:{reference}")
    stats["manifests_pushed"] = stats.get("manifests_pushed", 0) + 1


def served_digest(base: str, repo: str, reference: str) -> str | None:
    """sha256 of the manifest bytes the registry serves for ``repo:reference`` (None if it has none)."""
    status, body, _ = request(f"{base}/v2/{repo}/manifests/{reference}", timeout=30)
    return "sha256:" + hashlib.sha256(body).hexdigest() if status == 200 else None


def _running(name: str) -> Any:
    box = docker.container(name)
    return box if box is not None and docker.is_running(box) else None


def start(bundle: Path, port: int, *, bind: str = "0.0.0.0", network: str | None = None, name: str = NAME,
          session: str | None = None, wait_s: float = 30) -> str:
    """The mirror container ``name`` (reused when it runs with this bundle and port); returns its base URL on
    loopback. ``bind`` is the host address its ports are published on (``0.0.0.0``: the whole room)."""
    from labkit import images
    from labkit.targets.engine import port_free

    box = _running(name)
    ports = {"5000/tcp": (bind, port), "8080/tcp": (bind, port + 1)}
    if box is not None:
        attrs = docker.attrs(box)
        binds = attrs["HostConfig"].get("Binds") or []
        published = attrs["HostConfig"].get("PortBindings", {}).get("5000/tcp") or [{}]
        if f"{bundle}:/bundle:ro" not in binds or published[0].get("HostPort") != str(port):
            raise LabkitError(f"{name} already runs (port {published[0].get('HostPort')}, {', '.join(binds)})",
                              fix="`labkit workshop serve --stop` first, then serve this bundle")
    else:
        for p in (port, port + 1):
            if not port_free(p):
                raise PortInUse(p, fix=f"pick free ports: `labkit workshop serve --port {port + 2}` (the mirror "
                                       f"uses --port and the next one), or stop what listens on {p}")
        old = docker.container(name)
        if old is not None:
            docker.remove_container(old)
        image = images.ensure("registry")
        volume = f"{name}-data"
        # a service that outlives this command (no owner label, so the reaper leaves it): `serve --stop` removes it
        with docker.Scope(keep=True, owned=False, **({"session": session} if session else {})) as scope:
            scope.volume(volume)  # the registry's data: kept across serves (create is idempotent)
            scope.container(image, name=name, role=ROLE, network=network, ports=ports,
                            volumes={str(bundle): {"bind": "/bundle", "mode": "ro"},
                                     volume: {"bind": "/var/lib/registry"}},
                            restart_policy={"Name": "unless-stopped"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if request(f"{base}/v2/", timeout=2)[0] == 200:
                return base
        except OSError:
            pass
        time.sleep(0.2)
    raise LabkitError(f"the mirror did not answer on {base}/v2/ within {wait_s:g} s",
                      fix=f"see `docker logs {name}`")


def stop(name: str = NAME) -> bool:
    """Remove the mirror container (its data volume stays: the next serve is quick)."""
    box = docker.container(name)
    if box is None:
        return False
    docker.remove_container(box)
    log(f"removed {name} (volume {name}-data kept; `labkit clean` removes it)")
    return True


def load(bundle: Path | str, base: str, *, hashes: bool = True) -> list[dict[str, Any]]:
    """Push every bundle image the mirror lacks, then check the digest it serves equals the bundle's."""
    root = Path(bundle).resolve()
    manifest = verify(root, hashes=hashes)
    results = []
    for item in bundle_images(manifest):
        t0 = time.monotonic()
        repo, digest = item["mirror_path"], item["digest"]
        pushed = served_digest(base, repo, digest) != digest
        if pushed:
            push(root / "images", digest, base, repo, tag=item.get("tag"))
        served = served_digest(base, repo, digest)
        by_tag = served_digest(base, repo, item["tag"]) if item.get("tag") else served
        ok = served == digest and by_tag == digest
        results.append({"ref": item["ref"], "mirror": f"{repo}@{digest}", "pushed": pushed, "served": served,
                        "ok": ok, "seconds": round(time.monotonic() - t0, 2)})
        shown = f"{repo}:{item['tag']}" if item.get("tag") else repo
        log(f"{'✓' if ok else '✗'} {shown} {'pushed' if pushed else 'already there'}, serves {served}")
        if not ok:
            raise LabkitError(f"the mirror serves {served} for {item['ref']}, the bundle holds {digest}",
                              fix=f"`labkit workshop serve --stop`, `docker volume rm {NAME}-data`, serve again")
    return results
