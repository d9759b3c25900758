"""Component: monitoring (chapter 05) — Prometheus on the engine for real, kube-prometheus-stack on kind.

========================= =====================================================================
spec.py                   StackSpec (what a stack is made of), ScrapeTarget, RuleFile, scrape_labels
configs.py                prometheus.yml, the rules both tiers share, alertmanager.yml, blackbox.yml
parts.py                  each container of the engine stack as data (least privilege, the socket)
checks.py                 refused before start: promtool/amtool rejections, taken ports
engine.py                 EngineStack: up (or reuse / refuse), ready, re-token, down
promql.py                 PromClient: PromQL into tidy DataFrames, over HTTP or the API server proxy
verify.py                 the proof: target up with the run's token, a DataFrame, the alert received
detect.py                 time to detect: kill → alert, decomposed against the theoretical sum
cost.py                   what monitoring costs: CPU, memory, bytes per sample, headroom, exporters
cells.py                  the bench suites (monitoring, monitoring-cost) on the engine target
kind.py                   kube-prometheus-stack on kind: values, install, uninstall (plans)
kind_objects.py           the demo, receiver, ServiceMonitor, PrometheusRule, dashboard; the kind verify
images.py                 the five images from one multi-target Dockerfile
cli.py                    `labkit monitoring up|down|status`
lesson.py                 the alert path picture, the engine plan, dashboards and charts, answer checks
========================= =====================================================================
"""

from __future__ import annotations

from typing import Any

from labkit.components.base import Component, lazy_exports


def _options() -> Any:
    from labkit.components.monitoring.kind import OPTIONS

    return OPTIONS


def _suites() -> list[Any]:
    from labkit.components.monitoring.cells import suites

    return suites()


def _engine(action: str) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        from labkit.components.monitoring import cli

        return getattr(cli, action)(*args, **kwargs)
    return run


COMPONENT = Component("monitoring", "Monitoring", "05-monitoring", options=_options, up_flag="monitoring",
                      up_order=30, suites=_suites,
                      summary="Prometheus, Alertmanager, exporters on the engine; kube-prometheus-stack on kind",
                      live_on="engine, kind", binder="plans and replay of recorded runs",
                      engine_up=_engine("up"), engine_down=_engine("down"), engine_status=_engine("status"))

_MODULES = ("spec", "configs", "parts", "checks", "engine", "promql", "verify", "detect", "cost", "cells", "kind",
            "kind_objects", "images", "cli", "lesson")

#: Public names of this component and the module that defines each (imported on first use).
_EXPORTS = {
    "StackSpec": "spec", "ScrapeTarget": "spec", "RuleFile": "spec", "scrape_labels": "spec", "seconds": "spec",
    "new_token": "spec",
    "render": "configs", "prometheus_config": "configs", "demo_rules": "configs", "alertmanager_config": "configs",
    "RUN_LABEL": "configs",
    "EngineStack": "engine", "StackError": "checks", "StackConflict": "checks", "PromtoolRejected": "checks",
    "PromClient": "promql", "PromError": "promql", "to_frame": "promql",
    "Check": "verify", "VerifyFailed": "verify", "verify_stack": "verify", "verify_prom": "verify",
    "wait_for_alert": "verify",
    "alert_path": "verify", "frame": "verify",
    "DetectSetting": "detect", "SETTINGS": "detect", "theory": "detect", "one_detection": "detect",
    "decompose": "detect",
    "OPTIONS": "kind", "INSTALLABLE": "kind", "option": "kind", "options_table": "kind",
    "KubePrometheusStack": "kind",
    "verify_plan": "kind_objects", "cluster_prom": "kind_objects", "kind_manifests": "kind_objects",
    "ensure_images": "images",
    "recordings": "cells", "ANCHORS": "cost", "leftovers": "cost", "TTD_CELLS": "cells", "COST_CELLS": "cells",
    "alert_path_figure": "lesson", "engine_plan": "lesson", "dashboard": "lesson", "ttd_chart": "lesson",
    "cost_chart": "lesson", "check_query": "lesson", "check_number": "lesson", "pick_runs": "lesson",
    "recorded_rows": "lesson",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, _MODULES)
