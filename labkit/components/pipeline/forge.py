"""The lab's forge: ``git http-backend`` (bookworm's git) behind lighttpd, and your working copy of the app.

Smart HTTP is what GitHub, GitLab and Gitea speak too, and what Flux's source-controller needs (go-git has
no dumb-HTTP support): ``git clone http://127.0.0.1:PORT/app.git`` and ``git push`` work as against any
forge. There is no login — the forge is published on 127.0.0.1 only; the kind tier attaches the same
container to kind's network for Argo CD and Flux.

Every git command runs in the tool belt (nothing needs git on your machine); your working copy is
``<lab>/work/learner`` on the host, ``/lab/work/learner`` inside.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit._run import Cmd
from labkit.components.pipeline.settings import Layout
from labkit.components.pipeline.toolbox import Journal, Objects, Toolbox, host_user
from labkit.errors import LabkitError
from labkit.versions import environments_dir

REPO = "app.git"
AUTHOR = {"GIT_AUTHOR_NAME": "labkit learner", "GIT_AUTHOR_EMAIL": "learner@labkit.invalid",
          "GIT_COMMITTER_NAME": "labkit learner", "GIT_COMMITTER_EMAIL": "learner@labkit.invalid"}


def app_source() -> Path:
    """The app the lab's repository starts with (environments/pipeline/app)."""
    return environments_dir() / "pipeline" / "app"


def start(objects: Objects, layout: Layout, image: str, *, port: int) -> Any:
    return objects.container(image, name=f"lk-{objects.session}-forge", part="forge", command=["labkit-forge"],
                             ports={"8080/tcp": ("127.0.0.1", port or None)}, user=host_user(),
                             volumes={str(layout.host("git")): {"bind": "/srv/git", "mode": "rw"}})


def wait_ready(url: str, *, timeout: float = 20.0) -> float:
    """Seconds until the smart-HTTP ref advertisement answers 200."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            with urllib.request.urlopen(f"{url}/info/refs?service=git-upload-pack", timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise LabkitError(f"the forge at {url} did not answer within {timeout:g} s",
                      fix="look at `docker logs` of the forge container")


@dataclass
class Forge:
    """The forge's URL and your working copy: change a file, commit, push — as a developer would."""

    url: str
    tools: Toolbox
    journal: Journal
    layout: Layout

    WORKDIR = "work/learner"

    @property
    def workdir(self) -> Path:
        return self.layout.host(*self.WORKDIR.split("/"))

    def git(self, *argv: str, where: str | None = None) -> Cmd:
        return self.tools.cmd("git", *argv, workdir=where or Layout.inside(self.WORKDIR), env=AUTHOR)

    def _run(self, *argv: str, stage: str = "git", where: str | None = None, check: bool = True) -> str:
        return self.journal.run(self.git(*argv, where=where), stage=stage, timeout=120, check=check).stdout

    def seed(self, source: Path | None = None) -> str:
        """Clone the empty repository, copy the app in, commit and push: the first commit's sha."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        self._run("clone", "--quiet", self.url, Layout.inside(self.WORKDIR), where=Layout.MOUNT)
        shutil.copytree(source or app_source(), self.workdir, dirs_exist_ok=True)
        return self.commit("app: first version")

    def write(self, path: str, text: str) -> None:
        target = (self.workdir / path).resolve()
        if self.workdir.resolve() not in target.parents:
            raise LabkitError(f"{path!r} is outside the working copy", fix="use a path like 'message.txt'")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> str:
        """``git add -A``, commit, push to main; the new commit's sha."""
        self._run("add", "-A")
        self._run("commit", "--quiet", "-m", message)
        self._run("push", "--quiet", "origin", "HEAD:main")
        return self._run("rev-parse", "HEAD").strip()

    def change(self, text: str, *, path: str = "message.txt", message: str | None = None) -> str:
        """A developer's change: new content, one commit, pushed. Returns the sha."""
        self.write(path, text if text.endswith("\n") else text + "\n")
        return self.commit(message or f"app: {text.strip()[:50]}")

    def head(self) -> str | None:
        """What a CI trigger polls: ``git ls-remote URL refs/heads/main`` (None for an empty repository)."""
        out = self._run("ls-remote", self.url, "refs/heads/main", where=Layout.MOUNT)
        return out.split()[0] if out.split() else None

    def clone_at(self, commit: str, dest: str, *, journal: Journal, stage: str = "clone") -> Cmd:
        """A fresh clone of main with ``commit`` checked out (fails clearly if main does not contain it)."""
        clone = self.tools.cmd("git", "clone", "--quiet", "--single-branch", "--branch", "main", "--no-tags",
                               self.url, dest, workdir=Layout.MOUNT, env=AUTHOR)
        journal.run(clone, stage=stage, timeout=120)
        checkout = self.tools.cmd("git", "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach",
                                  commit, workdir=dest)
        if not journal.run(checkout, stage=stage, timeout=60, check=False).ok:
            raise LabkitError(f"commit {commit} is not on main of {self.url}",
                              fix=f"push it first; see {journal.path(stage)}")
        return clone

    def on_main(self, commit: str) -> bool:
        """Is ``commit`` part of main's history on the forge? (the audit's link back to git)"""
        self._run("fetch", "--quiet", "origin", "main", stage="audit")
        return self.journal.run(self.git("merge-base", "--is-ancestor", commit, "origin/main"), stage="audit",
                                timeout=60, check=False).ok
