"""Plans of steps: what a chapter will do, shown before it is done, then done the same way.

A :class:`Step` is data: a title, why it matters, the exact command (argv, the
manifest on stdin, environment) and optionally a *check* command whose success means
the step already holds, so re-running a plan is a no-op for the finished part.
``Plan.explain()`` renders Markdown a learner can type by hand; ``Plan.transcript()``
is the same content as data (golden-tested); ``Plan.run()`` executes exactly those
commands through a :class:`~labkit._run.Runner`, printing ✓/✗ with elapsed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from labkit._run import Cmd, Runner, default_runner
from labkit.errors import CommandError, LabkitError
from labkit.log import log


@dataclass(frozen=True)
class Step:
    title: str
    cmd: Cmd
    why: str = ""
    check: Cmd | None = None  # succeeds when the step already holds (idempotence)
    timeout: float = 300.0
    diagnose: tuple[Cmd, ...] = ()  # run on failure; their output is attached to the error

    def explain(self) -> str:
        lines = [f"**{self.title}**" + (f" — {self.why}" if self.why else ""), "", "```bash", self.cmd.shell()]
        if self.cmd.stdin is not None:
            lines[-1] += " <<'EOF'"
            lines += [self.cmd.stdin.rstrip("\n"), "EOF"]
        lines.append("```")
        return "\n".join(lines)

    def record(self) -> dict[str, Any]:
        return {"title": self.title, "argv": list(self.cmd.argv), "stdin": self.cmd.stdin, "env": dict(self.cmd.env),
                "check": list(self.check.argv) if self.check else None, "timeout": self.timeout}


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
        super().__init__(msg + (f"\n--- diagnostics ---\n{diagnostics}" if diagnostics else ""), fix=cause.fix or
                         "fix the cause above and run the plan again: finished steps are skipped")


@dataclass
class Plan:
    title: str
    steps: list[Step] = field(default_factory=list)

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

    def run(self, runner: Runner | None = None, *, clock: Callable[[], float] = time.monotonic) -> list[StepResult]:
        """Run the steps in order; a step whose check holds is skipped. Stops at the first failure."""
        run = runner or default_runner()
        results: list[StepResult] = []
        for step in self.steps:
            t0 = clock()
            if step.check is not None and _holds(run, step.check):
                results.append(StepResult(step, "already", clock() - t0))
                log(f"✓ {step.title} (already done)")
                continue
            try:
                run.run(list(step.cmd.argv), stdin=step.cmd.stdin, env=dict(step.cmd.env), timeout=step.timeout)
            except LabkitError as exc:
                elapsed = clock() - t0
                log(f"✗ {step.title} ({elapsed:.1f} s)")
                raise StepFailed(step, exc, _diagnose(run, step.diagnose)) from exc
            results.append(StepResult(step, "done", clock() - t0))
            log(f"✓ {step.title} ({results[-1].elapsed_s:.1f} s)")
        return results


def _holds(run: Runner, check: Cmd) -> bool:
    try:
        return run.run(list(check.argv), stdin=check.stdin, env=dict(check.env), timeout=60, check=False,
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
