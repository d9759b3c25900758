"""A JupyterLab "Restart kernel" mid-benchmark: the kernel gets SIGTERM, and labkit still cleans up."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.fakes import leftovers

pytestmark = [pytest.mark.notebook, pytest.mark.engine]


def test_sigterm_to_a_kernel_running_a_benchmark_leaves_nothing(docker_ready: None, tmp_path: Path) -> None:
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        kc.execute(f"from labkit import bench\nbench.run('net', cells=['bridge'], tests=['tcp-1'], reps=40, "
                   f"duration_s=1, store={str(tmp_path)!r})")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not any(
                sum(1 for _ in p.open()) for p in tmp_path.glob("runs/*/rows.jsonl")):
            time.sleep(0.2)
        assert any(tmp_path.glob("runs/*/rows.jsonl")), "the benchmark never started"
        km.signal_kernel(signal.SIGTERM)  # what jupyter_client sends when a busy kernel must restart
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and km.is_alive():
            time.sleep(0.2)
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
    meta = json.loads(next(tmp_path.glob("runs/*/meta.json")).read_text())
    assert meta["status"] == "interrupted" and "SIGTERM" in str(meta["error"])
    assert leftovers(meta["session_id"]) == []
