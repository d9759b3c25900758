"""Images into the bundle, by digest: skopeo (in the lab's registry image, so the trainer needs only Docker)
copies every platform of each image into one OCI layout with ``--preserve-digests``, so the digest a chart
pins is the digest the mirror serves. (``docker save`` cannot: it keeps one platform, and a re-push makes new
manifest bytes, so a new digest.)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import docker
from labkit._run import Runner, default_runner
from labkit.errors import CommandError, LabkitError
from labkit.log import log
from labkit.workshop.bundle import Writer
from labkit.workshop.refs import DOCKER_HUB, ImageRef


@dataclass(frozen=True)
class Source:
    """Where images are copied from. ``rewrite`` maps an upstream host to another place serving the same
    content under ``<place>/<path>`` (a company mirror; the tests' fake upstream); digests must not change.
    ``insecure`` places are plain HTTP. ``network`` is the Docker network the copier joins."""

    rewrite: dict[str, str] = field(default_factory=dict)
    insecure: frozenset[str] = frozenset()
    network: str | None = None

    def locate(self, ref: ImageRef) -> str:
        base = self.rewrite.get(ref.host)
        return f"{base}/{ref.path}" if base else f"{ref.host}/{ref.path}"

    def tls(self, ref: ImageRef) -> bool:
        place = self.rewrite.get(ref.host, ref.host)
        return not {place, place.split("/", 1)[0], ref.host} & self.insecure


def skopeo_argv(args: list[str], *, bundle: Path, network: str | None) -> list[str]:
    """``docker run`` of skopeo from the lab's registry image, as this user, with the bundle mounted."""
    from labkit import images

    argv = ["docker", "run", "--rm", "--user", f"{os.getuid()}:{os.getgid()}",
            *[a for k, v in docker.labels(role="workshop-copy").items() for a in ("--label", f"{k}={v}")]]
    if network:
        argv += ["--network", network]
    return argv + ["-v", f"{bundle}:/bundle", "--entrypoint", "skopeo", images.ref("registry"), *args]


def _platforms(raw: bytes) -> list[str]:
    doc = json.loads(raw)
    return sorted("/".join(x for x in (m["platform"]["os"], m["platform"]["architecture"],
                                        m["platform"].get("variant")) if x)
                  for m in doc.get("manifests", []) if "platform" in m)


def copy_image(w: Writer, text: str, why: str, source: Source, *, runner: Runner | None = None) -> dict[str, Any]:
    """One image (every platform) into ``images/``; a tag-only reference is resolved to its digest now and
    recorded as ``pinned: tag``. Raises :class:`LabkitError` naming the registry when it cannot be reached."""
    run = runner or default_runner()
    ref = ImageRef.parse(text)
    where = source.locate(ref)
    tls = [] if source.tls(ref) else ["--tls-verify=false"]
    t0 = time.monotonic()
    ask = f"{where}@{ref.digest}" if ref.digest else f"{where}:{ref.tag}"
    try:
        raw = run.run(skopeo_argv(["inspect", "--raw", "--retry-times", "2", *tls, f"docker://{ask}"],
                                  bundle=w.root, network=source.network), timeout=300, quiet=True).stdout
    except CommandError as exc:
        host = ask.split("/", 1)[0]
        raise LabkitError(f"cannot read {text} from {host}: {exc.stderr.strip()[-300:] or exc.message}",
                          fix=f"run `labkit workshop prepare` where {host} answers (the trainer's machine, online), "
                              f"or copy from a mirror that has it: --from {ref.host}=MIRROR/PATH") from exc
    body = raw.encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if ref.digest and digest != ref.digest:
        raise LabkitError(f"{text}: {where} serves {digest}, the plan pins {ref.digest}",
                          fix="a mirror that changes digests is not a mirror: copy from the upstream registry")
    name = digest.split(":")[1]
    layout = w.root / "images"
    layout.mkdir(parents=True, exist_ok=True)
    if not (layout / "blobs" / "sha256" / name).is_file():
        src_tls = [] if source.tls(ref) else ["--src-tls-verify=false"]
        run.run(skopeo_argv(["copy", "--quiet", "--retry-times", "2", *src_tls, "--preserve-digests",
                             "--multi-arch=all", f"docker://{where}@{digest}", f"oci:/bundle/images:{name}"],
                            bundle=w.root, network=source.network), timeout=3600)
    index = json.loads((layout / "index.json").read_text())
    stored = [m for m in index["manifests"]
              if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == name]
    if not stored or stored[0]["digest"] != digest:
        raise LabkitError(f"{text}: the OCI layout holds {stored[0]['digest'] if stored else 'nothing'}, not {digest}",
                          fix="remove the bundle's images/ directory and prepare again")
    entry = {"what": "image", "key": f"image:{ref.host}/{ref.path}:{ref.tag}@{digest}",
             "ref": str(ref.with_digest(digest)), "tag": ref.tag, "pinned": "digest" if ref.digest else "tag",
             "digest": digest, "media_type": json.loads(body).get("mediaType", stored[0].get("mediaType", "")),
             "mirror_path": ref.mirror_path(), "platforms": _platforms(body), "source": f"docker://{ask}",
             "copy_s": round(time.monotonic() - t0, 2), "why": why}
    w.add(entry)
    log(f"✓ {entry['ref']} ({', '.join(entry['platforms']) or 'one platform'}, {entry['copy_s']} s)")
    return entry


def docker_hub_note(entries: list[dict[str, Any]]) -> str:
    hub = [e["ref"] for e in entries if e["ref"].startswith(DOCKER_HUB + "/")]
    return f"{len(hub)} Docker Hub image(s): pulled by dockerd through registry-mirrors" if hub else ""
