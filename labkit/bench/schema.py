"""The tidy result schema (DESIGN §5): one row per repetition × metric.

Every row the harness stores has exactly these columns. Grouping keys for a *cell*
(one thing measured under one configuration) are ``CELL_KEYS``; a cell's baseline
is another cell named by ``baseline_cell``.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

PROVENANCE = (
    "run_id", "session_id", "repetition", "block", "ts_start_utc", "ts_end_utc",
    "git_sha", "git_dirty", "lab_version", "notebook", "params_hash", "profile",
    "status", "error",
)
HOST = (
    "host_id", "host_class", "cpu_model", "cpu_cores", "mem_gib", "kernel", "os",
    "cgroup_version", "docker_version", "fs_type", "load1_before",
)
CLUSTER = ("target", "kind_version", "node_image", "k8s_version", "n_nodes")
COMPONENT = ("suite", "component", "component_version", "component_config")
SCENARIO = (
    "cell", "baseline_cell", "baseline_level", "tool", "tool_version", "test",
    "placement", "path", "protocol", "streams_or_numjobs", "msg_size_or_bs",
    "iodepth", "direct", "fsync", "file_size", "duration_s", "ramp_s", "impairment",
)
#: How noise was handled at the source and how A/B were paired (issue 13): the design (single,
#: interleaved, duet), the within-block order, unrecorded warm-up runs per cell, CPU pinning, and for an
#: impaired B arm the cap set in this block and the B/A it delivered.
DESIGN = ("design", "arm_order", "warmup_runs", "cpu_pin", "impair_cap", "impair_delivered")
MEASUREMENT = ("metric", "value", "unit", "higher_is_better")
DERIVED = ("baseline_value", "ratio_to_baseline")

COLUMNS = PROVENANCE + HOST + CLUSTER + COMPONENT + SCENARIO + DESIGN + MEASUREMENT + DERIVED

#: A cell × test × metric identifies one series of repeated measurements.
CELL_KEYS = ("suite", "cell", "test", "metric")

#: Metrics and whether more is better; anything measured must be listed here.
METRICS: dict[str, tuple[str, bool]] = {
    "throughput_bps": ("bit/s", True),
    "retransmits": ("count", False),
    "udp_loss_pct": ("%", False),
    "jitter_ms": ("ms", False),
    "lat_p50_us": ("us", False),
    "lat_p99_us": ("us", False),
    "lat_p999_us": ("us", False),
    "lat_mean_us": ("us", False),
    "iops": ("IO/s", True),
    "bw_Bps": ("B/s", True),
    "start_latency_s": ("s", False),
    "seconds": ("s", False),  # orchestration operations: time until the wanted state is served
    # monitoring (chapter 05): time to detect, split into its parts
    "ttd_total_s": ("s", False),  # stop → the receiver has the alert
    "ttd_detect_s": ("s", False),  # stop → the alert is active (pending)
    "ttd_for_s": ("s", False),  # active → fired (the rule's for:, rounded to evaluations)
    "ttd_deliver_s": ("s", False),  # fired → received (group_wait + HTTP)
    # monitoring: what Prometheus costs at N series and interval I, and whether ingestion keeps up
    "samples_per_s": ("samples/s", True),
    "prom_cpu_cores": ("cores", False),
    "cpu_us_per_sample": ("us", False),
    "rss_bytes": ("B", False),
    "rss_bytes_per_series": ("B", False),
    "wal_bytes_per_sample": ("B", False),
    "block_bytes_per_sample": ("B", False),  # persisted block's chunks ÷ samples (the docs' 1-2 B anchor)
    "appended_ratio": ("ratio", True),  # samples appended ÷ series/interval (1.0: keeping up)
    "scrape_duration_max_s": ("s", False),
    "lagging": ("0/1", False),
    # monitoring: what an exporter costs per scrape
    "exporter_cpu_ms_per_scrape": ("ms", False),
    "exporter_scrape_ms": ("ms", False),
    "exporter_series": ("count", False),
    # logging (chapter 06): delivery delay, loss under bursts, and what the app felt
    "delay_p50_ms": ("ms", False),
    "delay_p99_ms": ("ms", False),
    "to_collector_p50_ms": ("ms", False),  # syslog: emit -> rsyslog's receive stamp (the transport part)
    "seen_ratio": ("ratio", True),  # lines the reader saw / lines sent
    "loss_pct": ("%", False),
    "lost_lines": ("count", False),
    "app_rate": ("lines/s", True),  # what the app achieved (blocking mode holds it to the path's speed)
    "write_p50_us": ("us", False),  # the app's own write(2) latency on stdout
    "write_p99_us": ("us", False),
    "write_max_ms": ("ms", False),
    "stored_rate": ("lines/s", True),  # lines stored / (last stored - first sent): the throughput ceiling
    # service mesh (chapter 07): the tax of a proxy at a fixed, open-loop request rate (latency: lat_p*_us)
    "achieved_rps": ("req/s", True),  # requests the open-loop generator sent per second (= the rate asked, or refused)
    "gen_lag_p99_us": ("us", False),  # the generator's own loop lag p99: its self-check (> 1 ms: the run is refused)
    "proxy_cpu_cores": ("cores", False),  # CPU per proxy (mean over the path's proxies), from their cgroups
    "proxy_mem_mib": ("MiB", False),  # working set per proxy (usage - inactive file), as the kubelet counts it
    # deployment pipeline (chapter 08): commit → running, and each stage of it; builds per strategy
    "lead_time_s": ("s", False),
    "stage_commit_s": ("s", False),
    "stage_detect_s": ("s", False),
    "stage_clone_s": ("s", False),
    "stage_build_s": ("s", False),
    "stage_push_s": ("s", False),
    "stage_sbom_s": ("s", False),
    "stage_sign_s": ("s", False),
    "stage_deploy_s": ("s", False),
    "stage_ready_s": ("s", False),
    "build_s": ("s", False),
    "image_bytes": ("B", False),
    "cached_steps": ("count", True),
}

#: Headline metrics: the ones the regression gate and the noisy-session check judge.
#: Diagnostics (retransmits, jitter, mean latency) are stored and charted but never fail a gate:
#: they are too noisy run to run (retransmits: CV 30-70 % on our CI VM).
def metric_info(name: str) -> tuple[str, bool]:
    """(unit, higher_is_better) of ``name``: from :data:`METRICS`, else from the registered suite that declares it
    (``Suite(metrics=...)``). An unknown metric is a programming error and says where to declare it."""
    if name in METRICS:
        return METRICS[name]
    from labkit.bench.registry import suites

    for suite in suites().values():
        if name in suite.metrics:
            return suite.metrics[name]
    raise KeyError(f"metric {name!r} is declared nowhere: add it to its suite's metrics= (or schema.METRICS)")


GATED_METRICS = frozenset({"throughput_bps", "iops", "bw_Bps", "lat_p50_us", "lat_p99_us", "lat_p999_us",
                           "udp_loss_pct", "start_latency_s"})
