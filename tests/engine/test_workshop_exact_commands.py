"""Exact commands, for real (issue 12 item 1): for every engine network and storage cell, the ``docker run``
lines the cell prints are typed into a shell (with a new name) and ``docker inspect`` of the typed container
must equal the cell's own: network mode, binds, tmpfs, capabilities, limits, blkio throttles, image, command,
labels. Each cell must also print what its lesson is about (host: ``--network host``, bind: ``-v DIR:/bench``…).
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
from contextlib import redirect_stdout
from typing import Any

import pytest

from labkit import docker
from labkit.bench.request import CellContext
from labkit.components.network import engine_cells as net_cells
from labkit.components.storage import engine_cells as storage_cells
from labkit.errors import Unavailable
from labkit.versions import tools_image
from tests.fakes import leftovers

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]

CONFIG_FIELDS = ("Image", "Cmd", "Entrypoint", "Labels", "Env", "User", "WorkingDir")

#: what each cell's printed `docker run` lines must contain (the point of its lesson)
EXPECT: dict[str, list[list[str]]] = {
    "loopback": [["--network", "none"]],
    "veth": [["--network", "none"], ["--network", "host"]],
    "bridge": [["--network"]],
    "host": [["--network", "host"]],
    "default-bridge": [["--network", "bridge"]],
    "macvlan": [["--network"]],
    "ipvlan": [["--network"]],
    "bind": [["-v", ":/bench:rw"], ["--network", "none"]],
    "overlay": [["--network", "none"]],
    "volume": [["-v", "-vol:/bench:rw"], ["--network", "none"]],
    "tmpfs": [["--tmpfs", "/bench:size="], ["--network", "none"]],
    "loop-ext4": [["-v", "-ext4:/bench:rw"]],
    "loop-xfs": [["-v", "-xfs:/bench:rw"]],
}
NET = [c for c in net_cells.CELLS if c in EXPECT]
STORAGE = [c for c in storage_cells.CELLS if c in EXPECT]


def _empty(value: Any) -> Any:
    return None if value in ([], {}, "") else value


def _inspect(name: str) -> dict[str, Any]:
    """Every HostConfig field and the Config fields that decide what runs. Spellings that mean the same are
    made equal: the CLI sends ``[]``/``{}`` where the SDK sends null ("unset"), and a capability with the
    ``CAP_`` prefix."""
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, timeout=60, check=True)
    doc = json.loads(out.stdout)[0]
    host = {k: _empty(v) for k, v in doc["HostConfig"].items()}
    if (host.get("RestartPolicy") or {}).get("Name") in ("", "no"):
        host["RestartPolicy"] = None
    for key in ("CapAdd", "CapDrop"):  # the docker 28 CLI spells NET_ADMIN as CAP_NET_ADMIN: the same capability
        if host.get(key):
            host[key] = [c.removeprefix("CAP_") for c in host[key]]
    return {"HostConfig": host, "Config": {k: _empty(doc["Config"].get(k)) for k in CONFIG_FIELDS}}


def _typed(argv: list[str]) -> list[str]:
    """The printed line with only the container's name changed (the cell's own container still runs)."""
    i = argv.index("--name")
    return [*argv[:i + 1], argv[i + 1] + "-typed", *argv[i + 2:]]


def _check(cell: str, opener: Any, **ctx: Any) -> None:
    printed = io.StringIO()
    typed: list[str] = []
    with docker.Scope() as scope:
        try:
            with redirect_stdout(printed):
                opener(cell, scope, CellContext(cells={}, image=tools_image(), **ctx))
        except Unavailable as exc:
            pytest.skip(f"cell {cell} is unavailable here: {exc.message}")
        try:
            runs = [a for a in scope.commands if a[:2] == ["docker", "run"]]
            lines = [line[2:] for line in printed.getvalue().splitlines() if line.startswith("$ docker run -d ")]
            assert [shlex.split(line) for line in lines] == runs, "the printed lines are the argv the scope ran"
            assert all("# not shown" not in line for line in lines)
            for want in EXPECT[cell]:
                assert any(any(want == run[i:i + len(want)] or (len(want) == 2 and run[i] == want[0]
                                                                and want[1] in run[i + 1])
                               for i in range(len(run) - len(want) + 1)) for run in runs), (cell, want, runs)
            for argv in runs:
                again = _typed(argv)
                typed.append(again[again.index("--name") + 1])
                res = subprocess.run(again, capture_output=True, text=True, timeout=120)
                assert res.returncode == 0, f"typing `{shlex.join(again)}` failed: {res.stderr}"
                mine, theirs = _inspect(typed[-1]), _inspect(argv[argv.index("--name") + 1])
                diff = {f"{part}.{k}": (mine[part].get(k), theirs[part].get(k)) for part in mine
                        for k in set(mine[part]) | set(theirs[part]) if mine[part].get(k) != theirs[part].get(k)}
                assert diff == {}, f"typed vs labkit's container differ: {diff} for `{shlex.join(argv)}`"
        finally:
            if typed:
                subprocess.run(["docker", "rm", "-f", "-v", *typed], capture_output=True, timeout=120)
    assert leftovers(scope.session) == []


@pytest.mark.parametrize("cell", NET)
def test_network_cell_prints_the_docker_run_that_runs(cell: str) -> None:
    _check(cell, net_cells.open_cell)


@pytest.mark.parametrize("cell", STORAGE)
def test_storage_cell_prints_the_docker_run_that_runs(cell: str) -> None:
    _check(cell, storage_cells.open_cell, fio_size="4M")
