"""labkit mesh probe: one HTTP request, plain or TLS with a client certificate, reporting exactly
what happened (status and body, or the error text). Used by verify.py to show what a client without
a sidecar, or with a bad certificate, gets.

usage: probe.py HOST PORT [--tls --cert C --key K --ca CA] [--path /x] [--timeout 3]
prints one JSON line: {"ok": bool, "status": int|None, "body": str, "error": str|None, "peer_uri_san": [...]}
"""
from __future__ import annotations

import argparse
import json
import socket
import ssl


def request(host: str, port: int, path: str, timeout: float, ctx: ssl.SSLContext | None) -> dict:
    out: dict = {"ok": False, "status": None, "body": "", "error": None, "peer_uri_san": []}
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
        sock: socket.socket = raw
        if ctx is not None:
            sock = ctx.wrap_socket(raw, server_hostname=None)
            cert = sock.getpeercert() or {}
            out["peer_uri_san"] = [v for k, v in cert.get("subjectAltName", ()) if k == "URI"]
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        sock.close()
        if not data:
            out["error"] = "connection closed by peer with no response (0 bytes)"
            return out
        head, _, body = data.partition(b"\r\n\r\n")
        out["status"] = int(head.split(b" ", 2)[1])
        out["body"] = body.decode(errors="replace")[:2000]
        out["ok"] = out["status"] == 200
    except (OSError, ssl.SSLError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def tls_context(cert: str | None, key: str | None, ca: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False           # SPIFFE certs carry a URI SAN, no DNS name
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ca)
    if cert and key:
        ctx.load_cert_chain(cert, key)
    return ctx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--tls", action="store_true")
    for opt in ("--cert", "--key", "--ca"):
        ap.add_argument(opt)
    ap.add_argument("--path", default="/probe")
    ap.add_argument("--timeout", type=float, default=3.0)
    a = ap.parse_args()
    ctx = tls_context(a.cert, a.key, a.ca) if a.tls else None
    print(json.dumps(request(a.host, a.port, a.path, a.timeout, ctx)))


if __name__ == "__main__":
    main()
