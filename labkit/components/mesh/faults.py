"""What goes wrong, on purpose: each case ends in one clear error, and nothing is left behind.

* bad input — an unknown mesh, an engine-tier request for Linkerd, a setting with a bad value, a rate test that
  is not a rate: refused before anything exists (:func:`bad_inputs`);
* a sidecar killed mid-measurement — the server's Envoy is killed while the generator runs: the measurement
  fails with the failed requests and the reason (:func:`kill_sidecar_mid_run`); the mesh fails *closed* (the
  REDIRECT stays, nothing listens: no request bypasses the sidecar);
* a bad certificate at start — a sidecar whose key does not belong to its certificate: Envoy refuses to start and
  says why (:func:`bad_certificate_at_start`); expired and wrong-CA peers are the verify's refusals;
* a rate this machine cannot generate — the generator refuses to report it as the path's latency
  (:func:`impossible_rate`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from labkit import docker
from labkit.components.mesh import cells, loadgen, pki, pods
from labkit.components.mesh.spec import MeshSpec, SidecarFailed, check_mesh
from labkit.errors import LabkitError


def bad_inputs() -> Any:
    """Every bad input the engine tier refuses, with the message a user sees (nothing is created)."""
    import pandas as pd

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("mesh='consul'", lambda: check_mesh("consul")),
        ("mesh='linkerd' on the engine", lambda: check_mesh("linkerd")),
        ("mtls='permissive'", lambda: MeshSpec(mtls="permissive")),
        ("tls='1.1'", lambda: MeshSpec(tls="1.1")),
        ("control='istiod'", lambda: MeshSpec(control="istiod")),
        ("versions=3", lambda: MeshSpec(versions=3)),
        ("fail_rate=0.3 with one version", lambda: MeshSpec(fail_rate=0.3)),
        ("a setting that does not exist", lambda: MeshSpec.of(sidecar="nginx")),
        ("test 'rate-fast'", lambda: cells.rate_tests(["rate-fast"])),
        ("test 'rate-9999999'", lambda: cells.rate_tests(["rate-9999999"])),
    ]
    rows = []
    for what, fn in cases:
        try:
            fn()
            rows.append({"input": what, "error": "", "message": "ACCEPTED (a bug)"})
        except LabkitError as exc:
            rows.append({"input": what, "error": type(exc).__name__, "message": exc.message,
                         "fix": exc.fix or ""})
    return pd.DataFrame(rows)


def kill_sidecar_mid_run(scope: docker.Scope, *, victim: str = "server", rate: float = 200, seconds: float = 4.0,
                         kill_at: float = 1.5) -> dict[str, Any]:
    """Run the ``envoy-mtls`` cell's generator and kill the ``victim`` side's sidecar ``kill_at`` s into it.

    Returns what the measurement said (its error, per-second series) and what ``alive()`` names as the reason."""
    session = cells.open_cell("envoy-mtls", scope, None)
    target = session.proxies[1 if victim == "server" else 0]
    load = loadgen.Load(rate, seconds, warmup=0.0)
    killer = threading.Timer(kill_at + 1.0, docker.remove_container, args=(target,))  # +1 s: the pool connects first
    killer.start()
    try:
        out = loadgen.run(session.client, session.host, session.port, load)
    finally:
        killer.join()
    try:
        loadgen.check(out)
        error = ""
    except LabkitError as exc:
        error = f"{type(exc).__name__}: {exc.message}"
    return {"victim": target.name, "error": error, "reason": session.alive(), "ok": out.get("ok"),
            "scheduled": out.get("scheduled"), "errors": out.get("errors", {}),
            "series": [(b["t"], b["ok"], b["err"]) for b in out.get("series", [])]}


def bad_certificate_at_start(scope: docker.Scope) -> dict[str, Any]:
    """A sidecar given a key that does not belong to its certificate: Envoy refuses to start and says so."""
    app_image, proxy_image = pods.images()
    net = scope.network(f"lk-{scope.session}-badcert-net").name
    pod = pods.start_app(scope, app_image, prefix=f"lk-{scope.session}-badcert", name="client", service="client",
                         version="v1", network=net, hosts={})
    pods.capture_traffic(scope, proxy_image, pod)
    good, other = pki.mesh_pki(["client"]), pki.issue(pki.new_ca("another CA"), "spiffe://labkit.local/ns/x/sa/y")
    bundle = {**good.bundle("client"), "tls.key": other.key_pem()}  # the right certificate, someone else's key
    from labkit.components.mesh import envoy
    from labkit.components.mesh.identity import spiffe_id

    boot = envoy.bootstrap("client", node="badcert", mtls=True, allowed_clients=[spiffe_id("server")],
                           server_id=spiffe_id("server"), endpoints={"server-v1": ["127.0.0.1"]})
    pods.start_sidecar(scope, proxy_image, pod, bundle=bundle, bootstrap=boot)
    try:
        pods.wait_ready(pod, timeout=20)
        return {"refused": False, "reason": "Envoy started with a mismatched key (a bug)"}
    except SidecarFailed as exc:
        return {"refused": True, "reason": exc.reason, "message": exc.message}


def impossible_rate(scope: docker.Scope, *, rate: float = 200_000, seconds: float = 1.0) -> dict[str, Any]:
    """Ask the floor cell (HAProxy answering itself) for ``rate`` req/s: the generator says it cannot."""
    session = cells.open_cell("floor", scope, None)
    t0 = time.monotonic()
    out = loadgen.run(session.client, session.host, session.port, loadgen.Load(rate, seconds, warmup=0.0, conns=64))
    return {"rate": rate, "generator_ok": out.get("generator_ok"), "achieved_rate": out.get("achieved_rate"),
            "refusal": loadgen.refusal(out), "errors": loadgen.failures(out.get("errors", {})),
            "seconds": round(time.monotonic() - t0, 1)}
