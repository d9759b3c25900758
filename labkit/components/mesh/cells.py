"""The mesh's bench suite on the Docker engine: the latency and resource tax of a proxy at fixed request rates.

==============  ===========================================================  =========  ==========
cell            path of one request                                          proxies    baseline
==============  ===========================================================  =========  ==========
``floor``       generator → HAProxy answering itself (no app)                -          (the floor)
``none``        client app → server app                                      0          -
``haproxy``     client → HAProxy → HAProxy → app (explicit, no TLS)          2          none
``envoy``       client → iptables → Envoy → Envoy → app (no TLS)             2          none
``envoy-mtls``  the same with mTLS 1.3 (ECDSA P-256)                         2          none
==============  ===========================================================  =========  ==========

Tests are rates (``rate-100`` … ``rate-2000``): ``openloop`` runs inside the client's app container (its CPU is
charged there, not to a proxy), open-loop, latency from the intended send time. Each repetition stores p50,
p99, p99.9, the achieved rate, the generator's own loop lag, and CPU cores and working-set memory **per proxy**
(the mean over the path's proxies, from their cgroups). A repetition whose generator could not keep the
schedule is stored as failed with "unavailable: why", never as a figure; one whose requests failed (a sidecar
killed mid-run) is stored as failed with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit import docker
from labkit.bench.cells import Cell, Measurement
from labkit.components.mesh import baseline, loadgen, usage
from labkit.components.mesh.mesh import Mesh
from labkit.components.mesh.spec import MeshSpec
from labkit.errors import BadInput, Unavailable
from labkit.log import log

SUITE = "mesh"
NO_IMPAIR = "a mesh cell's tax is measured as it is; the faults (a killed sidecar) are mesh.faults"
RATES = (100, 500, 1000, 2000)
PROFILE_RATES = {"quick": (100, 500), "full": RATES}
PROFILE_SECONDS = {"quick": 3.0, "full": 10.0}
ENVOY_VERSION = "1.40.0"


def _cell(name: str, description: str, baseline_cell: str | None, level: str | None, path: str,
          config: dict[str, Any] | None = None) -> Cell:
    return Cell(SUITE, name, description, baseline_cell, level, placement="same-host", path=path,
                component=f"mesh-{name}", config=config or {}, no_impair=NO_IMPAIR)


CELLS: dict[str, Cell] = {
    "floor": _cell("floor", "the generator's floor: HAProxy answering itself, no app", None, "M0",
                   "client>haproxy(return)"),
    "none": _cell("none", "no proxy: client app to server app", None, "M1", "client>server"),
    "haproxy": _cell("haproxy", "HAProxy 2.6 on each side, addressed explicitly, no TLS", "none", None,
                     "client>haproxy>haproxy>server", {"version": "2.6 (Debian bookworm)"}),
    "envoy": _cell("envoy", "Envoy sidecars, iptables capture, no TLS", "none", None,
                   "client>iptables>envoy>envoy>server", {"version": ENVOY_VERSION, "mtls": "off"}),
    "envoy-mtls": _cell("envoy-mtls", "Envoy sidecars, iptables capture, mTLS 1.3", "none", None,
                        "client>iptables>envoy>mTLS>envoy>server", {"version": ENVOY_VERSION, "mtls": "strict"}),
}


@dataclass(frozen=True)
class RateTest:
    """Open-loop load at ``rate`` requests/s for ``seconds`` (plus a 1 s warm-up not counted)."""

    name: str
    rate: int
    seconds: float
    warmup: float = 1.0
    conns: int = 32

    @property
    def budget_s(self) -> float:
        return self.seconds + self.warmup + 3

    @property
    def load(self) -> loadgen.Load:
        return loadgen.Load(self.rate, self.seconds, self.warmup, self.conns)

    def scenario(self, **_: Any) -> dict[str, Any]:
        return {"tool": "labkit-openloop", "test": self.name, "protocol": "http/1.1", "streams_or_numjobs": self.conns,
                "msg_size_or_bs": None, "duration_s": self.seconds, "ramp_s": self.warmup}


def rate_tests(names: list[str] | None, *, profile: str = "quick", seconds: float | None = None) -> list[RateTest]:
    # the warm-up (not measured) is 1 s, or a quarter of a shorter run
    """Tests by name (``rate-500``; any whole rate up to loadgen.MAX_RATE), or the profile's rates."""
    secs = seconds or PROFILE_SECONDS.get(profile, 3.0)
    chosen = names or [f"rate-{r}" for r in PROFILE_RATES.get(profile, PROFILE_RATES["quick"])]
    out = []
    for name in chosen:
        rate = name[5:] if name.startswith("rate-") else ""
        if not rate.isdigit() or not 0 < int(rate) <= loadgen.MAX_RATE:
            raise BadInput("mesh test", name, f"rate-<requests per second>, 1 to {loadgen.MAX_RATE} "
                           f"(the profiles use {', '.join(f'rate-{r}' for r in RATES)})")
        out.append(RateTest(name, int(rate), secs, warmup=min(1.0, secs / 4)))
    return out


@dataclass
class MeshSession:
    """One open cell: where the generator runs and calls, and which containers are its proxies."""

    cell: Cell
    client: Any
    host: str
    port: int
    proxies: list[Any] = field(default_factory=list)
    path: list[Any] = field(default_factory=list)  # every container the request passes

    def measure(self, test: RateTest, *, timeout: float, quiet: bool = False) -> Measurement:
        before = [usage.sample(p) for p in self.proxies]
        out = loadgen.run(self.client, self.host, self.port, test.load, timeout=timeout)
        after = [usage.sample(p) for p in self.proxies]
        loadgen.check(out, test.load.max_lag_ms)
        m = loadgen.metrics(out)
        if self.proxies:
            used = [usage.cores(b, a) for b, a in zip(before, after, strict=True)]
            m["proxy_cpu_cores"] = sum(used) / len(used)
            m["proxy_mem_mib"] = sum(a.working_set for a in after) / len(after) / 2**20
        mtls = " over mTLS 1.3" if self.cell.name == "envoy-mtls" else ""
        return Measurement(m, f"openloop (mesh-app {_tag()})", {"path": self.cell.path, "protocol": "http/1.1" + mtls})

    def alive(self) -> str | None:
        """Why the path is broken (a container of it is not running), else None."""
        for box in self.path:
            if not docker.is_running(box):
                state = docker.attrs(box).get("State", {}) if docker.container(box.id) is not None else {}
                how = f"exit code {state.get('ExitCode')}" + (", OOM-killed" if state.get("OOMKilled") else "") \
                    if state else "removed"
                return f"{box.name} is not running ({how}): the path through it is broken"
        return None

    def impair(self, spec: Any, *, calibrate: Any = None) -> str:
        raise Unavailable(f"cannot impair cell {self.cell.name}: {NO_IMPAIR}")


def _tag() -> str:
    from labkit import images

    return images.ref("mesh-app").split(":")[-1]


_BASELINES: dict[str, baseline.Baseline] = {}  # one no-proxy topology per run (scope session), shared by its cells


def open_cell(name: str, scope: docker.Scope, ctx: Any) -> MeshSession:
    """Set up one cell in ``scope``: the baseline pair (shared by floor, none, haproxy) or its own mesh."""
    cell = CELLS[name]
    if name in baseline.PATHS:
        if scope.session not in _BASELINES:
            _BASELINES[scope.session] = baseline.up(scope, prefix=f"lk-{scope.session}-base")
        b = _BASELINES[scope.session]
        host, port = b.target(name)
        proxies = [] if name in ("floor", "none") else [b.proxies["client"], b.proxies["server"]]
        session = MeshSession(cell, b.client.app, host, port, proxies, b.containers(name))
    else:
        mtls = "strict" if name == "envoy-mtls" else "off"
        m = Mesh.up(scope, MeshSpec(mtls=mtls), prefix=f"lk-{scope.session}-{name}")
        client, server = m.pod("client"), m.pod("server-v1")
        session = MeshSession(cell, client.app, "server", 8080, [client.sidecar, server.sidecar],
                              [client.app, client.sidecar, server.app, server.sidecar])
    log(f"✓ cell {name}: {cell.description}")
    return session
