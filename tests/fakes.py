"""The test doubles every test shares: one scripted runner, one clock, one Docker-inspection helper.

A :class:`ScriptedRunner` answers only the commands it was told about (by argv prefix, or by a run of
argv anywhere in the command); any other command fails the test at once, so a flow test notices a
command it did not expect (DESIGN §6.4). Every call is recorded with its stdin, env and timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from labkit._run import Result
from labkit.errors import CommandError

Answer = Any  # int (exit code) | str (stdout, exit 0) | (rc, stdout[, stderr]) | Exception | Callable[[Call], Answer]


@dataclass
class Call:
    argv: list[str]
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 0.0

    @property
    def args(self) -> list[str]:
        """kubectl's own arguments (after ``--kubeconfig X [--context Y]``), else argv[1:]."""
        out = self.argv[1:]
        while out and out[0] in ("--kubeconfig", "--context"):
            out = out[2:]
        return out


class UnknownCommand(AssertionError):
    """The code under test ran a command the test did not script."""


def _contains(argv: Sequence[str], part: Sequence[str]) -> bool:
    n = len(part)
    return any(tuple(argv[i:i + n]) == tuple(part) for i in range(len(argv) - n + 1))


class ScriptedRunner:
    """A :class:`~labkit._run.Runner` that answers scripted commands and records every call.

    ``script`` maps an argv prefix (or, when ``anywhere``, a run of argv anywhere in the command) to an
    :data:`Answer`; the first match wins, in insertion order. An unscripted command raises
    :class:`UnknownCommand` (the test fails) unless ``default`` is given.
    """

    def __init__(self, script: dict[tuple[str, ...], Answer] | None = None, *, default: Answer = None,
                 anywhere: bool = True) -> None:
        self.script = dict(script or {})
        self.default = default
        self.anywhere = anywhere
        self.calls: list[Call] = []

    def answer(self, prefix: tuple[str, ...], value: Answer) -> ScriptedRunner:
        self.script[prefix] = value
        return self

    def _lookup(self, call: Call) -> Answer:
        for prefix, value in self.script.items():
            if tuple(call.argv[:len(prefix)]) == prefix or (self.anywhere and _contains(call.argv, prefix)):
                return value
        if self.default is not None:
            return self.default
        raise UnknownCommand(f"unscripted command: {call.argv!r} (script: {list(self.script)})")

    def run(self, argv: Sequence[str], *, timeout: float = 0, stdin: str | None = None, env: Any = None,
            check: bool = True, quiet: bool = False) -> Result:
        call = Call([str(a) for a in argv], stdin, dict(env or {}), timeout)
        self.calls.append(call)
        value = self._lookup(call)
        if callable(value) and not isinstance(value, BaseException):
            value = value(call)
        if isinstance(value, BaseException):
            raise value
        if isinstance(value, Result):
            res = value
        else:
            if isinstance(value, bool) or value is None:
                value = 0
            if isinstance(value, int):
                rc, out, err = value, "", ""
            elif isinstance(value, str):
                rc, out, err = 0, value, ""
            else:
                rc, out, err = (tuple(value) + ("",))[:3]
            res = Result(tuple(call.argv), rc, out, err)
        if check and not res.ok:
            raise CommandError(call.argv, res.returncode, res.stdout, res.stderr or "scripted failure")
        return res

    def argvs(self) -> list[list[str]]:
        return [c.argv for c in self.calls]


class Clock:
    """A fake monotonic clock that advances only when the code under test sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sdk_client() -> Any:
    """The Docker SDK, for tests that inspect what labkit left behind (labkit itself goes through its door)."""
    import docker as sdk

    return sdk.from_env(timeout=60)


def leftovers(session: str) -> list[str]:
    """Names of containers, networks and volumes of one labkit session still present."""
    c = sdk_client()
    flt = {"label": f"io.labkit.session={session}"}
    return ([x.name for x in c.containers.list(all=True, filters=flt)] +
            [x.name for x in c.networks.list(filters=flt)] + [x.name for x in c.volumes.list(filters=flt)])


def fail_on(what: str) -> Callable[..., Any]:
    """A stand-in for a function that must not be called in this test."""
    def boom(*args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"{what} was called ({args}, {kwargs})")
    return boom
