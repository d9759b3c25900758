"""What an engine-tier mesh is made of, as one frozen value checked before anything is created; the errors.

>>> MeshSpec(mtls="strict", control="xds", versions=2)          # doctest: +SKIP

Every field changes something a learner can see: ``mtls`` the inbound filter chain, ``tls`` what the wire
capture shows, ``control`` where the routes come from, ``versions`` whether there is a v2 to split traffic to,
``fail_rate`` how often v2 answers 503 (so retries have something to do), ``intruder`` a meshed workload with a
valid certificate for the wrong identity, ``concurrency`` Envoy's worker threads (Istio's sidecar default: 2).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from labkit.components.mesh.envoy import CONTROLS, TLS_VERSIONS
from labkit.errors import BadInput, LabkitError, Unavailable

#: Meshes by tier: the engine tier builds one by hand; Linkerd and Istio need Kubernetes (the kind tier).
ENGINE_MESHES = ("envoy-sidecar",)
KIND_MESHES = ("linkerd", "istio", "istio-ambient")
MTLS = ("strict", "off")


class MeshError(LabkitError):
    """A mesh step failed; the message says which and why."""


class UnknownMesh(BadInput):
    """A mesh labkit does not know, or one that does not run on the engine tier."""


class UnknownOption(BadInput):
    """A mesh setting with a value labkit does not accept."""


class SidecarFailed(MeshError):
    """A sidecar did not become ready; ``reason`` is Envoy's own words (its ``critical`` log line)."""

    def __init__(self, name: str, reason: str, *, fix: str | None = None) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"sidecar {name} is not ready: {reason}",
                         fix=fix or "read Envoy's reason above; `docker logs` of the sidecar shows the rest")


class GeneratorRefused(Unavailable):
    """The load generator could not keep its own schedule: the figure would be the machine's, not the mesh's."""


def check_mesh(mesh: str, *, tier: str = "engine") -> str:
    """``mesh`` if this tier can build it; else :class:`UnknownMesh` naming the choices and where the others run."""
    if tier == "engine":
        if mesh in KIND_MESHES:
            raise UnknownMesh("engine-tier mesh", mesh, ", ".join(ENGINE_MESHES),
                              fix=f"{mesh} needs Kubernetes: its proxies and control plane are not packaged for a "
                                  f"plain Docker engine; use `labkit up --mesh {mesh}` on kind")
        if mesh not in ENGINE_MESHES:
            raise UnknownMesh("mesh", mesh, ", ".join(ENGINE_MESHES + KIND_MESHES),
                              fix="the engine tier builds an Envoy sidecar mesh; Linkerd and Istio run on kind")
        return mesh
    if mesh not in KIND_MESHES:
        raise UnknownMesh("mesh", mesh, ", ".join(KIND_MESHES), fix="e.g. `labkit up --mesh linkerd`")
    return mesh


@dataclass(frozen=True)
class MeshSpec:
    """An engine-tier mesh: two services (client → server) with Envoy sidecars, and how they are configured."""

    mesh: str = "envoy-sidecar"
    mtls: str = "strict"
    tls: str = "1.3"
    control: str = "static"
    versions: int = 1
    fail_rate: float = 0.0
    intruder: bool = False
    concurrency: int = 2

    def __post_init__(self) -> None:
        check_mesh(self.mesh)
        self._choice("mtls", self.mtls, MTLS)
        self._choice("tls", self.tls, tuple(TLS_VERSIONS))
        self._choice("control", self.control, CONTROLS)
        if not isinstance(self.versions, int) or isinstance(self.versions, bool) or self.versions not in (1, 2):
            raise UnknownOption("versions", self.versions, "1 or 2 (a second version to split traffic to)")
        if not isinstance(self.fail_rate, int | float) or not 0 <= self.fail_rate <= 1:
            raise UnknownOption("fail_rate", self.fail_rate, "a fraction from 0 to 1 (v2 answers 503 that often)")
        if self.fail_rate and self.versions < 2:
            raise UnknownOption("fail_rate", self.fail_rate, "only with versions=2 (it applies to server v2)")
        if not isinstance(self.concurrency, int) or isinstance(self.concurrency, bool) or \
                not 1 <= self.concurrency <= 8:
            raise UnknownOption("concurrency", self.concurrency, "1 to 8 Envoy worker threads")

    @staticmethod
    def _choice(what: str, value: object, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            raise UnknownOption(what, value, ", ".join(allowed))

    @classmethod
    def of(cls, **settings: Any) -> MeshSpec:
        """A spec from keyword settings; an unknown setting is :class:`UnknownOption` naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise UnknownOption("mesh setting", ", ".join(unknown), ", ".join(sorted(known)))
        return cls(**settings)

    def with_(self, **changes: Any) -> MeshSpec:
        return replace(self, **changes)

    @property
    def mtls_on(self) -> bool:
        return self.mtls == "strict"

    @property
    def split(self) -> dict[str, int]:
        """The starting traffic split: everything to v1 (labkit-xds or the routes file changes it)."""
        return {"server-v1": 100} if self.versions == 1 else {"server-v1": 100, "server-v2": 0}

    def workloads(self) -> list[tuple[str, str, str]]:
        """(workload, service, version) in start order: servers first (their IPs go to the callers)."""
        out = [(f"server-v{v}", "server", f"v{v}") for v in range(1, self.versions + 1)]
        out.append(("client", "client", "v1"))
        if self.intruder:
            out.append(("mallory", "mallory", "v1"))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
