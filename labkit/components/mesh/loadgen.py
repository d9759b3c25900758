"""labkit's open-loop load generator (``openloop``, C, in the mesh-app image) and its self-check.

Why write one: nothing open-loop is packaged for Debian bookworm (wrk and hey are closed-loop; no wrk2, fortio,
vegeta, oha or nighthawk there; PyPI's ``fortio`` is a Fortran library). A closed-loop tool sends the next
request only after a response, so a stall delays the requests that should have gone out during it and they are
never counted late: *coordinated omission* hides exactly the tail a mesh adds. Even fortio, Istio's own tool, is
a rate-limited closed loop per connection (it times from the actual send).

``openloop`` sends request *i* at ``t0 + i/rate`` whatever happened before, over a pool of keep-alive
connections; when all are busy a due request waits in a queue, and the wait counts. Latency is measured from the
**intended** send time. It checks itself: *loop lag* is how late its event loop noticed a due request; when
loop-lag p99 exceeds 1 ms, or it could not schedule every request, or it used over 90 % of a core, the run says
``generator_ok: false`` and labkit reports *unavailable: why* instead of a figure that would be the machine's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from labkit import docker
from labkit.components.mesh.spec import GeneratorRefused, MeshError

#: Highest rate a test may ask for (a typo guard); what this machine can really generate, openloop says.
MAX_RATE = 500_000


@dataclass(frozen=True)
class Load:
    """One open-loop run: ``rate`` requests/s for ``seconds`` (after ``warmup`` seconds not counted)."""

    rate: float
    seconds: float = 5.0
    warmup: float = 1.0
    conns: int = 32
    timeout_ms: int = 5000
    max_lag_ms: float = 1.0
    path: str = "/"

    def __post_init__(self) -> None:
        if not 0 <= self.warmup < self.seconds:
            raise MeshError(f"warm-up {self.warmup:g} s must be shorter than the run ({self.seconds:g} s): only "
                            "requests after the warm-up are measured")

    def argv(self, host: str, port: int) -> list[str]:
        return ["openloop", "-h", host, "-p", str(port), "-r", f"{self.rate:g}", "-d", f"{self.seconds:g}",
                "-w", f"{self.warmup:g}", "-c", str(self.conns), "-t", str(self.timeout_ms),
                "-L", f"{self.max_lag_ms:g}", "-u", self.path]


def run(box: Any, host: str, port: int, load: Load, *, timeout: float | None = None,
        quiet: bool = True) -> dict[str, Any]:
    """Run ``openloop`` inside ``box`` (the caller's app container); its JSON result."""
    if not 0 < load.rate <= MAX_RATE:
        raise MeshError(f"rate {load.rate:g} req/s is outside 0 < rate <= {MAX_RATE}")
    res = docker.exec_in(box, load.argv(host, port), timeout=timeout or load.seconds + load.timeout_ms / 1000 + 30,
                         quiet=quiet)
    try:  # images built before openloop printed null for an empty distribution printed nan
        out = dict(json.loads(res.stdout.replace(":nan", ":NaN")))
    except ValueError as exc:
        raise MeshError(f"openloop in {box.name} printed no result (exit {res.returncode}): "
                        f"{(res.stderr or res.stdout).strip()[-300:]}") from exc
    if "error" in out and "latency_ms" not in out:
        raise MeshError(f"openloop could not start: {out['error']} ({failures(out.get('errors', {}))})")
    return out


def failures(errors: dict[str, int]) -> str:
    """One line: the failed requests by kind first, then connection attempts (retried every 10 ms, so many)."""
    reqs = sorted(((k, v) for k, v in errors.items() if not k.startswith("connect:")), key=lambda kv: -kv[1])
    tries = sorted(((k, v) for k, v in errors.items() if k.startswith("connect:")), key=lambda kv: -kv[1])
    return "; ".join([f"{v} × {k}" for k, v in reqs[:3]] + [f"{v} connect attempts: {k[9:]}" for k, v in tries[:1]])


def refusal(out: dict[str, Any], limit_ms: float = 1.0) -> str | None:
    """Why this run is not a figure of the system under test (None when it is)."""
    if out.get("generator_ok"):
        return None
    lat, lag = out.get("latency_ms", {}), out.get("loop_lag_ms", {})
    problem = str(out.get("generator_problem") or "no verdict").split(":")[0]
    return (f"unavailable: this machine could not generate {out.get('requested_rate', 0):g} req/s on schedule "
            f"({problem}: loop lag p99 {lag.get('p99', float('nan')):.2f} ms, limit {limit_ms:g} ms; sent "
            f"{out.get('achieved_rate', 0):g}/s, generator CPU {out.get('generator_cpu_s', 0):.2f} s); its latencies "
            f"(p50 {lat.get('p50', float('nan')):.2f} ms, p99 {lat.get('p99', float('nan')):.2f} ms) would be the "
            "machine's stalls, not the path's")


def check(out: dict[str, Any], limit_ms: float = 1.0) -> dict[str, Any]:
    """``out`` when it is a valid figure; :class:`MeshError` when requests failed, :class:`GeneratorRefused` when
    the generator could not keep its schedule (the failed requests are the more important news)."""
    if out.get("errors_total"):
        raise MeshError(f"{out['errors_total']} of {out.get('scheduled')} requests failed: "
                        f"{failures(out.get('errors', {}))}")
    if not out.get("latency_ms", {}).get("n"):
        raise MeshError("no request was measured after the warm-up (the run was too short for its rate)")
    why = refusal(out, limit_ms)
    if why:
        raise GeneratorRefused(why, fix="measure on a quieter machine (other load shares its cores), or a lower rate; "
                                        "/proc/pressure/cpu shows the contention")
    return out


def metrics(out: dict[str, Any]) -> dict[str, float]:
    """The harness's metrics from a valid run (microseconds, as the schema stores latencies)."""
    lat, lag = out["latency_ms"], out["loop_lag_ms"]
    return {"lat_p50_us": lat["p50"] * 1000, "lat_p99_us": lat["p99"] * 1000, "lat_p999_us": lat["p999"] * 1000,
            "achieved_rps": float(out["achieved_rate"]), "gen_lag_p99_us": lag["p99"] * 1000}


def cpu_pressure() -> float | None:
    """``/proc/pressure/cpu`` some avg10: % of time some task waited for a CPU (other tenants' load), if known."""
    from pathlib import Path

    try:
        return float(Path("/proc/pressure/cpu").read_text().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None
