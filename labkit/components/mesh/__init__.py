"""Component: service mesh (chapter 07) — an Envoy sidecar mesh built by hand on the engine; Linkerd, Istio on kind.

========================= =====================================================================
identity.py               SPIFFE IDs (standard library only: labkit-xds imports it in its container)
envoy.py                  the sidecar's Envoy bootstrap: outbound/inbound listeners, mTLS, routes (stdlib only)
xds_server.py             labkit-xds, labkit's own REST-JSON xDS server (stdlib only; runs in a container)
pki.py                    the lab CA (Python ``cryptography``): workload certificates, bad ones, Linkerd's anchors
spec.py                   MeshSpec (checked before anything exists) and the errors
pods.py                   an engine "pod": app, init step (iptables REDIRECT, NET_ADMIN only), Envoy sidecar
mesh.py                   Mesh: up, call, observe, split/retries live (file or labkit-xds), scrape targets
wire.py                   tcpdump between the pods: what the wire shows with and without mTLS
verify.py                 the proof: identity seen, plaintext/wrong identity/expired/wrong CA refused, wire, stats
baseline.py               no proxy, and HAProxy on each side: what the mesh is compared with
loadgen.py                labkit's open-loop generator (C) and its self-check ("unavailable: why")
usage.py                  CPU and memory per proxy, from the container's cgroup
cells.py                  the bench suite ``mesh``: cells floor, none, haproxy, envoy, envoy-mtls; rate tests
proof.py                  the generator proved first: its floor, then a known delay
record.py                 the recorded evidence (verify, control plane, faults) for replay
faults.py                 a sidecar killed mid-measurement, a bad certificate, an impossible rate, bad input
control.py                the control plane, timed: static vs watched file vs labkit-xds
anchors.py                the published figures (Istio, Linkerd 2021) and why ours differ
stack.py                  ``labkit mesh up|down|status``: a mesh left running for the terminal
lab.py                    the chapter's live objects across notebook cells, removed together; reset
picture.py                the mesh's data path as SVG, drawn from the live mesh or the spec
exercises.py              check-your-understanding questions, checked against the live mesh
kind.py                   kind tier: Linkerd (edge) and Istio (sidecar, ambient) options, plans with sources
kind_objects.py           kind tier: the lab namespace, workloads and policies; the verify plan
kind_certs.py             kind tier: Linkerd's trust anchor and issuer as files (``python -m`` it)
kind_bench.py             kind tier: the same open-loop generator against Linkerd/Istio and no mesh; cAdvisor CPU
provenance.py             the Envoy wheel's chain of custody (what is verified, what is not)
========================= =====================================================================
"""

from __future__ import annotations

from typing import Any

from labkit.components.base import Component, lazy_exports


def _options() -> Any:
    from labkit.components.mesh.kind import OPTIONS

    return OPTIONS


def _suites() -> list[Any]:
    from labkit.bench.registry import Suite, TargetCells
    from labkit.components.mesh import cells
    from labkit.errors import Unavailable

    def tests(request: Any, prof: Any) -> list[Any]:
        return cells.rate_tests(list(request.tests) if request.tests else None, profile=prof.name,
                                seconds=request.duration_s)

    def elsewhere(request: Any) -> Any:
        raise Unavailable("the mesh suite measures the engine-tier mesh; on kind, mesh.kind_measure(target, option) "
                          "runs the same generator against Linkerd or Istio", fix="use target='engine'")

    other = TargetCells(elsewhere, cells.open_cell)
    return [Suite("mesh", "mesh", "service mesh: latency and resource tax of a proxy at fixed rates", tests,
                  {"engine": TargetCells(lambda r: dict(cells.CELLS), cells.open_cell), "kind": other,
                   "cluster": other},
                  reps=lambda prof: 3 if prof.name == "quick" else 6)]


def _hook(action: str) -> Any:
    def run(*args: Any, **kwargs: Any) -> str:
        from labkit.components.mesh import stack

        return str(getattr(stack, action)(*args, **kwargs))
    run.__doc__ = ("Start (or reuse) an Envoy sidecar mesh on the local engine, left running for the terminal: "
                   "client → server with mTLS and labkit-xds; `down` removes it, `status` says what runs.")
    return run


COMPONENT = Component("mesh", "Service mesh", "07-mesh", options=_options, up_flag="mesh", up_order=70,
                      suites=_suites,
                      summary="an Envoy sidecar mesh by hand (mTLS, labkit-xds); Linkerd, Istio sidecar/ambient "
                              "on kind",
                      live_on="engine, kind", binder="plans and replay of recorded runs",
                      engine_up=_hook("up"), engine_down=_hook("down"), engine_status=_hook("status"))

_MODULES = ("identity", "envoy", "xds_server", "pki", "spec", "pods", "mesh", "wire", "verify", "baseline", "loadgen",
            "usage", "cells", "faults", "control", "anchors", "stack", "lab", "picture", "exercises", "kind",
            "kind_objects", "kind_certs", "kind_bench", "provenance", "proof", "record")

#: Public names of this component and the module that defines each (imported on first use).
_EXPORTS = {
    "spiffe_id": "identity", "TRUST_DOMAIN": "identity",
    **{n: "spec" for n in ("MeshSpec", "MeshError", "UnknownMesh", "UnknownOption", "SidecarFailed",
                           "GeneratorRefused", "check_mesh", "ENGINE_MESHES", "KIND_MESHES")},
    **{n: "pki" for n in ("mesh_pki", "describe", "linkerd_identity", "new_ca", "issue")},
    **{n: "mesh" for n in ("Mesh", "Call", "Applied")},
    "Report": "verify", "Check": "verify",
    "Capture": "wire",
    "Load": "loadgen",
    **{n: "cells" for n in ("CELLS", "rate_tests")},
    **{n: "control" for n in ("compare_control", "retry_demo")},
    **{n: "faults" for n in ("bad_inputs", "kill_sidecar_mid_run", "impossible_rate", "bad_certificate_at_start")},
    **{n: "anchors" for n in ("ANCHORS", "anchors_table", "why_ours_differ")},
    "Lab": "lab",
    **{n: "picture" for n in ("data_path", "kind_path")},
    **{n: "exercises" for n in ("ask", "check", "reveal", "QUESTIONS")},
    **{n: "kind" for n in ("OPTIONS", "INSTALLABLE", "option", "options_table", "Linkerd", "Istio")},
    **{n: "kind_objects" for n in ("lab_manifests", "verify_plan")},
    "kind_measure": "kind_bench",
    **{n: "provenance" for n in ("ENVOY", "provenance_table", "running_version")},
    "prove": "proof",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, _MODULES)
