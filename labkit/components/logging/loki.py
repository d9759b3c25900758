"""LogQL from Python: Loki's HTTP API into a DataFrame, on any cluster.

Two ways in, both ordinary: the API server's *service proxy* (``kubectl get --raw
/api/v1/namespaces/logging/services/loki:3100/proxy/loki/api/v1/query_range?...``: no port-forward
process, works with any kubeconfig allowed to ``get services/proxy``), or a URL (after ``kubectl -n
logging port-forward svc/loki 3100:3100``, or a Loki you run elsewhere).

API: https://github.com/grafana/loki/blob/v3.7.6/docs/sources/reference/loki-http-api.md (query_range
L462-L533: ``start``/``end`` are nanosecond epochs, ``limit`` defaults to 100, ``direction`` to backward).

>>> loki = Loki.on(KubeTarget.for_kind("labkit"))                          # doctest: +SKIP
>>> loki.query_range('{namespace="default"} |= "error"')                   # ts, line, and one column per label
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit._run import Runner, default_runner
from labkit.errors import BadInput, LabkitError

if TYPE_CHECKING:
    import pandas as pd

    from labkit.targets.kube import KubeTarget

API = "https://github.com/grafana/loki/blob/v3.7.6/docs/sources/reference/loki-http-api.md"
NAMESPACE, SERVICE, PORT = "logging", "loki", 3100


def proxy_path(namespace: str = NAMESPACE, service: str = SERVICE, port: int = PORT) -> str:
    """The API server's proxy to Loki's HTTP port."""
    return f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy"


def query_string(params: dict[str, Any]) -> str:
    return urllib.parse.urlencode({k: str(v) for k, v in params.items() if v is not None})


def range_params(logql: str, *, start_ns: int | None = None, end_ns: int | None = None, limit: int = 100,
                 direction: str = "forward") -> dict[str, Any]:
    if not isinstance(logql, str) or not logql.strip().startswith("{"):
        raise BadInput("LogQL query", logql, 'a stream selector first, e.g. {namespace="default"} |= "error"')
    if direction not in ("forward", "backward"):
        raise BadInput("direction", direction, "forward, backward")
    if not isinstance(limit, int) or limit < 1:
        raise BadInput("limit", limit, "a whole number, 1 or more (Loki's default is 100)")
    return {"query": logql, "start": start_ns, "end": end_ns, "limit": limit, "direction": direction}


def parse(body: str | dict[str, Any]) -> pd.DataFrame:
    """A query or query_range response as a DataFrame.

    ``streams``: one row per log line (``ts``, ``line``, one column per stream label); ``vector``/``matrix``:
    one row per sample (``ts``, ``value``, labels). An error answer raises with Loki's own message."""
    import pandas as pd

    doc = json.loads(body) if isinstance(body, str) else body
    if doc.get("status") != "success":
        raise LabkitError(f"Loki answered {doc.get('status')!r}: {doc.get('error') or doc.get('message') or doc}",
                          fix=f"check the LogQL syntax ({API})")
    data = doc.get("data") or {}
    kind = data.get("resultType")
    rows: list[dict[str, Any]] = []
    for item in data.get("result") or []:
        labels = item.get("stream") or item.get("metric") or {}
        if kind == "streams":
            rows += [{"ts": int(ts), "line": line, **labels} for ts, line, *_ in item.get("values") or []]
        elif kind == "vector":
            ts, value = item["value"]
            rows.append({"ts": float(ts) * 1e9, "value": float(value), **labels})
        elif kind == "matrix":
            rows += [{"ts": float(ts) * 1e9, "value": float(v), **labels} for ts, v in item.get("values") or []]
        else:
            raise LabkitError(f"unknown Loki resultType {kind!r}")
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["ts", "line" if kind == "streams" else "value"])
    df["ts"] = pd.to_datetime(df["ts"].astype("int64"), unit="ns", utc=True)
    return df.sort_values("ts").reset_index(drop=True)


@dataclass
class Loki:
    """A Loki to query: through a cluster's service proxy (``Loki.on``) or at a URL (``Loki.at``)."""

    target: KubeTarget | None = None
    url: str | None = None
    namespace: str = NAMESPACE
    service: str = SERVICE
    port: int = PORT
    runner: Runner | None = None

    @classmethod
    def on(cls, target: KubeTarget, *, namespace: str = NAMESPACE, service: str = SERVICE, port: int = PORT,
           runner: Runner | None = None) -> Loki:
        return cls(target=target, namespace=namespace, service=service, port=port, runner=runner)

    @classmethod
    def at(cls, url: str) -> Loki:
        if not url.startswith(("http://", "https://")):
            raise BadInput("Loki URL", url, "http(s)://host:port, e.g. http://127.0.0.1:3100 after "
                           "`kubectl -n logging port-forward svc/loki 3100:3100`")
        return cls(url=url.rstrip("/"))

    def argv(self, api: str, params: dict[str, Any] | None = None) -> tuple[str, ...]:
        """The ``kubectl get --raw`` a person would type for the same request."""
        if self.target is None:
            raise BadInput("Loki", self.url, "a cluster target (Loki.on) for kubectl")
        q = f"?{query_string(params)}" if params else ""
        return self.target.kubectl("get", "--raw", proxy_path(self.namespace, self.service, self.port) + api + q)

    def get(self, api: str, params: dict[str, Any] | None = None, *, timeout: float = 30) -> str:
        """GET ``api`` (``/loki/api/v1/...``, ``/ready``) and return the body."""
        if self.target is not None:
            res = (self.runner or default_runner()).run(list(self.argv(api, params)), timeout=timeout, check=False,
                                                        quiet=True)
            if not res.ok:
                raise LabkitError(f"Loki via the API server's proxy: {(res.stderr or res.stdout).strip()[-300:]}",
                                  fix=f"is Loki installed (labkit up --logging loki)? kubectl -n {self.namespace} "
                                      f"get svc {self.service}")
            return res.stdout
        if self.url is None:
            raise BadInput("Loki", None, "Loki.on(target) or Loki.at(url)")
        q = f"?{query_string(params)}" if params else ""
        try:
            with urllib.request.urlopen(self.url + api + q, timeout=timeout) as resp:  # noqa: S310 - the user's URL
                return str(resp.read().decode())
        except OSError as exc:
            raise LabkitError(f"Loki at {self.url}: {exc}", fix="is the port-forward running? "
                              "kubectl -n logging port-forward svc/loki 3100:3100") from exc

    def ready(self) -> bool:
        try:
            return self.get("/ready", timeout=10).strip() == "ready"
        except LabkitError:
            return False

    def query_range(self, logql: str, *, start_ns: int | None = None, end_ns: int | None = None, limit: int = 100,
                    direction: str = "forward") -> pd.DataFrame:
        """Log lines matching ``logql`` in [start, end] (default: the last hour), oldest first."""
        params = range_params(logql, start_ns=start_ns, end_ns=end_ns, limit=limit, direction=direction)
        return parse(self.get("/loki/api/v1/query_range", params))

    def query(self, logql: str, *, time_ns: int | None = None) -> pd.DataFrame:
        """A LogQL metric query at one instant (``count_over_time({…} |= "x" [5m])``)."""
        if not isinstance(logql, str) or not logql.strip():
            raise BadInput("LogQL query", logql, "a LogQL expression")
        return parse(self.get("/loki/api/v1/query", {"query": logql, "time": time_ns}))

    def labels(self) -> list[str]:
        doc = json.loads(self.get("/loki/api/v1/labels"))
        return list(doc.get("data") or [])
