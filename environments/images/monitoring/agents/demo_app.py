"""labkit's demo app for the monitoring chapter: a tiny HTTP service that exposes its own metrics.

``GET /`` answers ``ok`` (what blackbox-exporter probes); ``GET /metrics`` is the Prometheus text
exposition. Every series carries ``token="<LABKIT_RUN_TOKEN>"``, a value unique to the run, so a verify
proves that *this* app's numbers went through scrape → TSDB → PromQL, not an older run's. The label is
``token`` on purpose: a label the target also carries (``run``) would be renamed ``exported_run`` by
Prometheus (honor_labels: false).
"""

from __future__ import annotations

import os
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

TOKEN = os.environ.get("LABKIT_RUN_TOKEN", "unset")

INFO = Gauge("labkit_demo_info", "Always 1; carries the run's unique token.", ["token", "version"])
WORK = Counter("labkit_demo_work", "Units of simulated work done.", ["token"])
LATENCY = Histogram("labkit_demo_request_duration_seconds", "Simulated request latency.", ["token"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's API
        if self.path.startswith("/metrics"):
            body, ctype = generate_latest(), CONTENT_TYPE_LATEST
        elif self.path in ("/", "/healthz"):
            body, ctype = b"ok\n", "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def simulate(stop: threading.Event, rate_hz: float = 5.0) -> None:
    """Background 'traffic' so the counter and the histogram move."""
    while not stop.wait(1.0 / rate_hz):
        WORK.labels(TOKEN).inc(random.randint(1, 3))
        LATENCY.labels(TOKEN).observe(random.expovariate(1 / 0.03))


def main() -> None:
    INFO.labels(TOKEN, "1").set(1)
    WORK.labels(TOKEN).inc()
    threading.Thread(target=simulate, args=(threading.Event(),), daemon=True).start()
    ThreadingHTTPServer(("", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()


if __name__ == "__main__":
    main()
