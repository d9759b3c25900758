"""labkit's errors: small classes that carry the data a person needs next.

Every error message names what went wrong, what is allowed or expected, and the fix.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class LabkitError(Exception):
    """Base class. ``fix`` is a one-line suggestion shown after the message."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        from labkit.redact import redact

        message, fix = redact(message), (redact(fix) if fix else fix)
        self.message = message
        self.fix = fix
        super().__init__(f"{message}\nFix: {fix}" if fix else message)


class BadInput(LabkitError, ValueError):
    """A value the user gave is not one labkit accepts."""

    def __init__(self, what: str, value: object, allowed: str, *, fix: str | None = None) -> None:
        self.what, self.value, self.allowed = what, value, allowed
        super().__init__(f"bad {what}: {value!r}; allowed: {allowed}", fix=fix)


class CommandError(LabkitError):
    """A command exited non-zero (or timed out). Reads like a bug report."""

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
        *,
        timeout: float | None = None,
        fix: str | None = None,
    ) -> None:
        from labkit.redact import redact

        self.argv = [redact(str(a)) for a in argv]
        self.returncode = returncode
        self.stdout = redact(stdout)
        self.stderr = redact(stderr)
        self.timeout = timeout
        cmd = shlex.join(self.argv)
        if timeout is not None:
            head = f"command timed out after {timeout:g} s: {cmd}"
        else:
            head = f"command failed with exit code {returncode}: {cmd}"
        tail = _tail(self.stderr) or _tail(self.stdout)
        super().__init__(head + (f"\n--- output (last lines) ---\n{tail}" if tail else ""), fix=fix)


class ToolMissing(LabkitError):
    """A CLI labkit needs (kind, kubectl, helm, docker, ...) was not found or is unusable."""

    def __init__(self, tool: str, reason: str, *, fix: str) -> None:
        self.tool = tool
        self.reason = reason
        super().__init__(f"{tool}: {reason}", fix=fix)


class ChecksumMismatch(LabkitError):
    """A sha256 that does not match: a download against its published checksum, or a published
    checksum against the one pinned in versions.yaml (``message`` then says which is which)."""

    def __init__(self, url: str, expected: str, actual: str, *, fix: str, message: str | None = None) -> None:
        self.url, self.expected, self.actual = url, expected, actual
        super().__init__(message or f"sha256 of {url} is {actual}, expected {expected}", fix=fix)


class DownloadFailed(LabkitError):
    """A download did not arrive whole: an HTTP error (``status``), the network, or a body cut short."""

    def __init__(self, url: str, reason: str, *, status: int | None = None, fix: str | None = None) -> None:
        self.url, self.reason, self.status = url, reason, status
        super().__init__(f"download of {url} failed: {reason}", fix=fix)


class DockerUnavailable(LabkitError):
    """The Docker daemon cannot be reached."""


class ImageMissing(LabkitError):
    """An image a step needs is not present locally and cannot be built."""


class PortInUse(LabkitError):
    """A TCP port the lab needs is already taken."""

    def __init__(self, port: int, host: str = "127.0.0.1", *, fix: str) -> None:
        self.port, self.host = port, host
        super().__init__(f"port {host}:{port} is already in use", fix=fix)


class Unavailable(LabkitError):
    """A feature this host cannot offer (kernel option, runtime, privilege)."""


class WaitTimeout(LabkitError):
    """A readiness wait gave up; ``diagnostics`` holds what a person looks at next."""

    def __init__(self, what: str, timeout: float, diagnostics: str = "", *, fix: str | None = None) -> None:
        self.what, self.timeout, self.diagnostics = what, timeout, diagnostics
        msg = f"timed out after {timeout:g} s waiting for {what}"
        super().__init__(msg + (f"\n--- diagnostics ---\n{diagnostics}" if diagnostics else ""), fix=fix)


class StoreError(LabkitError):
    """The results store is unreadable or a requested run does not exist."""


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) if text else ""


class RegressionFound(LabkitError):
    """The regression gate found at least one cell that got worse (notebook 20 fails with this)."""

    def __init__(self, cells: list[str], report: str | None = None) -> None:
        self.cells = cells
        self.report = report
        where = f"; report: {report}" if report else ""
        super().__init__(f"regression in {len(cells)} cell(s): {', '.join(cells)}{where}",
                         fix="open the report, reproduce with `labkit compare BASE CANDIDATE`")
