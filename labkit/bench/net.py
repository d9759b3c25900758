"""Network workloads: iperf3 and sockperf command lines, and parsers of their output.

Pure functions only; the targets (engine, kind) decide where the commands run.
Throughput is what the *receiver* got (``sum_received``), retransmits what the
sender counted. Latency is sockperf ping-pong round-trip time, percentiles taken
per run (the harness then takes the median across runs, never an average).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from labkit.errors import BadInput, LabkitError

IPERF_PORT = 5201
SOCKPERF_PORT = 11111


class ParseError(LabkitError):
    """A tool's output did not contain a result; the message quotes the tool's own error."""


@dataclass(frozen=True)
class NetTest:
    """One network measurement: ``tcp-1``, ``tcp-4``, ``udp`` or ``latency``."""

    name: str
    tool: str  # iperf3 | sockperf
    protocol: str  # tcp | udp
    streams: int = 1
    duration_s: float = 2.0
    omit_s: float = 0.0

    @property
    def budget_s(self) -> float:
        """Seconds one measurement takes (the harness's timeout is a multiple of it)."""
        return self.duration_s

    def scenario(self, **_: object) -> dict[str, object]:
        return {"tool": self.tool, "test": self.name, "protocol": self.protocol,
                "streams_or_numjobs": self.streams, "duration_s": self.duration_s, "ramp_s": self.omit_s}


def net_tests(names: list[str], *, duration_s: float, omit_s: float, streams: int) -> list[NetTest]:
    """Build the named tests; ``tcp-N`` uses ``streams`` parallel streams."""
    known = {"tcp-1", "tcp-N", "udp", "latency"}
    out = []
    for name in names:
        if name == "tcp-1":
            out.append(NetTest("tcp-1", "iperf3", "tcp", 1, duration_s, omit_s))
        elif name == "tcp-N":
            out.append(NetTest(f"tcp-{streams}", "iperf3", "tcp", streams, duration_s, omit_s))
        elif name == "udp":
            out.append(NetTest("udp", "iperf3", "udp", 1, duration_s, omit_s))
        elif name == "latency":
            out.append(NetTest("latency", "sockperf", "tcp", 1, duration_s, 0.0))
        else:
            raise BadInput("network test", name, ", ".join(sorted(known)))
    return out


def iperf3_server_argv(port: int = IPERF_PORT) -> list[str]:
    return ["iperf3", "--server", "--port", str(port)]


def iperf3_client_argv(host: str, test: NetTest, *, port: int = IPERF_PORT) -> list[str]:
    argv = [
        "iperf3",
        "--client", host,
        "--port", str(port),
        "--json",                          # machine-readable result
        "--time", f"{test.duration_s:g}",
        "--parallel", str(test.streams),
        "--zerocopy",                      # sendfile(): measure the path, not the copy
    ]
    if test.omit_s:
        argv += ["--omit", f"{test.omit_s:g}"]  # drop TCP slow-start seconds
    if test.protocol == "udp":
        argv = [a for a in argv if a != "--zerocopy"] + ["--udp", "--bitrate", "0"]  # unlimited UDP
    return argv


def sockperf_server_argv(port: int = SOCKPERF_PORT) -> list[str]:
    return ["sockperf", "server", "--ip", "0.0.0.0", "--port", str(port), "--tcp"]


def sockperf_client_argv(host: str, test: NetTest, *, port: int = SOCKPERF_PORT, cpu: int | None = 0) -> list[str]:
    argv = ["sockperf", "ping-pong", "--ip", host, "--port", str(port), "--tcp",
            "--time", f"{max(1, round(test.duration_s))}", "--full-rtt"]
    # Unpinned ping-pong latency is bimodal on small VMs (vCPU wake-ups); pin the client.
    return (["taskset", "--cpu-list", str(cpu)] + argv) if cpu is not None else argv


def parse_iperf3(text: str) -> dict[str, float]:
    """Metrics from ``iperf3 --json`` output (TCP or UDP)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"iperf3 printed no JSON: {text.strip()[:300]!r}") from exc
    if data.get("error"):
        raise ParseError(f"iperf3: {data['error']}")
    end = data.get("end") or {}
    if "sum_received" not in end and "sum" not in end:
        raise ParseError("iperf3 JSON has no end.sum_received/end.sum (interrupted run?)")
    udp = data.get("start", {}).get("test_start", {}).get("protocol") == "UDP" or "lost_percent" in end.get("sum", {})
    if udp:
        summ = end.get("sum") or {}
        recv = end.get("sum_received") or summ
        return {
            "throughput_bps": float(recv["bits_per_second"]),
            "udp_loss_pct": float(summ.get("lost_percent", 0.0)),
            "jitter_ms": float(summ.get("jitter_ms", 0.0)),
        }
    return {
        "throughput_bps": float(end["sum_received"]["bits_per_second"]),
        "retransmits": float(end.get("sum_sent", {}).get("retransmits", 0)),
    }


def iperf3_version(text: str) -> str | None:
    try:
        return str(json.loads(text)["start"]["version"]).replace("iperf ", "")
    except (ValueError, KeyError, TypeError):
        return None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PCT = re.compile(r"percentile\s+([\d.]+)\s*=\s*([\d.]+)")
_AVG = re.compile(r"avg-(?:rtt|latency)=([\d.]+)")


def parse_sockperf(text: str) -> dict[str, float]:
    """p50/p99/p99.9 and mean (µs) from ``sockperf ping-pong`` output."""
    clean = _ANSI.sub("", text)
    pct = {float(p): float(v) for p, v in _PCT.findall(clean)}
    if not {50.0, 99.0, 99.9} <= pct.keys():
        errors = [ln for ln in clean.splitlines() if "ERROR" in ln]
        raise ParseError("sockperf printed no percentiles" + (f": {errors[0].strip()}" if errors else ""))
    out = {"lat_p50_us": pct[50.0], "lat_p99_us": pct[99.0], "lat_p999_us": pct[99.9]}
    avg = _AVG.search(clean)
    if avg:
        out["lat_mean_us"] = float(avg.group(1))
    return out


def sockperf_version(text: str) -> str | None:
    match = re.search(r"version #?([\w.\-]+)", _ANSI.sub("", text))
    return match.group(1) if match else None
