"""Live or replay: whether notebooks measure on this machine or show recorded results, and which ones.

Every recording in ``environments/recordings`` is a real run (its meta says where and when it was
measured). The pickers here are what notebooks call in replay mode; a notebook never chooses runs
itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from labkit.errors import BadInput, LabkitError, StoreError
from labkit.log import log

if TYPE_CHECKING:
    from labkit.bench.store import Store

MODES = ("auto", "live", "replay")
_BINDER_VARS = ("BINDER_LAUNCH_HOST", "BINDER_REPO_URL", "BINDER_SERVICE_HOST")


def on_binder() -> bool:
    return any(os.environ.get(v) for v in _BINDER_VARS)


def resolve(mode: str = "auto") -> str:
    """``live`` or ``replay``. ``auto`` (or ``LABKIT_MODE``) picks live when a Docker daemon answers."""
    if mode not in MODES:
        raise BadInput("mode", mode, ", ".join(MODES))
    if mode == "auto":
        mode = os.environ.get("LABKIT_MODE", "auto")
        if mode not in MODES:
            raise BadInput("LABKIT_MODE", mode, ", ".join(MODES))
    if mode != "auto":
        return mode
    if on_binder():
        return "replay"
    from labkit import docker

    return "live" if docker.available() else "replay"


def recordings_dir() -> str:
    """Recorded real runs shipped with the lab (``environments/recordings``)."""
    from labkit.versions import environments_dir

    return str(environments_dir() / "recordings")


def recordings() -> Store:
    from labkit.bench.store import Store

    return Store(recordings_dir())


def recorded_runs(store: Store, *, suite: str = "net", target: str = "engine", cnis: Sequence[str] = ()) -> list[str]:
    """The newest recorded ``suite`` run per CNI of ``target`` (the ``cnis`` asked for, else every one recorded),
    or for ``engine`` the newest single run (not an A/B arm). With no recording of ``target`` it falls back
    to the newest engine recording and says so."""
    runs = [(r, store.meta(r)) for r in store.run_ids()]
    runs = [(r, m) for r, m in runs if m.get("suite") == suite and not m.get("arm")]
    if target != "engine":
        newest = {str(m.get("cni")): r for r, m in runs if m.get("target") == target}
        picked = [newest[c] for c in cnis if c in newest] or list(newest.values())
        if picked:
            return picked
        log(f"no {target} {suite} recording ships yet: showing the newest engine recording instead")
    engine_runs = [r for r, m in runs if m.get("target", "engine") == "engine"]
    if not engine_runs:
        raise LabkitError(f"no recorded {suite} run in {store.root}", fix="run the notebook live (mode='live')")
    return engine_runs[-1:]


def recorded_pair(store: Store, *, suite: str) -> tuple[str, str]:
    """(baseline, candidate) of the newest recorded interleaved A/B pair of ``suite``."""
    pairs = [r for r in store.run_ids() if store.meta(r).get("suite") == suite and store.meta(r).get("arm") == "B"]
    if not pairs:
        raise StoreError(f"replay needs a recorded interleaved A/B pair of {suite} runs in {store.root}",
                         fix="run notebook 20 live once (mode='live'), or pass baseline= and candidate=")
    return str(store.meta(pairs[-1])["interleaved_with"]), pairs[-1]


def describe(store: Store, run_id: str) -> str:
    """Where and when a run was measured, in one line (every replayed chart says it)."""
    meta = store.meta(run_id)
    host = meta.get("host") or {}
    return (f"run {run_id}: {meta.get('status')}, measured {meta.get('ts_start_utc')} on {host.get('cpu_model')} "
            f"({host.get('cpu_cores')} cores, kernel {host.get('kernel')})"
            + (f", CNI {meta['cni']}" if meta.get("cni") else ""))
