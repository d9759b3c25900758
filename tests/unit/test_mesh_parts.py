"""The engine-tier mesh's parts without Docker: Envoy bootstraps, labkit-xds on loopback, the lab CA, the spec's
refusals, the generator's verdicts on recorded output, the wire analysis, cgroup parsing, pictures, exercises."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from labkit.components.mesh import (anchors, cells, envoy, exercises, faults, identity, loadgen, pki, picture,
                                    provenance, spec, stack, usage, wire, xds_server)
from labkit.errors import BadInput, LabkitError

DATA = Path(__file__).resolve().parents[1] / "data"


# -- identity and Envoy's bootstrap ---------------------------------------------------------------------------

def test_spiffe_ids_name_the_service_account() -> None:
    assert identity.spiffe_id("client") == "spiffe://labkit.local/ns/default/sa/client"
    assert identity.service_of(identity.spiffe_id("cart", "shop")) == "cart"
    assert identity.service_of("https://example.com/sa/x") == ""


def _inbound(boot: dict[str, Any]) -> dict[str, Any]:
    return next(lst for lst in boot["static_resources"]["listeners"] if lst["name"] == "inbound")["filter_chains"][0]


def _server_boot(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"node": "server-v1-sidecar", "mtls": True,
                            "allowed_clients": [identity.spiffe_id("client")],
                            "server_id": identity.spiffe_id("server"), "endpoints": {"server-v1": ["10.0.0.2"]}}
    return envoy.bootstrap("server", **{**args, **kw})


def test_mtls_inbound_requires_tls_a_client_certificate_and_the_callers_spiffe_id() -> None:
    chain = _inbound(_server_boot())
    assert chain["filter_chain_match"] == {"transport_protocol": "tls"}  # plaintext matches no chain
    tls = chain["transport_socket"]["typed_config"]
    assert tls["require_client_certificate"] is True
    ctx = tls["common_tls_context"]
    assert ctx["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"exact": "spiffe://labkit.local/ns/default/sa/client"}}]
    assert ctx["tls_params"] == {"tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_3"}
    hcm = chain["filters"][0]["typed_config"]
    assert hcm["forward_client_cert_details"] == "SANITIZE_SET"
    assert hcm["set_current_client_cert_details"] == {"uri": True}


def test_outbound_clusters_require_the_servers_identity_and_use_ips_not_docker_dns() -> None:
    boot = _server_boot()
    cluster = next(c for c in boot["static_resources"]["clusters"] if c["name"] == "server-v1")
    assert cluster["type"] == "STATIC"
    assert cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] == \
        {"address": "10.0.0.2", "port_value": 8080}
    ctx = cluster["transport_socket"]["typed_config"]["common_tls_context"]
    assert ctx["validation_context"]["match_typed_subject_alt_names"][0]["matcher"]["exact"].endswith("/sa/server")


def test_without_mtls_there_is_no_tls_anywhere() -> None:
    boot = _server_boot(mtls=False)
    assert "transport_socket" not in _inbound(boot) and "filter_chain_match" not in _inbound(boot)
    assert all("transport_socket" not in c for c in boot["static_resources"]["clusters"])


def test_control_planes_file_and_xds_and_bad_values() -> None:
    hcm = lambda b: b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]  # noqa: E731
    filed = _server_boot(control="file")
    assert hcm(filed)["rds"]["config_source"]["path_config_source"] == {
        "path": "/etc/mesh/dyn/rds.json", "watched_directory": {"path": "/etc/mesh/dyn"}}
    xds = _server_boot(control="xds", xds_address="10.0.0.9")
    assert xds["dynamic_resources"]["cds_config"]["api_config_source"]["api_type"] == "REST"
    assert any(c["name"] == "labkit-xds" for c in xds["static_resources"]["clusters"])
    with pytest.raises(ValueError, match="xds_address"):
        _server_boot(control="xds")
    with pytest.raises(ValueError, match="static, file, xds"):
        _server_boot(control="istiod")


def test_routes_split_by_weight_and_retry_on_failure() -> None:
    rc = envoy.route_config("server", {"server-v1": 90, "server-v2": 10}, retries=3)
    route = rc["virtual_hosts"][0]["routes"][0]["route"]
    assert route["weighted_clusters"]["clusters"] == [{"name": "server-v1", "weight": 90},
                                                      {"name": "server-v2", "weight": 10}]
    assert route["retry_policy"] == {"retry_on": "5xx,reset,connect-failure", "num_retries": 3}
    assert rc["virtual_hosts"][0]["domains"] == ["server", "server:8080"]
    single = envoy.route_config("server", {"server-v1": 100})["virtual_hosts"][0]["routes"][0]["route"]
    assert "retry_policy" not in single and single["cluster"] == "server-v1"


# -- labkit-xds, served on loopback -------------------------------------------------------------------------------

@pytest.fixture()
def xds() -> Any:
    state = xds_server.XdsState(split={"server-v1": 100, "server-v2": 0})
    server = xds_server.serve(0, state, host="127.0.0.1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def _post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_xds_serves_clusters_with_eds_and_mtls_and_the_routes_follow_the_operator(xds: Any) -> None:
    url, _ = xds
    code, res = _post(url + "/v3/discovery:clusters", {"node": {"cluster": "client"}})
    assert code == 200 and res["type_url"] == envoy.CLUSTER_TYPE and res["version_info"] == "1"
    assert {r["name"] for r in res["resources"]} == {"server-v1", "server-v2"}
    assert all(r["type"] == "EDS" and "transport_socket" in r for r in res["resources"])
    assert _post(url + "/labkit/split", {"server-v1": 50, "server-v2": 50})[0] == 200
    assert _post(url + "/labkit/retries", {"num_retries": 2})[0] == 200
    _, routes = _post(url + "/v3/discovery:routes", {})
    route = routes["resources"][0]["virtual_hosts"][0]["routes"][0]["route"]
    assert routes["version_info"] == "3" and route["retry_policy"]["num_retries"] == 2
    assert [c["weight"] for c in route["weighted_clusters"]["clusters"]] == [50, 50]


def test_xds_endpoints_come_from_the_registry_and_are_versioned_by_content(xds: Any) -> None:
    url, _ = xds
    empty = _post(url + "/v3/discovery:endpoints", {"resource_names": ["server-v1"]})[1]
    _post(url + "/labkit/endpoints", {"server-v1": ["172.18.0.3"]})
    full = _post(url + "/v3/discovery:endpoints", {"resource_names": ["server-v1"]})[1]
    assert empty["version_info"] != full["version_info"]
    lb = full["resources"][0]["endpoints"][0]["lb_endpoints"]
    assert lb[0]["endpoint"]["address"]["socket_address"]["address"] == "172.18.0.3"


@pytest.mark.parametrize("path,body", [("/labkit/split", {"server-v1": -1}), ("/labkit/split", {"a": 0}),
                                       ("/labkit/retries", {"num_retries": 99}), ("/labkit/retries", {}),
                                       ("/labkit/endpoints", {"server-v1": "10.0.0.1"}), ("/labkit/split", [1])])
def test_xds_refuses_bad_operator_input_and_keeps_its_state(xds: Any, path: str, body: Any) -> None:
    url, state = xds
    code, res = _post(url + path, body)
    assert code == 400 and res["error"] and state.version == 1


def test_xds_unknown_type_and_path(xds: Any) -> None:
    url, _ = xds
    assert _post(url + "/v3/discovery:secrets", {})[0] == 404
    assert _post(url + "/labkit/nothing", {})[0] == 404


# -- the lab CA --------------------------------------------------------------------------------------------------

def test_workload_certificates_carry_one_critical_spiffe_san_and_the_bad_ones_are_bad() -> None:
    from cryptography import x509

    p = pki.mesh_pki(["client", "server"])
    client = pki.describe(p.leaves["client"].cert)
    assert client["uri_sans"] == ["spiffe://labkit.local/ns/default/sa/client"] and client["san_critical"]
    assert not client["ca"] and not client["expired"] and client["key"].startswith("secp256r1")
    assert pki.describe(p.ca.cert)["ca"] and pki.describe(p.ca.cert)["path_length"] == 0
    assert pki.describe(p.leaves["bad-identity"].cert)["uri_sans"][0].endswith("/sa/mallory")
    assert pki.describe(p.leaves["bad-expired"].cert)["expired"]
    assert p.leaves["bad-ca"].cert.issuer != p.ca.cert.subject
    p.leaves["client"].cert.verify_directly_issued_by(p.ca.cert)
    with pytest.raises((ValueError, x509.verification.VerificationError, Exception)):
        p.leaves["bad-ca"].cert.verify_directly_issued_by(p.ca.cert)


def test_the_ca_key_is_a_registered_secret() -> None:
    from labkit.redact import redact

    ca = pki.new_ca()
    key = ca.key_pem().decode()
    assert "***" in redact(f"oops {key}") and key not in redact(key)


def test_a_sidecars_bundle_is_a_tar_owned_by_the_proxy_with_the_key_0400_and_the_marker_last() -> None:
    bundle = pki.mesh_pki(["client"]).bundle("client")
    data = pki.tar({f"certs/{k}": v for k, v in bundle.items()}, uid=1337, marker="boot/.ready")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
    assert [m.name for m in members][-1] == "boot/.ready"
    modes = {m.name: (m.mode, m.uid) for m in members}
    assert modes["certs/tls.key"] == (0o400, 1337) and modes["certs/tls.crt"] == (0o444, 1337)


def test_linkerds_trust_anchor_and_issuer_match_its_rules() -> None:
    anchor, issuer = pki.linkerd_identity()
    a, i = pki.describe(anchor.cert), pki.describe(issuer.cert)
    assert (a["ca"], a["path_length"], i["ca"], i["path_length"]) == (True, 1, True, 0)
    assert a["subject"] == "CN=root.linkerd.cluster.local" and i["subject"] == "CN=identity.linkerd.cluster.local"
    assert i["key"].startswith("secp256r1") and "sha256" in i["key"]
    issuer.cert.verify_directly_issued_by(anchor.cert)
    left = issuer.cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=360) < left < dt.timedelta(days=366)


# -- the spec refuses what it cannot build ------------------------------------------------------------------------

def test_every_bad_input_is_refused_with_what_is_allowed() -> None:
    table = faults.bad_inputs()
    assert "ACCEPTED (a bug)" not in set(table["message"])
    assert (table["error"] != "").all() and len(table) >= 10
    linkerd = table[table["input"].str.contains("linkerd")].iloc[0]
    assert "kind" in linkerd["fix"] and "envoy-sidecar" in linkerd["message"]


def test_servers_start_before_their_callers() -> None:
    names = [w for w, _, _ in spec.MeshSpec(versions=2, intruder=True).workloads()]
    assert names == ["server-v1", "server-v2", "client", "mallory"]
    assert spec.MeshSpec(versions=2).split == {"server-v1": 100, "server-v2": 0}


def test_stack_options_from_the_terminal() -> None:
    assert stack._spec({"mtls": "off", "versions": "1", "intruder": "yes"}) == spec.MeshSpec(
        mtls="off", control="xds", versions=1, intruder=True)
    with pytest.raises(spec.UnknownOption, match="fail_rate"):
        stack._spec({"fail_rate": "lots"})
    with pytest.raises(spec.UnknownOption, match="sidecar"):
        stack._spec({"sidecar": "nginx"})


def test_the_stack_scope_labels_without_an_owner_so_the_reaper_leaves_it() -> None:
    from labkit import docker

    made = stack.StackScope()._labels("mesh-app")
    assert made[docker.SESSION] == "mesh-stack" and docker.OWNER not in made and made[docker.MANAGED] == "true"


# -- the generator's verdicts, on real output ----------------------------------------------------------------------

def _run(name: str) -> dict[str, Any]:
    return dict(json.loads((DATA / f"openloop-{name}.json").read_text()))


def test_a_run_that_kept_its_schedule_becomes_metrics_in_microseconds() -> None:
    out = loadgen.check(_run("ok"), limit_ms=1000)
    m = loadgen.metrics(out)
    assert m["lat_p50_us"] == pytest.approx(out["latency_ms"]["p50"] * 1000)
    assert m["achieved_rps"] == out["achieved_rate"] and set(m) == {"lat_p50_us", "lat_p99_us", "lat_p999_us",
                                                                    "achieved_rps", "gen_lag_p99_us"}


def test_a_late_generator_is_refused_as_unavailable_with_why() -> None:
    out = _run("late")
    assert out["generator_ok"] is False
    with pytest.raises(spec.GeneratorRefused) as err:
        loadgen.check(out)
    assert err.value.message.startswith("unavailable: this machine could not generate")
    assert "loop lag p99" in err.value.message and "machine's stalls, not the path's" in err.value.message


def test_failed_requests_are_the_news_even_when_the_generator_was_late() -> None:
    out = _run("late") | {"errors_total": 320, "errors": {"http 503": 320, "connect: Connection refused": 900}}
    with pytest.raises(spec.MeshError) as err:
        loadgen.check(out)
    assert "320 × http 503" in err.value.message and "900 connect attempts: Connection refused" in err.value.message


@pytest.mark.parametrize("name,allowed", [("rate-500", True), ("rate-0", False), ("rate-fast", False),
                                          ("tcp-1", False), (f"rate-{loadgen.MAX_RATE + 1}", False)])
def test_rate_tests_by_name(name: str, allowed: bool) -> None:
    if allowed:
        t = cells.rate_tests([name], seconds=2)[0]
        assert (t.rate, t.seconds, t.warmup, t.budget_s) == (500, 2, 0.5, 5.5)
        assert t.load.argv("h", 1)[:6] == ["openloop", "-h", "h", "-p", "1", "-r"]
    else:
        with pytest.raises(BadInput):
            cells.rate_tests([name])


def test_profiles_pick_rates() -> None:
    assert [t.rate for t in cells.rate_tests(None, profile="quick")] == [100, 500]
    assert [t.rate for t in cells.rate_tests(None, profile="full")] == [100, 500, 1000, 2000]


# -- the wire, cgroups, anchors, pictures, exercises, provenance -------------------------------------------------

def _pcap(frames: list[bytes]) -> bytes:
    import struct

    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for f in frames:
        out += struct.pack("<IIII", 0, 0, len(f), len(f)) + f
    return out


def test_the_wire_analysis_finds_tls_records_tokens_and_the_tls_version() -> None:
    hello13 = b"\x16\x03\x03\x00\x7a\x02" + b"\x00" * 40 + b"\x00\x2b\x00\x02\x03\x04"
    cap = wire.analyze("mtls", _pcap([hello13, b"\x17\x03\x03\x00\x10" + b"x" * 16]), "TOKEN", [True, True], [])
    assert (cap.packets, cap.tls_records, cap.token_seen, cap.tls_versions, cap.complete) == (2, 1, False,
                                                                                            ("TLS 1.3",), True)
    plain = wire.analyze("plain", _pcap([b"GET /TOKEN HTTP/1.1"]), "TOKEN", [True, False], [])
    assert plain.token_seen and not plain.complete  # a request failed: the capture proves nothing
    assert not wire.analyze("empty", _pcap([]), "T", [True], []).complete


def test_cgroup_files_v1_and_v2() -> None:
    assert usage.parse_v1("2000000000\n", "104857600\n", "total_inactive_file 4857600\ncache 1\n") == \
        (2_000_000_000, 104857600, 100_000_000)
    assert usage.parse_v2("usage_usec 1500000\nuser_usec 1\n", "1000\n", "inactive_file 200\n") == \
        (1_500_000_000, 1000, 800)
    a, b = usage.Sample(0, 10.0, 0, 0, "host"), usage.Sample(500_000_000, 12.0, 0, 0, "host")
    assert usage.cores(a, b) == pytest.approx(0.25)


def test_ours_beside_the_anchors_says_when_nothing_valid_was_measured() -> None:
    summary = pd.DataFrame([
        {"cell": "none", "test": "rate-100", "metric": "lat_p50_us", "median": 300.0},
        {"cell": "envoy-mtls", "test": "rate-100", "metric": "lat_p50_us", "median": 3300.0},
        {"cell": "envoy-mtls", "test": "rate-100", "metric": "proxy_cpu_cores", "median": 0.03},
        {"cell": "envoy", "test": "rate-100", "metric": "lat_p50_us", "median": float("nan")}])
    table = anchors.beside(summary)
    mtls = table[table["what"] == "envoy-mtls at rate-100"].iloc[0]
    assert mtls["added_ms"] == pytest.approx(3.0) and mtls["cpu_cores"] == 0.03
    assert table[table["what"] == "envoy at rate-100"].iloc[0]["how_sure"].startswith("no valid repetition")
    assert {"Istio performance page (Istio 1.24)", "Istio performance page (Istio 1.13.4)"} <= set(table["source"])
    assert all(a["url"].startswith("https://") for a in anchors.ANCHORS)


def test_pictures_from_the_plan_and_of_each_kind_mesh() -> None:
    svg = picture.data_path(spec.MeshSpec(control="xds", mtls="strict")).render()
    assert svg.startswith("<svg") and "labkit-xds :18000" in svg and "mTLS 1.3" in svg and "plan" in svg
    assert "plaintext HTTP/1.1" in picture.data_path(spec.MeshSpec(mtls="off")).render()
    assert "ztunnel" in picture.kind_path("istio-ambient").render()
    assert "l5d-client-id" in picture.kind_path("linkerd").render()
    with pytest.raises(spec.UnknownMesh):
        picture.kind_path("envoy-sidecar")


class _FakeMesh:
    def __init__(self) -> None:
        self.pods = {"client": type("P", (), {"capture": "-A MESH_OUTPUT -m owner --uid-owner 1337 -j RETURN"})()}

    def pod(self, name: str) -> Any:
        return self.pods[name]


def test_exercises_check_answers_against_what_the_mesh_says() -> None:
    assert "uid-owner" in exercises.ask("uid")
    assert exercises.check("uid", 1337, _FakeMesh()).startswith("✓")
    assert exercises.check("uid", 0, _FakeMesh()).startswith("✗") and "1337" in exercises.check("uid", 0, _FakeMesh())
    with pytest.raises(BadInput):
        exercises.ask("nothing")


def test_provenance_says_what_is_not_verified_and_matches_the_pins_and_the_dockerfile() -> None:
    from labkit.versions import environments_dir, pins

    table = provenance.provenance_table()
    assert {"yes", "NO"} == set(table["verified"])
    pin = pins()["components"]["mesh"]["envoy"]
    dockerfile = (environments_dir() / "images" / "mesh-envoy" / "Dockerfile").read_text()
    for key in ("wheel_sha256", "binary_sha256"):
        assert pin[key] == provenance.ENVOY[key] and pin[key] in dockerfile
    assert provenance.ENVOY["wheel_url"] in dockerfile and pin["build"] == provenance.ENVOY["build"]


def test_errors_are_labkit_errors_with_fixes() -> None:
    err = spec.SidecarFailed("x-proxy", "cannot bind '0.0.0.0:15001'")
    assert isinstance(err, LabkitError) and "cannot bind" in err.message and err.fix


def test_a_warm_up_as_long_as_the_run_is_refused_and_an_empty_distribution_is_not_a_figure() -> None:
    with pytest.raises(spec.MeshError, match="warm-up"):
        loadgen.Load(50, seconds=1.0, warmup=1.0)
    empty = _run("ok") | {"latency_ms": {"n": 0, "p50": None, "p99": None, "p999": None}}
    with pytest.raises(spec.MeshError, match="no request was measured"):
        loadgen.check(empty, limit_ms=1000)


def test_a_static_mesh_refuses_live_changes_and_a_bad_split_is_refused() -> None:
    from labkit.components.mesh.mesh import Mesh, parse_call

    static = Mesh(spec.MeshSpec(versions=2), "p", "n", pki.mesh_pki(["client"]))
    with pytest.raises(spec.MeshError, match="static") as err:
        static.split({"server-v1": 50, "server-v2": 50})
    assert "control='xds'" in (err.value.fix or "")
    dynamic = Mesh(spec.MeshSpec(versions=2, control="file"), "p", "n", pki.mesh_pki(["client"]))
    for bad in ({"server-v3": 100}, {"server-v1": 0, "server-v2": 0}, {"server-v1": -1, "server-v2": 2}):
        with pytest.raises(spec.MeshError, match="bad split"):
            dynamic.split(bad)
    with pytest.raises(spec.MeshError, match="retry count"):
        dynamic.retries(11)
    call = parse_call(json.dumps({"ok": True, "status": 200, "body": json.dumps({
        "service": "server", "version": "v2", "headers": {"x-forwarded-client-cert": "By=a;Hash=b;URI=spiffe://x/sa/c"}})}))
    assert (call.served_by, call.identity) == ("server-v2", "spiffe://x/sa/c")
    assert parse_call("").error == "the probe printed nothing"


def test_the_public_names_resolve_and_the_component_is_registered() -> None:
    import labkit
    from labkit import mesh
    from labkit.components import NAMES, get

    assert labkit.PUBLIC["mesh"] == "labkit.components.mesh" and "mesh" in NAMES and get("mesh").up_flag == "mesh"
    package = __import__("labkit.components.mesh", fromlist=["_EXPORTS"])
    for name in (*package._EXPORTS, *package._MODULES):
        assert getattr(mesh, name) is not None, name
    assert [s.name for s in get("mesh").suites()] == ["mesh"]
