"""`labkit tools install`: the whole flow against a local HTTP server standing in for the release sites.

The server serves what upstream serves, at upstream's paths (``LABKIT_DOWNLOAD_MIRROR`` keeps the
path): a release, the checksum file published beside it, and the ways that goes wrong: a tampered
binary, a missing checksum file, a download cut short, a published checksum that disagrees with the pin.
The "binaries" are shell scripts that answer the version command like the real tool.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from labkit import downloads, releases, tools
from labkit.errors import ChecksumMismatch, DownloadFailed, LabkitError
from labkit.versions import pins

KIND = pins()["tools"]["kind"]["version"]
KUBECTL = pins()["tools"]["kubectl"]["version"]
HELM = pins()["tools"]["helm"]["version"]
KIND_PATH = f"/kubernetes-sigs/kind/releases/download/{KIND}/kind-linux-amd64"
KUBECTL_PATH = f"/release/{KUBECTL}/bin/linux/amd64/kubectl"
HELM_PATH = f"/helm-{HELM}-linux-amd64.tar.gz"


def script(output: str) -> bytes:
    """A tiny executable that prints ``output`` whatever it is asked (`version`, `--short`, ...)."""
    assert "'" not in output
    return f"#!/bin/sh\nprintf '%s\\n' '{output}'\n".encode()


KIND_BIN = script(f"kind {KIND} go1.27.2 linux/amd64")
KUBECTL_BIN = script(json.dumps({"clientVersion": {"gitVersion": KUBECTL, "platform": "linux/amd64"}}))
HELM_BIN = script(f"{HELM}+g1234abc")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(payload), 0o755
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LABKIT_HOME in tmp_path, a linux-amd64 platform, and no mirror from the environment."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(downloads.MIRROR_ENV, raising=False)
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-amd64")
    return tmp_path / "home"


@pytest.fixture()
def mirror(httpserver: HTTPServer) -> Iterator[str]:
    yield httpserver.url_for("").rstrip("/")
    httpserver.clear()


def bin_files(home: Path) -> list[str]:
    """Everything in labkit's bin directory, temporary files included."""
    return sorted(p.name for p in (home / "bin").iterdir()) if (home / "bin").exists() else []


def requested(httpserver: HTTPServer) -> list[str]:
    return [request.path for request, _ in httpserver.log]


def serve(httpserver: HTTPServer, path: str, body: bytes | str, status: int = 200) -> None:
    httpserver.expect_request(path).respond_with_data(body, status=status)


def no_pin(monkeypatch: pytest.MonkeyPatch, name: str, **changes: Any) -> None:
    """The real versions.yaml entry of ``name`` without a pinned sha256 (or with ``changes``)."""
    real = tools.spec

    def spec(tool: str) -> dict[str, Any]:
        s = real(tool)
        if tool == name:
            s.update({"sha256": {}, **changes})
        return s

    monkeypatch.setattr(tools, "spec", spec)


# --- a good release ------------------------------------------------------------------------------------


def test_a_good_kind_release_is_installed_executable_and_answers(home: Path, httpserver: HTTPServer,
                                                                  mirror: str) -> None:
    serve(httpserver, KIND_PATH, KIND_BIN)
    serve(httpserver, KIND_PATH + ".sha256sum", f"{sha(KIND_BIN)}  kind-linux-amd64\n")
    path = releases.install("kind", mirror=mirror)
    assert path == home / "bin" / "kind"
    assert path.read_bytes() == KIND_BIN and os.access(path, os.X_OK)
    out = subprocess.run([str(path), "version"], capture_output=True, text=True, timeout=10, check=True).stdout
    assert out.startswith(f"kind {KIND} ")
    assert bin_files(home) == ["kind"]  # no .partial left behind
    assert requested(httpserver) == [KIND_PATH + ".sha256sum", KIND_PATH]  # checksum first
    info = tools.find("kind")  # what doctor and `up` now see
    assert info.ok and info.path == str(path) and info.version == KIND.lstrip("v")


def test_kubectls_bare_hash_checksum_file_is_understood(home: Path, httpserver: HTTPServer, mirror: str) -> None:
    serve(httpserver, KUBECTL_PATH, KUBECTL_BIN)
    serve(httpserver, KUBECTL_PATH + ".sha256", sha(KUBECTL_BIN))  # no file name, no newline
    path = releases.install("kubectl", mirror=mirror)
    assert path.read_bytes() == KUBECTL_BIN and tools.find("kubectl").ok


def test_helm_is_unpacked_from_its_archive(home: Path, httpserver: HTTPServer, mirror: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tarball({"linux-amd64/LICENSE": b"Apache-2.0", "linux-amd64/helm": HELM_BIN})
    no_pin(monkeypatch, "helm")
    serve(httpserver, HELM_PATH, archive)
    serve(httpserver, HELM_PATH + ".sha256sum", f"{sha(archive)}  helm-{HELM}-linux-amd64.tar.gz\n")
    path = releases.install("helm", mirror=mirror)
    assert path.read_bytes() == HELM_BIN and os.access(path, os.X_OK)
    assert bin_files(home) == ["helm"]


def test_a_pinned_sha256_that_agrees_is_accepted(home: Path, httpserver: HTTPServer, mirror: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    no_pin(monkeypatch, "kind", sha256={"linux-amd64": sha(KIND_BIN).upper()})
    serve(httpserver, KIND_PATH, KIND_BIN)
    serve(httpserver, KIND_PATH + ".sha256sum", f"{sha(KIND_BIN)}  kind-linux-amd64\n")
    assert releases.install("kind", mirror=mirror).read_bytes() == KIND_BIN


def test_the_mirror_comes_from_the_environment(home: Path, httpserver: HTTPServer, mirror: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(downloads.MIRROR_ENV, mirror + "/")
    serve(httpserver, KIND_PATH, KIND_BIN)
    serve(httpserver, KIND_PATH + ".sha256sum", f"{sha(KIND_BIN)}  kind-linux-amd64\n")
    releases.install("kind")
    assert requested(httpserver) == [KIND_PATH + ".sha256sum", KIND_PATH]


def test_reinstall_replaces_the_old_binary(home: Path, httpserver: HTTPServer, mirror: str) -> None:
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "kind").write_bytes(b"#!/bin/sh\necho kind v0.20.0\n")
    serve(httpserver, KIND_PATH, KIND_BIN)
    serve(httpserver, KIND_PATH + ".sha256sum", f"{sha(KIND_BIN)}  kind-linux-amd64\n")
    assert releases.install("kind", mirror=mirror).read_bytes() == KIND_BIN


# --- what must be refused, leaving nothing behind --------------------------------------------------------


def test_a_tampered_binary_is_refused(home: Path, httpserver: HTTPServer, mirror: str) -> None:
    tampered = script(f"kind {KIND} go1.27.2 linux/amd64 # and something else")
    serve(httpserver, KIND_PATH, tampered)
    serve(httpserver, KIND_PATH + ".sha256sum", f"{sha(KIND_BIN)}  kind-linux-amd64\n")
    with pytest.raises(ChecksumMismatch) as info:
        releases.install("kind", mirror=mirror)
    err = info.value
    assert (err.url, err.expected, err.actual) == (mirror + KIND_PATH, sha(KIND_BIN), sha(tampered))
    assert sha(KIND_BIN) in err.message and sha(tampered) in err.message
    assert "nothing was installed" in (err.fix or "")
    assert bin_files(home) == []


def test_a_tampered_binary_does_not_replace_a_working_one(home: Path, httpserver: HTTPServer, mirror: str) -> None:
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "kind").write_bytes(b"the old one")
    serve(httpserver, KIND_PATH, b"evil")
    serve(httpserver, KIND_PATH + ".sha256sum", f"{sha(KIND_BIN)}  kind-linux-amd64\n")
    with pytest.raises(ChecksumMismatch):
        releases.install("kind", mirror=mirror)
    assert bin_files(home) == ["kind"] and (home / "bin" / "kind").read_bytes() == b"the old one"


def test_a_missing_checksum_file_is_refused_before_the_binary_is_fetched(home: Path, httpserver: HTTPServer,
                                                                         mirror: str) -> None:
    serve(httpserver, KIND_PATH, KIND_BIN)
    serve(httpserver, KIND_PATH + ".sha256sum", "Not Found", status=404)
    with pytest.raises(DownloadFailed) as info:
        releases.install("kind", mirror=mirror)
    err = info.value
    assert err.status == 404 and err.url == mirror + KIND_PATH + ".sha256sum"
    assert "HTTP 404" in err.reason and "never installs a binary it cannot verify" in err.reason
    assert requested(httpserver) == [KIND_PATH + ".sha256sum"]
    assert bin_files(home) == []


@pytest.mark.parametrize("published", ["<html>rate limited</html>",  # a page, not a checksum
                                       f"{'a' * 64}  kind-darwin-arm64\n",  # another asset's line
                                       ""])
def test_a_checksum_file_without_our_assets_hash_is_refused(home: Path, httpserver: HTTPServer, mirror: str,
                                                            published: str) -> None:
    serve(httpserver, KIND_PATH, KIND_BIN)
    serve(httpserver, KIND_PATH + ".sha256sum", published)
    with pytest.raises(DownloadFailed, match="not a checksum file for kind-linux-amd64"):
        releases.install("kind", mirror=mirror)
    assert bin_files(home) == []


def _short(request: Request) -> Response:
    response = Response(KIND_BIN[:20])
    response.headers["Content-Length"] = str(len(KIND_BIN))  # promises more than it sends
    return response


def _dropped(request: Request) -> Response:
    def body() -> Iterator[bytes]:
        yield KIND_BIN[:20]
        raise ConnectionAbortedError("the server went away")  # the connection closes mid-body

    return Response(body(), headers={"Content-Length": str(len(KIND_BIN))}, direct_passthrough=True)


@pytest.mark.parametrize("handler", [_short, _dropped])
def test_a_download_cut_short_is_refused(home: Path, httpserver: HTTPServer, mirror: str, handler: Any) -> None:
    httpserver.expect_request(KIND_PATH).respond_with_handler(handler)
    serve(httpserver, KIND_PATH + ".sha256sum", f"{sha(KIND_BIN)}  kind-linux-amd64\n")
    with pytest.raises(DownloadFailed) as info:
        releases.install("kind", mirror=mirror)
    assert f"cut short: 20 of {len(KIND_BIN)} bytes arrived" in info.value.reason
    assert bin_files(home) == []


def test_a_published_checksum_that_disagrees_with_the_pin_is_refused(home: Path, httpserver: HTTPServer,
                                                                     mirror: str) -> None:
    pinned = pins()["tools"]["helm"]["sha256"]["linux-amd64"]  # the real pin
    archive = tarball({"linux-amd64/helm": HELM_BIN})
    serve(httpserver, HELM_PATH, archive)
    serve(httpserver, HELM_PATH + ".sha256sum", f"{sha(archive)}  helm-{HELM}-linux-amd64.tar.gz\n")
    with pytest.raises(ChecksumMismatch) as info:
        releases.install("helm", mirror=mirror)
    err = info.value
    assert (err.expected, err.actual) == (pinned, sha(archive))
    assert pinned in err.message and sha(archive) in err.message and "must agree" in err.message
    assert requested(httpserver) == [HELM_PATH + ".sha256sum"]  # the archive is not even fetched
    assert bin_files(home) == []


def test_a_binary_that_is_not_the_pinned_version_is_refused(home: Path, httpserver: HTTPServer, mirror: str) -> None:
    other = script("kind v0.31.0 go1.25.0 linux/amd64")  # verified against its checksum, but the wrong release
    serve(httpserver, KIND_PATH, other)
    serve(httpserver, KIND_PATH + ".sha256sum", f"{sha(other)}  kind-linux-amd64\n")
    with pytest.raises(LabkitError, match=f"reports 0.31.0, not {KIND}"):
        releases.install("kind", mirror=mirror)
    assert bin_files(home) == []


def test_helm_that_cannot_be_downloaded_does_not_recommend_itself(home: Path, httpserver: HTTPServer,
                                                                  mirror: str, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tarball({"linux-amd64/helm": HELM_BIN})
    no_pin(monkeypatch, "helm")
    serve(httpserver, HELM_PATH + ".sha256sum", f"{sha(archive)}  helm-{HELM}-linux-amd64.tar.gz\n")
    serve(httpserver, HELM_PATH, "Service Unavailable", status=503)
    with pytest.raises(DownloadFailed) as info:
        releases.install("helm", mirror=mirror)
    fix = info.value.fix or ""
    assert "labkit tools install" not in fix
    assert "https://helm.sh/docs/intro/install/" in fix and downloads.MIRROR_ENV in fix
    assert bin_files(home) == []


def test_an_unreachable_site_is_refused_with_the_manual_route(home: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadFailed) as info:
        releases.install("helm", mirror=f"http://127.0.0.1:{port}")
    assert "refused" in info.value.reason.lower() and "labkit tools install" not in (info.value.fix or "")
    assert bin_files(home) == []


def test_a_server_that_never_answers_times_out(home: Path) -> None:
    with socket.socket() as s:  # accepts connections (backlog) but never says a word
        s.bind(("127.0.0.1", 0))
        s.listen()
        started = time.monotonic()
        with pytest.raises(DownloadFailed, match="timed out"):
            releases.install("kind", mirror=f"http://127.0.0.1:{s.getsockname()[1]}", timeout=1.0)
        assert time.monotonic() - started < 5
    assert bin_files(home) == []


def test_no_release_for_this_platform_is_refused_without_downloading(home: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-riscv64")
    with pytest.raises(LabkitError, match="no .* release for linux-riscv64"):
        releases.install("kind", mirror="http://127.0.0.1:9")
    assert bin_files(home) == []


def test_labkit_does_not_install_docker() -> None:
    with pytest.raises(LabkitError) as info:
        releases.install("docker")
    assert "does not install Docker" in info.value.message and "Docker" in (info.value.fix or "")


# --- the pieces --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "digest"), [
    (f"{'ab' * 32}  kind-linux-amd64\n", "ab" * 32),  # kind: shasum -a 256 (cross.sh)
    (f"{'AB' * 32} *kind-linux-amd64\n", "ab" * 32),  # binary-mode marker
    (f"{'cd' * 32}\n", "cd" * 32),  # kubectl.sha256: the bare hash
    (f"{'00' * 32}  kind-darwin-arm64\n{'ef' * 32}  kind-linux-amd64\n", "ef" * 32),  # a list of several
    (f"{'12' * 32}  _dist/kind-linux-amd64\n", "12" * 32),
])
def test_published_sha256_reads_both_formats(text: str, digest: str) -> None:
    assert releases.published_sha256(text, "kind-linux-amd64") == digest


def test_mirrored_keeps_upstreams_path() -> None:
    url = "https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubectl"
    assert downloads.mirrored(url, "http://10.0.0.5:8080/") == "http://10.0.0.5:8080/release/v1.36.1/bin/linux/amd64/kubectl"
    assert downloads.mirrored(url, "") == url
