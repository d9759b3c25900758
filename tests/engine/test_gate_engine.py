"""Engine tier: the A/B regression gate through the CLI on the real Docker engine (a short budget)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import leftovers

from labkit.bench.store import Store

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]

ROOT = Path(__file__).resolve().parents[2]


def test_aa_gate_is_not_a_regression_states_its_mde_and_leaves_nothing(store_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "labkit.cli", "bench", "net", "--ab", "--cells", "bridge",
                           "--tests", "tcp-1", "--budget", "30", "--store", str(store_dir)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out  # exit 1 would be a (false) regression
    assert "verdict: no regression" in out and "mde" in out and "Traceback" not in out
    st = Store(store_dir)
    metas = [json.loads(p.read_text()) for p in store_dir.glob("runs/*/meta.json")]
    assert len(metas) == 2 and all(m["gate"]["design"] == "duet" for m in metas)
    assert all(m["gate"]["gate_s"] > 0 and m["gate"]["blocks"] >= 1 for m in metas)
    rows = st.load()
    ok = rows[rows.status == "ok"]
    assert set(ok.design) == {"duet"} and set(ok.arm_order) <= {"duet-AB", "duet-BA"}
    assert set(ok.cpu_pin) == {"unpinned"} and set(ok.warmup_runs) == {1}
    sessions = [str(m["session_id"]) for m in metas]
    assert {s: leftovers(s) for s in sessions} == {s: [] for s in sessions}
