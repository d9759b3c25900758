"""Engine tier: real containers on the local Docker daemon."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fakes import sdk_client

from labkit import docker as engine, images
from labkit.bench import net
from labkit.versions import tools_image

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]


def test_tools_image_has_the_instruments() -> None:
    ref = images.ensure_tools()
    assert ref == tools_image() and not ref.endswith(":latest")
    out = sdk_client().containers.run(
        ref, ["sh", "-c", "iperf3 --version; fio --version; sockperf --version; tc -V; taskset --version"],
        remove=True, labels=engine.labels(role="test"),
    ).decode()
    assert "iperf 3." in out and "fio-3" in out and "sockperf" in out and "iproute2" in out


def test_iperf3_between_two_containers_on_a_user_network() -> None:
    with engine.Scope() as scope:
        network = scope.network(f"lk-{scope.session}-test")
        server = scope.container(tools_image(), name=f"lk-{scope.session}-srv", network=network.name)
        client = scope.container(tools_image(), name=f"lk-{scope.session}-cli", network=network.name)
        engine.exec_detached(server, net.iperf3_server_argv())
        test = net.NetTest("tcp-1", "iperf3", "tcp", 1, 1.0)
        for _ in range(20):
            res = engine.exec_in(client, net.iperf3_client_argv(f"lk-{scope.session}-srv", test), timeout=30)
            if "Connection refused" not in res.stdout:
                break
        metrics = net.parse_iperf3(res.stdout)
        assert metrics["throughput_bps"] > 1e8  # > 100 Mbit/s on any machine that runs Docker
        assert net.iperf3_version(res.stdout)
        mine = {"label": f"{engine.SESSION}={scope.session}"}
        names = {c.name for c in sdk_client().containers.list(filters=mine)}
        assert names == {server.name, client.name}
    left = sdk_client().containers.list(all=True, filters={"label": f"{engine.SESSION}={scope.session}"})
    assert left == []


def test_exec_timeout_is_enforced_inside_the_container() -> None:
    with engine.Scope() as scope:
        box = scope.container(tools_image(), name=f"lk-{scope.session}-sleep")
        res = engine.exec_in(box, ["sleep", "30"], timeout=1)
        assert res.timed_out and not res.ok


def test_scope_removes_a_container_whose_start_failed() -> None:
    with pytest.raises(engine.DockerError), engine.Scope() as scope:
        scope.container(tools_image(), name=f"lk-{scope.session}-bad", command=["/no/such/binary"])
    assert sdk_client().containers.list(all=True, filters={"label": f"{engine.SESSION}={scope.session}"}) == []


def test_clean_removes_everything_labelled_and_says_so() -> None:
    scope = engine.Scope()
    net_ = scope.network(f"lk-{scope.session}-leftover")
    vol = scope.volume(f"lk-{scope.session}-leftover")
    scope.container(tools_image(), name=f"lk-{scope.session}-leftover", network=net_.name,
                    volumes={vol.name: {"bind": "/data"}})
    # Simulate a crash: the scope is never closed. `labkit clean --dry-run` lists, then clean removes.
    dry = subprocess.run([sys.executable, "-m", "labkit.cli", "clean", "--dry-run", "--keep-images"],
                         capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0
    assert f"lk-{scope.session}-leftover" in dry.stdout
    assert sdk_client().containers.list(all=True, filters={"name": f"lk-{scope.session}-leftover"})
    done = subprocess.run([sys.executable, "-m", "labkit.cli", "clean", "--keep-images"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [m for m in engine.managed(include_images=False)] == []
    again = subprocess.run([sys.executable, "-m", "labkit.cli", "clean", "--keep-images"],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing to clean" in again.stdout
    assert engine.image_exists(tools_image())


def test_doctor_sees_the_daemon() -> None:
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "doctor", "--fast"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "✓ docker daemon" in out.stdout
    assert "blocker(s)" in out.stdout
