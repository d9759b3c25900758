"""The pipeline's containers, its tool belt, and the journal that keeps every command's output.

* :class:`Objects` makes the lab's containers through :mod:`labkit.docker`, each labelled with the lab's
  session, and removes everything carrying that label (containers, the images the pipeline built, the
  build stages the legacy builder leaves untagged). A lab in a ``with`` block also carries its process as
  owner, so ``labkit clean --dead`` can reap it after a crash; the terminal's stack (``labkit pipeline up``)
  does not, so it outlives the command that made it.
* :class:`Toolbox` is one long-running container of the pipeline-tools image (git, skopeo, openssl,
  htpasswd, cosign, trivy-cdxgen) on the host network, running as your user with the lab directory at
  ``/lab``. Every tool runs in it with ``docker exec`` (no tool on the host, no container start per command).
* :class:`Journal` runs a command and appends it, with its output, to ``<logs>/<run>/<stage>.log``. A
  secret goes to the command's stdin only: the journal records that stdin was a secret, never its value.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import docker
from labkit._run import Cmd, Result, Runner, default_runner
from labkit.components.pipeline.settings import PART, Layout, Secret
from labkit.errors import CommandError
from labkit.log import log
from labkit.redact import redact

ROLE = "pipeline"


def host_user() -> str:
    """``uid:gid`` of this process: containers write the lab's files as you, so you can delete them."""
    return f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else "0:0"


@dataclass
class Objects:
    """The lab's Docker objects, found and removed by its session label."""

    session: str
    persistent: bool = False
    created_images: Path | None = None  # build stages to remove (the legacy builder leaves them unlabelled)

    def labels(self, **extra: str) -> dict[str, str]:
        out = {docker.SESSION: self.session, **extra}
        if not self.persistent:
            out[docker.OWNER] = docker.owner()
        return out

    def container(self, image: str, *, name: str, part: str, command: Sequence[str] | None = None,
                  labels: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        """Create and start a labelled container (``kwargs`` as for the SDK's ``containers.create``)."""
        log(f"$ docker run -d --name {name} {image}{' ' + shlex.join(command) if command else ''}")
        box = docker.create(image, command, role=f"{ROLE}-{part}", name=name,
                            labels={**self.labels(**{PART: part}), **(labels or {})}, **kwargs)
        docker.start(box)
        return box

    def containers(self) -> list[Any]:
        return docker.containers(label=f"{docker.SESSION}={self.session}")

    def remove_all(self, runner: Runner | None = None) -> list[str]:
        """Remove every container and image of this session, then the recorded build stages; what went."""
        gone: list[str] = []
        for box in self.containers():
            docker.remove_container(box)
            gone.append(f"container {box.name}")
        run = runner or default_runner()
        listed = run.run(["docker", "images", "--quiet", "--no-trunc", "--filter",
                          f"label={docker.SESSION}={self.session}"], timeout=60, check=False, quiet=True)
        for image_id in dict.fromkeys(listed.stdout.split()):  # by label: not docker.managed(), which races with
            if run.run(["docker", "rmi", "--force", image_id], timeout=120, check=False, quiet=True).ok:  # others
                gone.append(f"image {image_id[7:19]}")
            else:
                log(f"! could not remove image {image_id[7:19]} (labkit clean --images removes it later)")
        if self.created_images is not None and self.created_images.exists():
            for image_id in reversed(list(dict.fromkeys(self.created_images.read_text().split()))):
                if run.run(["docker", "rmi", image_id], timeout=60, check=False, quiet=True).ok:
                    gone.append(f"build stage {image_id}")
        return gone


@dataclass(frozen=True)
class Toolbox:
    """``docker exec`` into the tool belt; :meth:`cmd` is the exact command a journal runs (and a plan shows)."""

    name: str

    def cmd(self, *argv: str, workdir: str | None = None, env: Mapping[str, str] | None = None,
            stdin: bool = False) -> Cmd:
        head = ["docker", "exec"]
        if stdin:
            head.append("-i")
        if workdir:
            head += ["-w", workdir]
        for key, value in (env or {}).items():
            head += ["-e", f"{key}={value}"]
        return Cmd((*head, self.name, *argv))


def start_toolbox(objects: Objects, layout: Layout, image: str) -> Toolbox:
    name = f"lk-{objects.session}-ci"
    objects.container(image, name=name, part="ci", command=["sleep", "infinity"], network_mode="host",
                      user=host_user(), working_dir=Layout.MOUNT, environment={"HOME": Layout.inside("home"),
                                                                     "DOCKER_CONFIG": Layout.inside("docker")},
                      volumes={str(layout.root): {"bind": Layout.MOUNT, "mode": "rw"}})
    return Toolbox(name)


@dataclass
class Journal:
    """Runs commands for one pipeline run and keeps their output, one log file per stage."""

    directory: Path
    runner: Runner = field(default_factory=default_runner)

    def path(self, stage: str) -> Path:
        return self.directory / f"{stage}.log"

    def run(self, cmd: Cmd, *, stage: str, timeout: float = 300.0, check: bool = True,
            secret: Secret | None = None) -> Result:
        """Run ``cmd`` (``secret`` on its stdin, else ``cmd.stdin``), log it, raise :class:`CommandError`
        naming the log on failure when ``check``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        stdin = secret.reveal() if secret is not None else cmd.stdin
        try:
            res = self.runner.run(list(cmd.argv), stdin=stdin, env=dict(cmd.env), timeout=timeout, check=False,
                                  quiet=True)
        except CommandError as exc:  # a timeout: keep what it printed
            self._write(stage, cmd, None, exc.stdout, exc.stderr, time.monotonic() - t0, secret is not None)
            raise CommandError(cmd.argv, None, exc.stdout, exc.stderr, timeout=timeout,
                               fix=f"full log: {self.path(stage)}") from None
        self._write(stage, cmd, res.returncode, res.stdout, res.stderr, time.monotonic() - t0, secret is not None)
        if check and not res.ok:
            raise CommandError(cmd.argv, res.returncode, res.stdout, res.stderr, fix=f"full log: {self.path(stage)}")
        return res

    def note(self, stage: str, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.path(stage).open("a") as fh:
            fh.write(redact(text).rstrip("\n") + "\n")

    def _write(self, stage: str, cmd: Cmd, rc: int | None, out: str, err: str, seconds: float,
               secret_stdin: bool) -> None:
        line = f"$ {cmd.shell()}" + (" <<< (a secret on stdin)" if secret_stdin else "")
        lines = [redact(line) + f"   # exit {rc if rc is not None else 'timeout'}, {seconds:.2f} s"]
        lines += [redact(ln) for ln in out.splitlines()]
        lines += ["[stderr] " + redact(ln) for ln in err.splitlines()]
        with self.path(stage).open("a") as fh:
            fh.write("\n".join(lines) + "\n")
