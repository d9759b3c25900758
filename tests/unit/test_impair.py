"""Impairment specs (``--impair``) and the tc command that applies a rate cap."""

from __future__ import annotations

import pytest

from labkit.bench import impair
from labkit.errors import BadInput


@pytest.mark.parametrize(("spec", "kind", "value", "relative", "suite"), [
    ("rate=90%", "rate", 0.9, True, "net"),
    ("rate=12.5%", "rate", 0.125, True, "net"),
    ("rate=5gbit", "rate", 5e9, False, "net"),
    ("rate=2.5gbit", "rate", 2.5e9, False, "net"),
    ("rate=800mbit", "rate", 8e8, False, "net"),
    ("rate=100kbit", "rate", 1e5, False, "net"),
    ("rate=1000bit", "rate", 1000, False, "net"),
    (" RATE = 5Gbit ", "rate", 5e9, False, "net"),
    ("wbps=50mb", "wbps", 5e7, False, "storage"),
    ("rbps=1gb", "rbps", 1e9, False, "storage"),
    ("riops=2000", "riops", 2000, False, "storage"),
    ("wiops=2k", "wiops", 2000, False, "storage"),
])
def test_valid_specs(spec: str, kind: str, value: float, relative: bool, suite: str) -> None:
    imp = impair.parse(spec)
    assert (imp.kind, imp.relative, imp.suite, imp.spec) == (kind, relative, suite, spec)
    assert imp.value == pytest.approx(value)


@pytest.mark.parametrize("spec", [
    "", "rate", "rate=", "foo=1", "rate=abc", "rate=5g", "rate=5gb", "wbps=50", "wbps=50mbit", "wbps=0mb",
    "riops=-1", "riops=2000iops", "rate=-5gbit",
])
def test_invalid_specs_list_what_is_allowed(spec: str) -> None:
    with pytest.raises(BadInput) as info:
        impair.parse(spec)
    err = info.value
    assert err.value == spec and err.allowed == impair.ALLOWED
    assert repr(spec) in str(err) and impair.ALLOWED in str(err)


@pytest.mark.parametrize("spec", ["rate=150%", "rate=100%", "rate=0%", "rate=-5%", "rate=ninety%"])
def test_percentages_must_be_between_0_and_100(spec: str) -> None:
    with pytest.raises(BadInput) as info:
        impair.parse(spec)
    assert repr(spec) in str(info.value) and "between 0 and 100" in str(info.value)


def test_bad_spec_is_also_a_value_error() -> None:
    with pytest.raises(ValueError):
        impair.parse("rate=abc")


def _burst(argv: list[str]) -> int:
    return int(argv[argv.index("burst") + 1])


def test_tbf_argv_caps_the_root_qdisc_of_the_device() -> None:
    argv = impair.tbf_argv("eth0", 5e9)
    assert argv[:7] == ["tc", "qdisc", "replace", "dev", "eth0", "root", "tbf"]  # replace: re-runs are safe
    assert argv[argv.index("rate") + 1] == "5000000000bit"
    assert argv[argv.index("latency") + 1] == "100ms"


@pytest.mark.parametrize("rate", [1e3, 1e6, 1e8, 5e8])
def test_tbf_burst_is_at_least_256_kib_to_hold_gso_packets(rate: float) -> None:
    assert _burst(impair.tbf_argv("eth0", rate)) == 256 * 1024


def test_tbf_burst_holds_4_ms_of_traffic_at_high_rates() -> None:
    assert _burst(impair.tbf_argv("eth0", 100e9)) == int(100e9 / 8 * 0.004)


def test_describe_rate_in_gbit() -> None:
    assert impair.describe_rate(4.5e9) == "4.50 Gbit/s"
