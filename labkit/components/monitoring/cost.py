"""What monitoring costs: Prometheus's CPU, memory and disk per sample; when ingestion starts to lag; exporters.

Each measurement starts a fresh stack (Prometheus, Alertmanager, receiver) plus synthetic targets of N
series (labkit's ``synth.py``), waits for the series to exist, then measures a window:

* CPU from Prometheus's own ``process_cpu_seconds_total`` (read from its /metrics at the window's edges);
* samples/s from ``prometheus_tsdb_head_samples_appended_total``; RSS from ``process_resident_memory_bytes``;
* the WAL with ``du -sb``; then the **admin snapshot** API persists the head as a real block, and bytes per
  sample = the block's ``chunks/`` bytes ÷ its ``meta.json`` ``numSamples``: the figure the Prometheus
  storage docs quote as "around 1-2 bytes per sample";
* lag: samples appended ÷ expected (series ÷ interval), the slowest scrape, failed scrapes.

Exporter overhead comes from the exporters' own ``process_cpu_seconds_total``, scraped by the stack:
monitoring measuring itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from labkit import docker
from labkit.components.monitoring import images
from labkit.components.monitoring.engine import EngineStack
from labkit.components.monitoring.spec import STACK, ScrapeTarget, StackSpec, seconds
from labkit.errors import LabkitError

TSDB = "/var/lib/prometheus/metrics2"
PER_TARGET = 25_000  # series per synthetic target (one scrape body ~1.3 MB at 25k)

#: Published figures, shown beside ours (with why they differ, in the chapter).
ANCHORS = {
    "block_bytes_per_sample": (1.0, 2.0, "Prometheus storage docs: \"On average, Prometheus uses only around 1-2 "
                               "bytes per sample\" — https://github.com/prometheus/prometheus/blob/v2.53.3/docs/"
                               "storage.md"),
}


@dataclass(frozen=True)
class Load:
    """A cost cell: ``series`` synthetic series scraped every ``interval``."""

    series: int
    interval: str
    kind: str = "counter"  # counter | mixed | gauge (see synth.py)
    precomputed: bool = False  # load runs: pre-rendered bodies keep the targets' own CPU near zero

    @property
    def targets(self) -> int:
        return max(1, -(-self.series // PER_TARGET))


def _metric(text: str, name: str) -> float | None:
    """The sum of every sample of ``name`` in Prometheus text exposition (2.53 labels some, e.g. ``type="float"``);
    None when there is none."""
    values = [float(line.rsplit(" ", 1)[-1]) for line in text.splitlines()
              if line.startswith((name + " ", name + "{"))]
    return sum(values) if values else None


def _scrape(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=15) as resp:  # noqa: S310 - 127.0.0.1
        return resp.read().decode()


def _start_synth(stack: EngineStack, load: Load) -> None:
    for i in range(load.targets):
        n = min(PER_TARGET, load.series - i * PER_TARGET)
        cmd = ["python3", "/opt/labkit/synth.py", "--series", str(n), "--port", "8000", "--kind", load.kind]
        if load.precomputed:
            cmd += ["--precomputed", "8"]
        box = docker.create(images.of("synth"), cmd, role="monitoring", name=stack.spec.host(f"synth{i}"),
                            network=stack.spec.network, user="65534:65534", labels=stack.labels(f"synth{i}"))
        docker.start(box)


def _du(box: Any, path: str) -> int:
    res = docker.exec_in(box, ["du", "-sb", path], timeout=60, quiet=True)
    return int(res.stdout.split()[0]) if res.ok and res.stdout.strip() else -1


def snapshot_block(stack: EngineStack) -> dict[str, float]:
    """Persist the head as a block (admin API), then read its size and sample count from disk."""
    box = stack.boxes["prometheus"]
    name = stack.prom.api("/api/v1/admin/tsdb/snapshot", method="POST")["name"]
    listing = docker.exec_in(box, ["sh", "-c", 'ls -d "$1"/*/', "sh", f"{TSDB}/snapshots/{name}"], timeout=30,
                             quiet=True)
    out = {"num_samples": 0.0, "num_series": 0.0, "chunks_bytes": 0.0, "index_bytes": 0.0}
    for block in listing.stdout.split():
        meta = json.loads(docker.exec_in(box, ["cat", f"{block}meta.json"], timeout=30, quiet=True).stdout)
        out["num_samples"] += meta["stats"]["numSamples"]
        out["num_series"] += meta["stats"]["numSeries"]
        out["chunks_bytes"] += _du(box, f"{block}chunks")
        out["index_bytes"] += _du(box, f"{block}index")
    return out


def measure_load(load: Load, *, duration_s: float, name: str, session: str) -> dict[str, float]:
    """One cost measurement on a fresh stack; the metrics of the schema (see labkit.bench.schema)."""
    i = seconds(load.interval)
    probe = StackSpec(name=name, parts=())
    spec = StackSpec(name=name, parts=(), scrape_interval=load.interval, evaluation_interval=load.interval,
                     extra_targets=tuple(ScrapeTarget("synth", f"{probe.host(f'synth{k}')}:8000")
                                         for k in range(load.targets)),
                     prometheus_args=("--web.enable-admin-api",))
    with EngineStack(spec, session=session) as stack:
        _start_synth(stack, load)
        prom, url = stack.prom, stack.prometheus_url
        deadline = time.time() + max(60.0, 10 * i)
        while (prom.value('up{job="synth"}') or 0) < load.targets:  # every target scraped once: series exist
            if time.time() > deadline:
                raise LabkitError(f"the synthetic targets were not scraped within {max(60.0, 10 * i):.0f} s")
            time.sleep(0.5)
        time.sleep(max(5.0, 3 * i))  # warm-up: the first scrapes create the series (costlier than appends)
        m0, t0 = _scrape(url), time.time()
        time.sleep(duration_s)
        m1, t1 = _scrape(url), time.time()
        window = t1 - t0
        cpu = ((_metric(m1, "process_cpu_seconds_total") or 0) - (_metric(m0, "process_cpu_seconds_total") or 0))
        appended = ((_metric(m1, "prometheus_tsdb_head_samples_appended_total") or 0)
                    - (_metric(m0, "prometheus_tsdb_head_samples_appended_total") or 0))
        series = _metric(m1, "prometheus_tsdb_head_series") or 0.0
        w = f"{max(1, round(window))}s"
        expected = (series / i) if series else float("nan")
        slowest = prom.value(f'max(max_over_time(scrape_duration_seconds{{job="synth"}}[{w}]))') or 0.0
        failed = prom.value(f'count_over_time(up{{job="synth"}}[{w}]) - sum_over_time(up{{job="synth"}}[{w}])') or 0.0
        rss = _metric(m1, "process_resident_memory_bytes") or 0.0
        wal = _du(stack.boxes["prometheus"], f"{TSDB}/wal")
        total_appended = _metric(m1, "prometheus_tsdb_head_samples_appended_total") or 0.0
        block = snapshot_block(stack)
        ratio = (appended / window) / expected if expected == expected and expected else float("nan")
        out = {"samples_per_s": appended / window, "prom_cpu_cores": cpu / window,
               "cpu_us_per_sample": 1e6 * cpu / appended if appended else float("nan"),
               "rss_bytes": rss, "rss_bytes_per_series": rss / series if series else float("nan"),
               "wal_bytes_per_sample": wal / total_appended if total_appended else float("nan"),
               "appended_ratio": ratio, "scrape_duration_max_s": slowest,
               "lagging": float(ratio < 0.95 or slowest > 0.8 * i or failed > 0)}
        if block["num_samples"]:
            out["block_bytes_per_sample"] = block["chunks_bytes"] / block["num_samples"]
        return out


def measure_exporter(part: str, *, duration_s: float, name: str, session: str) -> dict[str, float]:
    """CPU and wall time per scrape of one exporter (``node-exporter`` or ``container-exporter``), at 1 s."""
    job = {"node-exporter": "node", "container-exporter": "labkit-container-exporter"}[part]
    spec = StackSpec(name=name, parts=(part,), scrape_interval="1s", evaluation_interval="1s", sd_refresh="1s")
    with EngineStack(spec, session=session) as stack:
        prom = stack.prom
        deadline = time.time() + 60
        while not prom.value(f'up{{job="{job}"}}'):
            if time.time() > deadline:
                raise LabkitError(f"{part} was not scraped within 60 s")
            time.sleep(0.5)
        time.sleep(max(5.0, duration_s))
        w = f"{max(2, round(duration_s))}s"
        cpu = prom.value(f'increase(process_cpu_seconds_total{{job="{job}"}}[{w}])')
        scrapes = prom.value(f'count_over_time(up{{job="{job}"}}[{w}])')
        wall = prom.value(f'avg_over_time(scrape_duration_seconds{{job="{job}"}}[{w}])')
        samples = prom.value(f'scrape_samples_scraped{{job="{job}"}}')
        if not cpu or not scrapes:
            raise LabkitError(f"no CPU samples of {part} in the window (is it exposing process_cpu_seconds_total?)")
        return {"exporter_cpu_ms_per_scrape": 1000 * cpu / scrapes, "exporter_scrape_ms": 1000 * (wall or 0),
                "exporter_series": samples or 0.0}


def leftovers(name: str) -> list[str]:
    return [c.name for c in docker.containers(label=f"{STACK}={name}")]
