"""``import labkit`` stays light: the Docker SDK, kubernetes, plotly and pandas load only when used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("docker", "kubernetes", "plotly", "pandas")


def _heavy_after(code: str) -> list[str]:
    """The heavy modules loaded by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return list(json.loads(res.stdout.splitlines()[-1]))


@pytest.mark.parametrize("module", ["labkit", "labkit.cli", "labkit.errors", "labkit.tools", "labkit.doctor",
                                    "labkit.docker", "labkit.bench", "labkit.bench.store"])
def test_importing_loads_no_heavy_dependency(module: str) -> None:
    assert _heavy_after(f"import {module}") == []


def test_building_the_cli_and_printing_help_loads_no_heavy_dependency() -> None:
    code = "from labkit import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass"
    assert _heavy_after(code) == []


def test_the_probe_does_see_a_heavy_import() -> None:
    """Guards the test above: a module that does load pandas is reported."""
    assert _heavy_after("import labkit.bench.store as s, tempfile\ns.Store(tempfile.mkdtemp()).load()") == ["pandas"]
