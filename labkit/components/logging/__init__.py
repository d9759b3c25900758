"""Component: logging (chapter 06) — Docker's log drivers into a real collector here, Fluent Bit into Loki on kind.

========================= =====================================================================
drivers.py                log configs as data (json-file, local, syslog, journald), checked like dockerd
collector.py              rsyslog (Debian) in a container: the central store, its records, lnav
emitter.py                labkit's own C emitter: numbered, timestamped lines; the app's write latency
readback.py               what each path stored, and when each line became visible
measure.py                bursts (loss, both sides), delivery delay, rotation; disk refused up front
engine_cells.py           the harness's cells (one log path each) and tests
verify.py                 a token found with the right fields; a token after the stop reported MISSING
faults.py                 bad input, collector down at start, killed or paused mid-stream
mtail.py                  logs into Prometheus metrics, and the log-based alert (promtool-checked)
stack.py                  ``labkit logging up|down|status``: the collector and mtail for the terminal
options.py                kind tier: Fluent Bit → Loki; Promtail, Alloy, Fluentd, ELK explained
kube_verify.py            kind tier: the token found in Loki with its pod's labels; missing when stopped
loki.py                   LogQL over Loki's HTTP API into a DataFrame (service proxy or URL)
kube_measure.py           kind tier: Fluent Bit into Loki, loss and delay at a few rates
charts.py                 the log path drawn from the live system; loss/delay charts; the sizing anchor
lab.py                    the chapter's live objects across notebook cells, removed together
exercises.py              check-your-understanding: checks of the learner's answers against the live system
evidence.py               the non-benchmark results recorded for replay (verify, rotation, faults, mtail)
========================= =====================================================================
"""

from __future__ import annotations

from typing import Any

from labkit.components.base import Component, lazy_exports


def _options() -> Any:
    from labkit.components.logging.options import OPTIONS

    return OPTIONS


def _suites() -> list[Any]:
    from labkit.bench.registry import Suite, TargetCells
    from labkit.components.logging import engine_cells as ec
    from labkit.errors import Unavailable

    def tests(request: Any, prof: Any) -> list[Any]:
        return ec.log_tests(list(request.tests) if request.tests else None, profile=prof.name,
                            seconds=request.duration_s)

    def elsewhere(request: Any) -> Any:
        raise Unavailable("the logging suite measures Docker's log paths on the local engine; on kind, "
                          "logging.measure_loki measures Fluent Bit into Loki", fix="use target='engine'")

    other = TargetCells(elsewhere, ec.open_cell)
    return [Suite("logging", "logging", "log paths: delivery delay, loss under bursts, throughput", tests,
                  {"engine": TargetCells(lambda r: dict(ec.CELLS), ec.open_cell), "kind": other, "cluster": other},
                  reps=lambda prof: 3 if prof.name == "quick" else 6)]


def _up(name: str = "lab", options: dict[str, str] | None = None) -> str:
    """Start the engine tier's log collector (rsyslog, 127.0.0.1:5140) and mtail (127.0.0.1:3903), left running;
    `down` removes them, `status` says what runs. Options: port=N (the collector), port.mtail=N."""
    from labkit.components.logging import stack

    return stack.up(**stack.ports(options or {}))


def _down(name: str = "lab", options: dict[str, str] | None = None) -> str:
    from labkit.components.logging import stack

    return stack.down()


def _status(name: str = "lab", options: dict[str, str] | None = None) -> str:
    from labkit.components.logging import stack

    return "\n".join(f"{k:22} {v}" for k, v in stack.status().items())


COMPONENT = Component("logging", "Logging", "06-logging", options=_options, up_flag="logging", up_order=60,
                      suites=_suites,
                      summary="Docker log drivers + rsyslog, mtail; Fluent Bit → Loki on kind",
                      live_on="engine, kind", binder="replay of recorded runs",
                      engine_up=_up, engine_down=_down, engine_status=_status)

_MODULES = ("drivers", "records", "collector", "emitter", "readback", "measure", "engine_cells", "verify", "faults",
            "mtail", "stack", "options", "kube_verify", "loki", "charts", "lab", "exercises",
            "evidence", "kube_measure")

#: Public names of this component and the module that defines each (imported on first use).
_EXPORTS = {
    **{n: "drivers" for n in ("LogConfig", "json_file", "local", "syslog", "journald", "syslog_tag", "check",
                              "journald_available", "drivers_table", "parse_size")},
    **{n: "records" for n in ("read_json", "read_rfc5424", "parse_rfc5424", "select", "parse_labels")},
    **{n: "collector" for n in ("Collector", "collector_argv")},
    **{n: "emitter" for n in ("emit", "new_token", "docker_run_argv")},
    **{n: "measure" for n in ("PATHS", "burst", "delay", "rotation", "check_rotation_space")},
    **{n: "verify" for n in ("TokenCheck", "verify_token", "verify_missing_after_stop")},
    **{n: "faults" for n in ("bad_inputs", "down_at_start", "mid_stream", "logs_while_down")},
    **{n: "mtail" for n in ("Mtail", "alert_rules", "scrape_config", "check_alert_rule", "alert_loop")},
    **{n: "options" for n in ("OPTIONS", "INSTALLABLE", "option", "options_table", "LokiStack")},
    "Loki": "loki",
    "measure_loki": "kube_measure",
    **{n: "charts" for n in ("log_path", "kind_path", "loss_chart", "app_chart", "delay_chart", "ceiling_chart",
                             "sizing")},
    "CELLS": "engine_cells",
    "Lab": "lab",
    **{n: "exercises" for n in ("ask", "check", "reveal")},
}


__getattr__ = lazy_exports(__name__, _EXPORTS, _MODULES)
