"""What crosses the wire between two sidecars: a packet capture in the server's network namespace.

tcpdump runs in a container joined to the server pod's namespace with ``NET_RAW`` and ``NET_ADMIN`` only (no
privileged mode, no host network) and listens on ``eth0``: the wire between pods. It runs in ``--immediate-mode``:
otherwise libpcap holds packets in its kernel ring until a block fills or a one-second timeout passes, and a
capture stopped sooner than that (a fast machine: three requests in 50 ms) writes no packet at all. Inside the pod
(loopback, sidecar → app) traffic is plaintext by design, as in Istio, so ``lo`` is not the wire and is not captured.
The admin port (15000, scraped by Prometheus) is filtered out.

A token goes into each request's path. The capture proves the encryption when every request succeeded,
packets were captured, TLS application-data records were seen, and the token is not in the bytes; the control
(the same capture on a mesh without mTLS) must find the token, or the check proves nothing. The callers'
sidecars reuse their connections, so the capture first makes them open new ones (Envoy's ``/healthcheck/fail``
puts the server's sidecar in drain-close: each response closes its connection): a capture with no handshake
could not show that TLS 1.3 hides the certificates.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

from labkit import docker
from labkit.components.mesh import envoy
from labkit.components.mesh.spec import MeshError

ROLE = "mesh-capture"
PCAP = "/tmp/labkit-wire.pcap"


@dataclass(frozen=True)
class Capture:
    """What one capture saw."""

    label: str
    requests: int
    requests_ok: int
    packets: int
    pcap_bytes: int
    token: str
    token_seen: bool
    spiffe_seen: bool
    tls_records: int
    tls_versions: tuple[str, ...]
    lines: tuple[str, ...]  # tcpdump -nr: what a person reads
    pcap: bytes = b""

    @property
    def complete(self) -> bool:
        """Every request worked and packets were really captured (an empty capture proves nothing)."""
        return self.requests_ok == self.requests and self.packets > 0

    def row(self) -> dict[str, Any]:
        return {"capture": self.label, "requests ok": f"{self.requests_ok}/{self.requests}", "packets": self.packets,
                "TLS records": self.tls_records, "TLS": ", ".join(self.tls_versions) or "-",
                "token in the bytes": self.token_seen, "spiffe:// in the bytes": self.spiffe_seen}


def packets(pcap: bytes) -> list[bytes]:
    """The captured frames of a classic pcap file (libpcap format, either byte order)."""
    if len(pcap) < 24:
        return []
    magic = pcap[:4]
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, pos = [], 24
    while pos + 16 <= len(pcap):
        incl = struct.unpack(order + "IIII", pcap[pos:pos + 16])[2]
        out.append(pcap[pos + 16:pos + 16 + incl])
        pos += 16 + incl
    return out


def tls_versions(pcap: bytes) -> tuple[str, ...]:
    """TLS versions named by ServerHello ``supported_versions`` (1.3) or its legacy version field (1.2)."""
    found = set()
    for frame in packets(pcap):
        i = frame.find(b"\x16\x03\x03")
        while i >= 0 and i + 11 < len(frame):
            if frame[i + 5] == 0x02:  # handshake type ServerHello
                found.add("TLS 1.3" if b"\x00\x2b\x00\x02\x03\x04" in frame[i:] else "TLS 1.2")
            i = frame.find(b"\x16\x03\x03", i + 1)
    return tuple(sorted(found))


def analyze(label: str, pcap: bytes, token: str, oks: list[bool], lines: list[str]) -> Capture:
    frames = packets(pcap)
    return Capture(label, len(oks), sum(oks), len(frames), len(pcap), token, token.encode() in pcap,
                   b"spiffe://" in pcap, sum(f.count(b"\x17\x03\x03") for f in frames), tls_versions(pcap),
                   tuple(lines), pcap)


def capture(scope: docker.Scope, mesh: Any, *, label: str, server: str = "server-v1", requests: int = 3,
            timeout: float = 20.0) -> Capture:
    """Capture ``server``'s eth0 while the client sends ``requests`` requests carrying a fresh token."""
    from labkit.components.mesh import pods

    app_image, _ = pods.images()
    pod = mesh.pod(server)
    box = scope.container(app_image, name=f"{pod.app.name}-tcpdump-{uuid.uuid4().hex[:4]}", role=ROLE,
                          network_mode=f"container:{pod.app.id}", cap_add=["NET_RAW", "NET_ADMIN"], user="0",
                          command=["sleep", "infinity"])
    try:
        docker.exec_detached(box, ["sh", "-c", 'echo $$ > /tmp/cap.pid; exec tcpdump "$@" 2>/tmp/cap.err', "sh",
                                   "-i", "eth0", "--immediate-mode", "-U", "-s", "0", "-w", PCAP,
                                   f"tcp and not port {envoy.ADMIN_PORT}"])
        t0 = time.monotonic()  # tcpdump says when it listens; sending earlier would capture nothing and "pass"
        while "listening on" not in docker.exec_in(box, ["cat", "/tmp/cap.err"], timeout=5, quiet=True).stdout:
            if time.monotonic() - t0 > timeout:
                raise MeshError(f"tcpdump in {pod.name}'s namespace did not start: "
                                f"{docker.exec_in(box, ['cat', '/tmp/cap.err'], timeout=5, quiet=True).stdout[-300:]}")
            time.sleep(0.1)
        token = f"LABKIT-SECRET-{uuid.uuid4().hex[:12]}"
        # a traffic split may send a request to another version than the captured pod: count only the requests
        # this pod served (or that failed), so "no packets" can never pass for "encrypted"
        oks: list[bool] = []
        # the callers' sidecars keep their connections open (one per worker thread), and a reused connection
        # shows no handshake: while the server's sidecar reports itself unhealthy, Envoy closes each connection
        # after its response ("drain close"), so with one request more than the workers, one opens a new one
        requests = max(requests, mesh.spec.concurrency + 1)
        drain = pod.sidecar is not None
        if drain:
            pods.admin_get(pod, "/healthcheck/fail", method="POST")
        try:
            for _ in range(requests * 10):
                call = mesh.call(path=f"/{token}")
                if call.served_by == server or not call.ok:
                    oks.append(call.ok)
                if len(oks) >= requests:
                    break
        finally:
            if drain:
                pods.admin_get(pod, "/healthcheck/ok", method="POST")
        time.sleep(0.5)  # the last ACKs and the connection's close; --immediate-mode hands each packet over at once
        docker.exec_in(box, ["sh", "-c", 'kill -INT "$(cat /tmp/cap.pid)"; while kill -0 "$(cat /tmp/cap.pid)" '
                             "2>/dev/null; do sleep 0.05; done"], timeout=10, quiet=True)
        raw = docker.exec_in(box, ["base64", "-w0", PCAP], timeout=10, quiet=True).stdout
        text = docker.exec_in(box, ["tcpdump", "-nr", PCAP], timeout=10, quiet=True).stdout
    finally:
        docker.remove_container(box)
    return analyze(label, base64.b64decode(raw), token, oks, text.splitlines()[:40])
