"""Logs into metrics: mtail (Debian's package) tails the collector's records and serves Prometheus metrics,
and a log-based alert rule for chapter 05's Prometheus, checked and unit-tested with promtool.

mtail only polls the files that exist when it starts, and starts at their end: it comes up after the
collector's first (probe) record, and counts only what is written after it started.

Files (environments/logging/engine/): ``labkit.mtail`` (the program), ``labkit-log-alerts.yml`` (the rule),
``labkit-log-alerts.test.yml`` (its promtool unit test), ``prometheus-scrape.yml`` (the scrape job).
"""

from __future__ import annotations

import re
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import docker
from labkit.components.logging.collector import Collector, check_port, free_port
from labkit.errors import LabkitError
from labkit.log import log
from labkit.versions import environments_dir

IMAGE, PROMTOOL = "logging-mtail", "logging-promtool"
PORT = 3903
PROGRAM, RULES, RULES_TEST, SCRAPE = ("labkit.mtail", "labkit-log-alerts.yml", "labkit-log-alerts.test.yml",
                                      "prometheus-scrape.yml")
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def files_dir() -> Path:
    return environments_dir() / "logging" / "engine"


def text(name: str) -> str:
    """One of the chapter's files, as text (the program, the rule, its test, the scrape job)."""
    return (files_dir() / name).read_text()


def alert_rules() -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(text(RULES)))


def scrape_config(target: str) -> str:
    """The Prometheus snippet that scrapes mtail at ``target`` (``host:port``) and loads the rule."""
    return text(SCRAPE).replace('"127.0.0.1:3903"', f'"{target}"')


@dataclass
class Mtail:
    box: Any
    port: int

    @classmethod
    def up(cls, scope: docker.Scope, collector: Collector, *, port: int | None = None,
           timeout: float = 30.0) -> Mtail:
        """Start mtail on the collector's records; return once ``/metrics`` answers."""
        from labkit import images

        if not collector.json_path.exists():
            raise LabkitError(f"{collector.json_path} must exist before mtail starts (mtail polls only the files "
                              "present when it starts)", fix="start the collector first (Collector.up)")
        port = check_port(port) if port is not None else free_port()
        box = scope.container(
            images.ensure(IMAGE), name=f"lk-{scope.session}-mtail-{port}", role="logging-mtail",
            ports={f"{PORT}/tcp": ("127.0.0.1", port)},
            volumes={str(collector.log_dir): {"bind": "/logs", "mode": "ro"},
                     str(files_dir() / PROGRAM): {"bind": f"/etc/mtail/{PROGRAM}", "mode": "ro"}})
        m = cls(box, port)
        t0 = time.monotonic()
        while _get(m.url) is None:
            if time.monotonic() - t0 > timeout or not docker.is_running(box):
                raise LabkitError(f"mtail did not serve {m.url} within {timeout:g} s: {docker.logs(box, tail=20)}",
                                  fix="a syntax error in labkit.mtail shows in the log above")
            time.sleep(0.2)
        log(f"✓ mtail {box.name}: metrics at {m.url}")
        return m

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def scrape(self) -> str:
        body = _get(self.url)
        if body is None:
            raise LabkitError(f"scrape of {self.url} failed", fix=f"docker logs {self.box.name}")
        return body

    def value(self, metric: str, **labels: str) -> float | None:
        return value(self.scrape(), metric, **labels)

    def wait_value(self, metric: str, want: float, *, timeout: float = 10.0, **labels: str) -> tuple[float | None,
                                                                                                     float]:
        """Scrape until ``metric{labels}`` reaches ``want``; (the last value, seconds waited)."""
        t0 = time.monotonic()
        got = None
        while time.monotonic() - t0 < timeout:
            got = self.value(metric, **labels)
            if got is not None and got >= want:
                break
            time.sleep(0.25)
        return got, time.monotonic() - t0


    def connect(self, network: str) -> None:
        """Join ``network`` too (another chapter's Prometheus scrapes ``<name>:3903`` there)."""
        from labkit._run import default_runner

        default_runner().run(["docker", "network", "connect", network, self.box.name], timeout=60)

    def disconnect(self, network: str) -> None:
        from labkit._run import default_runner

        default_runner().run(["docker", "network", "disconnect", "-f", network, self.box.name], timeout=60,
                             check=False)


def alert_loop(scope: docker.Scope, collector: Collector, m: Mtail, monitoring: Any, *,
               timeout: float = 180.0) -> dict[str, Any]:
    """Close the loop with chapter 05: its engine stack scrapes this mtail and loads this rule; an app logs one
    ERROR line a second until the alert reaches the stack's webhook receiver. ``monitoring`` is chapter 05's
    public module (``labkit.monitoring``): StackSpec, ScrapeTarget, RuleFile, EngineStack."""
    from labkit.components.logging import drivers, emitter

    spec = monitoring.StackSpec(
        name=f"lk06-{scope.session[:6]}", parts=(), scrape_interval="5s", evaluation_interval="5s",
        extra_targets=(monitoring.ScrapeTarget("labkit-mtail", f"{m.box.name}:{PORT}"),),
        extra_rules=(monitoring.RuleFile("logging.yml", tuple(alert_rules()["groups"])),))
    with monitoring.EngineStack(spec) as stack:
        m.connect(stack.network)
        try:
            t0 = time.time()
            app = emitter.emit(scope, drivers.syslog(collector.address()), count=int(timeout * 10), rate=10,
                               error_every=10, summary=False)
            try:
                while time.time() - t0 < timeout:
                    for rec in stack.received():
                        for a in rec["payload"].get("alerts", []):
                            labels = a.get("labels", {})
                            if a.get("status") == "firing" and labels.get("container") == app.name \
                                    and labels.get("alertname") == "LabkitContainerLogErrors":
                                return {"fired": True, "seconds": rec["received_at"] - t0, "labels": labels,
                                        "summary": a.get("annotations", {}).get("summary")}
                    time.sleep(1)
                return {"fired": False, "seconds": timeout, "labels": {}, "summary": "not received"}
            finally:
                app.remove()
        finally:
            m.disconnect(stack.network)


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - a fixed http://127.0.0.1 URL
            return str(resp.read().decode())
    except OSError:
        return None


def samples(body: str, metric: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of ``metric`` in Prometheus text format."""
    out = []
    for line in body.splitlines():
        m = _SAMPLE.match(line)
        if m and m["name"] == metric:
            out.append((dict(_LABEL.findall(m["labels"] or "")), float(m["value"])))
    return out


def value(body: str, metric: str, **labels: str) -> float | None:
    """The value of ``metric`` whose labels include ``labels`` (None: no such series)."""
    for lbls, v in samples(body, metric):
        if all(lbls.get(k) == w for k, w in labels.items()):
            return v
    return None


def promtool(scope: docker.Scope, *args: str, extra: dict[str, str] | None = None,
             timeout: float = 120) -> tuple[int, str]:
    """Run ``promtool ARGS`` with the chapter's files at /rules (``extra``: more files, name -> content)."""
    from labkit import images

    with tempfile.TemporaryDirectory(prefix="labkit-rules-") as tmp:
        for name in (RULES, RULES_TEST):
            Path(tmp, name).write_text(text(name))
        for name, content in (extra or {}).items():
            Path(tmp, name).write_text(content)
        Path(tmp).chmod(0o755)
        box = scope.container(images.ensure(PROMTOOL), name=f"lk-{scope.session}-promtool-{time.time_ns() % 10**9}",
                              role="logging-promtool", command=list(args), network_mode="none",
                              volumes={tmp: {"bind": "/rules", "mode": "ro"}})
        try:
            code = docker.wait(box, timeout=timeout)
            return code, docker.logs(box, tail=60).strip()
        finally:
            docker.remove_container(box)


def check_alert_rule(scope: docker.Scope) -> dict[str, Any]:
    """``promtool check rules`` and ``test rules`` must pass, and a test expecting the wrong container must fail
    (so the test can fail at all)."""
    check = promtool(scope, "check", "rules", RULES)
    test = promtool(scope, "test", "rules", RULES_TEST)
    wrong = text(RULES_TEST).replace("container: app-a", "container: app-b")
    negative = promtool(scope, "test", "rules", "wrong.test.yml", extra={"wrong.test.yml": wrong})
    version = promtool(scope, "--version")[1].splitlines()[0]
    return {"promtool": version, "check rules": check, "test rules": test, "a wrong expectation": negative,
            "ok": check[0] == 0 and test[0] == 0 and negative[0] != 0}
