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


@pytest.mark.parametrize("when", ["while the DinD nodes start", "while measuring"])
def test_sigterm_during_a_swarm_run_removes_every_node_and_marks_it_interrupted(docker_ready: None, tmp_path: Path,
                                                                               when: str) -> None:
    """`timeout`, CI and a kernel restart send SIGTERM: the DinD nodes, their volumes and networks still go."""
    import json
    import signal
    import subprocess
    import sys
    import time

    from tests.fakes import leftovers

    proc = subprocess.Popen([sys.executable, "-m", "labkit.cli", "bench", "net", "--cells", "overlay-same-node",
                             "--tests", "tcp-1", "--reps", "30", "--duration", "1", "--store", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    session = None
    while time.monotonic() < deadline:
        metas = [json.loads(p.read_text()) for p in tmp_path.glob("runs/*/meta.json")]
        session = next((m.get("session_id") for m in metas if m.get("session_id")), None)
        rows = sum(1 for p in tmp_path.glob("runs/*/rows.jsonl") for _ in p.open())
        nodes = [n for n in (leftovers(session) if session else []) if n.endswith(("node1", "node2"))]
        if (when == "while measuring" and rows >= 1) or (when != "while measuring" and nodes):
            break
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.2)
    else:
        pytest.fail(f"never reached the point to interrupt ({when})")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 143, out[-2000:]
    assert session and leftovers(session) == [], leftovers(session or "")
    statuses = {json.loads(p.read_text())["status"] for p in tmp_path.glob("runs/*/meta.json")}
    assert statuses == {"interrupted"}
