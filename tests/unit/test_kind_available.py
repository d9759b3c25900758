"""kind_available() answers what up() would: a notebook never chooses live mode for a plan up() refuses."""

from __future__ import annotations

import pytest

from labkit import doctor
from labkit.components import up as composing
from labkit.components.storage.options import Longhorn
from labkit.errors import Unavailable


@pytest.fixture()
def all_tools_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [doctor.Check(n, doctor.OK, "fine") for n in ("docker daemon", "kind", "kubectl", "helm",
                                                          "privileged containers")]
    monkeypatch.setattr(doctor, "checks", lambda **kw: rows)
    monkeypatch.setattr("labkit.targets.kind.preflight.gates", lambda cfg: None)


def test_an_option_the_host_cannot_run_makes_kind_unavailable_with_its_reason(
        all_tools_fine: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Longhorn) -> None:
        raise Unavailable("Longhorn needs iSCSI in the host kernel", fix="use --storage openebs")

    monkeypatch.setattr(Longhorn, "check_host", refuse)
    ok, why = composing.kind_available(storage="longhorn")
    assert not ok and "iSCSI" in why


def test_with_every_need_met_kind_is_available(all_tools_fine: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Longhorn, "check_host", lambda self: None)
    ok, why = composing.kind_available(storage="longhorn")
    assert ok, why
