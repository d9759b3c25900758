"""The kind tier's verify: a pod's token found in Loki with the pod's labels; a token written while the
collector is stopped reported missing, and still missing after it is back (lost, not late).

Every step queries Loki through the API server's service proxy (``kubectl get --raw``), so the plan
runs on any cluster with only kubectl, and each check compares the answer with a regex
(``expect_match``), retried up to a stated time: no "exit 0 means fine".
"""

from __future__ import annotations

import uuid
from typing import Any

from labkit._run import Cmd
from labkit.components.logging import loki
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kube import KubeTarget

NAMESPACE = "labkit-verify-logging"
LABELS = {"io.labkit.managed": "true", "io.labkit.role": "verify-logging"}
WITHIN_S = 60  # a healthy pipeline delivers well within this (tail refresh 5 s, flush 1 s)
DS_PAUSED = "labkit.io/collector-paused"
LOKI_API = f"{loki.API}#L462-L533"
FB_DOCS = "https://github.com/fluent/fluent-bit-docs/blob/f92ae08080ee108c2d1a2969f9d7e3d3b4c35950"
KUBECTL = "https://github.com/kubernetes/kubernetes/blob/v1.36.1/staging/src/k8s.io/kubectl/pkg/cmd"
WAIT, PATCH = f"{KUBECTL}/wait/wait.go", f"{KUBECTL}/patch/patch.go"


def new_token() -> str:
    return f"labkit-token-{uuid.uuid4().hex[:12]}"


def _pod(name: str, image: str, script: str, token: str, restart: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {**LABELS, "app": name}},
            "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                                     "command": ["sh", "-c", script, "sh", token],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def manifests(image: str, token: str) -> dict[str, list[dict[str, Any]]]:
    """The verify's objects: ``writer`` (namespace + a pod printing the token) and ``late`` (a pod printing the
    second token while the collector is stopped). The token is passed as ``$1``, never spliced into the script."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(LABELS)}}
    # wait 10 s so the file exists at Fluent Bit's next refresh before the token is written, then keep running
    writer = _pod("writer", image, 'sleep 10; echo "$1"; exec sleep 3600', token, "Always")
    late = _pod("late", image, 'echo "$1-late"', token, "Never")
    return {"writer": [ns, writer], "late": [late]}


def logql(pod: str, needle: str) -> str:
    return f'{{namespace="{NAMESPACE}", pod="{pod}"}} |= "{needle}"'


def stream_match(pod: str, needle: str) -> str:
    """A regex over Loki's JSON answer: a stream with the pod's four labels whose values hold ``needle``."""
    want = {"container": pod, "namespace": NAMESPACE, "pod": pod, "job": "fluent-bit"}
    looks = "".join(f'(?=[^}}]*"{k}":"{v}")' for k, v in want.items())
    return r'"stream":\{' + looks + r'[^}]*\}.*' + needle.replace("$", "\\$")


def plan(target: KubeTarget, *, image: str, token: str | None = None, within_s: int = WITHIN_S) -> Plan:
    """Prove the pipeline: found (with labels), then missing while stopped, then still missing once back."""
    token = token or new_token()
    k = target.kubectl
    lk = loki.Loki.on(target)
    objs = manifests(image, token)
    retries = max(1, within_s // 2)
    ds = ("-n", loki.NAMESPACE, "daemonset/fluent-bit")
    pods = ("-n", loki.NAMESPACE, "-l", "app.kubernetes.io/name=fluent-bit")
    diag = (Cmd(k("get", "pods", "-n", NAMESPACE, "-o", "wide")), Cmd(k("get", "pods", *pods, "-o", "wide")),
            Cmd(k("logs", *pods, "--tail=20")))
    none = r'"result":\[\]'

    def query(title: str, pod: str, needle: str, match: str, tries: int, why: str, expect: str) -> Step:
        params = loki.range_params(logql(pod, needle), limit=100)
        return Step(title, Cmd(lk.argv("/loki/api/v1/query_range", params)), why=why, expect=expect,
                    expect_match=match, retries=tries, retry_delay=2.0, timeout=30, diagnose=diag, source=LOKI_API)

    wait = Step(f"Give the pipeline the {within_s // 3} s a healthy one needs", Cmd(("sleep", str(within_s // 3))),
                why="absence is only evidence after the time a working pipeline takes", timeout=within_s + 30,
                source="labkit: a fixed wait before checking that something did NOT arrive")
    return Plan(f"Verify logging: a token through Fluent Bit into Loki ({token})").add(
        Step("Create a namespace and a pod that prints a token unique to this run",
             Cmd(k("apply", "-f", "-"), stdin=to_yaml(objs["writer"])),
             why="the kubelet writes the pod's stdout to /var/log/pods/...; Fluent Bit tails it",
             source="labkit: the verify's own workload (manifests validated against the Kubernetes schema)"),
        Step("Wait for the writer to run", Cmd(k("wait", "-n", NAMESPACE, "--for=condition=Ready", "pod/writer",
                                                 "--timeout=120s")), timeout=150, diagnose=diag,
             source=WAIT),
        query("Find the token in Loki, with the pod's labels", "writer", token, stream_match("writer", token), retries,
              "LogQL over Loki's HTTP API, through the API server's service proxy",
              f"a stream {{container, job=fluent-bit, namespace, pod}} of pod writer holding {token}, "
              f"within {within_s} s"),
        Step("Stop the collector: no node matches the DaemonSet any more",
             Cmd(k("patch", *ds, "--type=merge", "-p",
                   '{"spec":{"template":{"spec":{"nodeSelector":{"' + DS_PAUSED + '":"true"}}}}}')),
             why="a node agent that is down: its pods are deleted, the pods it watched keep logging",
             source="labkit: a nodeSelector no node matches empties a DaemonSet without uninstalling it"),
        Step("Wait until no Fluent Bit pod is left", Cmd(k("wait", "--for=delete", "pod", *pods, "--timeout=120s")),
             timeout=150, source=WAIT),
        Step("A pod prints a second token while the collector is down",
             Cmd(k("apply", "-f", "-"), stdin=to_yaml(objs["late"])),
             source="labkit: the verify's own workload"),
        Step("Wait for it to finish", Cmd(k("wait", "-n", NAMESPACE, "--for=jsonpath={.status.phase}=Succeeded",
                                            "pod/late", "--timeout=120s")), timeout=150, diagnose=diag,
             source=WAIT),
        wait,
        query("The second token is MISSING while the collector is down", "late", f"{token}-late", none, 1,
              "a check that cannot fail proves nothing: this one must find nothing",
              f'"result":[] for {token}-late'),
        Step("Start the collector again", Cmd(k("patch", *ds, "--type=json", "-p",
                                               '[{"op":"remove","path":"/spec/template/spec/nodeSelector/'
                                               + DS_PAUSED.replace("/", "~1") + '"}]')),
             source=PATCH),
        Step("Wait for Fluent Bit on every node", Cmd(k("rollout", "status", *ds, "--timeout=300s")), timeout=330,
             source="https://github.com/fluent/helm-charts/blob/fluent-bit-0.58.1/charts/fluent-bit/templates/"
                    "daemonset.yaml"),
        wait,
        query("The second token is still MISSING: lost, not late", "late", f"{token}-late", none, 1,
              "without a tail DB, Fluent Bit starts at the end of files it finds at start (read_from_head false, "
              f"{FB_DOCS}/pipeline/inputs/tail.md L43)", f'"result":[] for {token}-late'),
        Step("Remove the verify workloads", Cmd(k("delete", "namespace", NAMESPACE, "--ignore-not-found",
                                                  "--wait=false")),
             source="labkit: the verify removes what it made"),
    )
