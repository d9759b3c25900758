"""UI tier: `labkit lab` serves JupyterLab on loopback with a token, and 00-start-here runs in a real browser.

Needs Playwright for Python and a Chromium (Debian: `apt-get install chromium`); skipped with the
missing piece named otherwise. Run: `pip install playwright && pytest tests/ui`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0  # not listening yet


@pytest.fixture()
def lab_server() -> tuple[str, str]:
    port, token = _free_port(), os.urandom(16).hex()
    proc = subprocess.Popen([sys.executable, "-m", "labkit.cli", "lab", "--port", str(port), "--no-images"],
                            env={**os.environ, "LABKIT_TOKEN": token}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and _status(f"{base}/api/status?token={token}") != 200:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.5)
    yield base, token
    proc.terminate()
    proc.wait(timeout=30)


def test_lab_requires_a_token_on_loopback(lab_server: tuple[str, str]) -> None:
    base, token = lab_server
    assert _status(f"{base}/api/status?token={token}") == 200
    assert _status(f"{base}/api/status") == 403
    assert _status(f"{base}/api/contents/notebooks/00-start-here.ipynb?token={token}") == 200


def test_start_here_runs_top_to_bottom_in_chromium(lab_server: tuple[str, str], tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    base, token = lab_server
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/lab/tree/notebooks/00-start-here.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                               "#jp-main-statusbar :text('Idle')", timeout=90_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_function(
            "Array.from(document.querySelectorAll('.jp-OutputArea-output')).some("
            "e => e.innerText.includes('labkit object(s) present'))", timeout=120_000)
        text = page.inner_text(".jp-Notebook")
        page.screenshot(path=str(tmp_path / "00-start-here.png"), full_page=True)
        browser.close()
    assert "blocker(s)" in text and "mode:" in text
    assert "Traceback" not in text and "Error" not in text.split("labkit object(s) present")[0][-2000:]
