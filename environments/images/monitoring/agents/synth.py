"""labkit's synthetic scrape target: N series whose values change every scrape (for the cost measurements).

Exposes ``labkit_synth_value_total{series="<i>",shard="<i % 100>"}``. ``--kind counter``: every series
grows by a random 0..9 per scrape (a busy service); ``mixed``: only ~10 % move (closer to real exporters,
where most counters sit still); ``gauge``: random floats (the worst case for XOR compression).
``--precomputed K`` serves K bodies rendered at start, round-robin, so the target's own CPU stays near zero
(load runs). Keep it in its own container, so its CPU is not counted as Prometheus's.
"""

from __future__ import annotations

import argparse
import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Series:
    def __init__(self, n: int, kind: str) -> None:
        self.n, self.kind = n, kind
        self.values = [0] * n
        self.prefix = [f'labkit_synth_value_total{{series="{i}",shard="{i % 100}"}} ' for i in range(n)]

    def render(self) -> bytes:
        if self.kind == "gauge":
            vals = [repr(random.random()) for _ in range(self.n)]
        else:
            if self.kind == "mixed":
                inc = [random.randint(1, 9) if random.random() < 0.1 else 0 for _ in range(self.n)]
            else:
                inc = random.choices(range(10), k=self.n)
            self.values = [v + d for v, d in zip(self.values, inc, strict=True)]
            vals = [str(v) for v in self.values]
        head = "# TYPE labkit_synth_value_total counter\n" if self.kind != "gauge" else ""
        return (head + "\n".join(p + v for p, v in zip(self.prefix, vals, strict=True)) + "\n").encode()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--series", type=int, default=1000)
    p.add_argument("--kind", choices=("counter", "mixed", "gauge"), default="counter")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--precomputed", type=int, default=0)
    a = p.parse_args(argv)
    series = Series(a.series, a.kind)
    bodies = [series.render() for _ in range(a.precomputed)]
    turn = [0]

    def body() -> bytes:
        if not bodies:
            return series.render()
        turn[0] = (turn[0] + 1) % len(bodies)
        return bodies[turn[0]]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            data = body()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
