"""``labkit lab``: check the machine, build missing images, start JupyterLab."""

from __future__ import annotations

import os
import shutil
import sys

from labkit import doctor
from labkit.errors import PortInUse
from labkit.log import log
from labkit.versions import project_root

START = "notebooks/00-start-here.ipynb"


def jupyter_argv(*, port: int, browser: bool) -> list[str]:
    """The exact JupyterLab command: loopback only, token auth on, opened at 00-start-here."""
    argv = [
        sys.executable, "-m", "jupyterlab",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.root_dir={project_root()}",
        "--IdentityProvider.token=" + os.environ.get("LABKIT_TOKEN", os.urandom(24).hex()),
        "--LabApp.news_url=",  # no "Jupyter news" fetch from the internet
        START,
    ]
    if not browser:
        argv.append("--no-browser")
    if os.geteuid() == 0:
        argv.append("--allow-root")
    return argv


def open_lab(*, port: int, build_images: bool = True, browser: bool = False) -> int:
    """Run doctor, build images if Docker works, then replace this process with JupyterLab."""
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
    argv = jupyter_argv(port=port, browser=browser and shutil.which("xdg-open") is not None)
    token = next(a.split("=", 1)[1] for a in argv if a.startswith("--IdentityProvider.token="))
    log(f"\nJupyterLab: http://127.0.0.1:{port}/lab/tree/{START}?token={token}\n")
    os.chdir(project_root())
    os.execv(argv[0], argv)
    return 0  # pragma: no cover - execv does not return
