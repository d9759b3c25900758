"""The control plane, timed: how a traffic split and a retry policy reach the sidecars, live.

* ``static`` — routes inline in each sidecar's bootstrap: changing them means new sidecars.
* ``file`` — routes in a watched directory: labkit writes the new DiscoveryResponse aside and renames it into
  place inside the sidecar (Envoy sees one complete file; it reacts to the rename, within milliseconds).
* ``xds`` — labkit-xds (labkit's own REST-JSON xDS server): labkit POSTs the new state, every sidecar polls every
  second and applies a new version: up to a second, but one place to change, as with istiod.

Time to apply = from the change until the caller's sidecar counter ``http.outbound.rds.outbound.config_reload``
moved; the split actually observed comes from requests sent afterwards (``Mesh.observe``).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from labkit import docker
from labkit.components.mesh.mesh import Mesh
from labkit.components.mesh.spec import MeshSpec

SPLITS = ({"server-v1": 90, "server-v2": 10}, {"server-v1": 50, "server-v2": 50})


def split_rows(mesh: Mesh, *, splits: tuple[dict[str, int], ...] = SPLITS,
               observe_s: float = 1.5) -> list[dict[str, Any]]:
    """Apply each split live, then observe it: one row per change."""
    rows = []
    for split in splits:
        applied = mesh.split(split)
        seen = mesh.observe(seconds=observe_s)
        rows.append({"control": mesh.spec.control, "asked": "/".join(str(w) for w in split.values()),
                     "applied_s": applied.seconds, "requests": seen["requests"],
                     "served by v1": seen["share"].get("server-v1", 0.0),
                     "served by v2": seen["share"].get("server-v2", 0.0), "errors": seen["error_rate"]})
    return rows


def compare_control(scope: docker.Scope, *, controls: tuple[str, ...] = ("file", "xds"), reps: int = 3,
                    observe_s: float = 1.5) -> Any:
    """A mesh per control plane (two server versions); each split applied live and observed. A DataFrame."""
    import pandas as pd

    rows = []
    for control in controls:
        m = Mesh.up(scope, MeshSpec(control=control, versions=2), prefix=f"lk-{scope.session}-cp-{control}")
        for _ in range(reps):
            rows += split_rows(m, observe_s=observe_s)
            time.sleep(0.2)
    return pd.DataFrame(rows)


def apply_summary(frame: Any) -> Any:
    """Median and max seconds to apply, per control plane."""
    return frame.groupby("control")["applied_s"].agg(["count", "median", "max"]).reset_index()


def retry_demo(mesh: Mesh, *, observe_s: float = 2.0, retries: int = 3) -> dict[str, Any]:
    """With v2 failing a fraction of requests (``MeshSpec(fail_rate=…)``), the error rate before and after a retry
    policy is pushed live; Envoy's own retry counter shows the retries it made."""
    if mesh.spec.versions < 2 or not mesh.spec.fail_rate:
        raise ValueError("retry_demo needs a mesh with versions=2 and fail_rate > 0")
    mesh.split({"server-v1": 50, "server-v2": 50})
    before = mesh.observe(seconds=observe_s)
    counter = "cluster.server-v2.upstream_rq_retry"
    first = mesh.callers()[0].name
    n0 = mesh.stats(first, f"^{counter}$").get(counter, 0)
    applied = mesh.retries(retries)
    after = mesh.observe(seconds=observe_s)
    expected = 0.5 * mesh.spec.fail_rate ** (retries + 1)  # half the requests go to v2; each try fails independently
    return {"fail_rate_v2": mesh.spec.fail_rate, "error_rate_without": before["error_rate"],
            "error_rate_with": after["error_rate"], "expected_with": round(expected, 4), "retries": retries,
            "applied_s": applied.seconds, "via": applied.via,
            "retries_counted": mesh.stats(first, f"^{counter}$").get(counter, 0) - n0,
            "requests": [before["requests"], after["requests"]]}


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")
