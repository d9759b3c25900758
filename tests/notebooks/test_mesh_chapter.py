"""Chapter 07 runs top to bottom live on the engine (small parameters) and in replay (plans, pictures, recordings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nbformat

from tests.fakes import sdk_client
from tests.notebooks.test_notebooks import execute

pytestmark = [pytest.mark.notebook]


def outputs(nb: nbformat.NotebookNode) -> str:
    """Every text, plain-text and Markdown output (the plans are shown as Markdown)."""
    text = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            text += [o.get("text", ""), str(data.get("text/plain", "")), str(data.get("text/markdown", ""))]
    return "\n".join(text)


@pytest.mark.engine
def test_mesh_chapter_live_builds_verifies_measures_and_leaves_nothing(docker_ready: None, tmp_path: Path) -> None:
    nb = execute("07-mesh", tmp_path, mode="live", cells="none,envoy-mtls", rates="rate-50", reps=2, seconds=1.0,
                 out_dir=str(tmp_path / "store"))
    text = outputs(nb)
    assert "mode: live" in text
    verify = text[text.find("verify:"):][:4000]
    assert "verify: 13 of 13 checks passed" in text, verify                          # identity, refusals, wire, stats
    assert "checks fail (a verify that cannot fail proves nothing)" in text          # the broken mesh fails it
    assert "Envoy says verify cert failed: X509_verify_cert: certificate verification error at depth 0: " \
           "certificate has expired" in text                                         # the certificate problem, named
    assert "--uid-owner 1337 -j RETURN" in text and "Envoy running: 9e5580933739" in text
    assert 'envoy_cluster_upstream_rq_total{envoy_cluster_name="server-v1"}' in text  # a scrape target's metrics
    assert "pushed by xds" in text                                                   # labkit-xds pushed the retries
    assert "KEY_VALUES_MISMATCH" in text and "is not running" in text               # faults, with their reasons
    from labkit.bench import Store

    rows = Store(tmp_path / "store").load()
    assert set(rows["cell"]) == {"none", "envoy-mtls"} and set(rows["status"]) <= {"ok", "failed"}
    assert "unavailable: this machine could not generate 200000 req/s" in text            # an impossible rate
    assert re.search(r"^0 object\(s\) of session \w{10} left", text, re.M)
    session = next(w for w in text.split() if len(w) == 10 and w.isalnum() and f"session {w} left" in text)
    assert not sdk_client().containers.list(all=True, filters={"label": f"io.labkit.session={session}"})


def test_mesh_chapter_replays_and_shows_the_kind_plans(tmp_path: Path) -> None:
    text = outputs(execute("07-mesh", tmp_path, mode="replay", kind_mesh="istio-ambient"))
    assert "mode: replay" in text and "nothing runs" in text
    assert "helm upgrade --install ztunnel istio/ztunnel --version 1.30.3" in text
    assert "fs.inotify" in text or "kind" in text
    assert "UnknownMesh" in text and "Istio performance page" in text
