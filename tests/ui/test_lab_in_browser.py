"""UI tier: the lab in a real browser. JupyterLab serves a temporary copy of the notebooks; Debian's chromium,
driven by Playwright for Python (``executable_path``: no browser download), opens 00-start-here and 01-engine
(live, small parameters), runs all cells through the Run menu as a learner would, waits for the kernel to be
idle, fails on any error output, and saves a full-height screenshot of each under the test's tmp dir.

Skips when chromium or playwright is missing; ``LABKIT_REQUIRE_UI=1`` (.ci/run) turns that into a failure.
``labkit lab`` itself (loopback, token, the learner's workspace copy) is checked without a browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ui.lab_browser import CHROMIUM, CHROMIUM_ARGS, free_port, jupyterlab, run_all, status

pytestmark = pytest.mark.ui
ROOT = Path(__file__).resolve().parents[2]


def _need(what: str) -> None:
    if os.environ.get("LABKIT_REQUIRE_UI") == "1":
        pytest.fail(f"UI tier required but unavailable: {what}")
    pytest.skip(f"UI tier: {what}")


@pytest.fixture()
def chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need("Playwright for Python is not installed (pip install -r requirements.txt)")
    if not CHROMIUM:
        _need("no chromium (apt-get install chromium)")
    return str(CHROMIUM)


def _small(path: Path, **values: object) -> None:
    """Set parameters in the copy's parameters cell (what papermill's -p does, kept visible in the cell)."""
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    lines = "".join(cell["source"]).splitlines()
    for name, value in values.items():
        lines = [f"{name} = {value!r}  # set by the UI test" if line.split(":")[0].split("=")[0].strip() == name
                 else line for line in lines]
    cell["source"] = "\n".join(lines)
    path.write_text(json.dumps(nb))


def test_start_here_and_01_engine_run_all_in_chromium(chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".*"))
    _small(root / "01-engine.ipynb", mode="live", cells="docker-runc", reps=2, out_dir=str(tmp_path / "results"))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    report = []
    with jupyterlab(root, tmp_path) as lab, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name, budget in (("00-start-here.ipynb", 300), ("01-engine.ipynb", 900)):
                try:
                    report.append(run_all(page, lab, name, shots, timeout_s=budget))
                except Exception:
                    page.screenshot(path=str(shots / f"{Path(name).stem}-FAILED.png"), full_page=True)
                    raise
        finally:
            browser.close()
    (tmp_path / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    for nb in report:
        assert nb["errors"] == [] and nb["tracebacks"] == 0, nb
        assert nb["code_cells"] >= 5 and Path(nb["screenshot"]).stat().st_size > 10_000


def test_labkit_lab_serves_the_workspace_on_loopback_with_a_token(tmp_path: Path) -> None:
    port, token = free_port(), os.urandom(16).hex()
    proc = subprocess.Popen([sys.executable, "-m", "labkit.cli", "lab", "--port", str(port), "--no-images",
                             "--workspace", str(tmp_path / "ws")], env={**os.environ, "LABKIT_TOKEN": token},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while status(f"{base}/api/status?token={token}") != 200:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "labkit lab did not answer"
            time.sleep(0.5)
        assert status(f"{base}/api/status") == 403
        assert status(f"{base}/api/contents/00-start-here.ipynb?token={token}") == 200  # the learner's copy
        assert (tmp_path / "ws" / "01-engine.ipynb").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
