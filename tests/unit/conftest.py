"""Unit tests never read this host's state: the free space behind Docker's data root (Longhorn's 25 % rule) is
fixed here, and a test about that rule sets its own value."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _docker_disk_has_room(monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.components.storage import options

    monkeypatch.setattr(options, "docker_disk_free", lambda: (0.6, "/var/lib/docker"))
