"""The engine-tier configs as data (dicts), rendered to YAML byte for byte, and the rules both tiers share.

* :func:`prometheus_config` — global intervals, rule files, Alertmanager, and the scrape jobs: Prometheus
  itself, ``docker`` (docker_sd_configs over the Docker socket, relabelled from container labels), the
  blackbox probe of the demo app, and any extra static targets;
* :func:`demo_rules` — the alerting and recording rules; the kind tier embeds the same groups in a
  PrometheusRule (:mod:`labkit.components.monitoring.kind_objects`);
* :func:`alertmanager_config`, :func:`blackbox_config`; :func:`render` → ``{file name: bytes}``.

Docs at the versions that run here: https://github.com/prometheus/prometheus/blob/v2.53.3/docs/configuration/configuration.md
(docker_sd_config, relabel_config), https://github.com/prometheus/prometheus/blob/v2.53.3/docs/configuration/alerting_rules.md.
"""

from __future__ import annotations

import re
from typing import Any

from labkit.components.monitoring.spec import (
    JOB,
    LABEL_PREFIX,
    PORTS,
    SCRAPE,
    SCRAPE_PATH,
    SCRAPE_PORT,
    STACK,
    StackSpec,
    duration,
)
from labkit.manifests import to_yaml

CONFIG_DIR = "/etc/labkit"
RUN_LABEL = "labkit_run"  # the run token as a target and alert label, on both tiers
DEMO_ALERT = "DemoAppDown"
PROBE_ALERT = "DemoProbeFailing"


def sd_label(key: str) -> str:
    """docker_sd meta label of a Docker label (``io.labkit.job`` → ``__meta_docker_container_label_io_labkit_job``)."""
    return "__meta_docker_container_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def docker_job(spec: StackSpec) -> dict[str, Any]:
    """Discover this stack's containers that ask to be scraped; their labels become target labels."""
    return {
        "job_name": "docker",
        "docker_sd_configs": [{
            "host": "unix:///var/run/docker.sock",
            "refresh_interval": spec.sd_refresh,
            # server-side filters (ANDed): this stack's containers that asked to be scraped
            "filters": [{"name": "label", "values": [f"{STACK}={spec.name}"]},
                        {"name": "label", "values": [f"{SCRAPE}=true"]}],
        }],
        "relabel_configs": [
            # a container on several networks is listed once per network: keep the stack's own
            {"source_labels": ["__meta_docker_network_name"], "regex": spec.network, "action": "keep"},
            {"source_labels": ["__meta_docker_network_ip", sd_label(SCRAPE_PORT)], "regex": r"(.+);(\d+)",
             "replacement": "${1}:${2}", "target_label": "__address__"},
            {"source_labels": [sd_label(SCRAPE_PATH)], "regex": "(.+)", "target_label": "__metrics_path__"},
            {"source_labels": [sd_label(JOB)], "regex": "(.+)", "target_label": "job"},
            # not `container`: on cAdvisor metrics that names the *measured* container (kubelet semantics)
            {"source_labels": ["__meta_docker_container_name"], "regex": "/?(.+)", "target_label": "docker_container"},
            {"action": "labelmap", "regex": sd_label(LABEL_PREFIX) + "(.+)"},
        ],
    }


def blackbox_job(spec: StackSpec) -> dict[str, Any]:
    """blackbox-exporter probes the demo app over HTTP; the probed URL becomes the instance."""
    return {
        "job_name": "blackbox",
        "metrics_path": "/probe",
        "params": {"module": ["http_2xx"]},
        "static_configs": [{"targets": [f"http://{spec.host('demo')}:{PORTS['demo']}/"],
                            "labels": {RUN_LABEL: spec.token}}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": f"{spec.host('blackbox')}:{PORTS['blackbox']}"},
        ],
    }


def rule_files(spec: StackSpec) -> list[str]:
    return [f"{CONFIG_DIR}/rules.yml", *[f"{CONFIG_DIR}/{r.name}" for r in spec.extra_rules]]


def prometheus_config(spec: StackSpec) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = [{"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
                                  docker_job(spec)]
    if spec.has("blackbox"):
        jobs.append(blackbox_job(spec))
    extra: dict[str, dict[str, Any]] = {}  # one job per name: Prometheus refuses a job_name twice
    for t in spec.extra_targets:
        job = extra.setdefault(t.job, {"job_name": t.job, "static_configs": []})
        job["static_configs"].append({"targets": [t.address], **({"labels": dict(t.labels)} if t.labels else {})})
        if t.path != "/metrics":
            job["metrics_path"] = t.path
    jobs += extra.values()
    return {
        "global": {"scrape_interval": spec.scrape_interval, "scrape_timeout": duration(spec.timeout_s),
                   "evaluation_interval": spec.evaluation_interval, "external_labels": {"stack": spec.name}},
        "rule_files": rule_files(spec),
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"{spec.host('alertmanager')}:{PORTS['alertmanager']}"]}]}]},
        "scrape_configs": jobs,
    }


def demo_rules(*, job: str, token: str, alert_for: str, probe: bool = True,
               matchers: str = "") -> dict[str, Any]:
    """The lesson's rules. ``absent(up{...} == 1)`` fires both while the target is down (up == 0) and after
    discovery dropped the stopped container (docker_sd lists running containers only, so ``up == 0`` alone
    resolves at the next refresh); ``absent()`` of an expression returns ``{}``, so the rule puts ``job``
    and the run token back as labels."""
    sel = f'job="{job}", {RUN_LABEL}="{token}"' + (f", {matchers}" if matchers else "")
    rules: list[dict[str, Any]] = [
        {"alert": DEMO_ALERT, "expr": f"absent(up{{{sel}}} == 1)", "for": alert_for,
         "labels": {"severity": "page", "job": job, RUN_LABEL: token},
         "annotations": {"summary": f"the demo app of run {token} has no healthy scrape target"}},
    ]
    if probe:
        rules.append({"alert": PROBE_ALERT, "expr": f'probe_success{{job="blackbox", {RUN_LABEL}="{token}"}} == 0',
                      "for": alert_for, "labels": {"severity": "page", RUN_LABEL: token},
                      "annotations": {"summary": "the blackbox HTTP probe of the demo app fails"}})
    rules.append({"record": "container:cpu_usage:rate1m",  # a recording rule: per-container CPU in cores
                  "expr": "sum by (container) (rate(container_cpu_usage_seconds_total[1m]))"})
    return {"groups": [{"name": "labkit-demo", "rules": rules}]}


def alertmanager_config(spec: StackSpec) -> dict[str, Any]:
    return {
        "route": {"receiver": "labkit-webhook", "group_by": ["alertname", RUN_LABEL], "group_wait": spec.group_wait,
                  "group_interval": spec.group_interval, "repeat_interval": "1h"},
        "receivers": [{"name": "labkit-webhook", "webhook_configs": [
            {"url": f"http://{spec.host('receiver')}:{PORTS['receiver']}/alert", "send_resolved": True}]}],
    }


def blackbox_config() -> dict[str, Any]:
    return {"modules": {"http_2xx": {"prober": "http", "timeout": "2s", "http": {"preferred_ip_protocol": "ip4"}}}}


def render(spec: StackSpec) -> dict[str, bytes]:
    """File name → bytes: exactly what goes into the containers (and what the identity hashes)."""
    files = {"prometheus.yml": prometheus_config(spec),
             "rules.yml": demo_rules(job="demo", token=spec.token, alert_for=spec.alert_for,
                                     probe=spec.has("blackbox")) if spec.has("demo") else {"groups": []},
             "alertmanager.yml": alertmanager_config(spec)}
    if spec.has("blackbox"):
        files["blackbox.yml"] = blackbox_config()
    for r in spec.extra_rules:
        files[r.name] = {"groups": [dict(g) for g in r.groups]}
    return {name: to_yaml(obj).encode() for name, obj in files.items()}
