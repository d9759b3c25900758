"""Installing a pinned release of kind, kubectl or helm: the binary and the checksum its project publishes.

Only a verified, whole file lands in labkit's bin directory: the published checksum is fetched first
(a missing one is refused), the binary goes to a temporary file beside the target, a short download
is refused, the hash must match the published one (and the sha256 pinned in versions.yaml, where there
is one), and the binary must answer with the pinned version before it is renamed into place.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError, ToolMissing
from labkit.paths import bin_dir
from labkit import tools


@dataclass(frozen=True)
class Release:
    """Where the pinned release of a tool and its published checksum are, for this platform."""

    name: str
    version: str
    platform: str  # linux-amd64
    url: str
    checksum_url: str
    pinned_sha256: str  # "" where versions.yaml pins none (the published checksum still decides)
    archive_member: str  # "" for a bare binary

    @property
    def asset(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def release(name: str, *, mirror: str | None = None) -> Release:
    """The pinned release of ``name`` for this platform; ``mirror`` (default ``$LABKIT_DOWNLOAD_MIRROR``)
    serves upstream's paths from another base URL."""
    from labkit import downloads

    if name == "docker":
        raise LabkitError("labkit does not install Docker", fix=tools._DOCKER_FIX)
    s, key = tools.spec(name), tools.platform_key()
    if not tools.installable(name):
        raise ToolMissing(name, f"no {s['version']} release for {key} (labkit installs "
                          f"{', '.join(s.get('platforms') or ())})", fix=tools.install_hint(name, offer_install=False))
    os_name, arch = key.split("-", 1)

    def fill(template: str) -> str:
        return downloads.mirrored(template.format(version=s["version"], os=os_name, arch=arch), mirror)

    member = str(s.get("archive_member") or "").format(os=os_name, arch=arch)
    return Release(name, str(s["version"]), key, fill(str(s["url"])), fill(str(s["checksum_url"])),
                   str((s.get("sha256") or {}).get(key) or "").lower(), member)


def install(name: str, *, dest: Path | None = None, mirror: str | None = None, timeout: float = 300.0) -> Path:
    """Download the pinned ``name`` into labkit's bin directory; only a verified, whole file lands there.

    1. the checksum file the project publishes beside the release (kind/helm ``<hex>  <asset>``,
       kubectl the bare hex); missing → refused, never installed unverified;
    2. where versions.yaml pins a sha256 for this platform, it must equal the published one;
    3. the release, to a temporary file beside the target: cut short → refused; its sha256 must
       equal the published one;
    4. unpacked (helm), made executable, asked for its version (must be the pinned one), then
       renamed over the target in one step. Any failure leaves the bin directory as it was.

    ``timeout`` (s) bounds each download."""
    from labkit.log import log

    rel = release(name, mirror=mirror)
    published = _published(rel, timeout=min(timeout, 60.0))
    target = (dest or bin_dir()) / name
    log(f"downloading {rel.url}")
    with _staged(target) as (tmp, spare):
        _fetch_verified(rel, tmp, published, timeout=timeout)
        binary = tmp
        if rel.archive_member:
            _extract(tmp, rel.archive_member, spare, rel.url)
            binary = spare
        binary.chmod(0o755)
        version, problem = tools.read_version(name, str(binary))
        if version != rel.version.lstrip("v"):
            raise LabkitError(f"the downloaded {name} reports {version or problem}, not {rel.version}; "
                              "nothing was installed", fix=tools.install_hint(name, offer_install=False))
        os.replace(binary, target)
    log(f"✓ installed {name} {rel.version} at {target} (sha256 {published[:12]}… as published at {rel.checksum_url})")
    return target


def _retry(name: str) -> str:
    """The fix after a failed install: never `labkit tools install` itself, which just failed."""
    from labkit.downloads import MIRROR_ENV

    return f"nothing was installed; retry later, point {MIRROR_ENV} at a mirror, or " + \
        tools.install_hint(name, offer_install=False)


def _published(rel: Release, *, timeout: float) -> str:
    """The published sha256 of ``rel``, checked against the pin; refused when missing or different."""
    from labkit import downloads
    from labkit.errors import ChecksumMismatch, DownloadFailed

    try:
        published = published_sha256(downloads.fetch_text(rel.checksum_url, timeout=timeout), rel.asset)
    except DownloadFailed as exc:
        what = ("the project publishes it beside every release; labkit never installs a binary it cannot verify"
                if exc.status == 404 else "without it labkit will not install the binary")
        raise DownloadFailed(rel.checksum_url, f"{exc.reason} (the checksum file: {what})", status=exc.status,
                             fix=_retry(rel.name)) from exc
    except ValueError as exc:
        raise DownloadFailed(rel.checksum_url, f"not a checksum file for {rel.asset}: {exc}",
                             fix=_retry(rel.name)) from exc
    if rel.pinned_sha256 and rel.pinned_sha256 != published:
        raise ChecksumMismatch(rel.checksum_url, rel.pinned_sha256, published, fix=_retry(rel.name), message=(
            f"{rel.name} {rel.version} ({rel.platform}): the sha256 published at {rel.checksum_url} is "
            f"{published}, but environments/versions.yaml pins {rel.pinned_sha256}; they must agree"))
    return published


def _fetch_verified(rel: Release, path: Path, published: str, *, timeout: float) -> None:
    from labkit import downloads
    from labkit.errors import ChecksumMismatch, DownloadFailed

    with open(path, "wb") as fh:
        try:
            actual = downloads.fetch(rel.url, fh, timeout=timeout)
        except DownloadFailed as exc:
            raise DownloadFailed(rel.url, exc.reason, status=exc.status, fix=_retry(rel.name)) from exc
        fh.flush()
        os.fsync(fh.fileno())
    if actual != published:
        raise ChecksumMismatch(rel.url, published, actual, fix=_retry(rel.name), message=(
            f"sha256 of {rel.url} is {actual}, but {rel.checksum_url} publishes {published}: "
            "the download was altered on the way"))


def published_sha256(text: str, asset: str) -> str:
    """The sha256 in a published checksum file: ``<hex>  <asset>`` lines (sha256sum/shasum, as kind and
    helm publish) or a bare ``<hex>`` (kubectl.sha256). A line for another file does not count."""
    bare: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            continue
        if len(parts) == 1:
            bare.append(parts[0].lower())
        elif os.path.basename(parts[1].lstrip("*")) == asset:
            return parts[0].lower()
    if len(bare) == 1:
        return bare[0]
    raise ValueError(f"no sha256 for {asset} in it (read: {text.strip()[:120]!r})")


@contextmanager
def _staged(target: Path) -> Iterator[tuple[Path, Path]]:
    """Two temporary files beside ``target`` (same file system, so the final rename is atomic);
    both are removed whatever happens, so a failure leaves nothing half-installed."""
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    made = []
    try:
        for _ in range(2):
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
            os.close(fd)
            made.append(Path(tmp))
        yield made[0], made[1]
    finally:
        for path in made:
            path.unlink(missing_ok=True)


def _extract(archive: Path, member: str, out: Path, url: str) -> None:
    import tarfile

    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            handle = tar.extractfile(member)
            if handle is None:
                raise KeyError(member)
            with handle, open(out, "wb") as fh:
                shutil.copyfileobj(handle, fh)
                fh.flush()
                os.fsync(fh.fileno())
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise LabkitError(f"{url}: archive has no {member}",
                          fix="report this; the pinned archive layout changed") from exc
