"""Chapters 03 (network) and 04 (storage) run top to bottom here in plan-only mode: plans, tables, verify steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.versions import pins
from tests.notebooks.test_notebooks import execute

pytestmark = [pytest.mark.notebook]


def _text(nb: object) -> str:
    out = []
    for cell in nb.cells:  # type: ignore[attr-defined]
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            out.append(o.get("text", "") or data.get("text/markdown", "") or str(data.get("text/plain", "")))
    return "\n".join(out)


@pytest.mark.parametrize("cni,expect", [
    ("calico", ["https://raw.githubusercontent.com/projectcalico/calico/"
                f"{pins()['components']['network']['calico']['version']}/manifests/tigera-operator.yaml",
                "podSubnet: 192.168.0.0/16",
                "The policy blocks pod to pod"]),
    ("flannel", ["docker cp", "/opt/cni/bin/bridge", "The policy is NOT enforced"]),
])
def test_network_chapter_shows_the_plan_where_kind_cannot_run(tmp_path: Path, cni: str, expect: list[str]) -> None:
    nb = execute("03-network", tmp_path, cni=cni, mode="replay")
    text = _text(nb)
    assert "plan only:" in text
    for needle in expect:
        assert needle in text, needle
    assert "Weave Net (retired)" in text and "NOT enforced" in text


@pytest.mark.parametrize("option,expect", [
    ("openebs", ["--version 4.6.1", "mayastor", "sha256sum -c", "Wait for the PVC to be Bound"]),
    ("longhorn", ["systemctl enable --now iscsid.socket", "volumes.longhorn.io"]),
])
def test_storage_chapter_shows_the_plan_where_kind_cannot_run(tmp_path: Path, option: str,
                                                               expect: list[str]) -> None:
    nb = execute("04-storage", tmp_path, storage=option, mode="replay")
    text = _text(nb)
    assert "plan only:" in text and "Rook-Ceph" in text
    for needle in expect:
        assert needle in text, needle


def test_storage_benchmark_offers_each_storage_class_on_kind(tmp_path: Path) -> None:
    nb = execute("11-bench-storage", tmp_path, target="kind", mode="replay", storage_options="openebs,longhorn")
    text = _text(nb)
    assert "cells [hostfs-docker, local-path, openebs-hostpath, longhorn]" in text
    assert "no kind storage recording ships yet" in text  # honest about what it replays
