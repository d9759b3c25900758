"""Helpers of the UI tier: JupyterLab on a temporary copy of the notebooks, and a notebook run through the real
Run menu in Debian's chromium (Playwright for Python, ``executable_path``: no browser download)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("LABKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Beyond Playwright's own flags (--headless, --no-sandbox as root): a closed network must not be probed for updates.
CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--no-first-run", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0  # not listening yet


@dataclass
class Lab:
    base: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen[bytes] = field(repr=False)


@contextmanager
def jupyterlab(root: Path, work: Path) -> Iterator[Lab]:
    """JupyterLab serving ``root`` on a free loopback port with a random token. User settings in ``work``: no
    news or update toasts, no restored layout, every cell rendered (windowing off) for full screenshots."""
    settings = work / "lab-settings" / "@jupyterlab"
    for ext, doc in (("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False}),
                     ("notebook-extension/tracker", {"windowingMode": "none"})):
        path = settings / f"{ext}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
    port, token = free_port(), os.urandom(16).hex()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(work / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(work / "lab-workspaces"), "PYTHONUNBUFFERED": "1"}
    log = work / "jupyter.log"
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=", "--LabApp.expose_app_in_browser=True"] + (["--allow-root"] if os.geteuid() == 0
                                                                            else [])
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while status(f"{base}/api/status?token={token}") != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield Lab(base, token, root, log, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # our own session: the server and its kernels
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


STATE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.content.model) return null;
  const cells = [];
  for (const c of w.content.model.cells) {
    if (c.type !== 'code') continue;
    const outs = c.outputs.toJSON();
    cells.push({count: c.executionCount,
                errors: outs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
                tracebacks: outs.filter(o => o.output_type === 'stream' && o.name === 'stderr'
                                        && String(o.text).includes('Traceback')).length});
  }
  const k = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  const busy = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')]
    .filter(p => p.textContent.includes('*')).length;
  return {kernel: k ? k.status : 'none', cells, busy};
}"""


def run_all(page: Any, lab: Lab, name: str, shots: Path, *, timeout_s: float) -> dict[str, Any]:
    """Open ``name``, Run → Run All Cells, wait until every code cell ran and the kernel is idle (stable 1 s),
    take a full-height screenshot; returns timings, the cells' errors and the picture's path."""
    out: dict[str, Any] = {"notebook": name}
    t0 = time.monotonic()
    page.goto(f"{lab.base}/lab/tree/{name}?token={lab.token}&reset", wait_until="domcontentloaded")
    page.wait_for_function(f"() => {{ const s = ({STATE})(); return s && s.kernel === 'idle'; }}", timeout=120_000)
    out["open_s"] = round(time.monotonic() - t0, 1)
    t1 = time.monotonic()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(f"""() => {{
        const s = ({STATE})();
        const done = s && s.kernel === 'idle' && s.busy === 0 && s.cells.every(c => c.count !== null);
        if (!done) {{ window.__lkDone = null; return false; }}
        window.__lkDone = window.__lkDone || Date.now();
        return Date.now() - window.__lkDone > 1000;
    }}""", timeout=timeout_s * 1000, polling=500)
    out["run_all_s"] = round(time.monotonic() - t1, 1)
    state = page.evaluate(STATE)
    out["code_cells"] = len(state["cells"])
    out["errors"] = [e for c in state["cells"] for e in c["errors"]]
    out["tracebacks"] = sum(c["tracebacks"] for c in state["cells"])
    out["screenshot"] = str(screenshot(page, shots / f"{Path(name).stem}.png"))
    return out


def screenshot(page: Any, path: Path) -> Path:
    """The whole notebook: JupyterLab scrolls inside its own panel, so the viewport is grown to the last cell."""
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    height = page.evaluate("""() => {
        const o = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
        const cells = o ? o.querySelectorAll('.jp-Cell') : [];
        if (!cells.length) return 1000;
        o.scrollTop = 0;
        return cells[cells.length - 1].getBoundingClientRect().bottom + 80; }""")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height, 1000), 30000))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    return path
