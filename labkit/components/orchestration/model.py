"""One small API over two orchestrators: the same operations, timed the same way, on Swarm and Kubernetes.

An :class:`Orchestrator` runs a small web app (:class:`App`: busybox httpd answering
``version V on HOST (node N)``) and performs the chapter's operations on it: deploy,
scale, rolling update, kill a replica, drain a node, lose a node, remove. Each returns an
:class:`OpResult` whose ``seconds`` run on a monotonic clock from the disruptive command
until a real check holds: for Swarm, every task IP answers HTTP from a probe container on
the overlay; for Kubernetes, pods pass their HTTP readiness probe. Nothing sleeps in place
of a check. Every operation can :meth:`~Orchestrator.explain` itself as the commands it runs.

>>> for orch in (swarm_orch, kube_orch):                          # doctest: +SKIP
...     print(orch.explain("scale", replicas=3))
...     results.append(perform(orch, "scale", replicas=3))
>>> write_run(results)                                            # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from labkit.errors import BadInput, LabkitError
from labkit.log import log
from labkit.steps import Plan, Step
from labkit.versions import tools_image

if TYPE_CHECKING:
    pass

OPS = ("deploy", "scale", "rolling_update", "kill_replica", "drain_node", "lose_node", "remove")
SUITE = "orchestration"

#: The app: writes its page, then serves it; ``trap`` makes SIGTERM stop it at once (sh is PID 1).
SERVE = ('mkdir -p /tmp/www; echo "version $APP_VERSION on $(hostname) (node $APP_NODE)" > /tmp/www/index.html; '
         'trap "exit 0" TERM INT; busybox httpd -f -p "$APP_PORT" -h /tmp/www & wait')
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$")
_BODY = re.compile(r"version (\S+) on (\S+) \(node (\S*)\)")


@dataclass(frozen=True)
class App:
    """The web app both orchestrators run: the tools image's busybox httpd, one page naming its version."""

    name: str = "web"
    image: str = field(default_factory=tools_image)
    version: str = "1"
    replicas: int = 1
    port: int = 8080

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise BadInput("app name", self.name, "a DNS label: lower-case letters, digits, '-', 1-32 characters")
        _check_version(self.version)
        _check_replicas(self.replicas)
        if not 1024 <= self.port <= 65535:
            raise BadInput("app port", self.port, "1024-65535 (the app runs unprivileged)")


def _check_version(version: str) -> None:
    if not _VERSION.match(str(version)):
        raise BadInput("app version", version, "letters, digits, '.', '_' or '-' (it becomes an env value)")


def _check_replicas(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 50:
        raise BadInput("replicas", n, "an integer from 0 to 50")


@dataclass(frozen=True)
class Replica:
    """One serving replica: its id (task IP or pod name), the version it serves, its node."""

    id: str
    version: str
    node: str
    host: str = ""


@dataclass(frozen=True)
class Want:
    """What "done" means for an operation: exactly ``replicas`` serving ``version``, none on ``avoid_nodes``."""

    replicas: int
    version: str | None
    avoid_nodes: frozenset[str] = frozenset()
    avoid_ids: frozenset[str] = frozenset()

    def met(self, seen: Sequence[Replica]) -> bool:
        return (len({r.id for r in seen}) == self.replicas
                and all(self.version is None or r.version == self.version for r in seen)
                and not any(r.node in self.avoid_nodes or r.id in self.avoid_ids for r in seen))

    def describe(self) -> str:
        out = f"exactly {self.replicas} replica(s) serving" + (f" version {self.version}" if self.version else "")
        if self.avoid_nodes:
            out += f", none on {', '.join(sorted(self.avoid_nodes))}"
        if self.avoid_ids:
            out += f", not {', '.join(sorted(self.avoid_ids))}"
        return out


@dataclass(frozen=True)
class OpResult:
    """One timed operation. ``seconds`` is None when it failed (``error`` says why)."""

    op: str
    orchestrator: str
    seconds: float | None
    detail: str
    ok: bool = True
    error: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    started_utc: str = ""
    ended_utc: str = ""
    polls: int = 0


@dataclass(frozen=True)
class Operation:
    """An operation as data: untimed ``prepare`` steps (a ``capture`` fills ``${VAR}``; ``choose`` picks
    from the first one's output), timed ``act`` steps, then ``wait`` polled until ``want`` holds."""

    op: str
    title: str
    act: tuple[Step, ...]
    wait: Step
    want: Want
    prepare: tuple[Step, ...] = ()
    choose: Callable[[dict[str, str]], dict[str, str]] | None = None
    avoid_var: str | None = None  # a chosen value the result must not contain (the killed pod)
    note: str = ""

    def explain(self) -> str:
        text = Plan(self.title, [*self.prepare, *self.act, self.wait]).explain()
        return text + (f"\n{self.note}\n" if self.note else "")


class Orchestrator(Protocol):
    name: str

    def explain(self, op: str, **params: Any) -> str: ...
    def deploy(self, app: App | None = None, *, timeout: float | None = None) -> OpResult: ...
    def scale(self, replicas: int, *, timeout: float | None = None) -> OpResult: ...
    def rolling_update(self, version: str, *, image: str | None = None,
                       timeout: float | None = None) -> OpResult: ...
    def kill_replica(self, *, timeout: float | None = None) -> OpResult: ...
    def drain_node(self, node: str, *, timeout: float | None = None) -> OpResult: ...
    def lose_node(self, node: str, *, timeout: float | None = None) -> OpResult: ...
    def remove(self, *, timeout: float | None = None) -> OpResult: ...
    def replicas(self) -> list[Replica]: ...
    def config(self) -> dict[str, Any]: ...


def perform(orch: Orchestrator, op: str, **params: Any) -> OpResult:
    """Run ``op`` and return its result; a failure of the run (a timeout, a dead node, a feature this
    target lacks) becomes a failed result with the error, not a crash. Bad input still raises."""
    if op not in OPS:
        raise BadInput("operation", op, ", ".join(OPS))
    from labkit.bench.store import utcnow

    started = utcnow()
    try:
        return getattr(orch, op)(**params)  # type: ignore[no-any-return]
    except BadInput:
        raise
    except LabkitError as exc:
        log(f"✗ {orch.name} {op}: {exc.message.splitlines()[0]}")
        return OpResult(op, orch.name, None, exc.message.splitlines()[0], ok=False, error=str(exc),
                        params=_plain(params), started_utc=started, ended_utc=utcnow())


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (asdict(v) if isinstance(v, App) else v) for k, v in params.items()}


def busiest_node(seen: Sequence[Replica], *, exclude: Sequence[str] = ()) -> str | None:
    """The node serving the most replicas, skipping ``exclude`` (the manager, the control plane)."""
    counts: dict[str, int] = {}
    for r in seen:
        if r.node not in exclude:
            counts[r.node] = counts.get(r.node, 0) + 1
    return max(sorted(counts), key=lambda n: counts[n]) if counts else None
