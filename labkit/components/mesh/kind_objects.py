"""The mesh lab on kind: its namespaces, workloads and policies, and the verify plan (proof, not hope).

Namespace ``mesh-lab`` is meshed the option's way (Linkerd: ``linkerd.io/inject`` annotation; Istio sidecar:
``istio-injection`` label; ambient: ``istio.io/dataplane-mode=ambient``) and strict: only meshed, authenticated
callers (Linkerd ``all-authenticated`` + Server/AuthorizationPolicy; Istio STRICT PeerAuthentication +
AuthorizationPolicy). ``echo`` answers with the request headers; ``client`` (ServiceAccount client) may call it,
``intruder`` (ServiceAccount other, also meshed) may not; ``plain-client`` in the unmeshed ``mesh-plain`` has no
proxy at all (and ``echo.mesh-plain``, unmeshed too, is the measurement's no-mesh baseline). Every pod runs
labkit's mesh-app image (the engine tier's echo, probe, openloop and tcpdump), built
locally and loaded into the nodes.
"""

from __future__ import annotations

import sys
from typing import Any

from labkit._run import Cmd
from labkit.components.kube import rollout_step
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kube import KubeTarget

NS, PLAIN_NS = "mesh-lab", "mesh-plain"
LABELS = {"io.labkit.managed": "true", "io.labkit.role": "mesh-lab"}
TOKEN = "LABKIT-WIRE-TOKEN"
WORKLOADS = ((NS, "echo"), (NS, "client"), (NS, "intruder"), (PLAIN_NS, "plain-client"), (PLAIN_NS, "echo"))
MESHING = {"linkerd": ({"linkerd.io/inject": "enabled",
                        "config.linkerd.io/default-inbound-policy": "all-authenticated"}, {}),
           "istio": ({}, {"istio-injection": "enabled"}),
           "istio-ambient": ({}, {"istio.io/dataplane-mode": "ambient"})}
#: What the server's app must have seen for the client, per mesh (a regex over the echo's JSON)
#: (probe.py prints the echo's JSON as a string inside its own JSON: quotes arrive escaped, so the regexes skip them)
IDENTITY = {"linkerd": r'l5d-client-id[^\n]{0,8}client\.mesh-lab\.serviceaccount\.identity\.linkerd\.cluster\.local',
            "istio": r'x-forwarded-client-cert[^\n]*?URI=spiffe://cluster\.local/ns/mesh-lab/sa/client',
            "istio-ambient": r'"status": 200'}
LINKERD_DOCS = "https://github.com/linkerd/website/blob/93f001753363bba09eafd81e290512f89f4697ed/linkerd.io/content/2-edge/"


def app_image() -> str:
    from labkit import images

    return images.ref("mesh-app")


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "labels": {**LABELS, **extra.pop("labels", {})}}
    if namespace:
        out["namespace"] = namespace
    out.update(extra)
    return out


def _deploy(name: str, namespace: str, sa: str, image: str, *, serve: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
    if serve:
        container.update(env=[{"name": "SERVICE", "value": name}], ports=[{"name": "http", "containerPort": 8080}])
    else:
        container["command"] = ["sleep", "infinity"]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, namespace),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, **LABELS}},
                                  "spec": {"serviceAccountName": sa, "containers": [container]}}}}


def policies(option: str) -> list[dict[str, Any]]:
    """Strict mTLS and "only client may call echo", in the mesh's own API."""
    if option == "linkerd":
        return [
            {"apiVersion": "policy.linkerd.io/v1beta3", "kind": "Server", "metadata": _meta("echo-http", NS),
             "spec": {"podSelector": {"matchLabels": {"app": "echo"}}, "port": "http", "proxyProtocol": "HTTP/1"}},
            {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "MeshTLSAuthentication",
             "metadata": _meta("client-only", NS),
             "spec": {"identityRefs": [{"kind": "ServiceAccount", "name": "client"}]}},
            {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "AuthorizationPolicy",
             "metadata": _meta("echo-from-client", NS),
             "spec": {"targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": "echo-http"},
                      "requiredAuthenticationRefs": [{"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication",
                                                      "name": "client-only"}]}},
        ]
    return [
        {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": _meta("default", NS),
         "spec": {"mtls": {"mode": "STRICT"}}},
        {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": _meta("echo-from-client", NS),
         "spec": {"selector": {"matchLabels": {"app": "echo"}}, "action": "ALLOW",
                  "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/mesh-lab/sa/client"]}}]}]}},
    ]


def lab_manifests(option: str, image: str | None = None) -> list[dict[str, Any]]:
    """Everything the verify applies, for ``option`` (linkerd, istio, istio-ambient)."""
    image = image or app_image()
    annotations, labels = MESHING[option]
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(NS, labels=labels)}
    if annotations:
        ns["metadata"]["annotations"] = dict(annotations)
    out: list[dict[str, Any]] = [ns, {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(PLAIN_NS)}]
    out += [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(sa, NS)}
            for sa in ("echo", "client", "other")]
    out += [_deploy("echo", NS, "echo", image, serve=True), _deploy("client", NS, "client", image, serve=False),
            _deploy("intruder", NS, "other", image, serve=False), _deploy("plain-client", PLAIN_NS, "default", image,
                                                                          serve=False),
            _deploy("echo", PLAIN_NS, "default", image, serve=True)]
    out += [{"apiVersion": "v1", "kind": "Service", "metadata": _meta("echo", ns),
             "spec": {"selector": {"app": "echo"}, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}}
            for ns in (NS, PLAIN_NS)]
    return out + policies(option)


def _probe(target: KubeTarget, namespace: str, deploy: str, path: str) -> tuple[str, ...]:
    return target.kubectl("exec", "-n", namespace, f"deploy/{deploy}", "--", "python3", "/opt/labkit/probe.py",
                          f"echo.{NS}", "8080", "--path", path)


def build_plan() -> Plan:
    """Build labkit's mesh-app image locally (kind loads it into the nodes before the verify)."""
    image = app_image()
    return Plan(f"Build the lab's workload image {image}").add(Step(
        f"Build {image}", Cmd((sys.executable, "-m", "labkit.cli", "images", "build", "mesh-app")),
        why="the verify's pods run the engine tier's echo, probe, openloop and tcpdump", timeout=900,
        check=Cmd(("docker", "image", "inspect", image)),
        source="labkit: labkit's own image (environments/images/mesh-app), built FROM debian:bookworm-slim"))


def verify_plan(target: KubeTarget, option: str, *, image: str | None = None) -> Plan:
    """Identity seen, plaintext refused, the wrong identity refused, the wire encrypted — on ``option``."""
    from labkit.components.mesh.kind import kind_doc

    k, img = target.kubectl, app_image()
    mine = "labkit: the lab's own workloads and policies (labkit.components.mesh.kind_objects)"
    plan = Plan(f"Verify {option}: identity, strict mTLS, the wire").add(
        Step(f"Load {img} into the nodes",
             Cmd((target.kind, "load", "docker-image", img, "--name", target.kind_cluster or target.name)),
             why="copies labkit's image into containerd on every node: pods start without a registry", timeout=600,
             source=kind_doc("site/content/docs/user/quick-start.md")),
        Step("Create the lab: namespaces, workloads, policies", Cmd(k("apply", "-f", "-"),
                                                                     stdin=to_yaml(lab_manifests(option, img))),
             why="mesh-lab is meshed and strict; mesh-plain is not", source=mine + ", in the meshes' own policy types"),
        *[rollout_step(target, ns, f"deployment/{d}", 300, f"Wait for {d} ({ns})",
                       source=mine + ", waited for before they are probed")
          for ns, d in WORKLOADS])
    if option == "istio-ambient":
        plan.add(Step("The echo pod is captured by ztunnel (no sidecar)", Cmd(k(
            "get", "pod", "-n", NS, "-l", "app=echo", "-o",
            "jsonpath={.items[0].metadata.annotations.ambient\\.istio\\.io/redirection}")),
            expect="enabled", expect_match=r"^enabled$", retries=10, retry_delay=3,
            source="https://github.com/istio/istio/blob/1.30.3/pkg/config/constants/constants.go"))
    else:
        proxy = "linkerd-proxy" if option == "linkerd" else "istio-proxy"
        plan.add(Step(f"The echo pod has a {proxy}", Cmd(k(
            "get", "pod", "-n", NS, "-l", "app=echo", "-o",
            "jsonpath={.items[0].spec.initContainers[*].name} {.items[0].spec.containers[*].name}")),
            why="both meshes inject a native sidecar (an init container that keeps running) where the cluster allows",
            expect=proxy, expect_match=proxy,
            source=(LINKERD_DOCS + "features/proxy-injection.md" if option == "linkerd"
                    else "https://github.com/istio/istio/blob/1.30.3/pilot/pkg/features/pilot.go")))
    plan.add(
        Step("A meshed call: the server saw the client's identity", Cmd(_probe(target, NS, "client", "/whoami")),
             expect="200 and the client's identity", expect_match=IDENTITY[option], retries=5, retry_delay=3,
             source=mine + ", probed through the mesh"),
        Step("A plaintext client (no proxy) is refused", Cmd(_probe(target, PLAIN_NS, "plain-client", "/plain")),
             expect="403 from the proxy, or the connection closed", expect_match=r'"ok": false', retries=3,
             source=(LINKERD_DOCS + "features/server-policy.md" if option == "linkerd" else
                     "https://github.com/istio/istio/blob/1.30.3/manifests/charts/base/files/crd-all.gen.yaml")),
        Step("A meshed client with the wrong identity is refused", Cmd(_probe(target, NS, "intruder", "/steal")),
             expect="403, or the connection closed (ambient: L4)", expect_match=r'"ok": false', retries=3,
             source=mine + ", refused by the AuthorizationPolicy above"))
    if option == "istio-ambient":
        plan.add(Step("ztunnel logged the client's identity", Cmd(k(
            "logs", "-n", "istio-system", "-l", "app=ztunnel", "--tail=500")),
            expect_match=r"src\.identity=\S*spiffe://cluster\.local/ns/mesh-lab/sa/client", retries=5, retry_delay=3,
            source="https://github.com/istio/istio/blob/1.30.3/manifests/charts/ztunnel/values.yaml"))
    return plan.add(*wire_steps(target))


def wire_steps(target: KubeTarget) -> list[Step]:
    """tcpdump in an ephemeral container of the echo pod (NET_ADMIN/NET_RAW): the token must not be in the bytes."""
    from labkit.components.mesh.kind import k8s_source

    k, img = target.kubectl, app_image()
    script = (f"timeout 20 tcpdump -i eth0 -s0 -U -w /tmp/w.pcap tcp 2>/dev/null; "
              f"if grep -q {TOKEN} /tmp/w.pcap; then echo TOKEN-SEEN; else echo TOKEN-ABSENT; fi; "
              "echo PACKETS=$(tcpdump -nr /tmp/w.pcap 2>/dev/null | wc -l); sleep 3600")
    return [
        Step("Find the echo pod", Cmd(k("get", "pod", "-n", NS, "-l", "app=echo", "-o",
                                        "jsonpath={.items[0].metadata.name}")), capture="ECHO_POD",
             capture_match=r"echo-[a-z0-9]+-[a-z0-9]+", source="labkit: the next steps need the pod's name"),
        Step("Capture the echo pod's eth0 for 20 s", Cmd(k(
            "debug", "-n", NS, "${ECHO_POD}", "--profile=netadmin", f"--image={img}",
            "--image-pull-policy=IfNotPresent", "-c", "wire", "--", "sh", "-c", script)),
            why="an ephemeral container shares the pod's network namespace; netadmin gives it NET_ADMIN and NET_RAW",
            check=Cmd(k("wait", "-n", NS, "--for=jsonpath={.spec.ephemeralContainers[0].name}=wire", "pod/${ECHO_POD}",
                        "--timeout=1s")),
            source=k8s_source("staging/src/k8s.io/kubectl/pkg/cmd/debug/profiles.go")),
        Step("Send three requests carrying the token", Cmd(k(
            "exec", "-n", NS, "deploy/client", "--", "sh", "-c",
            f"sleep 3; for i in 1 2 3; do python3 /opt/labkit/probe.py echo.{NS} 8080 --path /{TOKEN}; done")),
            timeout=60, source="labkit: traffic for the capture, from the meshed client"),
        Step("The token is not in the captured bytes", Cmd(k("logs", "-n", NS, "${ECHO_POD}", "-c", "wire")),
             expect="TOKEN-ABSENT and packets captured", expect_match=r"TOKEN-ABSENT\s+PACKETS=[1-9]", retries=12,
             retry_delay=3, source="labkit: the same proof as the engine tier's wire capture"),
    ]


def delete_lab_step(target: KubeTarget, *, source: str) -> Step:
    return Step("Delete the lab's namespaces (their pods lose their proxies with them)",
                Cmd(target.kubectl("delete", "namespace", NS, PLAIN_NS, "--ignore-not-found", "--wait=true")),
                timeout=300, source=source)
