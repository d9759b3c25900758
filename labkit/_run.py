"""The only module that starts subprocesses.

Everything goes through a :class:`Runner`, so tests swap in a recording fake.
Commands are argv lists (never a shell), always have a timeout, inherit the
environment (``env`` adds to ``os.environ``), and are logged as a pasteable line.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from labkit.errors import CommandError, ToolMissing
from labkit.log import log
from labkit.redact import MASK, is_secret_name

DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Result:
    """What a finished command gave back (like ``subprocess.CompletedProcess``)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def timed_out(self) -> bool:
        """Killed by coreutils ``timeout`` (exit 124, or 137 after ``--kill-after``)."""
        return self.returncode in (124, 137)


@dataclass(frozen=True)
class Cmd:
    """A command as data: what a plan shows and what a runner executes."""

    argv: tuple[str, ...]
    stdin: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def shell(self) -> str:
        """The command as one line a person can paste into a shell (secret values masked)."""
        prefix = " ".join(f"{k}={MASK if is_secret_name(k) else shlex.quote(v)}" for k, v in self.env.items())
        line = shlex.join(self.argv)
        return f"{prefix} {line}" if prefix else line


class Runner(Protocol):
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        quiet: bool = False,
    ) -> Result: ...


class SubprocessRunner:
    """Runs commands for real."""

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        quiet: bool = False,
    ) -> Result:
        argv = [str(a) for a in argv]
        if not quiet:
            log("$ " + Cmd(tuple(argv), env=dict(env or {})).shell())
        try:
            proc = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, **(env or {})},
                check=False,
            )
        except FileNotFoundError as exc:
            raise ToolMissing(argv[0], "not found on PATH", fix=f"install {argv[0]} or put it on PATH") from exc
        except OSError as exc:  # wrong architecture, truncated download, no exec permission
            raise ToolMissing(argv[0], f"cannot be executed: {exc.strerror or exc}",
                              fix=f"reinstall {argv[0]} for this machine") from exc
        except subprocess.TimeoutExpired as exc:
            raise CommandError(argv, None, _text(exc.stdout), _text(exc.stderr), timeout=timeout) from exc
        result = Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        if check and not result.ok:
            raise CommandError(argv, proc.returncode, proc.stdout, proc.stderr)
        return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


_default: Runner = SubprocessRunner()


def default_runner() -> Runner:
    return _default


def run(argv: Sequence[str], **kwargs: object) -> Result:
    """Run ``argv`` with the default runner (see :meth:`SubprocessRunner.run`)."""
    return _default.run(argv, **kwargs)  # type: ignore[arg-type]
