"""The tax on kind: the same open-loop generator against Linkerd, Istio sidecar or Istio ambient, and no mesh.

After ``labkit up --mesh <option>`` (its verify made the lab), ``kind_measure`` runs ``openloop`` (from labkit's
mesh-app image, in the client pods) at each rate against ``echo``: from ``plain-client`` to the unmeshed
``echo.mesh-plain`` (**none**) and from ``client`` to the meshed ``echo.mesh-lab`` (**mesh**), repetitions
interleaved. CPU and memory come from the kubelet's cAdvisor (``kubectl get --raw …/proxy/metrics/cadvisor``):
the proxy containers of the two pods (``linkerd-proxy``, ``istio-proxy``), or for ambient the ztunnel pods on their
nodes (ztunnel is shared by every pod of its node: its figure is per node, not per pod). A run whose generator could
not keep the schedule is a row with status ``refused`` and why; failed requests are ``failed``, with the reason.

Why not fortio (Istio's own tool): it is a rate-limited closed loop per connection and times from the actual send,
so it under-reports the tail a proxy adds (coordinated omission).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from labkit._run import Runner, default_runner
from labkit.components.mesh import loadgen
from labkit.components.mesh.kind_objects import NS, PLAIN_NS
from labkit.components.mesh.spec import GeneratorRefused, MeshError
from labkit.targets.kube import KubeTarget

PROXY = {"linkerd": "linkerd-proxy", "istio": "istio-proxy", "istio-ambient": "istio-proxy"}
PATHS = {"none": (PLAIN_NS, "plain-client", f"echo.{PLAIN_NS}"), "mesh": (NS, "client", f"echo.{NS}")}


def _sample(metric: str, text: str, labels: dict[str, str]) -> float:
    """The sum of ``metric`` over series whose labels match ``labels`` (values are regexes), from cAdvisor text."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(re.fullmatch(v, found.get(k, "")) for k, v in labels.items()):
            total += float(line.rsplit("}", 1)[1].split()[0])
    return total


def proxy_labels(option: str) -> dict[str, str]:
    if option == "istio-ambient":
        return {"namespace": "istio-system", "pod": "ztunnel-.*", "container": "istio-proxy"}
    return {"namespace": NS, "pod": "(echo|client)-.*", "container": PROXY[option]}


def _nodes(target: KubeTarget, run: Runner) -> list[str]:
    out = run.run(list(target.kubectl("get", "pods", "-n", NS, "-l", "app in (echo,client)", "-o",
                                      "jsonpath={.items[*].spec.nodeName}")), timeout=60).stdout
    return sorted(set(out.split()))


def cadvisor(target: KubeTarget, run: Runner, nodes: list[str], option: str) -> tuple[float, float, float]:
    """(CPU seconds, working-set bytes, when) of the option's proxies on ``nodes``."""
    cpu = mem = 0.0
    labels = proxy_labels(option)
    for node in nodes:
        text = run.run(list(target.kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/metrics/cadvisor")),
                       timeout=60, quiet=True).stdout
        cpu += _sample("container_cpu_usage_seconds_total", text, labels)
        mem += _sample("container_memory_working_set_bytes", text, labels)
    return cpu, mem, time.monotonic()


def _row(option: str, path: str, rate: int, rep: int, out: dict[str, Any], cpu: float | None,
         mem: float | None, proxies: int) -> dict[str, Any]:
    row: dict[str, Any] = {"mesh": option, "path": path, "rate": rate, "rep": rep, "status": "ok", "error": ""}
    try:
        loadgen.check(out)
    except GeneratorRefused as exc:
        row.update(status="refused", error=exc.message)
    except MeshError as exc:
        row.update(status="failed", error=exc.message)
    lat = out.get("latency_ms", {})
    row.update(p50_ms=lat.get("p50"), p99_ms=lat.get("p99"), p999_ms=lat.get("p999"),
               achieved_rps=out.get("achieved_rate"))
    if path == "mesh":
        row.update(proxy_cpu_cores=cpu / proxies if cpu is not None else None,
                   proxy_mem_mib=mem / proxies / 2**20 if mem is not None else None)
    return row


def kind_measure(target: KubeTarget, option: str, *, rates: tuple[int, ...] = (100, 500, 1000), seconds: float = 10.0,
                 reps: int = 3, runner: Runner | None = None) -> Any:
    """Rows of (mesh, path, rate, rep, status, p50/p99/p99.9 ms, proxy CPU cores and MiB per proxy) as a DataFrame."""
    import pandas as pd

    run = runner or default_runner()
    nodes = _nodes(target, run)
    proxies = len(nodes) if option == "istio-ambient" else 2
    rows = []
    for rep in range(reps):
        for rate in rates:
            for path in (("none", "mesh") if rep % 2 == 0 else ("mesh", "none")):  # interleaved
                ns, deploy, host = PATHS[path]
                before = cadvisor(target, run, nodes, option) if path == "mesh" else None
                load = loadgen.Load(rate, seconds, warmup=min(1.0, seconds / 4))
                argv = list(target.kubectl("exec", "-n", ns, f"deploy/{deploy}", "--", *load.argv(host, 8080)))
                res = run.run(argv, timeout=seconds + 120, check=False)
                out = json.loads(res.stdout) if res.stdout.strip().startswith("{") else {
                    "errors_total": 1, "errors": {f"kubectl exec: {res.stderr.strip()[-200:]}": 1}}
                after = cadvisor(target, run, nodes, option) if path == "mesh" else None
                cpu = (after[0] - before[0]) / (after[2] - before[2]) if before and after else None
                rows.append(_row(option, path, rate, rep, out, cpu, after[1] if after else None, proxies))
    return pd.DataFrame(rows)
