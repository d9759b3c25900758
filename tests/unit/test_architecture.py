"""The shape of the code: doors and layers (import-linter), module size, and adding a component.

import-linter is a maintained tool (``lint-imports``); its contracts live in pyproject.toml. These
tests run it on the real tree, and on a copy with a door bypassed, to show the contracts can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    if not LINT.exists():
        pytest.fail(f"lint-imports is not installed beside {sys.executable} (pip install -r requirements.txt)")
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})


def test_the_doors_and_layers_hold() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "Only labkit.docker imports the Docker SDK KEPT" in res.stdout
    assert "Only labkit._run starts subprocesses KEPT" in res.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("arch")
    shutil.copytree(ROOT / "labkit", dest / "labkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("labkit/bench/stats.py", "import subprocess", "Only labkit._run starts subprocesses BROKEN"),
    ("labkit/components/network/compare.py", "import docker", "Only labkit.docker imports the Docker SDK BROKEN"),
    ("labkit/targets/kube.py", "import kubernetes", "Only labkit.k8s imports the kubernetes client BROKEN"),
    ("labkit/bench/plan.py", "import labkit.components.up", "KEPT (1 ignored import)"),  # layers: see below
])
def test_a_bypassed_door_breaks_its_contract(copy: Path, module: str, line: str, contract: str) -> None:
    path = copy / module
    original = path.read_text()
    try:
        path.write_text(original + f"\n{line}  # injected by the test\n")
        res = _lint(copy)
    finally:
        path.write_text(original)
    if contract.startswith("KEPT"):  # the harness importing a component breaks the layers contract
        assert res.returncode != 0 and "labkit.bench.plan -> labkit.components.up" in res.stdout
    else:
        assert res.returncode != 0 and contract in res.stdout, res.stdout[-2000:]


def test_every_module_stays_under_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "labkit").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"


NEW_COMPONENT = '''
"""A component made by the architecture test: one folder and one registration line."""
from __future__ import annotations

from typing import Any

from labkit.components.base import Component, Option, Options
from labkit.steps import Plan


class Toy(Option):
    component = "toy"

    def install(self, target: Any, cfg: Any) -> Plan:
        return Plan("install toy")


def _options() -> Options:
    return Options("toy", "toy option", {"toy-one": Toy(name="toy-one", title="Toy one", version="1")},
                   example="--toy toy-one")


def _suites() -> list[Any]:
    from labkit.bench.registry import Suite, TargetCells

    return [Suite("toy", "toy", "a toy suite", lambda r, p: [], {"engine": TargetCells(lambda r: {}, None)})]


COMPONENT = Component("toy", "Toy", "99-toy", options=_options, up_flag="toy", up_order=90, suites=_suites)
'''


def test_adding_a_component_is_a_folder_and_one_registration_line(copy: Path) -> None:
    """The dry run the skeleton promises: nothing but the folder and NAMES changes, and labkit up, the CLI
    and the bench registry all see the new component."""
    (copy / "labkit/components/toy").mkdir()
    (copy / "labkit/components/toy/__init__.py").write_text(textwrap.dedent(NEW_COMPONENT))
    registry = copy / "labkit/components/__init__.py"
    original = registry.read_text()
    assert original.count('NAMES = ("engine", "orchestration", "network", "storage"') == 1
    registry.write_text(original.replace('NAMES = ("engine", "orchestration", "network", "storage"',
                                         'NAMES = ("engine", "orchestration", "network", "storage", "toy"'))
    probe = textwrap.dedent("""
        from labkit.bench import registry
        from labkit.cli import parser
        from labkit.components import up
        print("suite:", "toy" in registry.suites())
        print("flag:", "toy" in up.flags())
        print("plan:", up.up_script(toy="toy-one").plans[-1].title)
        print("help:", "--toy" in parser().format_help() or "--toy" in [a for p in parser()._subparsers._group_actions
              for s in p.choices.values() for a in s._option_string_actions])
    """)
    try:
        res = subprocess.run([sys.executable, "-c", probe], cwd=copy, capture_output=True, text=True, timeout=120,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy), "LABKIT_ENVIRONMENTS":
                                  str(ROOT / "environments"), "HOME": str(copy)})
    finally:
        registry.write_text(original)
        shutil.rmtree(copy / "labkit/components/toy")
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.splitlines() == ["suite: True", "flag: True", "plan: install toy", "help: True"]


def test_every_test_module_has_a_basename_of_its_own() -> None:
    # pytest imports test modules by basename (rootdir-relative, no packages): two files with one name stop the
    # whole collection, and `make test` collects every tier
    seen: dict[str, list[str]] = {}
    for p in (ROOT / "tests").rglob("test_*.py"):
        seen.setdefault(p.name, []).append(str(p.relative_to(ROOT)))
    assert {n: ps for n, ps in seen.items() if len(ps) > 1} == {}
