"""Engine tier: Swarm overlay cells in the network benchmark, for real, with ratios to the bridge baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import sdk_client

from labkit import bench, docker as engine

pytestmark = pytest.mark.engine


def test_overlay_cells_measure_vxlan_against_the_bridge_and_leave_nothing(docker_ready: None,
                                                                          tmp_path: Path) -> None:
    res = bench.run("net", cells=["bridge", "overlay-same-node", "overlay-cross-node"], tests=["tcp-1"], reps=2,
                    duration_s=1, store=str(tmp_path))
    summary = res.summary()
    tput = summary[summary["metric"] == "throughput_bps"].set_index("cell")
    assert (tput.loc[["overlay-same-node", "overlay-cross-node"], "n"] == 2).all()
    assert set(tput.loc[["overlay-same-node", "overlay-cross-node"], "baseline_cell"]) == {"bridge"}
    assert (tput.loc[["overlay-same-node", "overlay-cross-node"], "ratio"] > 0).all()
    rows = res.rows()
    assert set(rows[rows["cell"] == "overlay-cross-node"]["placement"]) == {"cross-node"}
    left = sdk_client().containers.list(all=True, filters={"label": f"{engine.SESSION}={res.meta()['session_id']}"})
    assert not left
