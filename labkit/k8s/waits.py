"""Waits and diagnostics over the API (mixed into :class:`labkit.k8s.client.Cluster`).

Every wait takes ``timeout`` (seconds, keyword-only) for the whole wait: each poll's request is bounded
by the time left, and the sleep between polls ends at the deadline. ``clock`` and ``sleep`` default to
the cluster's own (tests pass a fake clock). A wait that gives up carries what a person looks at next
(:meth:`Waits.diagnose`): pods not ready with their reasons, recent events (warnings first), logs of
crashed containers. An API server that cannot be reached for a moment (a CNI install restarting it) is
waited out; any other refusal ends the wait at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from labkit.errors import Unavailable, WaitTimeout
from labkit.k8s.errors import ApiError, JobFailed, PvcPending
from labkit.k8s.parse import (
    JobInfo,
    Obj,
    PodInfo,
    PvcInfo,
    _crashed_containers,
    _event_line,
    _first_line,
    _pod_info,
    _pods_path,
    _pods_report,
    _required,
    job_pods,
    telling_event,
)

T = TypeVar("T")
MIN_REQUEST_S = 1.0  # the poll at the deadline still gets this long to answer: a wait ends within timeout + 1 s


class Waits:
    """Needs ``clock``, ``sleep``, ``logs``, ``job``, ``pvc``, ``_items``, ``_events`` and ``_kubectl``
    from the class it is mixed into."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    logs: Any
    job: Any
    pvc: Any
    _items: Any
    _events: Any
    _kubectl: Any

    def _poll(self, read: Callable[[float], T], done: Callable[[T], bool], *, timeout: float, poll: float,
              clock: Callable[[], float] | None, sleep: Callable[[float], None] | None) -> tuple[T | None, str, bool]:
        """``read(request_timeout)`` until ``done`` holds or ``timeout`` has passed: (last value, last error, met).

        Only :class:`Unavailable` (the API server out of reach) is retried; ``read`` and ``done`` may raise
        to end the wait early (a failed Job)."""
        now_of = clock or self.clock
        nap = sleep or self.sleep
        deadline = now_of() + timeout
        value: T | None = None
        error = ""
        while True:
            try:
                value, error = read(max(MIN_REQUEST_S, deadline - now_of())), ""
            except Unavailable as exc:
                error = exc.message
            if not error and done(value):  # type: ignore[arg-type]
                return value, "", True
            now = now_of()
            if now >= deadline:
                return value, error, False
            nap(max(0.0, min(poll, deadline - now)))

    def wait_pods_ready(self, namespace: str, selector: str, *, timeout: float, count: int | None = None,
                        poll: float = 2, clock: Callable[[], float] | None = None,
                        sleep: Callable[[float], None] | None = None) -> list[PodInfo]:
        """Poll until at least ``count`` (default 1) pods match ``selector`` and all of them are Ready.

        On timeout :class:`WaitTimeout` carries :meth:`diagnose`."""
        want = count if count is not None else 1
        path = _pods_path(namespace)

        def read(limit: float) -> list[PodInfo]:
            return [_pod_info(p) for p in self._items(path, selector, timeout=limit)]

        pods, error, met = self._poll(read, lambda ps: len(ps) >= want and all(p.ready for p in ps),
                                      timeout=timeout, poll=poll, clock=clock, sleep=sleep)
        if met and pods is not None:
            return pods
        seen = pods or []
        what = (f"{want}+ ready pod(s) {selector!r} in namespace {namespace} "
                f"(last seen: {len(seen)} matched, {sum(p.ready for p in seen)} ready)")
        diag = (f"last poll failed: {error}\n" if error else "") + self.diagnose(namespace, selector)
        describe = self._kubectl("-n", namespace, "describe", "pods", "-l", selector)
        raise WaitTimeout(what, timeout, diag, fix=f"read the reasons above; `{describe}`")

    def wait_job(self, namespace: str, name: str, *, timeout: float, poll: float = 2,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None) -> JobInfo:
        """Poll Job ``name`` until it is Complete. A Failed Job ends the wait at once, and so does a Job that
        is gone; either is :class:`JobFailed`, and so is a Job still running at the timeout."""
        pods = job_pods(name)
        fix = f"read the pods' events and logs above; `{self._kubectl('-n', namespace, 'describe', 'job', name)}`"

        def read(limit: float) -> JobInfo:
            try:
                return self.job(name, namespace, timeout=limit)  # type: ignore[no-any-return]
            except ApiError as exc:
                if exc.status == 404:
                    raise JobFailed(name, f"is gone: {exc.server_message}", self.diagnose(namespace, pods),
                                    fix=fix) from exc
                raise

        def done(job: JobInfo) -> bool:
            if job.state == "Failed":
                raise JobFailed(name, f"failed ({job.reason}: {job.message})", self.diagnose(namespace, pods), fix=fix)
            return job.state == "Complete"

        job, error, met = self._poll(read, done, timeout=timeout, poll=poll, clock=clock, sleep=sleep)
        if met and job is not None:
            return job
        seen = f" (last seen: {job.active} active, {job.failed} failed pod(s))" if job else ""
        diag = (f"last poll failed: {error}\n" if error else "") + self.diagnose(namespace, pods)
        raise JobFailed(name, f"did not complete within {timeout:g} s{seen}", diag, fix=fix)

    def wait_pvc_bound(self, namespace: str, name: str, *, timeout: float, consumers: str | None = None,
                       poll: float = 2, clock: Callable[[], float] | None = None,
                       sleep: Callable[[float], None] | None = None) -> PvcInfo:
        """Poll claim ``name`` until it is Bound; else :class:`PvcPending` with the event that explains it,
        the claim's events and :meth:`diagnose` of its ``consumers`` (a pod selector)."""
        pvc, error, met = self._poll(lambda limit: self.pvc(name, namespace, timeout=limit),  # type: ignore[no-any-return]
                                     lambda c: c.phase == "Bound", timeout=timeout, poll=poll, clock=clock, sleep=sleep)
        if met and pvc is not None:
            return pvc
        lines = [f"last poll failed: {error}"] if error else []
        if pvc is not None:
            lines.append(f"persistentvolumeclaim/{name}: {pvc.phase}, StorageClass {pvc.storage_class or '(default)'}"
                         + (f", volume {pvc.volume}" if pvc.volume else ""))
        why = "no events at all"
        try:
            events = self._events(namespace, name, kind="PersistentVolumeClaim")
            why = telling_event(events) or why
            lines.append(f"events of persistentvolumeclaim/{name}:" if events else f"no events of pvc/{name}")
            lines += ["  " + _event_line(e) for e in events[-10:]]
        except Exception as exc:  # diagnostics must explain, not add a second failure
            lines.append(f"(could not list the events of pvc/{name}: {_first_line(exc)})")
        lines.append(self.diagnose(namespace, consumers))
        describe = self._kubectl("-n", namespace, "describe", "pvc", name)
        raise PvcPending(name, timeout, why, "\n".join(lines), pvc, fix=f"read the reasons above; `{describe}`")

    def diagnose(self, namespace: str, selector: str | None = None, *, events: int = 10, tail: int = 40) -> str:
        """What a person looks at next: pods not ready, recent events (warnings first), logs of crashed containers.

        Never raises: a part that cannot be fetched becomes a line saying why.
        """
        out: list[str] = []
        items: list[Obj] = []
        shown = f" matching {selector!r}" if selector else ""
        try:
            items = self._items(_pods_path(_required("namespace", namespace)), selector)
            out += _pods_report([_pod_info(p) for p in items], f"{namespace}{shown}")
        except Exception as exc:  # diagnostics must explain, not add a second failure
            out.append(f"(could not list pods in {namespace}{shown}: {_first_line(exc)})")
        try:
            evs = self._events(namespace)[-events:]
            evs.sort(key=lambda e: e.get("type") != "Warning")  # stable: each group stays oldest -> newest
            out.append(f"events in {namespace} (last {len(evs)}, warnings first):" if evs
                       else f"no events in {namespace}")
            out += ["  " + _event_line(e) for e in evs]
        except Exception as exc:  # as above
            out.append(f"(could not list events in {namespace}: {_first_line(exc)})")
        for pod, container, previous in _crashed_containers(items)[:5]:
            which = "previous logs" if previous else "logs"
            out.append(f"{which} of pod/{pod} container {container} (last {tail} lines):")
            text = self.logs(pod, namespace, container=container, tail=tail, previous=previous)
            out += ["  " + line for line in text.rstrip("\n").splitlines()] or ["  (empty)"]
        return "\n".join(out)
