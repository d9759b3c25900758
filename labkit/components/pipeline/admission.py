"""kind tier: admission that verifies signatures — Kyverno 1.19 with an ImageValidatingPolicy.

Why Kyverno and not sigstore's policy-controller (notes: kind-ch07-ch08 §7.2):

* key-based verification with the transparency log ignored needs no Sigstore infrastructure from v1.19.0 on
  (``pkg/image/verifiers/ivpol/cosign/opts.go``) — the lab signs with ``--tlog-upload=false``;
* it can reach kind's registry over plain HTTP (``credentials.allowInsecureRegistry``), which
  policy-controller v0.15.1 cannot for a name like ``kind-registry:5000``;
* it is maintained at a fast pace (four release candidates and the GA in August 2026).

Code in a pod cannot use ``localhost:5001`` (that is the pod's own loopback), so in the cluster images are
``kind-registry:5000/labkit/app@sha256:…``; every node's containerd gets a hosts.toml for that name. The policy
matches **pods** (not Deployments), so ``mutateDigest`` rewrites only pods and Argo CD/Flux see no drift.
"""

from __future__ import annotations

from typing import Any

from labkit._run import Cmd
from labkit.components.base import load_values
from labkit.components.kube import rollout_step
from labkit.components.pipeline.kind_forge import kind_dir
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget
from labkit.versions import pins

NAMESPACE = "labkit-app"
POLICY = "labkit-signed-images"
KEY_CONFIGMAP = "labkit-cosign-pub"
SELECT = "io.labkit.verify-images"
IN_CLUSTER = "kind-registry:5000"
V = "https://github.com/kyverno/kyverno/blob/v1.19.0/"
HOSTS_DOC = "https://github.com/containerd/containerd/blob/v2.3.1/docs/hosts.md"
LABELS = {"io.labkit.managed": "true", "io.labkit.role": "pipeline"}


def pin() -> dict[str, Any]:
    return dict(pins()["components"]["pipeline"]["kyverno"])


def values() -> dict[str, Any]:
    return load_values(str(pin()["values"]))


def namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {**LABELS, SELECT: "true"}}}


def policy() -> dict[str, Any]:
    """Pods in labeled namespaces may run ``kind-registry:5000/labkit/*`` only when signed by the lab's key
    and carrying a signed CycloneDX attestation; the key is read from a ConfigMap (``resource.get``)."""
    return {
        "apiVersion": "policies.kyverno.io/v1", "kind": "ImageValidatingPolicy",
        "metadata": {"name": POLICY, "labels": LABELS},
        "spec": {
            "validationActions": ["Deny"], "failurePolicy": "Fail",
            "webhookConfiguration": {"timeoutSeconds": 30},
            "matchConstraints": {
                "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                                   "resources": ["pods"]}],
                "namespaceSelector": {"matchLabels": {SELECT: "true"}}},
            "matchImageReferences": [{"glob": f"{IN_CLUSTER}/labkit/*"}],
            "credentials": {"allowInsecureRegistry": True},
            "validationConfigurations": {"mutateDigest": True, "verifyDigest": True, "required": True},
            "variables": [{"name": "keys", "expression":
                           f'resource.get("v1", "configmaps", "{NAMESPACE}", "{KEY_CONFIGMAP}")'}],
            "attestors": [{"name": "lab", "cosign": {
                "key": {"expression": "variables.keys.data.key"},
                "ctlog": {"insecureIgnoreTlog": True, "insecureIgnoreSCT": True}}}],
            "attestations": [{"name": "sbom", "intoto": {"type": "https://cyclonedx.org/bom"}}],
            "validations": [
                {"expression": "images.containers.map(image, verifyImageSignatures(image, [attestors.lab]))"
                               ".all(e, e > 0)",
                 "message": "image is not signed by the lab's cosign key"},
                {"expression": "images.containers.map(image, verifyAttestationSignatures(image, attestations.sbom, "
                               "[attestors.lab])).all(e, e > 0)",
                 "message": "image has no SBOM attestation signed by the lab's cosign key"}]}}


def hosts_toml() -> str:
    return f'server = "http://{IN_CLUSTER}"\n\n[host."http://{IN_CLUSTER}"]\n  capabilities = ["pull", "resolve"]\n'


def install(target: KubeTarget, cfg: ClusterConfig, *, timeout: float = 600.0) -> Plan:
    p = pin()
    k = target.kubectl
    plan = Plan(f"Signature-verifying admission: Kyverno {p['app_version']} (chart {p['version']})").add(
        Step("Add the Kyverno Helm repository", Cmd((target.helm_bin, "repo", "add", "kyverno", str(p["repo"]),
                                                     "--force-update")),
             source=V + "charts/kyverno/README.md"),
        Step(f"Install (or upgrade) {p['chart']} {p['version']}",
             Cmd(target.helm("upgrade", "--install", "kyverno", str(p["chart"]), "--version", str(p["version"]),
                             "--namespace", "kyverno", "--create-namespace", "--values", "-", "--wait",
                             "--timeout", "10m"), stdin=to_yaml(values())),
             why="only the admission controller (values: environments/pipeline/kyverno/)", timeout=timeout + 60,
             source=V + "charts/kyverno/values.yaml"),
        rollout_step(target, "kyverno", "deployment/kyverno-admission-controller", timeout,
                     "Wait for Kyverno's admission controller",
                     source=V + "charts/kyverno/templates/_helpers/_names.tpl"))
    for node in cfg.node_names():
        plan.add(Step(f"Tell containerd on {node} that {IN_CLUSTER} speaks plain HTTP",
                      Cmd(("docker", "exec", "-i", node, "sh", "-c", 'mkdir -p "$1" && cat > "$1/hosts.toml"', "sh",
                           f"/etc/containerd/certs.d/{IN_CLUSTER}"), stdin=hosts_toml()),
                      why="pods name the registry as kind-registry:5000 (what Kyverno, in a pod, can reach); "
                          "without this containerd would try HTTPS", source=HOSTS_DOC))
    return plan.add(
        Step("Create the app's namespace, selected by the policy",
             Cmd(k("apply", "-f", "-"), stdin=to_yaml(namespace())),
             source=V + "config/crds/policies.kyverno.io/policies.kyverno.io_imagevalidatingpolicies.yaml"),
        Step("Publish the lab's public key to the policy (a ConfigMap)",
             Cmd(k("create", "configmap", KEY_CONFIGMAP, "-n", NAMESPACE,
                   f"--from-file=key={kind_dir(cfg.name) / 'keys' / 'cosign.pub'}")),
             check=Cmd(k("get", "configmap", KEY_CONFIGMAP, "-n", NAMESPACE)),
             source=V + "test/conformance/chainsaw/image-validating-policies/standard/notary-configmap-cert/"
                        "policy.yaml"),
        Step("Apply the ImageValidatingPolicy", Cmd(k("apply", "-f", "-"), stdin=to_yaml(policy())),
             source=V + "test/conformance/chainsaw/image-validating-policies/standard/"
                        "cosign-attestation-extract-cache-hit/policy.yaml"),
        Step("Wait until the policy is ready (its webhook is configured)",
             Cmd(k("wait", f"imagevalidatingpolicy/{POLICY}", "--for=jsonpath={.status.conditionStatus.ready}=true",
                   "--timeout=120s")), timeout=150,
             source=V + "test/conformance/chainsaw/_step-templates/image-validating-policy-ready.yaml"))


def uninstall(target: KubeTarget, cfg: ClusterConfig) -> Plan:
    k = target.kubectl
    plan = Plan("Remove the admission policy and Kyverno").add(
        Step("Delete the policy", Cmd(k("delete", "imagevalidatingpolicy", POLICY, "--ignore-not-found")),
             source=V + "charts/kyverno/README.md"),
        Step("Uninstall Kyverno (its pre-delete hook removes the webhooks)",
             Cmd(target.helm("uninstall", "kyverno", "--namespace", "kyverno", "--ignore-not-found")), timeout=300,
             source=V + "charts/kyverno/values.yaml"),
        Step("Delete its namespace", Cmd(k("delete", "namespace", "kyverno", "--ignore-not-found")), timeout=300,
             source=V + "charts/kyverno/README.md"))
    for node in cfg.node_names():
        plan.add(Step(f"Remove the {IN_CLUSTER} hosts.toml on {node}",
                      Cmd(("docker", "exec", node, "rm", "-rf", f"/etc/containerd/certs.d/{IN_CLUSTER}")),
                      source=HOSTS_DOC))
    return plan


def manifests() -> list[dict[str, Any]]:
    return [namespace(), policy()]


kyverno_policy = policy
