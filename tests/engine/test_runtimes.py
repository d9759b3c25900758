"""Engine tier: start-latency cells on the live engine — docker+runc, podman, containerd for real; crun honestly."""

from __future__ import annotations

import shutil

import pytest

from tests.fakes import sdk_client

from labkit import docker as engine
from labkit.components.engine import start_cells as runtimes
from labkit.errors import Unavailable
from labkit.versions import tools_image

pytestmark = pytest.mark.engine


@pytest.fixture()
def image(docker_ready: None) -> str:
    from labkit import images

    return images.ensure_tools()


def _open(name: str, image: str) -> tuple[engine.Scope, runtimes.StartSession]:
    scope = engine.Scope()
    try:
        return scope, runtimes.open_cell(name, scope, {"image": image})
    except BaseException:
        scope.close()
        raise


def test_docker_runc_starts_and_times_a_container(image: str) -> None:
    scope, session = _open("docker-runc", image)
    with scope:
        values = [session.measure(runtimes.StartTest(), timeout=60).metrics["start_latency_s"] for _ in range(3)]
    assert all(0.01 < v < 30 for v in values)
    assert not [c for c in sdk_client().containers.list(all=True, filters={"label": "io.labkit.managed=true"})
                if c.name.startswith("lk-start")]


@pytest.mark.parametrize("name", ["podman-runc", "containerd"])
def test_daemonless_engines_start_the_same_image(image: str, name: str) -> None:
    tool = "podman" if name.startswith("podman") else "ctr"
    if shutil.which(tool) is None:
        with pytest.raises(Unavailable) as info:
            _open(name, image)
        assert "install" in (info.value.fix or "")
        return
    scope, session = _open(name, image)
    with scope:
        value = session.measure(runtimes.StartTest(), timeout=60).metrics["start_latency_s"]
    assert 0.01 < value < 30


@pytest.mark.parametrize("name", ["docker-crun", "podman-crun"])
def test_crun_is_measured_or_unavailable_with_the_reason(image: str, name: str) -> None:
    try:
        scope, session = _open(name, image)
    except Unavailable as exc:  # not registered / not installed / cgroup hybrid host: each says how to fix it
        assert exc.fix and any(w in exc.message for w in ("no runtime", "not installed", "hybrid", "failed"))
        return
    with scope:
        assert session.measure(runtimes.StartTest(), timeout=60).metrics["start_latency_s"] > 0


def test_run_argv_is_what_the_chapter_shows() -> None:
    assert runtimes.run_argv("docker-runc", tools_image())[:6] == ["docker", "run", "--rm", "--network", "none",
                                                                   "--label"]
    podman = runtimes.run_argv("podman-crun", "x:1")
    assert podman[:7] == ["podman", "run", "--rm", "--network", "none", "--runtime", "crun"]
    assert "--ulimit" in podman and podman[-2:] == ["localhost/x:1", "true"]
    assert runtimes.run_argv("containerd", "x:1")[-3:] == ["docker.io/x:1", "lk-start", "true"]
