"""Chapter 06 runs top to bottom live on the engine (small parameters) and in replay from the recording."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakes import sdk_client
from tests.notebooks.test_cluster_chapters import _text as outputs
from tests.notebooks.test_notebooks import execute

pytestmark = [pytest.mark.notebook]


@pytest.mark.engine
def test_logging_chapter_live_verifies_measures_and_leaves_nothing(docker_ready: None, tmp_path: Path) -> None:
    nb = execute("06-logging", tmp_path, mode="live", cells="json-file,json-file-nb",
                 tests="burst-max", reps=2, seconds=0.5, loop="off", out_dir=str(tmp_path / "store"))
    text = outputs(nb)
    assert "mode: live" in text
    assert "FOUND: token V-" in text and text.count("MISSING: token X-") == 2       # the verify, and its failure
    assert "connect: connection refused" in text                                     # a TCP collector down at start
    assert 'plugin "nope" not found' in text                                          # dockerd's own words
    assert "SUCCESS" in text and "a wrong expectation fails: True" in text           # promtool
    assert "errors 20 (200 and 20 written)" in text                                   # mtail counted
    assert "refused up front" in text
    from labkit.bench import Store

    rows = Store(tmp_path / "store").load()
    ok = rows[rows["status"] == "ok"]
    assert {"json-file", "json-file-nb"} <= set(ok["cell"])
    assert (ok[(ok.metric == "loss_pct") & (ok.cell != "json-file-nb")]["value"] == 0).all()  # blocking kept all
    left = re.search(r"(\d+) object\(s\) of session (\w+) left", text)
    assert left is not None and left.group(1) == "0"
    assert not sdk_client().containers.list(all=True, filters={"label": f"io.labkit.session={left.group(2)}"})


def test_logging_chapter_replays_the_recording_and_shows_the_kind_plan(tmp_path: Path) -> None:
    text = outputs(execute("06-logging", tmp_path, mode="replay"))
    assert "replaying recorded run" in text and "Docker is not used" in text
    assert "MISSING" in text and "FOUND" in text                                       # the recorded verify
    assert "helm upgrade --install loki grafana-community/loki --version 18.11.0" in text
    assert "/api/v1/namespaces/logging/services/loki:3100/proxy/loki/api/v1/query_range" in text
    assert "✗ no answer yet" in text                                                   # checks wait for answers
