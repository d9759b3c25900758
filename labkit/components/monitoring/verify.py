"""Proof, not hope: each check compares an expected value with what Prometheus and the receiver saw.

1. ``target`` — the demo app's target is discovered and up: ``up{job=…, labkit_run=<token>} == [1]``. When
   it is not, the check says why from ``/api/v1/targets`` (``lastError``, ``scrapeUrl``), or that service
   discovery found no such target at all;
2. ``token`` — the app's own metric carries the run's unique value: ``labkit_demo_info{token=<token>}`` is
   exactly one series of value 1 (the app → scrape → TSDB → PromQL path, not labkit's relabelling);
3. ``frame`` — a PromQL range query comes back as a tidy DataFrame whose ``token`` column is the token;
4. ``alert`` — (engine tier; the kind verify plan does the same with kubectl) the demo app is stopped, and
   the receiver records a firing ``DemoAppDown`` with ``alertname`` and ``labkit_run=<token>``.

Checks 1-3 need only a :class:`PromClient`, so they run against any Prometheus (``labkit.connect()``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit.components.monitoring.configs import DEMO_ALERT, RUN_LABEL
from labkit.components.monitoring.promql import PromClient, PromError
from labkit.components.monitoring.spec import seconds
from labkit.errors import LabkitError

if TYPE_CHECKING:
    import pandas as pd

    from labkit.components.monitoring.engine import EngineStack


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    expected: str
    observed: str
    why: str = ""

    def line(self) -> str:
        return (f"{'✓' if self.ok else '✗'} {self.name}: expected {self.expected}; observed {self.observed}"
                + (f" — {self.why}" if self.why else ""))


class VerifyFailed(LabkitError):
    """At least one check failed; ``checks`` holds them all."""

    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        bad = [c for c in checks if not c.ok]
        super().__init__("monitoring verify failed:\n" + "\n".join(c.line() for c in bad),
                         fix="the reason is in each failed line (a scrape error is Prometheus's own lastError)")


def target_check(prom: PromClient, job: str, token: str) -> Check:
    """Is this run's target of ``job`` up? If not, say why from the targets API."""
    active = [t for t in prom.targets() if t["labels"].get("job") == job and t["labels"].get(RUN_LABEL) == token]
    if not active:
        dropped = len(prom.targets("dropped"))
        return Check("target", False, f"a target job={job} {RUN_LABEL}={token}", "no such target",
                     f"service discovery produced none ({dropped} dropped targets): is the app running, on the "
                     "stack's network, and labelled to be scraped?")
    bad = [t for t in active if t["health"] != "up"]
    if bad:
        t = bad[0]
        if t["health"] == "unknown" or not t["lastError"]:  # not scraped yet: no answer, keep waiting
            return Check("target", False, "health up", f"health {t['health']}",
                         f"{t['scrapeUrl']} was not scraped yet (Prometheus has not reached it in the settle time)")
        return Check("target", False, "health up", f"health {t['health']}",
                     f"scrape of {t['scrapeUrl']} failed: {t['lastError']}")
    values = prom.query(f'up{{job="{job}", {RUN_LABEL}="{token}"}}')["value"].tolist()
    return Check("target", values == [1.0], "up == [1.0]", str(values))


def token_check(prom: PromClient, token: str, job: str = "demo") -> Check:
    df = prom.query(f'labkit_demo_info{{job="{job}", token="{token}"}}')
    tokens = sorted(set(df["token"])) if "token" in df else []
    ok = len(df) == 1 and float(df["value"].iloc[0]) == 1.0 and tokens == [token]
    return Check("token", ok, f"1 series with token={token}, value 1", f"{len(df)} series, tokens {tokens}")


def frame(prom: PromClient, token: str, *, job: str = "demo", window_s: float = 60, step: str = "1s") -> pd.DataFrame:
    """The demo's work counter over the last ``window_s`` seconds, as a tidy DataFrame."""
    end = time.time()
    return prom.query_range(f'labkit_demo_work_total{{job="{job}", token="{token}"}}', end - window_s, end, step)


def frame_check(prom: PromClient, token: str, job: str = "demo") -> Check:
    df = frame(prom, token, job=job)
    ok = not df.empty and set(df["token"]) == {token} and bool((df["value"] > 0).all())
    return Check("frame", ok, f"rows whose token column is {token}, counter > 0",
                 f"{len(df)} rows, columns {list(df.columns)}")


def wait_for_alert(received: Callable[[], list[dict[str, Any]]], alertname: str, token: str, *, since: float,
                   timeout: float, poll: float = 0.2) -> dict[str, Any] | None:
    """The first firing notification of (``alertname``, ``labkit_run=token``) received after ``since``:
    ``{"received_at", "alert", "payload"}``; None after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while True:
        for rec in received():
            if rec["received_at"] < since or rec["payload"].get("status") != "firing":
                continue
            for a in rec["payload"].get("alerts", []):
                labels = a.get("labels", {})
                if a.get("status") == "firing" and labels.get("alertname") == alertname \
                        and labels.get(RUN_LABEL) == token:
                    return {"received_at": rec["received_at"], "alert": a, "payload": rec["payload"]}
        if time.time() >= deadline:
            return None
        time.sleep(poll)


def alert_budget(stack: EngineStack) -> float:
    """Seconds the alert may take: one scrape interval and timeout, two evaluations, ``for``, group_wait,
    one discovery refresh, plus 20 s for a busy host."""
    s = stack.spec
    return (seconds(s.scrape_interval) + s.timeout_s + 2 * seconds(s.evaluation_interval) + seconds(s.alert_for)
            + seconds(s.group_wait) + seconds(s.sd_refresh) + 20)


def alert_path(stack: EngineStack, *, alertname: str = DEMO_ALERT, restart: bool = True) -> Check:
    """Stop the demo app; the receiver must record the alert with the expected labels. The app is started
    again afterwards (same token), so the stack is as before."""
    token = stack.spec.token
    limit = alert_budget(stack)
    t0 = stack.stop_demo()
    try:
        hit = wait_for_alert(stack.received, alertname, token, since=t0, timeout=limit)
    finally:
        if restart:
            stack.start_demo()
    if hit is None:
        return Check("alert", False, f"a firing {alertname} with {RUN_LABEL}={token} at the receiver",
                     f"nothing within {limit:.0f} s", "look at /api/v1/alerts and Alertmanager's log")
    labels = hit["alert"]["labels"]
    ok = labels.get("alertname") == alertname and labels.get(RUN_LABEL) == token
    return Check("alert", ok, f"alertname={alertname} {RUN_LABEL}={token}",
                 f"alertname={labels.get('alertname')} {RUN_LABEL}={labels.get(RUN_LABEL)}, received "
                 f"{hit['received_at'] - t0:.1f} s after the stop")


def verify_prom(prom: PromClient, *, job: str, token: str, settle: float = 30.0) -> list[Check]:
    """Checks 1-3 against any Prometheus; polls up to ``settle`` s for the target before judging."""
    deadline = time.time() + settle
    while True:
        try:
            target = target_check(prom, job, token)
        except PromError as exc:
            target = Check("target", False, "Prometheus answering", "an error", exc.message)
        if target.ok or time.time() > deadline or "failed:" in target.why:  # a failed scrape is an answer
            break
        time.sleep(0.5)
    if not target.ok:
        return [target]
    return [target, token_check(prom, token, job), frame_check(prom, token, job)]


def verify_stack(stack: EngineStack, *, alert: bool = True, settle: float | None = None,
                 raise_on_fail: bool = True) -> list[Check]:
    """Every check on an engine-tier stack; :class:`VerifyFailed` (with all checks) when one fails."""
    if settle is None:
        settle = seconds(stack.spec.sd_refresh) + 3 * seconds(stack.spec.scrape_interval) + 10
    checks = verify_prom(stack.prom, job="demo", token=stack.spec.token, settle=settle)
    if alert and all(c.ok for c in checks):
        checks.append(alert_path(stack))
    if raise_on_fail and not all(c.ok for c in checks):
        raise VerifyFailed(checks)
    return checks
