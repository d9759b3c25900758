"""Benchmark plans (labkit.bench.runner.plan): everything is validated before Docker is touched."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.bench import impair, profiles
from labkit.bench.plan import catalog, plan
from labkit.errors import BadInput, Unavailable

NET_CELLS = ", ".join(catalog("net"))
STORAGE_CELLS = ", ".join(catalog("storage"))


def _bad(suite: str, **kwargs: Any) -> BadInput:
    with pytest.raises(BadInput) as info:
        plan(suite, **kwargs)
    return info.value


def test_unknown_cell_names_it_and_the_cells_offered() -> None:
    err = _bad("net", cells=["bridge", "wormhole"])
    assert err.value == "wormhole" and err.allowed == NET_CELLS
    assert "'wormhole'" in str(err) and "loopback" in str(err)


def test_a_storage_cell_is_not_a_net_cell() -> None:
    err = _bad("net", cells=["volume"])
    assert err.value == "volume" and err.allowed == NET_CELLS


def test_duplicate_cell_is_refused() -> None:
    err = _bad("storage", cells=["volume", "bind", "volume"])
    assert err.value == ["volume", "bind", "volume"] and "each cell once" in str(err)


@pytest.mark.parametrize("reps", [1, 0, -3])
def test_fewer_than_two_repetitions_is_refused_with_a_fix(reps: int) -> None:
    err = _bad("net", reps=reps)
    assert err.what == "repetitions" and err.value == reps and "2 or more" in err.allowed
    assert err.fix and "--reps 6" in err.fix


def test_unknown_profile_lists_the_profiles() -> None:
    err = _bad("net", profile="turbo")
    assert err.value == "turbo" and err.allowed == "quick, full"


def test_unknown_suite_lists_the_suites() -> None:
    err = _bad("disk")
    assert err.value == "disk" and err.allowed.startswith("engine, net, storage")  # in chapter order (then 05-08)


def test_unknown_target_lists_the_targets() -> None:
    err = _bad("net", target="moon")
    assert err.value == "moon" and err.allowed == "engine, kind, cluster"


def test_storage_on_a_cluster_needs_the_storage_classes_named() -> None:
    with pytest.raises(BadInput) as info:
        plan("storage", target="cluster")
    assert "--storage-class" in (info.value.fix or "")


def test_unknown_test_names_the_allowed_tests() -> None:
    err = _bad("net", tests=["tcp-1", "http"])
    assert err.value == "http" and "latency" in err.allowed and "tcp-N" in err.allowed
    err = _bad("storage", tests=["randread-4k-qd64"])
    assert err.value == "randread-4k-qd64" and "randread-4k-qd32" in err.allowed


@pytest.mark.parametrize("duration", [0.1, 601.0])
def test_duration_out_of_range_is_refused(duration: float) -> None:
    err = _bad("net", duration_s=duration)
    assert err.value == duration and err.allowed == "0.5 to 600 seconds"


def test_bad_fio_size_is_refused() -> None:
    err = _bad("storage", size="64X")
    assert err.value == "64X" and "64M" in err.allowed


def test_network_impairment_on_the_storage_suite_is_refused() -> None:
    err = _bad("storage", impair="rate=90%")
    assert err.value == "rate=90%" and "storage impairment" in err.allowed
    assert err.fix and "wbps" in err.fix


def test_storage_impairment_on_the_net_suite_is_refused() -> None:
    err = _bad("net", impair="wbps=50mb")
    assert err.value == "wbps=50mb" and "net impairment" in err.allowed


def test_suite_mismatch_offers_only_that_suites_impairments() -> None:
    err = _bad("storage", impair="rate=90%")
    assert "rate=" not in err.allowed


def test_bad_impairment_spec_is_refused_by_plan() -> None:
    err = _bad("net", impair="rate=150%")
    assert err.value == "rate=150%"


def test_impair_cells_must_be_cells_being_run() -> None:
    err = _bad("net", cells=["loopback", "bridge"], impair="rate=90%", impair_cells=["bridge", "macvlan"])
    assert err.value == "macvlan" and err.allowed == "one of the cells being run: loopback, bridge"


def test_duplicate_test_is_refused() -> None:
    _bad("net", tests=["tcp-1", "tcp-1"])


# --- good plans -----------------------------------------------------------------------------------


def test_good_plan_describes_cells_tests_and_reps() -> None:
    p = plan("storage", cells=["hostfs", "volume"], tests=["randread-4k-qd1", "fsync-write-4k"], reps=7, size="32M")
    text = p.describe()
    assert "cells [hostfs, volume]" in text and "tests [randread-4k-qd1, fsync-write-4k]" in text
    assert "7 repetitions" in text and "profile quick" in text and "impairment" not in text
    assert [c.name for c in p.cells] == ["hostfs", "volume"] and {t.size for t in p.tests} == {"32M"}


def test_plan_with_an_impairment_describes_where_it_goes() -> None:
    p = plan("net", cells=["loopback", "bridge"], impair="rate=90%", impair_cells=["bridge"])
    assert p.impairment == impair.parse("rate=90%") and p.impair_cells == ["bridge"] and p.impair_explicit
    assert p.describe().endswith("; impairment rate=90% on bridge")


def test_impairment_defaults_to_every_cell_being_run() -> None:
    p = plan("storage", cells=["volume", "bind"], impair="wbps=50mb")
    assert p.impair_cells == ["volume", "bind"] and not p.impair_explicit


def test_default_plan_runs_every_cell_with_the_quick_profile() -> None:
    p = plan("net")
    quick = profiles.PROFILES["quick"]
    assert p.reps == quick.reps >= 6  # enough for a median CI and a Mann-Whitney test
    assert [c.name for c in p.cells] == list(catalog("net"))
    assert [t.name for t in p.tests] == ["tcp-1", f"tcp-{quick.streams}", "latency"]
    assert {t.duration_s for t in p.tests} == {quick.net_duration_s}
    assert p.impairment is None and p.impair_cells == []


def test_full_profile_repeats_more_and_runs_longer() -> None:
    quick, full = plan("net"), plan("net", profile="full")
    assert full.reps > quick.reps
    assert min(t.duration_s for t in full.tests) > max(t.duration_s for t in quick.tests)


def test_explicit_reps_and_duration_override_the_profile() -> None:
    p = plan("storage", tests=["read-1m-qd16"], reps=3, duration_s=4)
    assert p.reps == 3 and p.tests[0].runtime_s == 4


def test_engine_suite_runs_start_latency_cells_on_the_engine_only() -> None:
    from labkit import bench

    p = bench.plan("engine", cells=["docker-runc", "containerd"], profile="full")
    assert p.reps == 20 and [t.name for t in p.tests] == ["start"]
    assert bench.plan("engine").reps == 8
    with pytest.raises(Unavailable) as info:
        bench.catalog("engine", "kind")
    assert "crictl" in str(info.value)
    with pytest.raises(BadInput):
        bench.plan("engine", tests=["stop"])
