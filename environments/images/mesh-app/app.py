"""labkit mesh demo service: an HTTP/1.1 echo that says who it is and who called.

GET any path -> 200 JSON {service, version, peer, path, headers}. Query options:
  delay_ms=D  sleep D ms before answering (known-delay server for proving the load generator)
  fail=P      answer 503 with probability P (0..1) (to show retries); env FAIL_RATE sets a default
Env: SERVICE, VERSION, PORT (8080), FAIL_RATE (0).
"""
from __future__ import annotations

import json
import os
import random
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SERVICE = os.environ.get("SERVICE", "app")
VERSION = os.environ.get("VERSION", "v1")
FAIL_RATE = float(os.environ.get("FAIL_RATE", "0"))


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive: one connection carries many requests
    disable_nagle_algorithm = True     # TCP_NODELAY: no 40 ms Nagle/delayed-ACK stalls

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        query = parse_qs(urlsplit(self.path).query)
        delay_ms = float(query.get("delay_ms", ["0"])[0])
        fail = float(query.get("fail", [str(FAIL_RATE)])[0])
        if delay_ms > 0:
            time.sleep(delay_ms / 1000.0)
        status = 503 if fail > 0 and random.random() < fail else 200
        body = json.dumps({
            "service": SERVICE,
            "version": VERSION,
            "peer": f"{self.client_address[0]}:{self.client_address[1]}",
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }).encode()
        head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Service Unavailable'}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"x-served-by: {SERVICE}-{VERSION}\r\n\r\n").encode()
        self.wfile.write(head + body)   # one write: headers and body in one segment

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return                           # quiet: per-request logs would cost CPU under load


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), EchoHandler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    print(f"{SERVICE}-{VERSION} listening on :{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
