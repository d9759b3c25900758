"""Engine tier: S0 of the kind storage ladder for real, without a cluster.

S0 (``hostfs-docker``) is fio run natively on this host, in a labelled Docker volume: the same
directory tree (Docker's volumes directory) that holds every kind node's ``/var`` and so every
local-path PV. It needs fio on the host and a readable Docker data root (root on a Linux host);
elsewhere (a non-root user, Docker Desktop's VM) the test skips with the reason the cell gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes import leftovers

from labkit import docker as engine
from labkit.components.storage import classes as storage_classes_mod
from labkit.bench import harness as runner, stats
from labkit.components.storage import engine_cells as engine_storage, kube_cells as kind_storage

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]


def test_s0_runs_fio_in_a_docker_volume_and_leaves_nothing(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problem = kind_storage.host_problem()
    if problem:
        pytest.skip(f"S0 (hostfs-docker): {problem}")
    places: list[Any] = []
    real_open = engine_storage.open_cell

    def spy(name: str, scope: engine.Scope, ctx: dict[str, Any]) -> Any:
        places.append(real_open(name, scope, ctx))
        return places[-1]

    monkeypatch.setattr(kind_storage.engine_cells, "open_cell", spy)
    res = runner.run("storage", target="kind", cells=["hostfs-docker"],
                     tests=["randread-4k-qd32", "randread-4k-qd1", "fsync-write-4k"], reps=2, duration_s=1,
                     size="16M", store=str(store_dir))
    session = res.meta()["session_id"]
    (place,) = places
    volume_data = storage_classes_mod.docker_volumes_dir() / f"lk-{session}-hostfs-docker" / "_data"
    assert Path(place.directory).parent == volume_data  # beside the kind nodes' own /var volumes
    rows = res.rows()
    assert set(rows["status"]) == {"ok"} and set(rows["cell"]) == {"hostfs-docker"}
    assert set(rows["baseline_level"]) == {"S0"} and set(rows["target"]) == {"kind"} and set(rows["path"]) == {"hostfs"}
    s = stats.aggregate(rows).set_index(["test", "metric"])
    assert s.loc[("randread-4k-qd32", "iops"), "median"] > 100
    assert 0 < s.loc[("randread-4k-qd1", "lat_p50_us"), "median"] <= s.loc[("randread-4k-qd1", "lat_p999_us"), "median"]
    assert s.loc[("fsync-write-4k", "lat_p99_us"), "n"] == 2
    assert res.meta()["status"] == "complete"
    assert leftovers(session) == [] and not volume_data.parent.exists()  # the volume and its fio file are gone
