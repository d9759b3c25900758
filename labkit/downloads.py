"""The one door to HTTP: downloads that count only when whole, and quick "can I reach it?" probes.

>>> with open("kind.partial", "wb") as fh:                          # doctest: +SKIP
...     digest = fetch("https://example.org/kind-linux-amd64", fh, timeout=60)

Every request has a timeout. A body shorter than its ``Content-Length``, or a connection that
closes early, is a :class:`DownloadFailed`, never a short file. ``LABKIT_DOWNLOAD_MIRROR`` (or
``mirror=``) serves the same paths from another base URL: a trainer's machine, or a test server.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import BinaryIO
from urllib.parse import urlsplit

from labkit import __version__
from labkit.errors import DownloadFailed

MIRROR_ENV = "LABKIT_DOWNLOAD_MIRROR"
CHUNK = 1 << 16
SOCKET_TIMEOUT = 30.0  # each connect/read; the whole download has its own deadline (``timeout``)
_HEADERS = {"User-Agent": f"labkit/{__version__}"}


def mirrored(url: str, mirror: str | None = None) -> str:
    """``url`` served from ``mirror`` (default ``$LABKIT_DOWNLOAD_MIRROR``) under the same path.

    ``mirrored("https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubectl", "http://10.0.0.5:8080")``
    is ``http://10.0.0.5:8080/release/v1.36.1/bin/linux/amd64/kubectl``."""
    base = mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")
    if not base:
        return url
    return base.rstrip("/") + urlsplit(url).path


def _open(url: str, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers=_HEADERS)
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) URLs from versions.yaml
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DownloadFailed(url, f"HTTP {exc.code} {exc.reason}", status=exc.code) from exc
    except urllib.error.URLError as exc:
        raise DownloadFailed(url, str(exc.reason)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadFailed(url, f"{type(exc).__name__}: {exc}") from exc


def fetch(url: str, dest: BinaryIO, *, timeout: float, limit: int | None = None) -> str:
    """Stream ``url`` into ``dest`` and return its sha256 (hex).

    ``timeout`` (s) bounds the whole download; each socket operation gets at most 30 s of it.
    Refuses an HTTP error, a body cut short, and (``limit``) a body larger than expected."""
    deadline = time.monotonic() + timeout
    digest, got = hashlib.sha256(), 0
    with _open(url, min(timeout, SOCKET_TIMEOUT)) as resp:
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        while True:
            if time.monotonic() > deadline:
                raise DownloadFailed(url, f"not complete after {timeout:g} s ({got} bytes arrived)")
            try:
                chunk = resp.read(CHUNK)
            except (http.client.HTTPException, OSError) as exc:  # IncompleteRead, reset, timed out
                raise DownloadFailed(url, f"cut short after {got} bytes: {type(exc).__name__}: {exc}") from exc
            if not chunk:
                break
            got += len(chunk)
            if limit is not None and got > limit:
                raise DownloadFailed(url, f"larger than the {limit} bytes expected")
            digest.update(chunk)
            dest.write(chunk)
    if expected is not None and got != expected:
        raise DownloadFailed(url, f"cut short: {got} of {expected} bytes arrived (the connection closed early)")
    return digest.hexdigest()


def fetch_text(url: str, *, timeout: float, limit: int = 64 * 1024) -> str:
    """A small text file (a checksum file), whole or :class:`DownloadFailed`."""
    import io

    buf = io.BytesIO()
    fetch(url, buf, timeout=timeout, limit=limit)
    return buf.getvalue().decode("utf-8", errors="replace")


def probe(url: str, *, timeout: float = 3.0) -> str | None:
    """``None`` if ``url``'s host answers HTTP at all (any status, redirects not followed), else why not."""
    parts = urlsplit(url)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(parts.netloc, timeout=timeout)
    try:
        conn.request("HEAD", parts.path or "/", headers=_HEADERS)
        conn.getresponse().close()
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:  # DNS, refused, unreachable, TLS
        return _reason(exc)
    except http.client.HTTPException as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return None


def probe_all(urls: Iterable[str], *, timeout: float = 3.0) -> dict[str, str | None]:
    """:func:`probe` each URL at once; the whole call returns within about ``timeout`` seconds.

    Name lookups can outlast a socket timeout, so a URL without a result by then counts as
    unreachable; its (daemon) thread is left to finish on its own."""
    results: dict[str, str | None] = {}
    urls = list(urls)

    def one(u: str) -> None:
        results[u] = probe(u, timeout=timeout)

    threads = [threading.Thread(target=one, args=(u,), daemon=True, name=f"probe {u}") for u in urls]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 0.5
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return {u: results.get(u, f"no answer within {timeout:g} s") for u in urls}


def _reason(exc: OSError) -> str:
    import socket
    import ssl

    if isinstance(exc, socket.gaierror):
        return "name not resolved"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc.strerror or exc}"
