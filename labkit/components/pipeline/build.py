"""``docker build`` with the layer cache, tagged by commit, its log kept.

Each Dockerfile instruction makes a layer (or a metadata step); Docker reuses a cached step when the
instruction and everything before it are unchanged (for ``COPY``: the files' checksums). So the order is the
lesson: toolchain first, source next, the file that changes most last, the commit's build argument at the end.

The legacy builder (``DOCKER_BUILDKIT=0``; Docker 20.10 here, and the same output everywhere) prints
``Step N/M``, `` ---> Using cache`` and `` ---> <id>`` lines: they give the cache hits, and the ids of the
build-stage images a multi-stage build leaves untagged and unlabelled (``--label`` lands on the last stage
only), which are recorded so the lab can remove them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from labkit import docker
from labkit._run import Cmd
from labkit.components.pipeline.toolbox import Journal
from labkit.errors import CommandError, LabkitError

_STEP_ID = re.compile(r"^ ---> ([0-9a-f]{12})\s*$", re.M)
_CACHED = re.compile(r"^ ---> Using cache\s*$", re.M)
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$", re.M)
ENV = {"DOCKER_BUILDKIT": "0"}


@dataclass(frozen=True)
class Built:
    tag: str
    image_id: str
    steps: int
    cached_steps: int
    size_bytes: int
    log: Path


class BuildFailed(LabkitError):
    """The build stopped at a step; ``step`` is that step's line, the whole log is kept."""

    def __init__(self, step: str, reason: str, log: Path) -> None:
        self.step, self.reason, self.log = step, reason, log
        super().__init__(f"build failed at {step}\n  {reason}", fix=f"read the build log: {log}")


def build_cmd(context: Path, *, tag: str, dockerfile: str = "Dockerfile", build_args: dict[str, str] | None = None,
              labels: dict[str, str] | None = None, no_cache: bool = False) -> Cmd:
    """The exact ``docker build`` the pipeline runs (``--force-rm``: a failed step leaves no container)."""
    argv = ["docker", "build", "--force-rm", "--file", str(context / dockerfile), "--tag", tag]
    for key, value in (build_args or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in (labels or {}).items():
        argv += ["--label", f"{key}={value}"]
    if no_cache:
        argv.append("--no-cache")
    return Cmd((*argv, str(context)), env=ENV)


def parse(output: str) -> tuple[int, int, list[str]]:
    """(steps, cached steps, image ids printed) of a legacy-builder log."""
    return len(_STEP.findall(output)), len(_CACHED.findall(output)), _STEP_ID.findall(output)


def failed_step(output: str, stderr: str) -> tuple[str, str]:
    """The step a failed build stopped at, and why (the daemon's last error line)."""
    steps = [f"Step {m.group(1)}/{m.group(2)} : {m.group(3)}" for m in _STEP.finditer(output)]
    reason = next((ln.strip() for ln in reversed((stderr or output).splitlines()) if ln.strip()
                   and not ln.startswith("DEPRECATED") and "legacy builder" not in ln), "no message")
    return (steps[-1] if steps else "(before the first step: the context or the Dockerfile)"), reason


def image_ids(journal: Journal, stage: str) -> set[str]:
    out = journal.run(Cmd(("docker", "images", "--all", "--quiet")), stage=stage, timeout=60).stdout
    return set(out.split())


def build(cmd: Cmd, *, tag: str, journal: Journal, stage: str = "build", record: Path | None = None,
          timeout: float = 900.0) -> Built:
    """Run ``cmd`` (from :func:`build_cmd`); on failure :class:`BuildFailed` naming the step and the log."""
    before = image_ids(journal, stage) if record is not None else set()
    try:
        res = journal.run(cmd, stage=stage, timeout=timeout, check=False)
    except CommandError as exc:  # timed out
        raise BuildFailed("(timed out)", exc.message.splitlines()[0], journal.path(stage)) from None
    steps, cached, ids = parse(res.stdout)
    if record is not None:
        new = [i for i in dict.fromkeys(ids) if i not in before]
        with record.open("a") as fh:
            fh.writelines(i + "\n" for i in new)
    if not res.ok:
        step, reason = failed_step(res.stdout, res.stderr)
        raise BuildFailed(step, reason, journal.path(stage))
    info = docker.image_attrs(tag)
    return Built(tag, str(info["Id"]), steps, cached, int(info.get("Size", 0)), journal.path(stage))
