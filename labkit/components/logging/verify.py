"""Verify, proof not hope: a token unique to the run, written by a container, must be in the collector's store
with the right container name, image, id and label, within a stated time; a token written after the
collector is stopped must be reported MISSING (a check that cannot fail proves nothing).

>>> check = verify_token(scope, collector, within_s=5)            # doctest: +SKIP
>>> check.verdict()                                                # 'FOUND: token V-… with the right fields …'
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from labkit import docker
from labkit.components.logging import drivers, emitter, records
from labkit.components.logging.collector import Collector

WITHIN_S = 5.0


@dataclass
class TokenCheck:
    """The outcome of one token check; ``ok`` means found with every expected field."""

    token: str
    container: str
    found: bool
    within_s: float
    waited_s: float
    expected: dict[str, str]
    got: dict[str, Any] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    start_error: str | None = None  # dockerd refused to start the container (its own words)

    @property
    def ok(self) -> bool:
        return self.found and not self.mismatches

    def verdict(self) -> str:
        if self.start_error:
            return f"MISSING: the container could not even start ({self.start_error})"
        if not self.found:
            return f"MISSING: token {self.token} is not in the collector's store after {self.waited_s:.1f} s"
        if self.mismatches:
            return "WRONG FIELDS: " + "; ".join(self.mismatches)
        return (f"FOUND: token {self.token} with the right fields after {self.waited_s:.2f} s "
                f"(limit {self.within_s:g} s)")

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "verdict": self.verdict()}


def find_token(collector: Collector, token: str) -> dict[str, Any] | None:
    """The first JSON record whose message contains ``token`` (None if absent)."""
    for line in records.iter_lines(collector.json_path):
        if token in line:
            return dict(json.loads(line))
    return None


def wait_token(collector: Collector, token: str, *, within_s: float, expected: dict[str, str],
               container: str) -> TokenCheck:
    """Poll the store every 50 ms for up to ``within_s``; compare the record's fields with ``expected``
    (``label:<key>`` names a label)."""
    t0 = time.monotonic()
    while (rec := find_token(collector, token)) is None and time.monotonic() - t0 < within_s:
        time.sleep(0.05)
    check = TokenCheck(token, container, rec is not None, within_s, time.monotonic() - t0, expected)
    if rec is not None:
        got = {k: rec.get(k) for k in ("container", "image", "container_id", "host", "ts", "received", "msg")}
        got["labels"] = records.parse_labels(rec.get("labels") or "")
        check.got = got
        for key, want in expected.items():
            have = got["labels"].get(key.removeprefix("label:")) if key.startswith("label:") else got.get(key)
            if have != want:
                check.mismatches.append(f"{key}: expected {want!r}, got {have!r}")
    return check


def _config(collector: Collector, transport: str) -> drivers.LogConfig:
    return drivers.syslog(collector.address(transport), label_keys=[emitter.RUN_LABEL])


def verify_token(scope: docker.Scope, collector: Collector, *, within_s: float = WITHIN_S,
                 transport: str = "tcp") -> TokenCheck:
    """A container writes a fresh token through the syslog driver; it must arrive with its own fields."""
    token = emitter.new_token("V")
    name = f"lk-{scope.session}-verify-{token[2:]}"
    try:
        run = emitter.emit(scope, _config(collector, transport), count=1, size=96, token=token, name=name,
                           summary=False)
    except docker.DockerError as exc:
        return TokenCheck(token, name, False, within_s, 0.0, {}, start_error=exc.explanation)
    try:
        expected = {"container": name, "image": str(docker.attrs(run.box)["Config"]["Image"]),
                    "container_id": run.box.id[:12], f"label:{emitter.RUN_LABEL}": token}
        return wait_token(collector, token, within_s=within_s, expected=expected, container=name)
    finally:
        run.wait(timeout=30)
        run.remove()


def verify_missing_after_stop(scope: docker.Scope, collector: Collector, *, within_s: float = WITHIN_S,
                              transport: str = "tcp", write_after_ms: int = 4000) -> tuple[TokenCheck, TokenCheck]:
    """A running container writes a token *after* the collector was stopped.

    Returns (the check while the collector is down, the check again once it is back): both must say MISSING.
    The second shows the line was lost, not late: the syslog driver does not retry. The collector is
    running again when this returns."""
    token = emitter.new_token("X")
    name = f"lk-{scope.session}-verify-{token[2:]}"
    run = emitter.emit(scope, _config(collector, transport), count=1, size=96, wait_ms=write_after_ms,
                       token=token, name=name, summary=False)
    try:
        collector.stop()
        run.wait(timeout=30 + write_after_ms / 1000)  # the token went to stdout while the collector was down
        expected = {"container": name, f"label:{emitter.RUN_LABEL}": token}
        down = wait_token(collector, token, within_s=within_s, expected=expected, container=name)
        collector.start()
        after = wait_token(collector, token, within_s=within_s, expected=expected, container=name)
        return down, after
    finally:
        run.remove()
        if collector.alive():
            collector.start()
