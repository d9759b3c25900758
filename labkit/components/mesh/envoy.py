"""Envoy configuration for the engine-tier sidecar (Envoy v3 API, checked with ``envoy --mode validate`` 1.40.0).

One sidecar has two listeners, as Istio's have:

* **outbound** ``0.0.0.0:15001`` — the app's outgoing TCP, sent here by iptables (OUTPUT → REDIRECT). The
  ``original_dst`` listener filter restores where the app meant to go; the HTTP connection manager routes on
  the Host header (the service name) to one cluster per version, weighted (the traffic split), with a retry
  policy; anything else passes through to its original destination.
* **inbound** ``0.0.0.0:15006`` — TCP arriving from outside (PREROUTING → REDIRECT). With mTLS its only filter
  chain requires TLS (``tls_inspector`` + ``transport_protocol: tls``), a client certificate from the lab CA and
  an allowed peer SPIFFE ID (URI SAN); plaintext matches no chain and is closed. The connection manager puts
  the verified peer ID into ``x-forwarded-client-cert`` for the app.
* **admin** ``0.0.0.0:15000`` — ``/stats/prometheus``, ``/ready``, ``/config_dump``; never captured by iptables.

TLS 1.3 is pinned on both sides: Envoy's client side allows at most TLS 1.2 by default, and under TLS 1.2 the
certificates (so both SPIFFE IDs) cross the wire in clear (the prototype's capture showed ``spiffe://`` in it).

Where the outbound routes and clusters come from (the *control plane*): ``static`` (inline), ``file`` (a
watched directory: swap a file to change the split) or ``xds`` (labkit-xds, polled over REST-JSON).

Standard library only: labkit-xds (``xds_server.py``) imports this inside its container.
"""

from __future__ import annotations

from typing import Any

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
ORIGINAL_DST = {"name": "envoy.filters.listener.original_dst", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}}
TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}
UP_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
DOWN_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
CLA_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

MESH_DIR = "/etc/mesh"
CERT_DIR, BOOT_DIR, DYN_DIR = f"{MESH_DIR}/certs", f"{MESH_DIR}/boot", f"{MESH_DIR}/dyn"
ADMIN_PORT, OUTBOUND_PORT, INBOUND_PORT = 15000, 15001, 15006
APP_PORT, XDS_PORT = 8080, 18000
XDS_CLUSTER = "labkit-xds"
TLS_VERSIONS = {"1.2": "TLSv1_2", "1.3": "TLSv1_3"}
CONTROLS = ("static", "file", "xds")
ROUTES_FILE = "rds.json"


def _addr(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _tls_common(peer_ids: list[str], tls: str) -> dict[str, Any]:
    version = TLS_VERSIONS[tls]
    return {
        "tls_params": {"tls_minimum_protocol_version": version, "tls_maximum_protocol_version": version},
        "tls_certificates": [{"certificate_chain": {"filename": f"{CERT_DIR}/tls.crt"},
                              "private_key": {"filename": f"{CERT_DIR}/tls.key"}}],
        "validation_context": {
            "trusted_ca": {"filename": f"{CERT_DIR}/ca.crt"},
            # the peer must present one of these SPIFFE IDs as a URI SAN
            "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": p}} for p in peer_ids],
        },
    }


def upstream_tls(server_id: str, tls: str = "1.3") -> dict[str, Any]:
    """The client side of mTLS: present our certificate, require the server's SPIFFE ID."""
    return {"name": "envoy.transport_sockets.tls",
            "typed_config": {"@type": UP_TLS, "common_tls_context": _tls_common([server_id], tls)}}


def downstream_tls(allowed_clients: list[str], tls: str = "1.3") -> dict[str, Any]:
    """The server side of mTLS: require a client certificate from the lab CA with an allowed SPIFFE ID."""
    return {"name": "envoy.transport_sockets.tls",
            "typed_config": {"@type": DOWN_TLS, "require_client_certificate": True,
                             "common_tls_context": _tls_common(allowed_clients, tls)}}


def route_config(host: str, split: dict[str, int], *, retries: int = 0, port: int = APP_PORT,
                 timeout: str = "5s") -> dict[str, Any]:
    """Outbound routes: Host ``host[:port]`` → ``split`` (cluster → weight); any other host passes through."""
    route: dict[str, Any] = {"timeout": timeout}
    if len(split) == 1:
        route["cluster"] = next(iter(split))
    else:
        route["weighted_clusters"] = {"clusters": [{"name": c, "weight": w} for c, w in split.items()]}
    if retries > 0:
        route["retry_policy"] = {"retry_on": "5xx,reset,connect-failure", "num_retries": retries}
    return {"@type": ROUTE_TYPE, "name": "outbound", "virtual_hosts": [
        {"name": host, "domains": [host, f"{host}:{port}"], "routes": [{"match": {"prefix": "/"}, "route": route}]},
        {"name": "passthrough", "domains": ["*"],
         "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "passthrough"}}]}]}


def upstream_cluster(name: str, *, server_id: str, mtls: bool, addresses: list[str] | None = None,
                     eds: dict[str, Any] | None = None, port: int = APP_PORT, tls: str = "1.3") -> dict[str, Any]:
    """One version of a remote service: its endpoints STATIC by IP (or from EDS), mTLS to its sidecar.

    Endpoints are IPs, not names: Docker's embedded DNS is shared daemon state, and another user's
    ``docker swarm leave`` empties it for every existing bridge network (moby/moby#45144)."""
    c: dict[str, Any] = {"name": name, "connect_timeout": "1s"}
    if eds is not None:
        c.update({"type": "EDS", "eds_cluster_config": {"eds_config": eds}})
    else:
        c.update({"type": "STATIC", "load_assignment": {"cluster_name": name, "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": _addr(a, port)}} for a in (addresses or [])]}]}})
    if mtls:
        c["transport_socket"] = upstream_tls(server_id, tls)
    return c


def rest_source(refresh: str = "1s") -> dict[str, Any]:
    """Fetch resources from labkit-xds over REST-JSON, polled every ``refresh``."""
    return {"resource_api_version": "V3",
            "api_config_source": {"api_type": "REST", "transport_api_version": "V3", "cluster_names": [XDS_CLUSTER],
                                  "refresh_delay": refresh, "request_timeout": "1s"}}


def file_source(filename: str = ROUTES_FILE) -> dict[str, Any]:
    """Read resources from a file in a watched directory (replace it by rename to change them)."""
    return {"resource_api_version": "V3",
            "path_config_source": {"path": f"{DYN_DIR}/{filename}", "watched_directory": {"path": DYN_DIR}}}


def _hcm(stat_prefix: str, routes: dict[str, Any], *, xfcc: bool = False) -> dict[str, Any]:
    cfg: dict[str, Any] = {"@type": HCM_TYPE, "stat_prefix": stat_prefix, "http_filters": [ROUTER], **routes}
    if xfcc:  # the app learns who called: the verified peer SPIFFE ID, set by this sidecar (never trusted from outside)
        cfg["forward_client_cert_details"] = "SANITIZE_SET"
        cfg["set_current_client_cert_details"] = {"uri": True}
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": cfg}


def _inbound_chain(mtls: bool, allowed_clients: list[str], tls: str, app_port: int) -> dict[str, Any]:
    routes = {"route_config": {"name": "inbound", "virtual_hosts": [{"name": "local", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": "local_app", "timeout": "30s"}}]}]}}
    chain: dict[str, Any] = {"filters": [_hcm("inbound", routes, xfcc=mtls)]}
    if mtls:
        chain["filter_chain_match"] = {"transport_protocol": "tls"}
        chain["transport_socket"] = downstream_tls(allowed_clients, tls)
    return chain


def bootstrap(service: str, *, node: str, mtls: bool, allowed_clients: list[str], server_id: str,
              control: str = "static", remote_host: str = "server", split: dict[str, int] | None = None,
              endpoints: dict[str, list[str]] | None = None, xds_address: str | None = None, tls: str = "1.3",
              app_port: int = APP_PORT) -> dict[str, Any]:
    """The whole bootstrap for the sidecar of one workload of ``service``.

    ``allowed_clients``: SPIFFE IDs accepted inbound; ``server_id``: the ID required of ``remote_host`` outbound;
    ``split``: {cluster: weight} for ``remote_host``; ``endpoints``: {cluster: [IP]} (static and file modes);
    ``xds_address``: labkit-xds's IP (xds mode)."""
    if control not in CONTROLS:
        raise ValueError(f"unknown control plane {control!r}: choose {', '.join(CONTROLS)}")
    if tls not in TLS_VERSIONS:
        raise ValueError(f"unknown TLS version {tls!r}: choose {', '.join(TLS_VERSIONS)}")
    split = split or {f"{remote_host}-v1": 100}
    endpoints = endpoints or {}
    if control == "static":
        inline = {k: v for k, v in route_config(remote_host, split, port=app_port).items() if k != "@type"}
        outbound_routes: dict[str, Any] = {"route_config": inline}
    else:
        source = file_source() if control == "file" else rest_source()
        outbound_routes = {"rds": {"route_config_name": "outbound", "config_source": source}}
    clusters: list[dict[str, Any]] = [
        {"name": "local_app", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
            "cluster_name": "local_app", "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": _addr("127.0.0.1", app_port)}}]}]}},
        {"name": "passthrough", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "1s"},
    ]
    boot: dict[str, Any] = {"node": {"id": node, "cluster": service},
                            "admin": {"address": _addr("0.0.0.0", ADMIN_PORT)}}
    if control == "xds":
        if not xds_address:
            raise ValueError("control 'xds' needs xds_address (labkit-xds's IP)")
        clusters.append({"name": XDS_CLUSTER, "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
            "cluster_name": XDS_CLUSTER, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": _addr(xds_address, XDS_PORT)}}]}]}})
        boot["dynamic_resources"] = {"cds_config": rest_source()}
    else:
        clusters += [upstream_cluster(name, server_id=server_id, mtls=mtls, addresses=endpoints.get(name),
                                      port=app_port, tls=tls) for name in split]
    boot["static_resources"] = {
        "listeners": [
            {"name": "outbound", "address": _addr("0.0.0.0", OUTBOUND_PORT), "listener_filters": [ORIGINAL_DST],
             "filter_chains": [{"filters": [_hcm("outbound", outbound_routes)]}]},
            {"name": "inbound", "address": _addr("0.0.0.0", INBOUND_PORT),
             "listener_filters": [ORIGINAL_DST, TLS_INSPECTOR],
             "filter_chains": [_inbound_chain(mtls, allowed_clients, tls, app_port)]},
        ],
        "clusters": clusters,
    }
    return boot


def discovery_response(version: str, type_url: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """What a watched file and a REST xDS reply both contain: the full current set of one resource type."""
    return {"version_info": version, "type_url": type_url,
            "resources": [{"@type": type_url, **{k: v for k, v in r.items() if k != "@type"}} for r in resources]}
