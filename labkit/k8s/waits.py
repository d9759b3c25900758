"""Readiness waits and diagnostics over the API (mixed into :class:`labkit.k8s.client.Cluster`).

A wait's timeout covers the whole wait, and a timed-out wait carries what a person looks at next:
pods not ready with their reasons, recent events (warnings first), logs of crashed containers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from labkit.errors import Unavailable, WaitTimeout
from labkit.k8s.parse import (
    Obj,
    PodInfo,
    _crashed_containers,
    _event_line,
    _first_line,
    _pod_info,
    _pods_path,
    _pods_report,
    _required,
)


class Waits:
    """Needs ``pods``, ``logs``, ``_items``, ``_events`` and ``_kubectl`` from the class it is mixed into."""

    pods: Any
    logs: Any
    _items: Any
    _events: Any
    _kubectl: Any

    def wait_pods_ready(self, namespace: str, selector: str, *, count: int | None = None, timeout: float = 180,
                        poll: float = 2, clock: Callable[[], float] = time.monotonic,
                        sleep: Callable[[float], None] = time.sleep) -> list[PodInfo]:
        """Poll until at least ``count`` (default 1) pods match ``selector`` and all of them are Ready.

        The timeout covers the whole wait; on timeout :class:`WaitTimeout` carries :meth:`diagnose`.
        """
        want = count if count is not None else 1
        deadline = clock() + timeout
        pods: list[PodInfo] = []
        last_error = ""
        while True:
            try:
                pods, last_error = self.pods(namespace, selector), ""
            except Unavailable as exc:  # an API server restarting (a CNI install) is worth waiting out
                last_error = exc.message
            if not last_error and len(pods) >= want and all(p.ready for p in pods):
                return pods
            if clock() >= deadline:
                break
            sleep(max(0.0, min(poll, deadline - clock())))
        ready = sum(p.ready for p in pods)
        what = (f"{want}+ ready pod(s) {selector!r} in namespace {namespace} "
                f"(last seen: {len(pods)} matched, {ready} ready)")
        diag = (f"last poll failed: {last_error}\n" if last_error else "") + self.diagnose(namespace, selector)
        describe = self._kubectl("-n", namespace, "describe", "pods", "-l", selector)
        raise WaitTimeout(what, timeout, diag, fix=f"read the reasons above; `{describe}`")

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
        for pod, container in _crashed_containers(items)[:5]:
            out.append(f"previous logs of pod/{pod} container {container} (last {tail} lines):")
            text = self.logs(pod, namespace, container=container, tail=tail, previous=True)
            out += ["  " + line for line in text.rstrip("\n").splitlines()] or ["  (empty)"]
        return "\n".join(out)
