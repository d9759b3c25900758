"""What the Kubernetes door raises besides labkit's common errors: a refused request, a failed Job, a pending claim."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.errors import LabkitError, WaitTimeout

if TYPE_CHECKING:
    from labkit.k8s.parse import PvcInfo


class ApiError(LabkitError):
    """The API server refused a request: the verb, path, HTTP status and the server's own message."""

    def __init__(self, method: str, path: str, status: int, server_message: str, *, fix: str | None = None) -> None:
        self.method, self.path, self.status, self.server_message = method, path, status, server_message
        super().__init__(f"{method} {path} failed with HTTP {status}: {server_message}", fix=fix)


class JobFailed(LabkitError):
    """A Job failed, vanished or did not complete in time: ``reason`` says which; ``output`` is its pods'
    log (the program's own words), ``diagnostics`` its pods, events and crashed containers' logs."""

    def __init__(self, job: str, reason: str, diagnostics: str, *, output: str = "", fix: str | None = None) -> None:
        self.job, self.reason, self.diagnostics, self.output = job, reason, diagnostics, output
        tail = "\n".join(diagnostics.strip().splitlines()[-30:])
        out = "\n".join(output.strip().splitlines()[-8:])
        super().__init__(f"Job {job} {reason}" + (f"\n--- output (last lines) ---\n{out}" if out else "")
                         + f"\n--- diagnostics ---\n{tail}", fix=fix)


class PvcPending(WaitTimeout):
    """A claim did not turn Bound in time: ``why`` is the event that explains it (``Reason: message``),
    ``last`` the claim as last seen (None if it could not be read)."""

    def __init__(self, claim: str, timeout: float, why: str, diagnostics: str, last: PvcInfo | None, *,
                 fix: str | None = None) -> None:
        self.claim, self.why, self.last = claim, why, last
        seen = f"last seen {last.phase}" if last else "never read"
        super().__init__(f"PVC {claim} to be Bound ({seen}): {why}", timeout, diagnostics, fix=fix)
