"""The shared engine of both orchestrators: run an operation's steps, time them, poll until the state is served."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from labkit._run import Cmd, Runner, default_runner
from labkit.errors import BadInput, LabkitError, WaitTimeout
from labkit.log import log
from labkit.steps import Step, substitute
from labkit.components.orchestration.model import (
    OPS,
    _BODY,
    App,
    Operation,
    OpResult,
    Replica,
    Want,
    _plain,
)


# --- the shared engine: run steps, time, poll -----------------------------------------------------------------

MAX_POLL_S = 30.0  # one readiness check may take this long at most ...
MIN_POLL_S = 1.0   # ... and at least this long, even when the time left is shorter

class _Driver:
    name = ""
    tool = ""

    def __init__(self, *, runner: Runner | None, timeout: float, poll: float,
                 clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.runner = runner or default_runner()
        self.timeout, self.poll, self.clock, self.sleep = timeout, poll, clock, sleep
        self.app: App | None = None

    # subclasses build these
    def operation(self, op: str, **params: Any) -> Operation:
        raise NotImplementedError

    def parse(self, stdout: str) -> list[Replica]:
        raise NotImplementedError

    def diagnose(self) -> list[Cmd]:
        return []

    def explain(self, op: str, **params: Any) -> str:
        """Markdown: the exact commands ``op`` runs and the check it waits for."""
        if op not in OPS:
            raise BadInput("operation", op, ", ".join(OPS))
        return self.operation(op, **params).explain()

    def replicas(self) -> list[Replica]:
        """The replicas serving right now (one poll of the readiness check)."""
        app = self.app or App()
        res = self.runner.run(list(self._wait_step(app).cmd.argv), timeout=60, check=False, quiet=True)
        return self.parse(res.stdout) if res.ok else []

    def _wait_step(self, app: App) -> Step:
        raise NotImplementedError

    def _perform(self, operation: Operation, params: Mapping[str, Any], timeout: float | None,
                 acted: Callable[[], None] | None = None) -> OpResult:
        from labkit.bench.store import utcnow

        values: dict[str, str] = {}
        for i, step in enumerate(operation.prepare):
            out = self._step(step, values).strip()
            if step.capture:
                if not out:
                    raise LabkitError(f"{self.name} {operation.op}: `{step.title}` found nothing",
                                      fix="check that the app is deployed and its replicas run")
                values[step.capture] = out
            if i == 0 and operation.choose is not None:  # choose picks from the first step's output
                values.update(operation.choose(values))
        want = operation.want
        if operation.avoid_var:
            want = replace(want, avoid_ids=frozenset({values[operation.avoid_var]}))
        started = utcnow()
        t0 = self.clock()
        for step in operation.act:
            self._step(step, values)
        if acted is not None:
            acted()
        limit = self.timeout if timeout is None else timeout
        seconds, polls, seen = self._wait(operation.wait, want, values, t0, limit)
        where = ", ".join(sorted(f"{r.host or r.id}@{r.node}" for r in seen))
        detail = f"{operation.title}: {want.describe()} after {seconds:.2f} s ({polls} polls) [{where}]"
        log(f"✓ {self.name} {operation.op}: {seconds:.2f} s")
        return OpResult(operation.op, self.name, seconds, detail, params=_plain(params), started_utc=started,
                        ended_utc=utcnow(), polls=polls)

    def _step(self, step: Step, values: dict[str, str]) -> str:
        argv = substitute(step.cmd.argv, values)
        return self.runner.run(argv, stdin=step.cmd.stdin, env=dict(step.cmd.env), timeout=step.timeout).stdout

    def _wait(self, step: Step, want: Want, values: dict[str, str], t0: float,
              timeout: float) -> tuple[float, int, list[Replica]]:
        """Poll ``step`` until ``want`` holds. The timeout covers the whole wait, counted from ``t0``: each
        poll may take only the time left (at least :data:`MIN_POLL_S`, at most :data:`MAX_POLL_S`), and the
        sleep between polls ends at the deadline, so a wait ends within ``timeout + MIN_POLL_S``."""
        argv = substitute(step.cmd.argv, values)
        deadline = t0 + timeout
        polls, seen, last = 0, [], ""
        while True:
            polls += 1
            left = deadline - self.clock()
            try:
                res = self.runner.run(argv, timeout=min(MAX_POLL_S, max(left, MIN_POLL_S)), check=False, quiet=True)
                seen, last = (self.parse(res.stdout) if res.ok else []), (res.stdout + res.stderr)
            except LabkitError as exc:  # a poll that hangs or a node that vanished: not ready yet
                seen, last = [], exc.message
            now = self.clock()
            if want.met(seen):
                return now - t0, polls, seen
            if now >= deadline:
                raise WaitTimeout(f"{self.name}: {want.describe()}", timeout,
                                  f"last check:\n{last.strip()[-1500:]}\n\n" + self._diagnostics(),
                                  fix="look at the diagnostics; a lost node is noticed only after the "
                                      "orchestrator's heartbeat/grace period")
            self.sleep(min(self.poll, deadline - now))

    def _diagnostics(self) -> str:
        out = []
        for cmd in self.diagnose():
            try:
                res = self.runner.run(list(cmd.argv), timeout=30, check=False, quiet=True)
                out.append(f"$ {cmd.shell()}\n{(res.stdout + res.stderr).strip()[-2000:]}")
            except LabkitError as exc:
                out.append(f"$ {cmd.shell()}\n(could not run: {exc.message})")
        return "\n\n".join(out)

    def _app(self) -> App:
        if self.app is None:
            raise LabkitError(f"{self.name}: no app deployed yet", fix="call deploy(App()) first")
        return self.app

    # the operations, the same on every orchestrator -------------------------------------------------------------
    # The app's state changes as soon as the command has run, so a timed-out wait leaves it right for the next op.
    def deploy(self, app: App | None = None, *, timeout: float | None = None) -> OpResult:
        app = app or App()
        return self._perform(self.operation("deploy", app=app), {"app": app}, timeout,
                             acted=lambda: setattr(self, "app", app))

    def scale(self, replicas: int, *, timeout: float | None = None) -> OpResult:
        new = replace(self._app(), replicas=replicas)
        return self._perform(self.operation("scale", replicas=replicas), {"replicas": replicas}, timeout,
                             acted=lambda: setattr(self, "app", new))

    def rolling_update(self, version: str, *, image: str | None = None, timeout: float | None = None) -> OpResult:
        new = replace(self._app(), version=version, image=image or self._app().image)
        return self._perform(self.operation("rolling_update", version=version, image=image),
                             {"version": version, "image": image}, timeout, acted=lambda: setattr(self, "app", new))

    def kill_replica(self, *, timeout: float | None = None) -> OpResult:
        self._app()
        return self._perform(self.operation("kill_replica"), {}, timeout)

    def drain_node(self, node: str, *, timeout: float | None = None) -> OpResult:
        self._app()
        return self._perform(self.operation("drain_node", node=node), {"node": node}, timeout)

    def lose_node(self, node: str, *, timeout: float | None = None) -> OpResult:
        self._app()
        return self._perform(self.operation("lose_node", node=node), {"node": node}, timeout)

    def remove(self, *, timeout: float | None = None) -> OpResult:
        self._app()
        return self._perform(self.operation("remove"), {}, timeout, acted=lambda: setattr(self, "app", None))

    def config(self) -> dict[str, Any]:
        return {}


def _step(title: str, argv: Sequence[str], *, why: str = "", stdin: str | None = None, capture: str | None = None,
          expect: str = "", timeout: float = 120.0) -> Step:
    return Step(title, Cmd(tuple(argv), stdin=stdin), why=why, capture=capture, expect=expect, timeout=timeout)


def parse_probe(stdout: str) -> list[Replica]:
    """Lines ``IP version V on HOST (node N)`` from the Swarm probe; an IP without a page is not serving."""
    out = []
    for line in stdout.splitlines():
        ip, _, body = line.strip().partition(" ")
        m = _BODY.search(body)
        if ip and m:
            out.append(Replica(ip, m.group(1), m.group(3), m.group(2)))
    return out


def parse_pods(stdout: str) -> list[Replica]:
    """Pods from ``kubectl get pods -o json`` that are Ready and not terminating, with their app version."""
    try:
        items = json.loads(stdout or "{}").get("items", [])
    except ValueError:
        return []
    out = []
    for pod in items:
        meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
        if not ready or meta.get("deletionTimestamp"):
            continue
        env = {e.get("name"): e.get("value") for c in spec.get("containers", [])[:1] for e in c.get("env", [])}
        out.append(Replica(meta.get("name", ""), str(env.get("APP_VERSION", "")), spec.get("nodeName", ""),
                           meta.get("name", "")))
    return out
