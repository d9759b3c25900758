"""``labkit workshop prepare``: collect what the kind chapters pull into a bundle, by digest.

1. the plans (:mod:`labkit.workshop.inventory`) name the node image, the images of ``docker run`` steps,
   manifests by URL, charts and downloads;
2. manifests and charts are downloaded (charts checked against their repository index) and read for images
   (charts rendered with ``helm template`` as the plan installs them); operator-chosen images are added from
   ``environments/workshop.yaml``;
3. kind, kubectl and helm for each platform the room's laptops run, beside their published checksums;
4. every image, every platform, by digest, into one OCI layout (:mod:`labkit.workshop.copier`);
5. SHA256SUMS and manifest.json, last.

Run it again on the same directory: what is already there (by digest or sha256) is not fetched again.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labkit.log import log
from labkit.workshop import fetch
from labkit.workshop.bundle import Writer, summary
from labkit.workshop.copier import Source, copy_image
from labkit.workshop.inventory import Chart, Inventory, extras, images_in_yaml, option_scripts, read_plans


def inventory(options: Iterable[str] = (), *, kubernetes: str | None = None) -> tuple[list[str], Inventory]:
    """(the options, what their plans name) without downloading anything."""
    scripts = list(option_scripts(options, kubernetes=kubernetes))
    inv = read_plans(scripts)
    extras([label for label, _ in scripts], inv)
    return [label for label, _ in scripts], inv


def collect(bundle: Path | str, *, images: dict[str, set[str]] | None = None, files: dict[str, set[str]] | None = None,
            likely: dict[str, set[str]] | None = None, charts: Iterable[Chart] = (),
            platforms: Iterable[str] = (), tools: tuple[str, ...] = fetch.TOOLS, source: Source | None = None,
            mirror: str | None = None, kube_version: str = "", helm: str | None = None,
            extra: dict[str, Any] | None = None, runner: Any = None) -> dict[str, Any]:
    """Fill ``bundle`` with these items and write its manifest; returns the manifest. ``files`` are URLs
    whose text is read for images when they are manifests (``.yaml``/``.yml``)."""
    w = Writer.start(Path(bundle).resolve())
    found = Inventory(images={k: set(v) for k, v in (images or {}).items()},
                      likely={k: set(v) for k, v in (likely or {}).items() if k not in (images or {})},
                      kubernetes=kube_version)
    for url, why in sorted((files or {}).items()):
        entry = fetch.download(w, url, "; ".join(sorted(why)), mirror=mirror)
        if url.endswith((".yaml", ".yml")):
            images_in_yaml((w.root / entry["file"]).read_text(), found, f"{url.rsplit('/', 1)[-1]}")
    if charts:
        from labkit import tools

        helm = helm or tools.require("helm")
        for c in charts:
            tgz = fetch.chart(w, c, mirror=mirror)
            images_in_yaml(fetch.render(helm, tgz, c, kube_version=found.kubernetes, runner=runner), found, c.why)
    if platforms:
        fetch.binaries(w, list(platforms), mirror=mirror, names=tools)
    for ref in found.all_images():
        why = "; ".join(sorted(found.images.get(ref) or found.likely.get(ref) or ()))
        copy_image(w, ref, why, source or Source(), runner=runner)
    manifest = w.finish({**(extra or {}), "likely": sorted(found.likely)})
    log(f"✓ bundle {w.root}: {summary(manifest)}")
    return manifest


def prepare(bundle: Path | str, *, options: Iterable[str] = (), kubernetes: str | None = None,
            platforms: list[str] | None = None, source: Source | None = None, mirror: str | None = None,
            helm: str | None = None) -> dict[str, Any]:
    """Everything the chosen options' ``labkit up`` pulls (default: every installable option), plus kind,
    kubectl and helm for ``platforms`` (default: this machine's), into ``bundle``."""
    from labkit import tools

    labels, inv = inventory(options, kubernetes=kubernetes)
    log(f"prepare {', '.join(labels)}: {len(inv.images)} image(s) named by the plans, {len(inv.manifests)} "
        f"manifest(s) and {len(inv.charts)} chart(s) to read, {len(inv.files)} download(s)")
    return collect(bundle, images=inv.images, likely=inv.likely, files={**inv.manifests, **inv.files},
                   charts=inv.charts, platforms=platforms or [tools.platform_key()], source=source, mirror=mirror,
                   kube_version=inv.kubernetes, helm=helm, extra={"options": labels, "kubernetes": inv.kubernetes})
