"""Time to detect: from stopping a container to the alert reaching the receiver, and where the time goes.

One repetition (on a stack that stays up between repetitions):

1. start a fresh demo app with a new run token, wait until it is scraped;
2. write the rules with that token into Prometheus and reload it (the rule names the token only once the
   app is up, so the alert can never fire at start-up), wait until the target (and the probe) are healthy;
3. ``docker rm -f`` the app at t0 (host clock); the receiver records the notification at t1.

The total splits into detect (t0 → the alert's ``activeAt``), for (``activeAt`` → ``startsAt``, when
Prometheus fired it) and deliver (``startsAt`` → t1: Alertmanager's group_wait plus two HTTP hops), and is
compared with the theoretical bounds of the intervals (:func:`theory`).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from labkit.components.monitoring.configs import DEMO_ALERT, PROBE_ALERT, RUN_LABEL
from labkit.components.monitoring.spec import StackSpec, new_token, seconds
from labkit.components.monitoring.verify import wait_for_alert
from labkit.errors import BadInput, LabkitError

if TYPE_CHECKING:
    import pandas as pd

    from labkit.components.monitoring.engine import EngineStack

#: test name → the alert it waits for
ALERTS = {"app-down": DEMO_ALERT, "probe": PROBE_ALERT}


@dataclass(frozen=True)
class DetectSetting:
    """Scrape interval, evaluation interval, ``for:``, Alertmanager's group_wait, docker_sd refresh."""

    name: str
    scrape_interval: str
    evaluation_interval: str
    alert_for: str
    group_wait: str
    sd_refresh: str = "5s"

    def spec(self, stack: str, *, token: str = "") -> StackSpec:
        return StackSpec(name=stack, token=token, scrape_interval=self.scrape_interval,
                         evaluation_interval=self.evaluation_interval, alert_for=self.alert_for,
                         group_wait=self.group_wait, sd_refresh=self.sd_refresh, parts=("demo", "blackbox"))

    def describe(self) -> str:
        return (f"scrape {self.scrape_interval} / eval {self.evaluation_interval} / for {self.alert_for} / "
                f"group_wait {self.group_wait} / SD refresh {self.sd_refresh}")


SETTINGS: dict[str, DetectSetting] = {
    "fast": DetectSetting("fast", "1s", "1s", "0s", "0s", sd_refresh="1s"),
    "default": DetectSetting("default", "5s", "5s", "10s", "0s"),
    "slow": DetectSetting("slow", "10s", "10s", "20s", "5s"),
}


def theory(s: DetectSetting, *, fail_s: float | None = None) -> dict[str, float]:
    """Bounds on stop → webhook, HTTP hops taken as 0. The stop lands 0..I before the next scrape (I: scrape
    interval); that scrape fails after T (0 for "connection refused"; up to the scrape timeout, min(I, 10 s),
    when the stopped container's address no longer answers: ``fail_s`` overrides); the next evaluation, 0..E
    later, makes the alert active; it fires at the first evaluation at least ``for`` later (⌈for/E⌉·E);
    Alertmanager holds a new group for group_wait. The mean assumes uniform phases and T = the timeout.
    (Discovery can also drop the stopped target first: after its refresh plus Prometheus's own 5 s update
    throttles; that path is never slower than this bound at these settings.)"""
    i, e, f, g = (seconds(x) for x in (s.scrape_interval, s.evaluation_interval, s.alert_for, s.group_wait))
    t = min(i, 10.0) if fail_s is None else fail_s
    for_rounded = e * math.ceil(f / e)
    return {"theory_min_s": f + g, "theory_mean_s": i / 2 + t + e / 2 + for_rounded + g,
            "theory_max_s": i + t + e + for_rounded + g,
            "theory_detect_mean_s": i / 2 + t + e / 2, "theory_for_s": for_rounded, "theory_deliver_s": g}


_FRACTION = re.compile(r"\.(\d{6})\d+")


def parse_time(text: str) -> float:
    """Prometheus/Alertmanager RFC 3339 timestamps (nanoseconds, ``Z``) → Unix seconds."""
    return datetime.fromisoformat(_FRACTION.sub(r".\1", text).replace("Z", "+00:00")).timestamp()


def _healthy(stack: EngineStack, token: str, *, probe: bool, timeout: float) -> None:
    prom = stack.prom
    deadline = time.time() + timeout
    while time.time() < deadline:
        ok = len(prom.query(f'up{{job="demo", {RUN_LABEL}="{token}"}} == 1')) == 1
        if ok and probe:
            ok = len(prom.query(f'probe_success{{job="blackbox", {RUN_LABEL}="{token}"}} == 1')) == 1
        if ok:
            return
        time.sleep(0.25)
    raise LabkitError(f"the demo app of run {token} was not healthy{' and probed' if probe else ''} within "
                      f"{timeout:.0f} s", fix="a busy host: run again, or use a slower setting")


def _active_at(stack: EngineStack, alertname: str, token: str) -> float | None:
    for a in stack.prom.alerts():
        if a["labels"].get("alertname") == alertname and a["labels"].get(RUN_LABEL) == token:
            return parse_time(a["activeAt"])
    return None


def one_detection(stack: EngineStack, setting: DetectSetting, test: str) -> dict[str, float]:
    """One repetition on ``stack`` for test ``app-down`` or ``probe``; the four durations in seconds."""
    if test not in ALERTS:
        raise BadInput("time-to-detect test", test, ", ".join(ALERTS))
    alertname = ALERTS[test]
    i = seconds(setting.scrape_interval)
    token = stack.start_demo(new_token())
    _healthy(stack, token, probe=False, timeout=seconds(setting.sd_refresh) + 4 * i + 15)
    stack.apply_token()
    _healthy(stack, token, probe=True, timeout=6 * i + 30)
    limit = theory(setting)["theory_max_s"] + seconds(setting.sd_refresh) + 20
    t0 = stack.stop_demo()
    active: float | None = None
    deadline = t0 + limit
    hit = None
    while hit is None and time.time() < deadline:
        active = active or _active_at(stack, alertname, token)
        hit = wait_for_alert(stack.received, alertname, token, since=t0, timeout=0)
        if hit is None:
            time.sleep(0.1)
    if hit is None:
        errors = {t["lastError"] for t in stack.prom.targets() if t["labels"].get("job") == "demo"}
        raise LabkitError(f"no {alertname} for run {token} reached the receiver within {limit:.0f} s of the stop"
                          + (f" (last scrape errors: {'; '.join(sorted(e for e in errors if e))})" if errors else ""),
                          fix="look at /api/v1/alerts and Alertmanager's log")
    active = active or _active_at(stack, alertname, token)  # fired and delivered between two polls: still firing
    fired = parse_time(hit["alert"]["startsAt"])
    out = {"ttd_total_s": hit["received_at"] - t0, "ttd_deliver_s": hit["received_at"] - fired}
    if active is not None:
        out.update(ttd_detect_s=active - t0, ttd_for_s=max(0.0, fired - active))
    return out


def decompose(summary: pd.DataFrame) -> pd.DataFrame:
    """Median durations per cell beside the theory of its setting: one row per (cell, test)."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for (cell, test), g in summary.groupby(["cell", "test"]):
        setting = SETTINGS.get(str(cell).removeprefix("ttd-"))
        med = dict(zip(g["metric"], g["median"], strict=False))
        row = {"cell": cell, "test": test, "setting": setting.describe() if setting else "",
               **{k.removeprefix("ttd_"): med.get(k) for k in ("ttd_detect_s", "ttd_for_s", "ttd_deliver_s",
                                                              "ttd_total_s")}}
        if setting:
            row.update(theory(setting))
        rows.append(row)
    return pd.DataFrame(rows)
