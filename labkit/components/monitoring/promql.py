"""PromQL over Prometheus's HTTP API into tidy pandas DataFrames, for any Prometheus.

One client, two ways in:

* ``PromClient.at(url)`` — plain HTTP: the engine-tier stack on 127.0.0.1, or a ``kubectl port-forward``;
* ``PromClient.through_api_server(target, namespace, service)`` — the Kubernetes API server's service proxy
  (``kubectl get --raw /api/v1/namespaces/NS/services/SVC:PORT/proxy/api/v1/...``), with the kubeconfig's
  own credentials: works on any cluster where you may proxy to services, no port-forward process needed.

Tidy means one row per (series, timestamp): ``timestamp`` (UTC), ``value`` (float), then one column
per label (missing labels are empty strings). API reference:
https://github.com/prometheus/prometheus/blob/v2.53.3/docs/querying/api.md
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from labkit.errors import LabkitError

if TYPE_CHECKING:
    import pandas as pd

    from labkit._run import Runner
    from labkit.targets.kube import KubeTarget

Transport = Callable[[str, Mapping[str, str], float, str], bytes]  # (path, params, timeout, method) → body


class PromError(LabkitError):
    """Prometheus answered with an error (bad PromQL, timeout), or not at all."""


def _http(base: str) -> Transport:
    def get(path: str, params: Mapping[str, str], timeout: float, method: str) -> bytes:
        query = urllib.parse.urlencode(dict(params))
        url = base.rstrip("/") + path + (f"?{query}" if query and method == "GET" else "")
        data = query.encode() if method == "POST" else None
        req = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - a URL labkit built
                return bytes(resp.read())
        except urllib.error.HTTPError as exc:  # Prometheus's 4xx/5xx carry a JSON error body
            return bytes(exc.read())
        except (OSError, ValueError) as exc:
            raise PromError(f"Prometheus at {base} is not answering: {exc}",
                            fix="is the stack up? `labkit monitoring status`") from exc
    return get


def _kubectl_raw(target: KubeTarget, namespace: str, service: str, runner: Runner | None) -> Transport:
    def get(path: str, params: Mapping[str, str], timeout: float, method: str) -> bytes:
        from labkit._run import default_runner

        query = urllib.parse.urlencode(dict(params))
        raw = f"/api/v1/namespaces/{namespace}/services/{service}/proxy{path}" + (f"?{query}" if query else "")
        res = (runner or default_runner()).run(target.kubectl("get", "--raw", raw), timeout=timeout + 10,
                                               check=False, quiet=True)
        if not res.ok:
            raise PromError(f"the API server's proxy to {namespace}/{service} failed: {res.stderr.strip()[-300:]}",
                            fix=f"`kubectl get svc -n {namespace}`: is the stack installed? may you proxy to services?")
        return res.stdout.encode()
    return get


@dataclass
class PromClient:
    """A thin client for ``/api/v1`` (query, query_range, targets, alerts, rules) returning DataFrames."""

    where: str  # what it talks to, for messages
    transport: Transport
    timeout: float = 15.0

    @classmethod
    def at(cls, url: str, *, timeout: float = 15.0) -> PromClient:
        return cls(url, _http(url), timeout)

    @classmethod
    def through_api_server(cls, target: KubeTarget, namespace: str = "monitoring",
                           service: str = "kps-kube-prometheus-stack-prometheus:http-web", *,
                           runner: Runner | None = None, timeout: float = 15.0) -> PromClient:
        return cls(f"{target.name}:{namespace}/{service}", _kubectl_raw(target, namespace, service, runner), timeout)

    def api(self, path: str, params: Mapping[str, str] | None = None, *, method: str = "GET") -> Any:
        """``data`` of one API call; :class:`PromError` with Prometheus's own ``error`` otherwise."""
        body = self.transport(path, params or {}, self.timeout, method)
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise PromError(f"{self.where}{path}: not JSON: {body[:200]!r}") from exc
        if doc.get("status") != "success":
            raise PromError(f"{self.where}{path}: {doc.get('errorType', '?')}: {doc.get('error', body[:200])}")
        return doc.get("data")

    # -- the API ------------------------------------------------------------------------------------------------
    def ready(self) -> bool:
        try:
            return b"Ready" in self.transport("/-/ready", {}, 3.0, "GET")
        except PromError:
            return False

    def targets(self, state: str = "active") -> list[dict[str, Any]]:
        return list(self.api("/api/v1/targets", {"state": state})[f"{state}Targets"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/alerts")["alerts"])

    def rules(self, kind: str | None = None) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/rules", {"type": kind} if kind else {})["groups"])

    def reload(self) -> None:
        """``POST /-/reload`` (needs ``--web.enable-lifecycle``): re-read the config and rule files."""
        body = self.transport("/-/reload", {}, self.timeout, "POST")
        if body.strip():
            raise PromError(f"{self.where} refused the reload: {body.decode(errors='replace')[:500]}",
                            fix="read Prometheus's log: the config or a rule file is broken")

    def value(self, expr: str) -> float | None:
        """``sum(expr)`` now, as one float; None when the expression returns no series."""
        df = self.query(f"sum({expr})")
        return None if df.empty else float(df["value"].iloc[0])

    def query(self, expr: str, at: float | datetime | None = None) -> pd.DataFrame:
        """Instant query → one row per series."""
        params = {"query": expr, **({"time": _ts(at)} if at is not None else {})}
        return to_frame(self.api("/api/v1/query", params))

    def query_range(self, expr: str, start: float | datetime, end: float | datetime, step: float | str) -> pd.DataFrame:
        """Range query → one row per (series, step): what a dashboard panel draws."""
        return to_frame(self.api("/api/v1/query_range", {"query": expr, "start": _ts(start), "end": _ts(end),
                                                         "step": str(step)}))

    def wait_ready(self, *, timeout: float = 60.0) -> float:
        """Seconds until ``/-/ready`` answered; :class:`PromError` after ``timeout``."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.ready():
                return time.monotonic() - t0
            time.sleep(0.25)
        raise PromError(f"Prometheus at {self.where} not ready after {timeout:.0f} s")


def _ts(t: float | datetime) -> str:
    return f"{t.timestamp() if isinstance(t, datetime) else float(t):.3f}"


def to_frame(data: Mapping[str, Any]) -> pd.DataFrame:
    """An API ``data`` object (vector, matrix or scalar) as a tidy DataFrame."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    if data.get("resultType") in ("scalar", "string"):
        t, v = data["result"]
        rows.append({"timestamp": float(t), "value": float(v)})
    else:
        for series in data.get("result", []):
            labels = series.get("metric", {})
            points = series.get("values") or ([series["value"]] if "value" in series else [])
            rows += [{"timestamp": float(t), "value": float(v), **labels} for t, v in points]
    if not rows:
        return pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"), "value": pd.Series(dtype=float)})
    df = pd.DataFrame(rows)
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    labels = sorted(c for c in df.columns if c not in ("timestamp", "value"))
    df[labels] = df[labels].fillna("")
    first = ["__name__"] if "__name__" in labels else []
    return df[["timestamp", "value", *first, *[c for c in labels if c != "__name__"]]]
