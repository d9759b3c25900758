"""labkit's own webhook receiver: records every notification Alertmanager sends.

Each POST is appended as one JSON line ``{"received_at": <unix s>, "path": ..., "payload": {...}}`` to
``--out`` and fsynced. ``GET /received`` returns them all as a JSON list, ``GET /healthz`` answers ok.
``received_at`` is ``time.time()`` on arrival: containers share the host kernel's clock, so it compares
directly with the host's ``time.time()`` at the moment something was killed (time to detect).
The payload is Alertmanager's webhook format
(https://github.com/prometheus/alertmanager/blob/v0.28.1/docs/configuration.md#webhook_config).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Journal:
    """An append-only JSON-lines file, safe across handler threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def append(self, record: dict[str, object]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self.lock, self.path.open("a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> list[dict[str, object]]:
        with self.lock:
            return [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]


def make_handler(journal: Journal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's API
            received_at = time.time()
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                payload: object = json.loads(raw)
            except ValueError:
                payload = {"unparsed": raw.decode(errors="replace")}
            journal.append({"received_at": received_at, "path": self.path, "payload": payload})
            self._reply(200, b"{}")

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/received":
                self._reply(200, json.dumps(journal.read()).encode())
            elif self.path == "/healthz":
                self._reply(200, b"ok")
            else:
                self._reply(404, b"{}")

        def _reply(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--port", type=int, default=9095)
    p.add_argument("--out", type=Path, default=Path("/data/alerts.jsonl"))
    a = p.parse_args(argv)
    ThreadingHTTPServer(("", a.port), make_handler(Journal(a.out))).serve_forever()


if __name__ == "__main__":
    main()
