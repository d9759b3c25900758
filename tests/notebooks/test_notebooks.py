"""Notebook tier: every notebook runs top to bottom under papermill (engine target, small matrices)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

pytestmark = [pytest.mark.notebook]


def execute(name: str, out: Path, **params: object) -> nbformat.NotebookNode:
    return pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out / f"{name}.out.ipynb"),
                               parameters=params, kernel_name="python3", cwd=str(NOTEBOOKS),
                               progress_bar=False, execution_timeout=900)


def outputs(nb: nbformat.NotebookNode) -> str:
    text = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            text.append(o.get("text", "") or str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_committed_without_outputs_and_with_a_parameters_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs: make strip"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_start_here_runs_and_shows_the_doctor_table(tmp_path: Path) -> None:
    nb = execute("00-start-here", tmp_path, probe_privileged=False)
    text = outputs(nb)
    assert "docker daemon" in text and "blocker(s)" in text
    assert "mode: " in text


def test_start_here_under_nbval_lax(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
                          "--nbval-sanitize-with", str(ROOT / "tests" / "nbval-sanitize.cfg"),
                          "--nbval-current-env", str(NOTEBOOKS / "00-start-here.ipynb")],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:]
    assert " passed" in res.stdout and "failed" not in res.stdout.splitlines()[-1]


@pytest.mark.engine
@pytest.mark.usefixtures("docker_ready")
def test_bench_network_notebook_live(tmp_path: Path) -> None:
    nb = execute("10-bench-network", tmp_path, cells="loopback,bridge", tests="tcp-1,latency", reps=2,
                 duration_s=1.0, out_dir=str(tmp_path / "store"), mode="live")
    text = outputs(nb)
    assert "run " in text and "complete" in text
    assert "0 labkit object(s) left" in text


@pytest.mark.engine
@pytest.mark.usefixtures("docker_ready")
def test_bench_storage_notebook_live(tmp_path: Path) -> None:
    nb = execute("11-bench-storage", tmp_path, cells="hostfs,volume", tests="randread-4k-qd32,randread-4k-qd1",
                 reps=2, duration_s=1.0, size="32M", out_dir=str(tmp_path / "store"), mode="live")
    assert "0 labkit object(s) left" in outputs(nb)


@pytest.mark.parametrize("name", ["10-bench-network", "11-bench-storage"])
def test_bench_notebooks_replay_recordings(tmp_path: Path, name: str) -> None:
    nb = execute(name, tmp_path, mode="replay")
    assert "mode: replay" in outputs(nb)


@pytest.mark.engine
@pytest.mark.usefixtures("docker_ready")
def test_regression_gate_passes_aa_and_fails_on_injected_cut(tmp_path: Path) -> None:
    store = tmp_path / "store"
    common = dict(cells="bridge", tests="tcp-1", reps=6, duration_s=1.0, out_dir=str(store), mode="live")
    nb = execute("20-regression", tmp_path, **common, report_dir=str(tmp_path / "aa"))
    assert "no regression" in outputs(nb)
    assert (tmp_path / "aa" / "comparison.html").is_file()
    with pytest.raises(pm.PapermillExecutionError, match="RegressionFound"):
        execute("20-regression", tmp_path, **common, impair="rate=2gbit", report_dir=str(tmp_path / "cut"))
    html = (tmp_path / "cut" / "comparison.html").read_text()
    assert "regression" in html and 'src="http' not in html
    assert (tmp_path / "cut" / "plotly.min.js").is_file()


def test_regression_gate_replays_the_recorded_interleaved_pair(tmp_path: Path) -> None:
    nb = execute("20-regression", tmp_path, mode="replay", cells="bridge,loopback", tests="tcp-1,latency",
                 report_dir=str(tmp_path / "replay"))
    text = outputs(nb)
    assert "mode: replay" in text and "no regression" in text
    assert (tmp_path / "replay" / "comparison.html").is_file()
