"""Downloads into a bundle: the kind/kubectl/helm releases (checked against the checksums their projects
publish), manifests, files a plan fetches, and charts (checked against their repository's index digest).

Everything goes through :mod:`labkit.downloads`, so ``LABKIT_DOWNLOAD_MIRROR`` (or ``mirror=``) serves the same
paths from elsewhere (a company mirror; the tests' local server). A download that fails is a
:class:`~labkit.errors.DownloadFailed` naming the URL and the fix.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from labkit import downloads
from labkit.errors import ChecksumMismatch, DownloadFailed, LabkitError
from labkit.log import log
from labkit.workshop.bundle import Writer, file_path, sha256_file
from labkit.workshop.inventory import Chart

TOOLS = ("kind", "kubectl", "helm")
WHERE = ("run `labkit workshop prepare` on a machine that reaches it (the trainer's, before the workshop), "
         f"or point {downloads.MIRROR_ENV} at a mirror holding the same paths")


def download(w: Writer, url: str, why: str, *, mirror: str | None = None, sha256: str | None = None,
             timeout: float = 600) -> dict[str, Any]:
    """``url`` into ``files/<path>`` (skipped when already there with ``sha256``); the bundle entry."""
    rel = file_path(url)
    dest = w.root / rel
    if not (sha256 and dest.is_file() and sha256_file(dest) == sha256):
        dest.parent.mkdir(parents=True, exist_ok=True)
        source = downloads.mirrored(url, mirror)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                got = downloads.fetch(source, fh, timeout=timeout)
            if sha256 and got != sha256:
                raise ChecksumMismatch(source, sha256, got, fix=WHERE, message=(
                    f"sha256 of {source} is {got}, expected {sha256}: the download was altered or is not the pin"))
            os.replace(tmp, dest)
        except DownloadFailed as exc:
            raise DownloadFailed(exc.url, exc.reason, status=exc.status, fix=WHERE) from exc
        finally:
            Path(tmp).unlink(missing_ok=True)
        log(f"✓ {rel} ({dest.stat().st_size / 1e6:.1f} MB)")
    entry = {"what": "file", "key": url, "url": url, "file": rel, "sha256": sha256_file(dest),
             "size": dest.stat().st_size, "why": why}
    w.add(entry)
    return entry


def platforms_of(spec: dict[str, Any], wanted: list[str]) -> list[str]:
    offered = [str(p) for p in spec.get("platforms") or ()]
    return [p for p in wanted if p in offered]


def binaries(w: Writer, platforms: list[str], *, mirror: str | None = None,
             names: tuple[str, ...] = TOOLS) -> list[dict[str, Any]]:
    """kind, kubectl and helm at their pins for each platform (``linux-amd64``…), each beside the checksum file its
    project publishes; the binary's sha256 must equal the published one (and the pin, where versions.yaml has one)."""
    from labkit import releases, tools

    out = []
    for name in names:
        spec = tools.spec(name)
        for plat in platforms_of(spec, platforms):
            os_name, arch = plat.split("-", 1)
            url, sums_url = (str(spec[k]).format(version=spec["version"], os=os_name, arch=arch)
                             for k in ("url", "checksum_url"))
            sums = download(w, sums_url, f"{name} {spec['version']} {plat}: published checksum", mirror=mirror)
            asset = url.rsplit("/", 1)[-1]
            published = releases.published_sha256((w.root / sums["file"]).read_text(), asset)
            pinned = str((spec.get("sha256") or {}).get(plat) or "").lower()
            if pinned and pinned != published:
                raise ChecksumMismatch(sums_url, pinned, published, fix=WHERE, message=(
                    f"{name} {spec['version']} ({plat}): {sums_url} publishes {published}, versions.yaml pins "
                    f"{pinned}; they must agree"))
            entry = download(w, url, f"{name} {spec['version']} {plat}", mirror=mirror, sha256=published)
            entry.update(tool=name, version=str(spec["version"]), platform=plat)
            out.append(entry)
    return out


def chart(w: Writer, c: Chart, *, mirror: str | None = None) -> Path:
    """Chart ``c`` from its repository (the index's sha256 digest must match) into
    ``files/charts/<alias>/``, with an index.yaml there so the directory is itself a Helm repository."""
    import yaml

    if not c.repo:
        raise LabkitError(f"chart {c.alias}/{c.name}: the plan names no repository for it", fix="report this bug")
    index_url = c.repo.rstrip("/") + "/index.yaml"
    try:
        index = yaml.safe_load(downloads.fetch_text(downloads.mirrored(index_url, mirror), timeout=120,
                                                    limit=256 * 2**20)) or {}
    except DownloadFailed as exc:
        raise DownloadFailed(exc.url, exc.reason, status=exc.status, fix=WHERE) from exc
    versions = (index.get("entries") or {}).get(c.name) or []
    found = [e for e in versions if str(e.get("version", "")).lstrip("v") == c.version.lstrip("v")]
    if not found:
        raise LabkitError(f"chart {c.name} {c.version} is not in {index_url} (it lists "
                          f"{', '.join(str(e.get('version')) for e in versions[:8]) or 'nothing'})",
                          fix="check the pin in environments/versions.yaml")
    meta = dict(found[0])
    url = urljoin(c.repo.rstrip("/") + "/", str(meta["urls"][0]))
    local = f"charts/{c.alias}/{c.name}-{meta['version']}.tgz"
    dest = w.root / "files" / local
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(dest) + ".partial")
    try:
        with open(tmp, "wb") as fh:
            got = downloads.fetch(downloads.mirrored(url, mirror), fh, timeout=600)
    except DownloadFailed as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadFailed(exc.url, exc.reason, status=exc.status, fix=WHERE) from exc
    if meta.get("digest") and got != meta["digest"]:
        tmp.unlink(missing_ok=True)
        raise ChecksumMismatch(url, str(meta["digest"]), got, fix=WHERE, message=(
            f"sha256 of {url} is {got}, but {index_url} says {meta['digest']}"))
    tmp.replace(dest)
    own = dest.parent / "index.yaml"
    repo = yaml.safe_load(own.read_text()) if own.is_file() else {"apiVersion": "v1", "entries": {}}
    repo["entries"][c.name] = [e for e in repo["entries"].get(c.name, []) if e.get("version") != meta["version"]]
    repo["entries"][c.name].append({**meta, "urls": [dest.name]})
    own.write_text(yaml.safe_dump(repo, sort_keys=True))
    w.add({"what": "chart", "key": f"chart:{c.alias}/{c.name}@{c.version}", "name": c.name, "version": c.version,
           "repo": c.repo, "source": url, "file": f"files/{local}", "sha256": got, "size": dest.stat().st_size,
           "why": c.why})
    log(f"✓ chart {c.name} {c.version} ({dest.stat().st_size / 1e3:.0f} kB)")
    return dest


def render(helm: str, tgz: Path, c: Chart, *, kube_version: str, runner: Any = None) -> str:
    """``helm template`` of the chart exactly as the plan installs it: same release, namespace and values;
    ``--kube-version`` of the node image (charts branch on Capabilities)."""
    from labkit._run import default_runner

    with tempfile.TemporaryDirectory(prefix="labkit-chart-") as tmp:
        argv = [helm, "template", c.release, str(tgz), "--namespace", c.namespace, "--include-crds"]
        if c.values:
            values = Path(tmp) / "values.yaml"
            values.write_text(c.values)
            argv += ["--values", str(values)]
        if kube_version:
            argv += ["--kube-version", kube_version]
        return (runner or default_runner()).run(argv, timeout=180, quiet=True).stdout
