"""Proof, not hope: each check of the engine-tier mesh compares an expected value with what was observed.

=============================  ============================================================================
meshed call                    client → its sidecar → mTLS → server's sidecar → app; the app saw the client's
                               SPIFFE ID in ``x-forwarded-client-cert`` (set by the server's sidecar)
capture installed              the init step's nat table REDIRECTs inbound to 15006, outbound to 15001, and
                               exempts uid 1337 (Envoy's own connections: no loop)
plaintext refused              a client with no sidecar, to server:8080 and straight to :15006: closed, and
                               the server's Envoy counts ``no_filter_chain_match``
certificates                   a client with no sidecar presenting: the right certificate (control: accepted),
                               the wrong identity, an expired one, one from another CA: refused, with Envoy's
                               counter and Envoy's own words (its ``connection`` log at debug level)
meshed intruder                a workload with its own sidecar and a valid certificate for ``sa/mallory``
wire                           tcpdump between the pods: no token with mTLS; the token without it (control)
telemetry                      the client's ``/stats/prometheus`` counts the requests to server-v1
=============================  ============================================================================

Envoy's counters tell a SAN mismatch (``fail_verify_san``) from a chain problem (``fail_verify_error``) but not an
expired certificate from an unknown CA; the client's own error text is unreliable under TLS 1.3 (the server's
alert races the client's Finished). So the reason shown is Envoy's log line ``verify cert failed: …``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from labkit import docker
from labkit.components.mesh import envoy, pki, pods, wire
from labkit.components.mesh.identity import spiffe_id
from labkit.components.mesh.spec import MeshError

ROLE_PROBE = "mesh-probe"
INBOUND = "listener.0.0.0.0_15006."
SSL = ("ssl.handshake", "ssl.connection_error", "ssl.fail_verify_san", "ssl.fail_verify_error",
       "ssl.fail_verify_no_cert", "ssl.no_certificate", "no_filter_chain_match")
REASON = r"(verify cert failed: [^\n]*?)(?::TLS_error_end)?(?=\n|$)"
#: (check, port, certificate or None, accepted?, the server-side counter that must move, a word the reason holds)
CASES = (
    ("plaintext to server:8080 refused (captured to 15006)", envoy.APP_PORT, None, False, "no_filter_chain_match", ""),
    ("plaintext straight to :15006 refused", envoy.INBOUND_PORT, None, False, "no_filter_chain_match", ""),
    ("TLS with the client's own certificate accepted (control)", envoy.APP_PORT, "client", True, "ssl.handshake", ""),
    ("right CA, wrong identity (sa/mallory) refused", envoy.APP_PORT, "bad-identity", False, "ssl.fail_verify_san",
     "SAN"),
    ("expired certificate refused", envoy.APP_PORT, "bad-expired", False, "ssl.fail_verify_error", "expired"),
    ("certificate from another CA refused", envoy.APP_PORT, "bad-ca", False, "ssl.fail_verify_error",
     "unable to get local issuer certificate"),
)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    expected: str
    observed: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {"check": self.name, "passed": "✓" if self.passed else "✗", "expected": self.expected,
                "observed": self.observed}


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    captures: list[wire.Capture] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([c.row() for c in self.checks])

    def raise_for_failure(self) -> Report:
        if not self.passed:
            raise MeshError("mesh verify failed: " + "; ".join(f"{c.name}: expected {c.expected}, observed "
                                                               f"{c.observed}" for c in self.failed()))
        return self


def _inbound(mesh: Any, server: str) -> dict[str, int]:
    return {k[len(INBOUND):]: v for k, v in mesh.stats(server, re.escape(INBOUND)).items() if k[len(INBOUND):] in SSL}


def _moved(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def meshed_call(mesh: Any) -> Check:
    call = mesh.call(path="/whoami")
    want = spiffe_id("client")
    return Check("meshed call carries the client's SPIFFE ID", call.ok and call.identity == want,
                 f"200, x-forwarded-client-cert URI={want}",
                 f"{call.status}, URI={call.identity or '-'}" + (f", {call.error}" if call.error else ""),
                 {"xfcc": call.xfcc, "served_by": call.served_by})


def capture_installed(mesh: Any, pod: str = "client") -> Check:
    rules = mesh.pod(pod).capture
    want = ("--to-ports 15006", "--to-ports 15001", f"--uid-owner {pods.PROXY_UID} -j RETURN",
            f"--dport {envoy.ADMIN_PORT} -j RETURN")
    missing = [w for w in want if w not in rules]
    return Check(f"the init step captured {pod}'s traffic", not missing, "REDIRECT to 15006/15001, uid 1337 and "
                 "admin port exempt", "all present" if not missing else f"missing: {missing}", {"nat": rules})


def probe(scope: docker.Scope, mesh: Any) -> Any:
    """A client WITHOUT a sidecar on the mesh network, holding the client's and the three bad certificates."""
    app_image, _ = pods.images()
    box = scope.container(app_image, name=f"{mesh.prefix}-probe", role=ROLE_PROBE, network=mesh.network,
                          command=["sleep", "infinity"])
    files = {f"{name}/{k}": v for name in ("client", *pki.BAD) for k, v in mesh.pki.bundle(name).items()}
    docker.put_archive(box, "/etc/mesh/certs", pods._stream(pki.tar(files, uid=pods.APP_UID)))
    return box


def _probe_once(box: Any, host: str, port: int, cert: str | None) -> dict[str, Any]:
    argv = ["python3", "/opt/labkit/probe.py", host, str(port)]
    if cert:
        d = f"/etc/mesh/certs/{cert}"
        argv += ["--tls", "--cert", f"{d}/tls.crt", "--key", f"{d}/tls.key", "--ca", f"{d}/ca.crt"]
    out = docker.exec_in(box, argv, timeout=15, quiet=True).stdout
    return json.loads(out) if out.strip() else {"ok": False, "error": "the probe printed nothing"}


def refusals(scope: docker.Scope, mesh: Any, server: str = "server-v1") -> list[Check]:
    box = probe(scope, mesh)
    target, sidecar = mesh.pod(server).ip, mesh.pod(server).sidecar
    pods.set_log_level(mesh.pod(server), "connection", "debug")  # only now: it is chatty
    out = []
    try:
        for name, port, cert, accept, counter, word in CASES:
            before, since = _inbound(mesh, server), time.time()
            r = _probe_once(box, target, port, cert)
            time.sleep(0.3)  # workers flush their counters shortly after
            moved = _moved(before, _inbound(mesh, server))
            reasons = pods.log_lines(sidecar, REASON, since=since)
            passed = bool(r.get("ok")) == accept and moved.get(counter, 0) >= 1 and \
                (not word or any(word in ln for ln in reasons))
            observed = ("accepted" if r.get("ok") else f"refused ({r.get('error') or r.get('status')})") + \
                f"; Envoy: {', '.join(f'{k} +{v}' for k, v in moved.items()) or 'no counter moved'}"
            out.append(Check(name, passed, f"{'accepted' if accept else 'refused'}, {counter} +1"
                             + (f", Envoy says '{word}'" if word else ""), observed,
                             {"envoy_reason": reasons, "client_error": r.get("error"), "counters": moved}))
    finally:
        pods.set_log_level(mesh.pod(server), "connection", "warning")
        docker.remove_container(box)
    return out


def intruder(mesh: Any, server: str = "server-v1") -> Check:
    before = _inbound(mesh, server)
    call = mesh.call("mallory", path="/steal")
    time.sleep(0.3)
    moved = _moved(before, _inbound(mesh, server))
    return Check("a meshed intruder (valid certificate for sa/mallory) refused",
                 not call.ok and moved.get("ssl.fail_verify_san", 0) >= 1,
                 "not 200 (its own sidecar answers 503), fail_verify_san +1 on the server",
                 f"{call.status}; Envoy: {moved or 'no counter moved'}")


def telemetry(mesh: Any) -> Check:
    """The client's sidecar counts its requests to server-v1 in /stats/prometheus (what Prometheus scrapes)."""
    text = pods.admin_get(mesh.pod("client"), "/stats/prometheus")
    pat = r'^envoy_cluster_upstream_rq_total\{envoy_cluster_name="server-v1"\} (\d+)'
    m = re.search(pat, text, re.M)
    series = sum(1 for ln in text.splitlines() if ln.startswith("envoy_"))
    return Check("telemetry: /stats/prometheus counts the requests", bool(m) and int(m.group(1)) >= 1,
                 "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"server-v1\"} >= 1",
                 f"{m.group(1) if m else 'absent'} ({series} envoy_* series)")


def wire_checks(mtls: wire.Capture, plain: wire.Capture | None) -> list[Check]:
    out = [Check("wire: the token is not in the bytes with mTLS",
                 mtls.complete and not mtls.token_seen and mtls.tls_records > 0,
                 "requests ok, packets captured, TLS records, no token",
                 f"{mtls.requests_ok}/{mtls.requests} ok, {mtls.packets} packets, {mtls.tls_records} TLS records, "
                 f"token {'seen' if mtls.token_seen else 'absent'}"),
           Check("wire: no SPIFFE ID in clear (TLS 1.3 encrypts the certificates)", mtls.complete and
                 not mtls.spiffe_seen and "TLS 1.3" in mtls.tls_versions, "TLS 1.3, no 'spiffe://' in the bytes",
                 f"{', '.join(mtls.tls_versions) or 'no ServerHello'}, spiffe:// "
                 f"{'seen' if mtls.spiffe_seen else 'absent'}")]
    if plain is not None:
        out.append(Check("wire control: the token is in the bytes without mTLS", plain.complete and plain.token_seen,
                         "requests ok, packets captured, token seen",
                         f"{plain.requests_ok}/{plain.requests} ok, {plain.packets} packets, token "
                         f"{'seen' if plain.token_seen else 'absent'}"))
    return out


def run(scope: docker.Scope, mesh: Any, *, plain: Any = None) -> Report:
    """Every check on ``mesh`` (mTLS expected); ``plain``, a mesh without mTLS, is the wire capture's control."""
    report = Report()
    report.checks += [meshed_call(mesh), capture_installed(mesh)]
    report.checks += refusals(scope, mesh)
    if "mallory" in mesh.pods:
        report.checks.append(intruder(mesh))
    report.captures.append(wire.capture(scope, mesh, label="mTLS"))
    if plain is not None:
        report.captures.append(wire.capture(scope, plain, label="no mTLS (control)"))
    report.checks += wire_checks(report.captures[0], report.captures[1] if plain is not None else None)
    report.checks.append(telemetry(mesh))
    return report
