"""Real-kind tier of chapter 07 (`make e2e`): `labkit up --mesh linkerd|istio|istio-ambient` installs the mesh,
verifies it (identity seen, plaintext and the wrong identity refused, the wire encrypted) and uninstalls it.

Runs where kind, kubectl, helm, a Docker daemon that allows privileged containers, the pinned node image and
internet (the charts and the meshes' images) exist; skips here naming what is missing.
"""

from __future__ import annotations

import pytest

from labkit.components import up as cluster
from labkit.components.mesh import kind

pytestmark = pytest.mark.kind


@pytest.fixture(scope="module")
def kind_ready() -> None:
    ok, why = cluster.kind_available("kindnet", mesh="linkerd")
    if not ok:
        pytest.skip(f"kind tier: {why}")


@pytest.mark.parametrize("name", kind.INSTALLABLE)
def test_up_installs_and_verifies_each_mesh_then_uninstalls_it(kind_ready: None, name: str) -> None:
    target = cluster.up("kindnet", mesh=name, name=f"labkit-mesh-{name}"[:32], workers=1)
    try:
        kind.option(name).uninstall(target).run()
    finally:
        from labkit.clusters import down

        down(target.name)
