"""``labkit lab``: check the machine, build missing images, copy the notebooks to a workspace, start JupyterLab.

The learner works on copies in ``workspace/`` (git-ignored): JupyterLab's autosave never writes into the
tracked ``notebooks/``, a ``git pull`` never collides with a learner's outputs, and ``labkit reset CHAPTER``
restores one copy (saving the learner's version to ``notebooks/.learner/`` first). Copies are made only for
notebooks the workspace lacks, so a learner's work is never overwritten. ``--tracked`` opens ``notebooks/``
itself (for authors editing the chapters).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from labkit import doctor
from labkit.errors import PortInUse
from labkit.log import log
from labkit.versions import project_root

START = "notebooks/00-start-here.ipynb"
FIRST = "00-start-here.ipynb"


def jupyter_argv(*, port: int, browser: bool, root_dir: Path | None = None, start: str = START) -> list[str]:
    """The exact JupyterLab command: loopback only, token auth on, opened at 00-start-here."""
    argv = [
        sys.executable, "-m", "jupyterlab",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.root_dir={root_dir or project_root()}",
        "--IdentityProvider.token=" + os.environ.get("LABKIT_TOKEN", os.urandom(24).hex()),
        "--LabApp.news_url=",  # no "Jupyter news" fetch from the internet
        start,
    ]
    if not browser:
        argv.append("--no-browser")
    if os.geteuid() == 0:
        argv.append("--allow-root")
    return argv


def prepare_workspace(workspace: Path | None = None, *, root: Path | None = None) -> tuple[Path, list[str]]:
    """Copy ``notebooks/`` into ``workspace`` (default ``<checkout>/workspace``), skipping files already there.

    Outside a git checkout it also keeps a pristine copy in ``notebooks/.pristine/`` (what ``labkit reset``
    restores from). Returns the workspace and the files copied."""
    root = root or project_root()
    source = root / "notebooks"
    dest = workspace or root / "workspace"
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    pristine = None if (root / ".git").exists() else source / ".pristine"
    for path in sorted(source.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if pristine is not None and path.suffix == ".ipynb" and not (pristine / path.name).exists():
            pristine.mkdir(exist_ok=True)
            shutil.copy2(path, pristine / path.name)
        if not (dest / path.name).exists():
            shutil.copy2(path, dest / path.name)
            copied.append(path.name)
    return dest, copied


def open_lab(*, port: int, build_images: bool = True, browser: bool = False, tracked: bool = False,
             workspace: Path | None = None) -> int:
    """Run doctor, build images if Docker works, copy the notebooks (unless ``tracked``), then replace this
    process with JupyterLab."""
    if not doctor.port_free(port):
        raise PortInUse(port, fix=f"stop what listens there, or pick another: LABKIT_PORT={port + 1} make lab")
    rows = doctor.checks(ports=())
    log(doctor.render(rows))
    docker_ok = not any(r.name == "docker daemon" and r.status == doctor.FAIL for r in rows)
    if build_images and docker_ok:
        from labkit import images

        images.build_tools()
    elif not docker_ok:
        log("! no Docker daemon: the lab opens, but engine chapters cannot run live (see 00-start-here)")
    if tracked:
        root_dir, start = project_root(), START
        log("! --tracked: you edit notebooks/ itself (autosave writes there; `git diff` shows it)")
    else:
        root_dir, copied = prepare_workspace(workspace)
        start = FIRST
        log(f"your copies of the notebooks: {root_dir} ({len(copied)} new; existing copies kept). "
            "`labkit reset CHAPTER` restores one.")
    argv = jupyter_argv(port=port, browser=browser and shutil.which("xdg-open") is not None, root_dir=root_dir,
                        start=start)
    token = next(a.split("=", 1)[1] for a in argv if a.startswith("--IdentityProvider.token="))
    log(f"\nJupyterLab: http://127.0.0.1:{port}/lab/tree/{start}?token={token}\n")
    os.chdir(root_dir)
    os.execv(argv[0], argv)
    return 0  # pragma: no cover - execv does not return
