"""The kind tier's measurement: Fluent Bit into Loki, loss and delivery delay at a few rates.

For each rate, a pod runs labkit's emitter (the same C program as the engine tier, loaded into the kind
nodes) writing ``count`` numbered lines, each carrying its send time. Loki is then polled once a second
through the API server's proxy: the lines stored (``count_over_time``) give the loss, and the first poll
that shows each line gives its delay (so the delay's resolution is the poll interval, stated in the rows).

Runs where kind runs (``target`` with ``kind_cluster`` set): the emitter image is loaded into the nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from labkit._run import Cmd, Runner, default_runner
from labkit.components.logging import kube_verify, loki, records
from labkit.components.logging.measure import percentile
from labkit.errors import BadInput, LabkitError
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kube import KubeTarget

NAMESPACE = "labkit-measure-logging"
LABELS = {"io.labkit.managed": "true", "io.labkit.role": "measure-logging"}


def emitter_pod(name: str, image: str, token: str, *, rate: float, count: int, size: int = 100) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {**LABELS, "app": name}},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                                     "args": ["--token", token, "--count", str(count), "--rate", f"{rate:g}",
                                              "--size", str(size), "--wait-ms", "8000"],
                                     "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}}}]}}


def namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(LABELS)}}


def run_plan(target: KubeTarget, image: str, pod: dict[str, Any], *, timeout: float) -> Plan:
    """Load the image, start the emitter pod, wait until it has written everything."""
    k = target.kubectl
    name = pod["metadata"]["name"]
    plan = Plan(f"Emit {pod['spec']['containers'][0]['args'][3]} lines into the cluster's logging")
    if target.kind_cluster:
        plan.add(Step("Load the emitter image into the kind nodes",
                      Cmd((target.kind, "load", "docker-image", image, "--name", target.kind_cluster)), timeout=600,
                      source="https://github.com/kubernetes-sigs/kind/blob/v0.32.0/site/content/docs/user/"
                             "quick-start.md#L236-L250"))
    return plan.add(
        Step("Create the namespace and the emitter pod", Cmd(k("apply", "-f", "-"), stdin=to_yaml([namespace(), pod])),
             source="labkit: the measurement's own workload"),
        Step("Wait until it has written every line", Cmd(k("wait", "-n", NAMESPACE,
                                                          "--for=jsonpath={.status.phase}=Succeeded", f"pod/{name}",
                                                          f"--timeout={timeout:g}s")),
             timeout=timeout + 30, source=kube_verify.WAIT))


def measure_loki(target: KubeTarget, *, image: str, rates: tuple[float, ...] = (100, 1000, 5000), count: int = 3000,
                 settle_s: float = 90, poll_s: float = 1.0, runner: Runner | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> Any:
    """One row per rate: lines sent and stored in Loki, loss, and delay p50/p99 (resolution ``poll_s``)."""
    import pandas as pd

    if not rates or any(r <= 0 for r in rates) or count < 1:
        raise BadInput("rates/count", {"rates": rates, "count": count}, "positive rates (lines/s), count >= 1")
    run = runner or default_runner()
    lk = loki.Loki.on(target, runner=run)
    rows = []
    for i, rate in enumerate(rates):
        token = f"K{i}-{int(clock() * 1000) % 10**9:09d}"
        name = f"emit-{i}"
        run_plan(target, image, emitter_pod(name, image, token, rate=rate, count=count),
                 timeout=count / rate + 120).run(run)
        seen: dict[int, float] = {}
        t0 = clock()
        still = 0
        while clock() - t0 < settle_s and len(seen) < count:
            lines = lk.query_range(f'{{namespace="{NAMESPACE}", pod="{name}"}} |= "{token}"', limit=5000)
            now, before = clock(), len(seen)
            for line in lines.get("line", []):
                fields = records.emitter_fields(_message(str(line)))
                if fields is not None:
                    seen.setdefault(fields[1], now - fields[2])
            still = still + 1 if len(seen) == before else 0
            if still * poll_s >= 10 and seen:
                break  # nothing new for 10 s
            sleep(poll_s)
        delays = [d * 1e3 for d in seen.values()]
        rows.append({"rate": rate, "sent": count, "stored": len(seen), "loss_pct": 100 * (count - len(seen)) / count,
                     "delay_p50_ms": percentile(delays, 0.5), "delay_p99_ms": percentile(delays, 0.99),
                     "poll_ms": poll_s * 1e3, "path": "CRI file > Fluent Bit > Loki"})
        run.run(list(target.kubectl("delete", "pod", "-n", NAMESPACE, name, "--ignore-not-found", "--wait=false")),
                timeout=60, check=False)
    run.run(list(target.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")),
            timeout=60, check=False)
    return pd.DataFrame(rows)


def _message(line: str) -> str:
    """Fluent Bit's JSON line (``line_format json``): the container's own text is in ``log``."""
    import json

    try:
        doc = json.loads(line)
    except ValueError:
        return line
    if not isinstance(doc, dict):
        raise LabkitError(f"unexpected Loki line: {line[:80]!r}")
    return str(doc.get("log", line)).strip()
