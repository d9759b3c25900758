"""Test tiers: unit (needs nothing), engine (a Docker daemon), notebook (papermill).

A tier whose prerequisite is missing skips with the missing piece named;
``LABKIT_REQUIRE_DOCKER=1`` (set by .ci/run) turns the engine skips into failures.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def _docker_problem() -> str | None:
    from labkit import docker as engine
    from labkit.errors import DockerUnavailable

    try:
        engine.probe()
    except DockerUnavailable as exc:
        return exc.message.splitlines()[0]
    from labkit.versions import tools_image

    if not engine.image_exists(tools_image()):
        return f"the tools image {tools_image()} is not built (run `labkit images build`)"
    return None


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Skip (or, with LABKIT_REQUIRE_DOCKER=1, fail) when the engine tier cannot run."""
    problem = _docker_problem()
    if problem:
        if os.environ.get("LABKIT_REQUIRE_DOCKER") == "1":
            pytest.fail(f"engine tier required but unavailable: {problem}")
        pytest.skip(f"engine tier: {problem}")


@pytest.fixture()
def data_dir() -> Path:
    return DATA


@pytest.fixture()
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture(autouse=True)
def _quiet_scratch(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests' scratch files and results out of the user's directories."""
    monkeypatch.setenv("LABKIT_RESULTS", str(tmp_path_factory.getbasetemp() / "results"))


def python_cmd(code: str) -> list[str]:
    """argv that runs ``code`` with this interpreter (a scriptable fake CLI)."""
    return [sys.executable, "-c", code]
