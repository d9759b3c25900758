"""Engine tier: the kind target's N2 cell for real, on a Docker network standing in for ``kind``.

kind puts its node containers on a Docker network named ``kind``; N2 is two plain tools
containers on that same network. Here a temporary labelled network plays its part, so the
cell runs end to end (containers, iperf3, sockperf, store) without a cluster, and the
run must leave the network (not its to remove) and nothing else behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import leftovers, sdk_client

from labkit import docker as engine
from labkit.bench import harness as runner

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]


def test_kind_bridge_measures_on_the_named_network_and_leaves_it(store_dir: Path) -> None:
    with engine.Scope() as stand_in:
        network = stand_in.network(f"lk-{stand_in.session}-kind").name
        res = runner.run("net", target="kind", cni="kindnet", cells=["kind-bridge"], tests=["tcp-1", "latency"],
                         reps=2, duration_s=1, docker_network=network, store=str(store_dir))
        rows = res.rows()
        ok = rows[rows.status == "ok"]
        assert set(ok["metric"]) >= {"throughput_bps", "lat_p99_us"} and len(ok) == len(rows)
        assert set(rows["cell"]) == {"kind-bridge"} and set(rows["component"]) == {"kindnet"}
        assert set(rows["target"]) == {"kind"} and set(rows["baseline_level"]) == {"N2"}
        assert (ok.loc[ok.metric == "throughput_bps", "value"] > 1e8).all()
        meta = res.meta()
        assert meta["status"] == "complete" and meta["docker_network"] == network and meta["cni"] == "kindnet"
        assert leftovers(meta["session_id"]) == []  # the run's containers are gone …
        assert sdk_client().networks.get(network).name == network  # … and the network it did not make is not
    assert leftovers(stand_in.session) == []


def test_kind_bridge_without_the_network_is_unavailable_with_the_reason(store_dir: Path) -> None:
    res = runner.run("net", target="kind", cells=["kind-bridge"], tests=["tcp-1"], reps=2, duration_s=1,
                     docker_network="lk-no-such-network", store=str(store_dir))
    rows = res.rows()
    assert set(rows["status"]) == {"unavailable"}
    assert "no Docker network 'lk-no-such-network'" in rows["error"].iloc[0]
    assert leftovers(res.meta()["session_id"]) == []
