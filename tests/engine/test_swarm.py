"""Engine tier: real swarms on the local daemon. A 3-node Docker-in-Docker swarm runs every
orchestration operation, including losing a whole node; a local swarm someone else made is
refused; a swarm labkit made is found and undone the way ``labkit clean`` does it."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from tests.fakes import leftovers, sdk_client

from labkit import docker as engine
from labkit.components import orchestration as orchestrate
from labkit.targets import swarm
from labkit.bench.store import Store
from labkit.errors import BadInput, Unavailable
from labkit.components.orchestration import App, SwarmOrchestrator, perform

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_ready")]


@pytest.fixture(autouse=True)
def _own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))  # the local-swarm marker lands here


def _volumes_exist(names: list[str]) -> list[str]:
    have = {v.name for v in sdk_client().volumes.list()}
    return [n for n in names if n in have]


def test_kernel_features_of_this_daemon_match_its_config() -> None:
    features = swarm.daemon_kernel_features()
    config = Path("/proc/config.gz")
    if not config.is_file():
        pytest.skip("no /proc/config.gz to check the decision against")
    text = gzip.decompress(config.read_bytes()).decode()
    ipvs = "CONFIG_IP_VS=y" in text or "CONFIG_IP_VS=m" in text
    assert features.ipvs == ipvs or (features.ipvs is False and "CONFIG_IP_VS=m" in text)
    if "# CONFIG_IP_VS is not set" in text:  # our CI kernel: DNS round-robin and host-mode ports
        assert (features.endpoint_mode, features.publish_mode) == ("dnsrr", "host")
        assert "CONFIG_IP_VS" in features.explain() and "routing mesh" in features.explain()


def test_dind_swarm_runs_every_operation_and_recovers_from_losing_a_node(tmp_path: Path) -> None:
    with swarm.DindSwarm(nodes=3) as sw:
        session = sw.session
        nodes = {n: sdk_client().containers.get(str(sw.node_container(n))) for n in sw.node_names}
        volumes = [m["Name"] for c in nodes.values() for m in c.attrs["Mounts"] if m["Type"] == "volume"]
        assert len(volumes) == 3  # each node's /var/lib/docker
        assert all(c.attrs["HostConfig"]["Privileged"] is False for c in nodes.values())
        orch = SwarmOrchestrator(sw, timeout=120)
        results = [perform(orch, "deploy", app=App(replicas=1)), perform(orch, "scale", replicas=3)]
        spread = orch.replicas()
        assert len(spread) == 3 and len({r.node for r in spread}) >= 2, spread
        results += [perform(orch, "rolling_update", version="2"), perform(orch, "kill_replica")]
        assert {r.version for r in orch.replicas()} == {"2"}

        drained = orchestrate.busiest_node(orch.replicas(), exclude=[sw.manager])
        results.append(perform(orch, "drain_node", node=drained))
        assert drained not in {r.node for r in orch.replicas()}
        lost = orchestrate.busiest_node(orch.replicas(), exclude=[sw.manager, drained])
        assert lost is not None, "after the drain some replica must run on the third node"
        results.append(perform(orch, "lose_node", node=lost))
        assert not engine.is_running(nodes[lost])  # really dead, not stopped politely
        after = orch.replicas()
        assert len(after) == 3 and lost not in {r.node for r in after} and {r.version for r in after} == {"2"}
        results.append(perform(orch, "kill_replica"))  # still works with a dead node in the swarm
        results.append(perform(orch, "remove"))
        assert orch.replicas() == []

        for r in results:
            print(f"{r.op:15s} {r.seconds:6.2f} s  {r.detail}")
        assert [r.op for r in results] == ["deploy", "scale", "rolling_update", "kill_replica", "drain_node",
                                           "lose_node", "kill_replica", "remove"]
        assert all(r.ok and r.seconds is not None and r.seconds > 0 for r in results), [r.error for r in results]
        # A lost node is noticed only after missed heartbeats (5 s period): recovery cannot be instant.
        assert results[5].seconds > 5

        run_id = orchestrate.write_run(results, orchestrators=[orch], store=tmp_path / "store")
        rows = Store(tmp_path / "store").load([run_id])
        assert set(rows["suite"]) == {"orchestration"} and set(rows["component"]) == {"swarm"}
        assert list(rows["cell"]) == [r.op for r in results] and set(rows["metric"]) == {"seconds"}
        assert list(rows[rows["cell"] == "kill_replica"]["repetition"]) == [0, 1]
        assert (rows["status"] == "ok").all() and rows["value"].astype(float).gt(0).all()
    assert leftovers(session) == []
    assert _volumes_exist(volumes) == []


def test_a_dind_node_that_fails_to_start_says_why_with_its_logs() -> None:
    sw = swarm.DindSwarm(nodes=1, dockerd_args=("--no-such-flag",), timeout=30)
    with pytest.raises(swarm.NodeFailed) as info, sw:
        pass
    assert info.value.node == f"lk-{sw.session}-node1"
    assert "unknown flag: --no-such-flag" in info.value.logs
    assert "docker logs" in str(info.value) and "--privileged" in str(info.value)
    assert leftovers(sw.session) == []


def test_an_encrypted_overlay_is_refused_where_the_kernel_lacks_esp() -> None:
    if swarm.daemon_kernel_features().esp is not False:
        pytest.skip("this kernel may have ESP: encrypted overlays could work")
    sw = swarm.DindSwarm(nodes=1, encrypted=True)
    with pytest.raises(Unavailable) as info, sw:
        pass
    assert "CONFIG_INET_ESP" in str(info.value) and "encrypted=False" in str(info.value.fix)
    assert leftovers(sw.session) == []


def _swarm_inactive() -> None:
    state = swarm.local_state().get("LocalNodeState", "inactive")
    if state != "inactive":
        pytest.skip(f"the local daemon is already in a swarm ({state}); not touching it")


def _leave_foreign_swarm() -> None:
    subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True, timeout=60)
    subprocess.run(["docker", "network", "rm", swarm.GWBRIDGE], capture_output=True, timeout=60)


def test_local_swarm_refuses_a_swarm_it_did_not_make() -> None:
    _swarm_inactive()
    subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=True, capture_output=True,
                   timeout=60)
    try:
        node_id = swarm.local_state()["NodeID"]
        local = swarm.LocalSwarm()
        with pytest.raises(swarm.SwarmNotOurs) as info, local:
            pass
        assert info.value.node_id == node_id and node_id in str(info.value)
        assert "docker swarm leave --force" in str(info.value.fix)
        assert swarm.leftovers() == []  # `labkit clean` leaves it alone too
        assert swarm.local_state()["LocalNodeState"] == "active"  # and it was not touched
        assert leftovers(local.session) == []
    finally:
        _leave_foreign_swarm()


def test_a_local_swarm_left_by_a_crash_is_found_and_undone_like_clean_does() -> None:
    _swarm_inactive()
    local = swarm.LocalSwarm()
    try:
        local.up()
        orch = SwarmOrchestrator(local, timeout=60)
        assert perform(orch, "deploy", app=App(replicas=2)).ok
        assert [r.node for r in orch.replicas()] == [local.manager] * 2
        with pytest.raises(BadInput):
            orch.drain_node("elsewhere")  # not a node of this swarm
        failed = perform(orch, "lose_node", node=local.manager)  # the node is this machine: a failed row
        assert not failed.ok and failed.seconds is None and "DindSwarm" in str(failed.error)
        # The "crash": local.close() is never called. What `labkit clean` finds, and removes in its order:
        found = swarm.leftovers()
        assert [(x.kind, x.name) for x in found] == [("swarm", f"local swarm (node {local.node_id})"),
                                                     ("network", swarm.GWBRIDGE)]
        swarm.remove_leftover(found[0])
        for c in sdk_client().containers.list(all=True, filters={"label": f"{engine.SESSION}={local.session}"}):
            c.remove(force=True, v=True)  # clean removes labelled containers before networks
        swarm.remove_leftover(found[1])
    finally:
        local.close()  # a safety net; a no-op when the steps above worked
    assert swarm.local_state()["LocalNodeState"] == "inactive"
    assert not sdk_client().networks.list(names=[swarm.GWBRIDGE])
    assert swarm.leftovers() == []
    assert leftovers(local.session) == []
