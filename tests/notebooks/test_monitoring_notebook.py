"""Chapter 05 under papermill: live on this engine with small parameters (stack, verify with the alert, the broken
scrape config, PromQL into pandas, a tiny time-to-detect measurement, nothing left), and offline (replay)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import sdk_client
from tests.notebooks.test_notebooks import execute, outputs

pytestmark = [pytest.mark.notebook]


@pytest.mark.engine
def test_the_monitoring_chapter_runs_live_and_leaves_nothing(docker_ready: None, tmp_path: Path) -> None:
    name = "nb" + tmp_path.name[-6:].replace("_", "").lower()
    nb = execute("05-monitoring", tmp_path, mode="live", profile="quick", out_dir=str(tmp_path / "store"),
                 stack_name=name)
    text = outputs(nb)
    assert "mode: live" in text and "run token: " in text
    for check in ("✓ target", "✓ token", "✓ frame", "✓ alert"):
        assert check in text, text[-3000:]
    assert "✗ target: expected health up" in text and "connection refused" in text  # the broken stack said why
    assert "0 labkit object(s) left" in text
    from labkit.bench import Store

    rows = Store(tmp_path / "store").load()
    ok = rows[rows["status"] == "ok"]
    assert {"ttd_total_s", "ttd_detect_s", "ttd_deliver_s"} <= set(ok["metric"])
    assert (ok[ok["metric"] == "ttd_total_s"]["value"] > 0).all()
    left = sdk_client().containers.list(all=True, filters={"label": f"io.labkit.stack={name}"})
    assert left == []


def test_the_monitoring_chapter_replays_without_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("LABKIT_DOCKER_PROBE_TIMEOUT", "2")
    text = outputs(execute("05-monitoring", tmp_path))
    assert "mode: replay" in text and "not run here" in text
    assert "helm upgrade --install kps oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack" in text or \
        "kube-prometheus-stack" in text
    assert "replaying run " in text  # the recorded runs of environments/monitoring/recordings
    assert "Traceback" not in text
