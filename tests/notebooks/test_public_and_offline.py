"""Every chapter uses only labkit's public API, the same parameter names, and runs with no Docker at all.

Binder has no Docker daemon, and a workshop laptop may have a stopped one: each notebook must still
read top to bottom (plan or replay mode) and say why it is not live.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import labkit
from tests.notebooks.test_notebooks import NOTEBOOKS, execute, outputs

pytestmark = [pytest.mark.notebook]
BOOKS = sorted(NOTEBOOKS.glob("*.ipynb"))
#: Public modules a chapter may import from: ``labkit`` (and its PUBLIC names) and the harness's own modules.
PUBLIC_PACKAGES = ("labkit", "labkit.bench", "labkit.bench.stats", "labkit.bench.report", "labkit.bench.compare",
                   "labkit.bench.net", "labkit.bench.storage", "labkit.bench.kube", "labkit.errors", "labkit.versions")


def _code(path: Path) -> str:
    nb = json.loads(path.read_text())
    lines = []
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            lines += [line for line in "".join(c["source"]).splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.stem)
def test_chapters_import_only_the_public_api(path: Path) -> None:
    tree = ast.parse(_code(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit"):
            names = [a.name for a in node.names]
            if node.module not in PUBLIC_PACKAGES or any(n.startswith("_") for n in names):
                bad.append(f"from {node.module} import {', '.join(names)}")
            elif node.module == "labkit":
                bad += [f"from labkit import {n}" for n in names
                        if n not in labkit.PUBLIC and n not in labkit.__all__ and n != "__version__"]
        elif isinstance(node, ast.Import):
            bad += [f"import {a.name}" for a in node.names if a.name.startswith("labkit.")]
    assert bad == [], f"{path.name} reaches past the public API: {bad}"


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.stem)
def test_chapters_use_the_shared_parameter_names(path: Path) -> None:
    params = next(c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    names = {line.split(":")[0].strip() for line in "".join(params["source"]).splitlines()
             if ":" in line and not line.startswith("#")}
    assert not names & {"live", "keep_cluster", "keep_clusters"}, f"use mode / keep, not {names}"
    assert "mode" in names, "every chapter has a mode parameter (auto | live | replay)"


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.stem)
def test_every_chapter_runs_with_docker_unreachable(path: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # the kernel inherits it
    monkeypatch.setenv("LABKIT_DOCKER_PROBE_TIMEOUT", "2")
    params = {"probe_privileged": False} if path.stem == "00-start-here" else {}
    text = outputs(execute(path.stem, tmp_path, **params))
    assert "Traceback" not in text
    if path.stem != "00-start-here":
        assert any(word in text for word in ("replay", "plan only", "not run here", "replaying")), text[-2000:]
