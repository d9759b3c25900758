"""Every chapter uses only labkit's public API, the same parameter names, and runs with no Docker at all.

Binder has no Docker daemon, and a workshop laptop may have a stopped one: each notebook must still
read top to bottom (plan or replay mode) and say why it is not live.
"""

from __future__ import annotations

import ast
import json
import re
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


#: names a chapter might use for a shared parameter → the shared name
ALIASES = {"live": "mode", "keep_cluster": "keep", "keep_clusters": "keep", "cluster": "cluster_name",
           "kind_cluster": "cluster_name", "name": "cluster_name", "outdir": "out_dir", "output_dir": "out_dir",
           "store": "out_dir", "kube_context": "context", "kube_config": "kubeconfig", "n_workers": "workers",
           "worker_nodes": "workers", "network": "cni"}


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.stem)
def test_chapters_use_the_shared_parameter_names(path: Path) -> None:
    params = next(c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    names = {line.split(":")[0].strip() for line in "".join(params["source"]).splitlines()
             if ":" in line and not line.startswith("#")}
    aliases = {n: ALIASES[n] for n in names if n in ALIASES}
    assert not aliases, f"use the shared names: {aliases}"
    assert "mode" in names, "every chapter has a mode parameter (auto | live | replay)"


#: Parameters several chapters share: each must be declared the same way wherever it appears (type, default and
#: comment), so `-p keep True` or `-p cni calico` means the same thing in every chapter.
SHARED = ("mode", "keep", "profile", "out_dir", "cluster_name", "cni", "workers", "context", "kubeconfig")
PARAM = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)\s*:\s*(?P<type>[A-Za-z_.]+)\s*=\s*(?P<default>[^#]+?)\s*"
                   r"(?:#\s*(?P<comment>.*?))?\s*$")


def parameters(path: Path) -> dict[str, tuple[str, str, str]]:
    """name → (type, default, comment) of a chapter's parameters cell."""
    cell = next(c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    out = {}
    for line in "".join(cell["source"]).splitlines():
        m = PARAM.match(line)
        if m:
            out[m["name"]] = (m["type"], m["default"], m["comment"] or "")
    return out


def shared_drift(books: dict[str, dict[str, tuple[str, str, str]]]) -> list[str]:
    """Every shared parameter declared differently by two chapters (a missing comment counts as no claim)."""
    bad = []
    for name in SHARED:
        seen = {book: params[name] for book, params in books.items() if name in params}
        types_defaults = {(t, d) for t, d, _ in seen.values()}
        comments = {c for _, _, c in seen.values() if c}
        if len(types_defaults) > 1 or len(comments) > 1:
            bad.append(f"{name}: " + "; ".join(f"{book} {t} = {d}  # {c}" for book, (t, d, c) in sorted(seen.items())))
    return bad


def test_shared_parameters_mean_the_same_in_every_chapter() -> None:
    books = {p.stem: parameters(p) for p in BOOKS}
    drift = shared_drift(books)
    assert drift == [], "declare each shared parameter exactly alike:\n" + "\n".join(drift)


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(path: Path) -> None:
    """papermill skips a parameter line with a second '=' (in its comment too): `papermill --help-notebook`
    then hides it and `-p NAME VALUE` warns "Passed unknown parameter" although the value is used."""
    import papermill

    declared = set(parameters(path))
    read = set(papermill.inspect_notebook(str(path)))
    assert declared and read == declared, f"papermill cannot read {sorted(declared - read)}: no '=' in a comment"


def test_a_drift_in_name_default_or_comment_is_caught() -> None:
    same = {"a": {"keep": ("bool", "False", "keep it")}, "b": {"keep": ("bool", "False", "keep it")}}
    assert shared_drift(same) == []
    assert shared_drift({**same, "c": {"keep": ("bool", "True", "keep it")}})              # default
    assert shared_drift({**same, "c": {"keep": ("bool", "False", "keep the cluster")}})    # comment
    assert shared_drift({**same, "c": {"keep": ("str", "False", "keep it")}})              # type
    assert PARAM.match('cluster_name: str = ""  # the cluster')["default"] == '""'


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
