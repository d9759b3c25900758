"""Chapter 08 under papermill: live on this machine's Docker with small parameters, and replayed without Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import leftovers
from tests.notebooks.test_notebooks import execute, outputs

pytestmark = [pytest.mark.notebook]


@pytest.mark.engine
@pytest.mark.usefixtures("docker_ready")
def test_the_chapter_runs_live_and_proves_each_claim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    nb = execute("08-pipeline", tmp_path, mode="live", measure=False, out_dir=str(tmp_path / "store"),
                 timeout=600.0)  # the harness itself is measured in tests/engine/test_pipeline.py
    text = outputs(nb)
    assert "mode: live" in text and "Traceback" not in text
    assert "✓ serving commit" in text
    for case, reason in (("unsigned", "unsigned"), ("rollback", "commit-mismatch"), ("missing", "not-in-registry"),
                         ("tampered", "tag-moved")):
        assert f"✓ {case:9} → refused: {reason}" in text, case
    assert "same as the release: True" in text and "signature at the mirror: error during command execution: no " \
                                                  "signatures found" in text
    assert "links to a signed commit on main: False" in text and "-by-hand" in text  # the by-hand container
    assert "replay of runs" in text  # measure=False: the recorded measurements, charted
    assert "0 labkit object(s) left" in text
    session = text.split("left of session ")[1].split()[0]
    assert leftovers(session) == []
    assert (tmp_path / "store" / "audit.csv").exists()


def test_the_chapter_replays_a_recording_without_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("LABKIT_DOCKER_PROBE_TIMEOUT", "2")
    text = outputs(execute("08-pipeline", tmp_path, mode="auto"))
    assert "mode: replay" in text and "Traceback" not in text
    assert "recorded audit table" in text and "replay of runs" in text
    assert "labkit up --cni kindnet --pipeline argocd" in text and "the pipeline's part" in text  # the kind plan
