"""Engine cells: how long does it take to start a container, per engine and runtime?

=============== ==================================================== ============
cell            what starts the container                            baseline
=============== ==================================================== ============
docker-runc     dockerd → containerd → runc (Docker's default)        -
docker-crun     dockerd → containerd → crun                          docker-runc
podman-runc     podman (no daemon) → conmon → runc                   docker-runc
podman-crun     podman → conmon → crun (podman's default on Debian)  docker-runc
containerd      ``ctr run``: containerd → runc, no Docker at all      docker-runc
=============== ==================================================== ============

One measurement = one ``run --rm IMAGE true`` with ``--network none`` (network setup is
another cost, measured separately in the chapter), timed from launching the CLI to its
exit: what a user or a CI job waits for. A runtime that is not installed or not usable on
this host (crun on a cgroup v1/v2 *hybrid* host) makes its cell unavailable with the reason
and how to fix it; the other cells run on.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from labkit._run import Runner, default_runner
from labkit.bench.cells import Cell, Measurement
from labkit.errors import LabkitError, Unavailable
from labkit.log import log

SUITE = "engine"
CONTAINERD_SOCKETS = ("/run/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock")
CTR_NAMESPACE = "labkit"


def _cell(name: str, description: str, path: str, component: str) -> Cell:
    return Cell(SUITE, name, description, None if name == "docker-runc" else "docker-runc",
                "E0" if name == "docker-runc" else None, placement="same-host", path=path, component=component,
                no_impair="start-latency cells take no impairment")


CELLS: dict[str, Cell] = {
    "docker-runc": _cell("docker-runc", "docker run, runc (Docker's default)", "dockerd>containerd>runc",
                         "docker+runc"),
    "docker-crun": _cell("docker-crun", "docker run --runtime crun", "dockerd>containerd>crun", "docker+crun"),
    "podman-runc": _cell("podman-runc", "podman run --runtime runc (no daemon)", "podman>conmon>runc",
                         "podman+runc"),
    "podman-crun": _cell("podman-crun", "podman run --runtime crun", "podman>conmon>crun", "podman+crun"),
    "containerd": _cell("containerd", "ctr run: containerd and runc, no Docker", "containerd>runc",
                        "containerd+runc"),
}


@dataclass(frozen=True)
class StartTest:
    """Start a container that runs ``true`` and exits; ``duration_s`` is the timeout budget's basis."""

    name: str = "start"
    duration_s: float = 5.0

    @property
    def budget_s(self) -> float:
        return self.duration_s

    def scenario(self, **_: Any) -> dict[str, Any]:
        return {"tool": "cli", "test": self.name, "protocol": "", "streams_or_numjobs": 1,
                "duration_s": None, "ramp_s": None}


def start_tests(names: list[str] | None = None) -> list[StartTest]:
    from labkit.errors import BadInput

    for name in names or []:
        if name != "start":
            raise BadInput("engine test", name, "start")
    return [StartTest()]


def _podman_ulimits() -> list[str]:
    """podman asks for ~1M open files; without CAP_SYS_RESOURCE the hard limit wins (docker-tier §8)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    cap = 32768  # podman's child failed at >= 40000 processes on our CI VM
    nofile = nofile if nofile != resource.RLIM_INFINITY else 1048576
    nproc = min(cap, nproc if nproc != resource.RLIM_INFINITY else cap)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def containerd_socket() -> str | None:
    for path in CONTAINERD_SOCKETS:
        if os.path.exists(path):
            return path
    return None


def run_argv(cell: str, image: str, *, name: str = "lk-start") -> list[str]:
    """The command one measurement runs (shown in the chapter exactly like this)."""
    if cell.startswith("docker-"):
        return ["docker", "run", "--rm", "--network", "none", "--label", "io.labkit.managed=true",
                "--runtime", cell.split("-", 1)[1], image, "true"]
    if cell.startswith("podman-"):
        return ["podman", "run", "--rm", "--network", "none", "--runtime", cell.split("-", 1)[1],
                *_podman_ulimits(), f"localhost/{image}", "true"]
    sock = containerd_socket() or CONTAINERD_SOCKETS[0]
    return ["ctr", "--address", sock, "--namespace", CTR_NAMESPACE, "run", "--rm", f"docker.io/{image}", name,
            "true"]


@dataclass
class StartSession:
    cell: Cell
    image: str
    runner: Runner
    count: int = 0
    cleanup: list[list[str]] = field(default_factory=list)

    def measure(self, test: StartTest, *, timeout: float, quiet: bool = False) -> Measurement:
        self.count += 1
        argv = run_argv(self.cell.name, self.image, name=f"lk-start-{os.getpid()}-{self.count}")
        t0 = time.perf_counter()
        res = self.runner.run(argv, timeout=timeout, check=False, quiet=quiet)
        elapsed = time.perf_counter() - t0
        if not res.ok:
            raise LabkitError(f"{self.cell.name}: `{shlex.join(argv)}` failed: "
                              f"{(res.stderr or res.stdout).strip()[-300:]}")
        return Measurement({"start_latency_s": elapsed}, None, test.scenario())

    def alive(self) -> str | None:
        return None

    def impair(self, spec: Any, **_: Any) -> str:
        raise Unavailable("start-latency cells take no impairment")

    def remove(self) -> None:
        for argv in self.cleanup:
            self.runner.run(argv, timeout=120, check=False, quiet=True)


def _probe(session: StartSession) -> None:
    """One start before the cell counts as available; its error becomes the unavailable reason."""
    try:
        session.measure(StartTest(), timeout=60, quiet=True)
    except LabkitError as exc:
        msg = exc.message
        fix = "fix the error above, or leave this cell out"
        if "hybrid mode not supported" in msg:
            fix = ("crun refuses a cgroup v1/v2 hybrid host: boot with cgroup v2 "
                   "(systemd.unified_cgroup_hierarchy=1); runc works here")
        raise Unavailable(msg, fix=fix) from exc


def open_cell(name: str, scope: Any, ctx: dict[str, Any]) -> StartSession:
    """Check the engine/runtime exists, put the image where it can use it, probe one start."""
    image: str = ctx["image"]
    runner: Runner = ctx.get("runner") or default_runner()
    cell = CELLS[name]
    session = StartSession(cell, image, runner)
    if name.startswith("docker-"):
        runtime = name.split("-", 1)[1]
        info = runner.run(["docker", "info", "--format", "{{json .Runtimes}}"], timeout=30, quiet=True)
        if f'"{runtime}"' not in info.stdout:
            conf = json.dumps({"runtimes": {runtime: {"path": f"/usr/bin/{runtime}"}}})
            raise Unavailable(f"{name}: dockerd has no runtime called {runtime}",
                              fix=f"apt-get install {runtime}; add {conf} to /etc/docker/daemon.json; "
                                  "kill -HUP $(pidof dockerd)")
    elif name.startswith("podman-"):
        runtime = name.split("-", 1)[1]
        for tool in ("podman", runtime):
            if shutil.which(tool) is None:
                raise Unavailable(f"{name}: {tool} is not installed", fix=f"apt-get install {tool}")
        runner.run(["sh", "-c", f"docker save {shlex.quote(image)} | podman load -q"], timeout=300, quiet=True)
        session.cleanup.append(["podman", "rmi", "--force", f"localhost/{image}"])
    else:
        sock = containerd_socket()
        if shutil.which("ctr") is None or sock is None:
            raise Unavailable("containerd: no ctr CLI or containerd socket found",
                              fix="apt-get install containerd (ctr comes with it); Docker Desktop keeps containerd "
                                  "inside its VM")
        runner.run(["sh", "-c", f"docker save {shlex.quote(image)} | ctr --address {shlex.quote(sock)} --namespace "
                    f"{CTR_NAMESPACE} images import -"], timeout=300, quiet=True)
        session.cleanup.append(["ctr", "--address", sock, "--namespace", CTR_NAMESPACE, "images", "rm",
                                f"docker.io/{image}"])
    scope.adopt(session)
    _probe(session)
    log(f"✓ cell {name}: {cell.description}")
    return session


def load_commands(image: str) -> dict[str, list[str]]:
    """How an image built by dockerd reaches each other engine (no registry): the commands timed below."""
    sock = containerd_socket() or CONTAINERD_SOCKETS[0]
    return {"podman": ["sh", "-c", f"docker save {shlex.quote(image)} | podman load -q"],
            "containerd": ["sh", "-c", f"docker save {shlex.quote(image)} | ctr --address {shlex.quote(sock)} "
                                       f"--namespace {CTR_NAMESPACE} images import -"],
            "kind node (containerd)": ["kind", "load", "docker-image", image, "--name", "labkit"]}


#: the pace a load was planned at (the progress bar's first ETA; it then follows the measured pace): on our
#: 2-core CI machine (2026-11-30) podman load and ctr import moved 11-15 MB/s, and removing took ~5 s
LOAD_PLAN_BYTES_PER_S, LOAD_PLAN_OVERHEAD_S = 12e6, 5.0


def load_times(image: str, *, reps: int = 3, runner: Runner | None = None, show_progress: bool = True) -> Any:
    """Time moving ``image`` into podman and containerd (``reps`` each, removed after each); DataFrame.

    An engine that is missing gets a row saying so; kind is listed with its command (it needs a cluster).
    A progress bar (plain lines in logs) counts the loads, with an ETA."""
    import pandas as pd

    from labkit.progress import Progress

    run = runner or default_runner()
    size = engine_image_size(image)
    rows: list[dict[str, Any]] = []
    cmds = load_commands(image)
    sock = containerd_socket()
    usable = {"podman": shutil.which("podman") is not None,
              "containerd": shutil.which("ctr") is not None and sock is not None,
              "kind node (containerd)": False}
    undo = {"podman": ["podman", "rmi", "--force", f"localhost/{image}"],
            "containerd": ["ctr", "--address", sock or "", "--namespace", CTR_NAMESPACE, "images", "rm",
                           f"docker.io/{image}"]}
    each = size / LOAD_PLAN_BYTES_PER_S + LOAD_PLAN_OVERHEAD_S
    units = [each] * reps * sum(1 for t in cmds if usable[t])
    bar = Progress(f"loading {image} into other engines", units, widget=None if show_progress else False)
    if units:
        bar.start()
    for target, argv in cmds.items():
        if not usable[target]:
            why = "needs a kind cluster (chapter 03)" if target.startswith("kind") else f"{target} not installed"
            rows.append({"into": target, "repetition": None, "seconds": None, "image_bytes": size,
                         "command": shlex.join(argv), "note": why})
            continue
        for i in range(reps):
            t0 = time.perf_counter()
            res = run.run(argv, timeout=600, check=False, quiet=True)
            elapsed = time.perf_counter() - t0
            run.run(undo[target], timeout=120, check=False, quiet=True)
            rows.append({"into": target, "repetition": i, "seconds": elapsed if res.ok else None,
                         "image_bytes": size, "command": shlex.join(argv),
                         "note": "" if res.ok else (res.stderr or res.stdout).strip()[-200:]})
            bar.step(f"{target} {i + 1}/{reps}: {elapsed:.1f} s")
    if units:
        bar.close()
    return pd.DataFrame(rows)


def engine_image_size(image: str) -> int:
    from labkit import docker

    return int(docker.image_attrs(image).get("Size", 0))
