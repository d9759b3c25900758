"""Plans of steps: what a chapter will do, shown before it is done, then done the same way.

A :class:`Step` is data: a title, why it matters, the exact command (argv, the
manifest on stdin, environment) and optionally a *check* command whose success means
the step already holds, so re-running a plan is a no-op for the finished part.
``Plan.explain()`` renders Markdown a learner can type by hand; ``Plan.transcript()``
is the same content as data (golden-tested); ``Plan.run()`` executes exactly those
commands through a :class:`~labkit._run.Runner`, printing ✓/✗ with elapsed time.

Two small additions keep verify steps honest without a shell: a step may *capture*
its stdout into a variable (``POD_IP=$(kubectl get pod … -o jsonpath=…)``) that later
argv use as ``${POD_IP}``; and a step may *expect* other exit codes (a NetworkPolicy
check passes when ``curl`` times out, exit 28), optionally retried until it does.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from labkit._run import Cmd, Runner, default_runner
from labkit.errors import CommandError, LabkitError
from labkit.log import log
from labkit.redact import MASK, is_secret_name, redact


@dataclass(frozen=True)
class Step:
    title: str
    cmd: Cmd
    why: str = ""
    check: Cmd | None = None  # succeeds when the step already holds (idempotence)
    timeout: float = 300.0
    diagnose: tuple[Cmd, ...] = ()  # run on failure; their output is attached to the error
    capture: str | None = None  # store stripped stdout as this variable for later ``${NAME}`` argv
    ok_codes: tuple[int, ...] = (0,)  # exit codes that mean success (e.g. (7, 28): the connection was blocked)
    retries: int = 1  # attempts until the exit code is in ok_codes (eventual effects: policy programming)
    retry_delay: float = 2.0
    expect: str = ""  # what success looks like, in words (shown); ``expect_match`` makes it a check
    expect_match: str | None = None  # a regex stdout must contain (``${VAR}`` filled in) for the step to pass
    capture_match: str | None = None  # a regex the whole captured value must match before later steps use it
    fix: str = ""  # what to do when this step fails (else the cause's own fix)
    source: str = ""  # the upstream doc or file this step follows, at the pinned version (DESIGN §6.7)

    def __post_init__(self) -> None:
        if self.capture is not None and not _VAR.fullmatch("${" + self.capture + "}"):
            raise ValueError(f"capture name {self.capture!r} must be UPPER_CASE")
        for pattern in (self.expect_match, self.capture_match):
            if pattern is not None:
                re.compile(pattern)  # a bad pattern is a plan bug: fail when the plan is built

    def explain(self) -> str:
        line = shell(self.cmd)
        if self.capture:
            line = f"{self.capture}=$({line})"
        lines = [f"**{self.title}**" + (f" — {self.why}" if self.why else "")]
        if self.expect:
            lines.append(f"*Expected:* {self.expect}")
        if self.source:
            lines.append(f"*Source:* {self.source}")
        lines += ["", "```bash", line]
        if self.cmd.stdin is not None:
            lines[-1] += " <<'EOF'"
            lines += [self.cmd.stdin.rstrip("\n"), "EOF"]
        lines.append("```")
        return "\n".join(lines)

    def record(self) -> dict[str, Any]:
        out = {"title": self.title, "argv": list(self.cmd.argv), "stdin": self.cmd.stdin, "env": dict(self.cmd.env),
               "check": list(self.check.argv) if self.check else None, "timeout": self.timeout}
        if self.capture:
            out["capture"] = self.capture
        if self.ok_codes != (0,) or self.retries != 1:
            out["ok_codes"], out["retries"] = list(self.ok_codes), self.retries
        if self.expect_match is not None:
            out["expect_match"] = self.expect_match
        if self.capture_match is not None:
            out["capture_match"] = self.capture_match
        if self.source:
            out["source"] = self.source
        return out


_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def shell(cmd: Cmd) -> str:
    """``cmd`` as a pasteable line; arguments using ``${VAR}`` are double-quoted so the shell expands them."""
    out = []
    for arg in cmd.argv:
        if _VAR.search(arg) and not re.search(r'["\\`]|\$(?!\{[A-Z])', arg):
            out.append(f'"{arg}"')
        else:
            out.append(shlex.quote(arg))
    prefix = " ".join(f"{k}={MASK if is_secret_name(k) else shlex.quote(v)}" for k, v in cmd.env.items())
    return redact((prefix + " " if prefix else "") + " ".join(out))


def substitute(argv: Sequence[str], values: dict[str, str]) -> list[str]:
    """Replace ``${NAME}`` in each argument; an unknown name is a plan bug, so it raises."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise LabkitError(f"plan bug: ${{{name}}} is used before a step captured it",
                              fix="capture it in an earlier step")
        return values[name]
    return [_VAR.sub(one, a) for a in argv]


@dataclass(frozen=True)
class StepResult:
    step: Step
    status: str  # "done" | "already" | "failed"
    elapsed_s: float
    error: str | None = None


class StepFailed(LabkitError):
    """A plan step failed; ``diagnostics`` holds what to look at next."""

    def __init__(self, step: Step, cause: LabkitError, diagnostics: str) -> None:
        self.step, self.cause, self.diagnostics = step, cause, diagnostics
        msg = f"step failed: {step.title}\n{cause.message}"
        super().__init__(msg + (f"\n--- diagnostics ---\n{diagnostics}" if diagnostics else ""),
                         fix=step.fix or cause.fix or "fix the cause above and run the plan again: finished steps "
                         "are skipped")


@dataclass
class Plan:
    title: str
    steps: list[Step] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)  # what steps captured in the last run
    part: str = ""  # what the plan belongs to in a Script ("kind", "network", "storage", …)

    def add(self, *steps: Step) -> Plan:
        self.steps.extend(steps)
        return self

    def explain(self) -> str:
        """Markdown: every step with its exact command and manifest."""
        parts = [f"### {self.title}", ""]
        for i, step in enumerate(self.steps, 1):
            parts += [f"{i}. " + step.explain().replace("\n", "\n   "), ""]
        return "\n".join(parts)

    def transcript(self) -> list[dict[str, Any]]:
        return [s.record() for s in self.steps]

    def run(self, runner: Runner | None = None, *, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep,
            on_step: Callable[[StepResult], Any] | None = None) -> list[StepResult]:
        """Run the steps in order; a step whose check holds is skipped. Stops at the first failure.

        Captured values are kept in ``self.values`` (e.g. the pod IPs a verify found). ``on_step`` is called
        with each finished step's result (a progress bar)."""
        done = on_step or (lambda _r: None)
        run = runner or default_runner()
        results: list[StepResult] = []
        self.values = {}
        for step in self.steps:
            t0 = clock()
            if step.check is not None and _holds(run, step.check, self.values):
                results.append(StepResult(step, "already", clock() - t0))
                log(f"✓ {step.title} (already done)")
                done(results[-1])
                continue
            try:
                out = _attempt(run, step, self.values, sleep)
            except LabkitError as exc:
                elapsed = clock() - t0
                log(f"✗ {step.title} ({elapsed:.1f} s)")
                raise StepFailed(step, exc, _diagnose(run, step.diagnose)) from exc
            if step.capture:
                value = out.strip()
                if step.capture_match is not None and not re.fullmatch(step.capture_match, value):
                    elapsed = clock() - t0
                    log(f"✗ {step.title} ({elapsed:.1f} s)")
                    bad = CommandError(substitute(step.cmd.argv, self.values), 0, out,
                                       f"captured {step.capture}={value[:200]!r}, which does not match "
                                       f"{step.capture_match!r}" + (f" ({step.expect})" if step.expect else ""))
                    raise StepFailed(step, bad, _diagnose(run, step.diagnose))
                self.values[step.capture] = value
            results.append(StepResult(step, "done", clock() - t0))
            log(f"✓ {step.title} ({results[-1].elapsed_s:.1f} s)" + (f": {out.strip()[:200]}" if out.strip()
                                                                        and (step.capture or step.expect) else ""))
            done(results[-1])
        return results


def _attempt(run: Runner, step: Step, values: dict[str, str], sleep: Callable[[float], None]) -> str:
    """Run a step's command until its exit code is one it accepts; return its stdout."""
    argv = substitute(step.cmd.argv, values)
    pattern = substitute([step.expect_match], {k: re.escape(v) for k, v in values.items()})[0] \
        if step.expect_match is not None else None
    res = None
    for i in range(max(1, step.retries)):
        if i:
            sleep(step.retry_delay)
        res = run.run(argv, stdin=step.cmd.stdin, env=dict(step.cmd.env), timeout=step.timeout,
                      check=step.ok_codes == (0,) and step.retries == 1 and pattern is None)
        if res.returncode in step.ok_codes and (pattern is None or re.search(pattern, res.stdout)):
            return res.stdout
    assert res is not None
    want = step.expect or f"exit code in {list(step.ok_codes)}"
    got = f"exit {res.returncode}" + (f", output {res.stdout.strip()[-300:]!r} does not match {pattern!r}"
                                      if pattern is not None and res.returncode in step.ok_codes else "")
    raise CommandError(argv, res.returncode, res.stdout,
                       res.stderr + f"\nexpected: {want}; got {got} after {max(1, step.retries)} attempt(s)")


def _holds(run: Runner, check: Cmd, values: dict[str, str]) -> bool:
    try:
        return run.run(substitute(check.argv, values), stdin=check.stdin, env=dict(check.env), timeout=60, check=False,
                       quiet=True).ok
    except LabkitError:
        return False


def _diagnose(run: Runner, cmds: Sequence[Cmd]) -> str:
    out = []
    for cmd in cmds:
        try:
            res = run.run(list(cmd.argv), env=dict(cmd.env), timeout=60, check=False, quiet=True)
            out.append(f"$ {cmd.shell()}\n{(res.stdout + res.stderr).strip()[-3000:]}")
        except (CommandError, LabkitError) as exc:
            out.append(f"$ {cmd.shell()}\n(could not run: {exc.message})")
    return "\n\n".join(out)


@dataclass
class Script:
    """Plans run one after another (create → registry → images → CNI → verify), explained as one lesson."""

    title: str
    plans: list[Plan] = field(default_factory=list)

    def explain(self) -> str:
        return "\n".join([f"## {self.title}", ""] + [p.explain() for p in self.plans])

    def transcript(self) -> list[dict[str, Any]]:
        return [{"plan": p.title, **rec} for p in self.plans for rec in p.transcript()]

    @property
    def steps(self) -> list[Step]:
        return [s for p in self.plans for s in p.steps]

    def run(self, runner: Runner | None = None, **kw: Any) -> list[StepResult]:
        results: list[StepResult] = []
        for p in self.plans:
            log(f"— {p.title}")
            results += p.run(runner, **kw)
        return results
