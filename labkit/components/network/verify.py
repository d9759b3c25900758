"""Proving a pod network works: the same verify plan for every CNI and every cluster.

Workloads (namespace ``labkit-verify``, everything labelled ``io.labkit.managed``):

* ``echo``: a StatefulSet of two busybox ``httpd`` pods that answer "<pod> on <node>",
  kept on different nodes by pod anti-affinity (they tolerate the control-plane taint,
  so one control plane + one worker is enough);
* ``probe``: a client pod placed *away* from ``echo-0`` and *next to* ``echo-1``, so
  probe → echo-0 crosses nodes and probe → echo-1 stays on one node;
* Services ``echo`` (ClusterIP) and ``echo-pods`` (headless, for per-pod DNS names).

The plan then checks, in an order that makes the first failure tell you what broke:
DNS → pod-to-pod across nodes → pod-to-pod on one node → pod-to-Service → a
NetworkPolicy that denies all ingress to ``echo`` (blocked where the CNI enforces
policy, still open on Flannel) → the policy removed, traffic restored.
"""

from __future__ import annotations

from typing import Any

from labkit._run import Cmd
from labkit.steps import Plan, Step
from labkit.targets.kind import sources as src
from labkit.targets.kube import KubeTarget

NAMESPACE = "labkit-verify"
PORT = 8080
LABELS = {"io.labkit.managed": "true", "io.labkit.role": "verify-network"}
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
CURL_BLOCKED = (7, 28)  # curl: 7 connection refused (REJECT), 28 timed out (DROP)


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS), **extra}


def _pod_labels(app: str) -> dict[str, str]:
    return {**LABELS, "app": app}


def manifests(image: str, *, cross_node: bool = True) -> list[dict[str, Any]]:
    """Namespace, echo StatefulSet, two Services and the probe pod."""
    serve = ('mkdir -p /tmp/www && echo "$POD_NAME on $NODE_NAME" > /tmp/www/index.html '
             f"&& exec busybox httpd -f -p {PORT} -h /tmp/www")
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    echo_spread: dict[str, Any] = {}
    probe_affinity: dict[str, Any] = {}
    if cross_node:
        echo_spread = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "echo"}}, "topologyKey": "kubernetes.io/hostname"}]}}}
        probe_affinity = {"affinity": {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"statefulset.kubernetes.io/pod-name": "echo-0"}},
                 "topologyKey": "kubernetes.io/hostname"}]},
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"statefulset.kubernetes.io/pod-name": "echo-1"}},
                 "topologyKey": "kubernetes.io/hostname"}]}}}
    container = {"image": image, "imagePullPolicy": "IfNotPresent",
                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(LABELS)}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta("echo"),
         "spec": {"serviceName": "echo-pods", "replicas": 2, "podManagementPolicy": "Parallel",
                  "selector": {"matchLabels": {"app": "echo"}},
                  "template": {"metadata": {"labels": _pod_labels("echo")},
                               "spec": {"tolerations": [CONTROL_PLANE_TAINT], "terminationGracePeriodSeconds": 1,
                                        **echo_spread,
                                        "containers": [{**container, "name": "httpd", "command": ["sh", "-c", serve],
                                                        "env": env, "ports": [{"containerPort": PORT,
                                                                               "name": "http"}],
                                                        "readinessProbe": {"httpGet": {"path": "/", "port": PORT},
                                                                           "periodSeconds": 2}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta("echo"),
         "spec": {"selector": {"app": "echo"}, "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta("echo-pods"),
         "spec": {"clusterIP": "None", "selector": {"app": "echo"},
                  "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": _meta("probe", labels=_pod_labels("probe")),
         "spec": {"tolerations": [CONTROL_PLANE_TAINT], "terminationGracePeriodSeconds": 1, **probe_affinity,
                  "containers": [{**container, "name": "probe", "command": ["sleep", "infinity"]}]}},
    ]


def deny_policy() -> dict[str, Any]:
    """Deny every ingress to the echo pods (an empty ``ingress`` list allows nothing)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta("deny-echo"),
            "spec": {"podSelector": {"matchLabels": {"app": "echo"}}, "policyTypes": ["Ingress"], "ingress": []}}


def to_yaml(objs: list[dict[str, Any]]) -> str:
    from labkit.manifests import to_yaml as dump

    return dump(objs)


IPV4 = r"\d{1,3}(\.\d{1,3}){3}"
NODE = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
POLICIES = "docs/concepts/services-networking/network-policies.md"


def plan(target: KubeTarget, *, image: str, enforces_policy: bool, cni: str, cross_node: bool = True,
         timeout_s: int = 180, kubernetes: str | None = None) -> Plan:
    """The verify plan for a pod network; ``enforces_policy`` sets the NetworkPolicy expectation.

    Every expectation is a check: answers are compared with the values the API reports (the Service's
    ClusterIP, echo-0's node), and the policy step passes only while echo-0 is still Running at the address
    that was probed, before and after, so "blocked" cannot mean "gone"."""
    k = target.kubectl
    ns = ("-n", NAMESPACE)
    why_diag = (Cmd(k("get", "pods", *ns, "-o", "wide")), Cmd(k("describe", "pods", *ns)),
                Cmd(k("get", "events", *ns, "--sort-by=.lastTimestamp")))
    own = src.labkit("the verify harness (echo pods on two nodes, a probe) tests Kubernetes' network model: "
                     + src.k8s_doc("docs/concepts/services-networking/_index.md", kubernetes))
    dns = src.k8s_doc("docs/concepts/services-networking/dns-pod-service.md", kubernetes)
    policies = src.k8s_doc(POLICIES, kubernetes)

    def curl(url: str) -> tuple[str, ...]:
        return k("exec", *ns, "probe", "--", "curl", "-fsS", "--max-time", "3", url)

    def capture(title: str, what: tuple[str, ...], var: str, pattern: str) -> Step:
        return Step(title, Cmd(k("get", *what, "-o", f"jsonpath={{{JSONPATH[var]}}}")), capture=var,
                    capture_match=pattern, source=own)

    def echo0_alive(when: str) -> Step:
        return Step(f"echo-0 is still Running at the address probed ({when} the blocked request)",
                    Cmd(k("get", "pod", *ns, "echo-0", "-o",
                          "jsonpath={.status.podIP}/{.status.phase}/{.status.containerStatuses[0].ready}")),
                    why="the policy must be what stops the request, not a restarted or moved echo-0",
                    expect="${ECHO0_IP}/Running/true", expect_match=r"\A${ECHO0_IP}/Running/true\s*\Z",
                    retries=5, retry_delay=2, source=own, diagnose=why_diag)

    across = r"\Aecho-0 on (?!${PROBE_NODE}\s*\Z)${ECHO0_NODE}\s*\Z" if cross_node else \
        r"\Aecho-0 on ${ECHO0_NODE}\s*\Z"
    p = Plan(f"Verify the pod network ({cni})")
    p.add(
        Step("Wait until a previous verify's namespace is gone",
             Cmd(k("wait", "--for=delete", f"namespace/{NAMESPACE}", f"--timeout={timeout_s}s")),
             why="the last step deletes it without waiting; `apply` into a Terminating namespace fails "
                 "(kubectl wait --for=delete succeeds at once when it does not exist)",
             timeout=timeout_s + 30, source=own),
        Step("Create the verify workloads", Cmd(k("apply", "-f", "-"), stdin=to_yaml(manifests(image,
                                                                                               cross_node=cross_node))),
             why="two echo pods on different nodes, a probe pod next to one of them, a Service in front",
             source=own),
        Step("Wait for the echo pods", Cmd(k("rollout", "status", *ns, "statefulset/echo", f"--timeout={timeout_s}s")),
             why="both echo pods Running and answering their readiness probe", timeout=timeout_s + 30,
             diagnose=why_diag, source=own),
        Step("Wait for the probe pod", Cmd(k("wait", *ns, "--for=condition=Ready", "pod/probe",
                                             f"--timeout={timeout_s}s")),
             timeout=timeout_s + 30, diagnose=why_diag, source=own),
        capture("Look up echo-0's pod IP", ("pod", *ns, "echo-0"), "ECHO0_IP", IPV4),
        capture("Look up echo-1's pod IP", ("pod", *ns, "echo-1"), "ECHO1_IP", IPV4),
        capture("Look up the echo Service's ClusterIP", ("service", *ns, "echo"), "SVC_IP", IPV4),
        capture("Look up the kubernetes Service's ClusterIP", ("service", "-n", "default", "kubernetes"),
                "KUBE_SVC_IP", IPV4),
        capture("Look up the probe's node", ("pod", *ns, "probe"), "PROBE_NODE", NODE),
        capture("Look up echo-0's node", ("pod", *ns, "echo-0"), "ECHO0_NODE", NODE),
        Step("DNS: resolve the API server's Service name", Cmd(k("exec", *ns, "probe", "--", "getent", "hosts",
                                                                 "kubernetes.default.svc")),
             why="CoreDNS answers through the pod network; retried while CoreDNS settles",
             expect="${KUBE_SVC_IP} first: the kubernetes Service's ClusterIP",
             expect_match=r"\A${KUBE_SVC_IP}\s", retries=10, retry_delay=3, source=dns,
             diagnose=(Cmd(k("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns", "-o", "wide")),)),
        Step("DNS: resolve the echo Service", Cmd(k("exec", *ns, "probe", "--", "getent", "hosts",
                                                    f"echo.{NAMESPACE}.svc")),
             expect="${SVC_IP} first: the echo Service's ClusterIP", expect_match=r"\A${SVC_IP}\s",
             retries=5, retry_delay=2, source=dns),
        Step("Pod to pod across nodes", Cmd(curl(f"http://${{ECHO0_IP}}:{PORT}/")),
             why="the probe runs on another node than echo-0 (pod anti-affinity)" if cross_node else
             "single-node cluster: this stays on one node",
             expect="echo-0 on ${ECHO0_NODE}" + (", a node other than the probe's (${PROBE_NODE})" if cross_node
                                                  else ""),
             expect_match=across, retries=3, retry_delay=2, diagnose=why_diag, source=own),
        Step("Pod to pod on the same node", Cmd(curl(f"http://${{ECHO1_IP}}:{PORT}/")),
             why="the probe runs next to echo-1 (pod affinity)", expect="echo-1 on ${PROBE_NODE}",
             expect_match=r"\Aecho-1 on ${PROBE_NODE}\s*\Z", retries=3, retry_delay=2, source=own),
        Step("Pod to Service (ClusterIP)", Cmd(curl(f"http://${{SVC_IP}}:{PORT}/")),
             why="kube-proxy (or the CNI's own service load balancing) translates the ClusterIP to a pod",
             expect="echo-0 or echo-1", expect_match=rf"\Aecho-[01] on {NODE}\s*\Z", retries=3, retry_delay=2,
             source=own),
        Step("Apply a deny-all-ingress NetworkPolicy to echo", Cmd(k("apply", "-f", "-"),
                                                                    stdin=to_yaml([deny_policy()])),
             source=policies),
    )
    if enforces_policy:
        p.add(echo0_alive("before"),
              Step("The policy blocks pod to pod", Cmd(curl(f"http://${{ECHO0_IP}}:{PORT}/")),
                   why=f"{cni} enforces NetworkPolicy; programming it takes a moment, so this is retried",
                   ok_codes=CURL_BLOCKED, retries=15, retry_delay=2,
                   expect="curl fails: exit 28 (timed out: packets dropped) or 7 (refused)", diagnose=why_diag,
                   source=policies),
              echo0_alive("after"))
    else:
        p.add(Step("The policy is NOT enforced: traffic still flows", Cmd(curl(f"http://${{ECHO0_IP}}:{PORT}/")),
                   why=f"{cni} implements no NetworkPolicy: the API accepts the object and nothing enforces it "
                       "(\"Network policies are implemented by the network plugin\")",
                   expect="echo-0 on ${ECHO0_NODE}, despite the policy (the lesson: a policy needs an enforcing CNI)",
                   expect_match=r"\Aecho-0 on ${ECHO0_NODE}\s*\Z", source=policies))
    p.add(
        Step("Remove the policy", Cmd(k("delete", "networkpolicy", *ns, "deny-echo", "--ignore-not-found")),
             source=policies),
        Step("Traffic is allowed again", Cmd(curl(f"http://${{ECHO0_IP}}:{PORT}/")), retries=15, retry_delay=2,
             expect="echo-0 on ${ECHO0_NODE} again", expect_match=r"\Aecho-0 on ${ECHO0_NODE}\s*\Z",
             source=policies),
        Step("Remove the verify workloads", Cmd(k("delete", "namespace", NAMESPACE, "--ignore-not-found",
                                                  "--wait=false")), why="the namespace takes its pods with it",
             source=own),
    )
    return p


JSONPATH = {"ECHO0_IP": ".status.podIP", "ECHO1_IP": ".status.podIP", "SVC_IP": ".spec.clusterIP",
            "KUBE_SVC_IP": ".spec.clusterIP", "PROBE_NODE": ".spec.nodeName", "ECHO0_NODE": ".spec.nodeName"}
