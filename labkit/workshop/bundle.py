"""The bundle: everything a room needs, copied once by the trainer, checked before every use.

::

    BUNDLE/
      manifest.json   what is in it (schema 1), written LAST: a bundle without it is incomplete
      SHA256SUMS      sha256 of every other file (``sha256sum -c SHA256SUMS`` checks a copy by hand);
                      manifest.json records the sha256 of SHA256SUMS itself
      images/         ONE OCI image layout (oci-layout, index.json, blobs/sha256/…): every image, by digest,
                      each tagged in index.json by its digest's hex; layers shared between images are stored once
      files/          downloads under their upstream URL path, so the trainer's machine can serve them as
                      ``LABKIT_DOWNLOAD_MIRROR`` (kind, kubectl, helm and their published checksums; manifests;
                      charts as Helm repositories under files/charts/<repo alias>/ with an index.yaml)
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from labkit.errors import LabkitError

SCHEMA = 1
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"


class BundleError(LabkitError):
    """A bundle that is incomplete, altered, or not a bundle."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_path(url: str) -> str:
    """Where a download lives in the bundle: ``files/<the URL's path>`` (what ``LABKIT_DOWNLOAD_MIRROR`` serves)."""
    path = urlsplit(url).path.lstrip("/")
    if not path or ".." in path.split("/"):
        raise BundleError(f"cannot place {url} in a bundle (no usable path)")
    return f"files/{path}"


@dataclass
class Writer:
    """Collects entries while ``prepare`` fills a bundle; :meth:`finish` writes SHA256SUMS and manifest.json."""

    root: Path
    entries: list[dict[str, Any]]

    @classmethod
    def start(cls, root: Path) -> Writer:
        root.mkdir(parents=True, exist_ok=True)
        (root / MANIFEST).unlink(missing_ok=True)  # incomplete from here until finish()
        return cls(root, [])

    def add(self, entry: dict[str, Any]) -> None:
        self.entries = [e for e in self.entries if e.get("key") != entry.get("key")] + [entry]

    def finish(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        files = sorted(p for p in self.root.rglob("*") if p.is_file() and p.name not in (MANIFEST, SUMS)
                       and p.relative_to(self.root).parts[0] in ("images", "files"))
        lines = [f"{sha256_file(p)}  {p.relative_to(self.root).as_posix()}\n" for p in files]
        (self.root / SUMS).write_text("".join(lines))
        manifest = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "sums_sha256": sha256_file(self.root / SUMS), "files": len(files),
                    "size_bytes": sum(p.stat().st_size for p in files), **(extra or {}), "items": self.entries}
        tmp = self.root / (MANIFEST + ".partial")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(self.root / MANIFEST)
        return manifest


def _fix(root: Path) -> str:
    return (f"copy the bundle again from the trainer's original, or run `labkit workshop prepare --bundle {root}` "
            f"again where the registries answer (`cd {root} && sha256sum -c --quiet {SUMS}` names changed files)")


def verify(root: Path | str, *, hashes: bool = True) -> dict[str, Any]:
    """The bundle's manifest, after checking it is whole: manifest.json present and of a known schema,
    SHA256SUMS unchanged, every listed file present with its sha256 (``hashes=False`` checks presence and
    size only), every image's manifest in the layout. Raises :class:`BundleError` naming what is wrong."""
    root = Path(root)
    if not root.is_dir():
        raise BundleError(f"bundle {root} does not exist", fix="give the directory `labkit workshop prepare` wrote")
    if not (root / MANIFEST).is_file():
        raise BundleError(f"bundle {root} is incomplete: {MANIFEST} is missing (prepare did not finish, or the "
                          "copy was cut short)", fix=_fix(root))
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except ValueError as exc:
        raise BundleError(f"bundle {root}: {MANIFEST} is not JSON ({exc})", fix=_fix(root)) from exc
    if manifest.get("schema") != SCHEMA:
        raise BundleError(f"bundle {root}: schema {manifest.get('schema')!r}, this labkit reads schema {SCHEMA}",
                          fix="prepare the bundle with this labkit version")
    sums = root / SUMS
    if not sums.is_file() or sha256_file(sums) != manifest.get("sums_sha256"):
        raise BundleError(f"bundle {root}: {SUMS} is missing or changed since prepare", fix=_fix(root))
    problems = []
    for line in filter(None, sums.read_text().splitlines()):
        want, _, name = line.partition("  ")
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif hashes and (got := sha256_file(path)) != want:
            problems.append(f"{name}: sha256 {got}, expected {want}")
    for item in manifest.get("items", []):
        if item["what"] == "image" and not (root / "images" / "blobs" / "sha256" / item["digest"][7:]).is_file():
            problems.append(f"{item['ref']}: its manifest blob is missing from images/")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise BundleError(f"bundle {root} is damaged: " + "; ".join(problems[:5]) + more, fix=_fix(root))
    return dict(manifest)


def images(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in manifest.get("items", []) if i["what"] == "image"]


def upstream_hosts(manifest: dict[str, Any]) -> list[str]:
    """The registries the bundle's images come from (one containerd hosts.toml each)."""
    from labkit.workshop.refs import ImageRef

    return sorted({ImageRef.parse(i["ref"]).host for i in images(manifest)})


def summary(manifest: dict[str, Any]) -> str:
    """A few lines for the trainer: counts and size per kind of item."""
    kinds: dict[str, int] = {}
    for item in manifest.get("items", []):
        kinds[item["what"]] = kinds.get(item["what"], 0) + 1
    parts = ", ".join(f"{n} {k}(s)" for k, n in sorted(kinds.items())) or "no items"
    return f"{parts}; {manifest.get('files', 0)} files, {manifest.get('size_bytes', 0) / 1e6:.1f} MB"
