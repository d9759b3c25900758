"""The engine-tier mesh: client → server (v1, optionally v2) with Envoy sidecars, mTLS, and a control plane.

>>> with docker.Scope() as scope:                                   # doctest: +SKIP
...     m = Mesh.up(scope, MeshSpec(control="xds", versions=2))
...     m.call().identity                                          # 'spiffe://labkit.local/ns/default/sa/client'
...     m.split({"server-v1": 50, "server-v2": 50})                # labkit-xds pushes it; Applied(seconds=1.1, …)

Everything is made in the caller's :class:`~labkit.docker.Scope` (labelled, removed with it). Servers start
first: their IPs go into the callers' ``/etc/hosts`` and into the sidecars' clusters, never through Docker's
embedded DNS (shared daemon state that another user's ``docker swarm leave`` can empty: moby/moby#45144).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import docker
from labkit.components.mesh import envoy, pki, pods
from labkit.components.mesh.identity import spiffe_id
from labkit.components.mesh.spec import MeshError, MeshSpec
from labkit.log import log

ROLE_XDS = "mesh-xds"
XDS_MOUNT = "/opt/labkit-mesh"
RELOADS = "http.outbound.rds.outbound.config_reload"


@dataclass(frozen=True)
class Call:
    """One request from a workload, through its sidecar, as the caller saw it."""

    ok: bool
    status: int | None
    served_by: str = ""
    identity: str = ""  # the caller's SPIFFE ID as the server's app saw it (x-forwarded-client-cert URI=)
    xfcc: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Applied:
    """A control-plane change and how long until the caller's sidecar had applied it."""

    what: str
    via: str  # file | xds
    seconds: float


def parse_call(probe_json: str) -> Call:
    """A :class:`Call` from ``probe.py``'s JSON line (the echo app's reply is JSON with the request headers)."""
    r = json.loads(probe_json) if probe_json.strip() else {"ok": False, "error": "the probe printed nothing"}
    body: dict[str, Any] = {}
    if r.get("ok"):
        try:
            body = json.loads(r.get("body") or "{}")
        except ValueError:
            body = {}
    xfcc = str(body.get("headers", {}).get("x-forwarded-client-cert", ""))
    uri = next((part[4:] for part in xfcc.split(";") if part.startswith("URI=")), "")
    served = f"{body.get('service')}-{body.get('version')}" if body else ""
    return Call(bool(r.get("ok")), r.get("status"), served, uri, xfcc, r.get("error"))


@dataclass
class Mesh:
    """A running engine-tier mesh: its pods by workload name, its network, its PKI and its control plane."""

    spec: MeshSpec
    prefix: str
    network: str
    pki: pki.MeshPki
    pods: dict[str, pods.Pod] = field(default_factory=dict)
    xds: Any = None
    xds_port: int | None = None
    ready_s: dict[str, float] = field(default_factory=dict)
    routing: dict[str, Any] = field(default_factory=dict)  # what the callers' routes say now: split, retries

    # -- bring it up -------------------------------------------------------------------------------------
    @classmethod
    def up(cls, scope: docker.Scope, spec: MeshSpec | None = None, *, prefix: str | None = None,
           xds_port: int | None = None) -> Mesh:
        """Create the mesh in ``scope``: network, PKI, labkit-xds (control ``xds``), servers, then callers.

        ``xds_port`` publishes labkit-xds's operator API on that port of 127.0.0.1 (default: any free port)."""
        spec = spec or MeshSpec()
        prefix = prefix or f"lk-{scope.session}-mesh"
        app_image, proxy_image = pods.images()
        net = scope.network(f"{prefix}-net").name
        services = sorted({svc for _, svc, _ in spec.workloads()})
        m = cls(spec, prefix, net, pki.mesh_pki(services), routing={"split": dict(spec.split), "retries": 0})
        if spec.control == "xds":
            m._start_xds(scope, app_image, xds_port)
        for name, service, version in spec.workloads():
            m._start_pod(scope, app_image, proxy_image, name, service, version)
        if m.xds is not None:
            m.xds_post("/labkit/endpoints", {n: [p.ip] for n, p in m.pods.items() if p.service == "server"})
        for pod in m.pods.values():
            m.ready_s[pod.name] = round(pods.wait_ready(pod), 3)
        for pod in m.callers():
            pods.wait_upstreams(pod, list(spec.split))
        log(f"✓ mesh {prefix}: {', '.join(m.pods)} with sidecars (mTLS {spec.mtls}, TLS {spec.tls}, "
            f"control {spec.control})")
        return m

    def _start_pod(self, scope: docker.Scope, app_image: str, proxy_image: str, name: str, service: str,
                   version: str) -> None:
        servers = {n: p.ip for n, p in self.pods.items() if p.service == "server"}
        hosts = {} if service == "server" else {"server": servers["server-v1"], **servers}
        env = {"FAIL_RATE": str(self.spec.fail_rate)} if version == "v2" else {}
        pod = pods.start_app(scope, app_image, prefix=self.prefix, name=name, service=service, version=version,
                             network=self.network, hosts=hosts, env=env)
        self.pods[name] = pod
        pods.capture_traffic(scope, proxy_image, pod)
        extra = {envoy.ROUTES_FILE: self.routes_file(self.spec.split, 0, "1")} if self.spec.control == "file" else None
        pods.start_sidecar(scope, proxy_image, pod, bundle=self.pki.bundle(service), bootstrap=self.bootstrap(pod),
                           concurrency=self.spec.concurrency, extra=extra)

    def bootstrap(self, pod: pods.Pod) -> dict[str, Any]:
        """The Envoy bootstrap of ``pod``'s sidecar (servers accept only ``client``; callers require ``server``)."""
        allowed = [spiffe_id("client")] if pod.service == "server" else [spiffe_id("server")]
        endpoints = {n: [p.ip] for n, p in self.pods.items() if p.service == "server"}
        return envoy.bootstrap(pod.service, node=f"{pod.name}-sidecar", mtls=self.spec.mtls_on, allowed_clients=allowed,
                               server_id=spiffe_id("server"), control=self.spec.control, split=self.spec.split,
                               endpoints=endpoints, tls=self.spec.tls,
                               xds_address=docker.ip_on(self.xds, self.network) if self.xds is not None else None)

    def _start_xds(self, scope: docker.Scope, image: str, port: int | None = None) -> None:
        """labkit-xds, labkit's own control plane, in a container of the app image (its code mounted read-only)."""
        env = {"XDS_SPLIT": json.dumps(self.spec.split), "XDS_MTLS": "1" if self.spec.mtls_on else "0",
               "XDS_TLS": self.spec.tls, "XDS_HOST": "server", "PYTHONDONTWRITEBYTECODE": "1"}
        self.xds = scope.container(image, name=f"{self.prefix}-labkit-xds", role=ROLE_XDS, network=self.network,
                                   command=["python3", f"{XDS_MOUNT}/xds_server.py"], environment=env,
                                   volumes={str(Path(__file__).resolve().parent): {"bind": XDS_MOUNT, "mode": "ro"}},
                                   ports={f"{envoy.XDS_PORT}/tcp": ("127.0.0.1", port)})
        self.xds_port = int(docker.attrs(self.xds)["NetworkSettings"]["Ports"][f"{envoy.XDS_PORT}/tcp"][0]["HostPort"])
        t0 = time.monotonic()
        while True:
            try:
                self.xds_state()
                return
            except OSError as exc:
                if not docker.is_running(self.xds) or time.monotonic() - t0 > 20:
                    raise MeshError(f"labkit-xds did not start: {exc}; its log: "
                                    f"{docker.logs(self.xds, tail=10).strip()[-500:]}") from exc
                time.sleep(0.1)

    # -- look at it ---------------------------------------------------------------------------------------
    def callers(self) -> list[pods.Pod]:
        return [p for p in self.pods.values() if p.service != "server"]

    def pod(self, name: str) -> pods.Pod:
        if name not in self.pods:
            raise MeshError(f"no workload {name!r} in this mesh: {', '.join(self.pods)}")
        return self.pods[name]

    def call(self, frm: str = "client", *, path: str = "/whoami", host: str = "server",
             port: int = envoy.APP_PORT) -> Call:
        """One request from workload ``frm``'s app to ``host:port`` (through its sidecar, if the mesh captures it)."""
        res = docker.exec_in(self.pod(frm).app, ["python3", "/opt/labkit/probe.py", host, str(port), "--path", path],
                             timeout=15, quiet=True)
        return parse_call(res.stdout or json.dumps({"ok": False, "error": res.stderr.strip()[-300:]}))

    def stats(self, workload: str, regex: str) -> dict[str, int]:
        return pods.stats(self.pod(workload), regex)

    def observe(self, frm: str = "client", *, seconds: float = 2.0, interval_ms: float = 5.0) -> dict[str, Any]:
        """Requests in a loop from ``frm``: the share served by each version, statuses, the error rate."""
        res = docker.exec_in(self.pod(frm).app, ["python3", "/opt/labkit/splitwatch.py", "server",
                                                 str(envoy.APP_PORT), str(seconds), str(interval_ms)],
                             timeout=seconds + 30, quiet=True)
        rows = json.loads(res.stdout or "[]")
        n = len(rows)
        by, status = Counter(r[2] for r in rows), Counter(r[1] for r in rows)
        return {"requests": n, "share": {k: round(v / n, 3) for k, v in sorted(by.items())} if n else {},
                "status": {str(k): v for k, v in sorted(status.items())},
                "error_rate": round(1 - status.get(200, 0) / n, 4) if n else None}

    def prometheus_targets(self) -> list[dict[str, Any]]:
        """Every sidecar's ``/stats/prometheus`` as a scrape target (chapter 05's Prometheus takes these).

        ``address`` is on the mesh network (connect Prometheus to ``network``); ``host_address`` is the admin
        port published on 127.0.0.1 (for a Prometheus on the host)."""
        return [{"job": "envoy-sidecars", "address": f"{p.ip}:{envoy.ADMIN_PORT}", "path": "/stats/prometheus",
                 "labels": {"mesh": self.prefix, "workload": p.name}, "network": self.network,
                 "host_address": f"127.0.0.1:{p.admin_port}"} for p in self.pods.values() if p.sidecar is not None]

    def scrape(self, workload: str = "client") -> str:
        """What Prometheus gets from ``workload``'s sidecar: ``/stats/prometheus`` (text exposition)."""
        return pods.admin_get(self.pod(workload), "/stats/prometheus")

    def scrape_config(self) -> dict[str, Any]:
        """The Prometheus ``scrape_configs`` entry for :meth:`prometheus_targets`."""
        return {"job_name": "envoy-sidecars", "metrics_path": "/stats/prometheus", "static_configs": [
            {"targets": [t["address"]], "labels": t["labels"]} for t in self.prometheus_targets()]}

    # -- the control plane --------------------------------------------------------------------------------
    def xds_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.xds_port is None:
            raise MeshError("this mesh has no labkit-xds (control is not 'xds')")
        req = urllib.request.Request(f"http://127.0.0.1:{self.xds_port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - 127.0.0.1 only
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            raise MeshError(f"labkit-xds refused {path}: {exc.read().decode()[:300]}") from exc

    def xds_state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.xds_port}/labkit/state", timeout=2) as resp:  # noqa: S310
            return dict(json.loads(resp.read()))

    @staticmethod
    def routes_file(split: dict[str, int], retries: int, version: str) -> bytes:
        """A watched routes file: a DiscoveryResponse holding the outbound RouteConfiguration."""
        return json.dumps(envoy.discovery_response(version, envoy.ROUTE_TYPE, [
            envoy.route_config("server", split, retries=retries)])).encode()

    def _apply(self, what: str, change: Callable[[], None], *, timeout: float = 15.0) -> Applied:
        """Run ``change`` and wait until the first caller's sidecar reloaded its routes (its RDS counter moved)."""
        first = self.callers()[0]
        before = pods.stats(first, f"^{RELOADS}$").get(RELOADS, 0)
        change()
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if pods.stats(first, f"^{RELOADS}$").get(RELOADS, 0) > before:
                return Applied(what, self.spec.control, round(time.monotonic() - t0, 4))
            time.sleep(0.01)
        raise MeshError(f"{what}: the sidecar of {first.name} did not reload its routes within {timeout:g} s")

    def _file_change(self, split: dict[str, int], retries: int) -> Callable[[], None]:
        version = str(int(time.time() * 1000))
        data = self.routes_file(split, retries, version)

        def change() -> None:  # write aside, then rename inside the sidecar: Envoy sees one complete file
            for pod in self.callers():
                docker.put_archive(pod.sidecar, envoy.DYN_DIR, pods._stream(
                    pki.tar({".rds.json.tmp": data}, uid=pods.PROXY_UID)))
                res = docker.exec_in(pod.sidecar, ["mv", f"{envoy.DYN_DIR}/.rds.json.tmp",
                                                   f"{envoy.DYN_DIR}/{envoy.ROUTES_FILE}"], timeout=10, quiet=True)
                if res.returncode != 0:
                    raise MeshError(f"could not replace the routes file in {pod.sidecar.name}: {res.stderr.strip()}")
        return change

    def split(self, weights: dict[str, int]) -> Applied:
        """Send ``weights`` of the traffic to each version (``{"server-v1": 90, "server-v2": 10}``), live."""
        self._require_dynamic(f"split {weights}")
        unknown = set(weights) - set(self.spec.split)
        if unknown or not weights or sum(weights.values()) <= 0 or min(weights.values()) < 0:
            raise MeshError(f"bad split {weights}: non-negative weights for {', '.join(self.spec.split)}, not all 0")
        self.routing["split"] = dict(weights)
        return self._change(f"split {weights}", "/labkit/split", weights)

    def retries(self, n: int) -> Applied:
        """Retry failed requests (5xx, reset, connect failure) up to ``n`` times, live (0: off)."""
        self._require_dynamic(f"retries {n}")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10:
            raise MeshError(f"bad retry count {n!r}: a whole number from 0 to 10")
        self.routing["retries"] = n
        return self._change(f"retries {n}", "/labkit/retries", {"num_retries": n})

    def _require_dynamic(self, what: str) -> None:
        if self.spec.control == "static":
            raise MeshError(f"{what}: this mesh's routes are static (inline in the bootstrap): a change needs new "
                            "sidecars", fix="bring the mesh up with control='file' or control='xds'")

    def _change(self, what: str, path: str, body: dict[str, Any]) -> Applied:
        if self.spec.control == "file":
            return self._apply(what, self._file_change(self.routing["split"], self.routing["retries"]))
        return self._apply(what, lambda: self.xds_post(path, body) and None)
