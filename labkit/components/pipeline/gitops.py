"""kind tier: pull delivery (GitOps) with Argo CD or Flux, each syncing the app's ``deploy/`` from the forge.

**Push** delivery (the engine tier): CI, which holds credentials to the runtime, deploys. **Pull** delivery:
an agent inside the cluster watches git and makes the cluster match it; CI only commits. Git then records
which digest runs, a rollback is a ``git revert``, and nothing outside the cluster needs its credentials. The
price is the pull interval in the lead time (Argo CD: ``timeout.reconciliation``, 20 s here; Flux: the
GitRepository's ``interval``, 30 s), unless CI asks for a refresh (the verify does both and says which).

``labkit up --pipeline argocd|flux`` installs: the forge and CI tool belt beside kind (:mod:`.kind_forge`),
Kyverno's signature-verifying admission (:mod:`.admission`), then the GitOps controller and the object that
points it at the forge. The verify (:mod:`.kind_verify`) releases a commit and checks it end to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components.base import Option, Options, load_values
from labkit.components.kube import appears_step, rollout_step
from labkit.components.pipeline import admission, kind_forge
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget

APP = "labkit-app"
LABELS = {"io.labkit.managed": "true", "io.labkit.role": "pipeline"}
ARGO_DOCS = "https://github.com/argoproj/argo-cd/blob/v3.4.4/docs/"
ARGO_CHART = "https://github.com/argoproj/argo-helm/blob/argo-cd-10.1.1/charts/argo-cd/"
FLUX = "https://github.com/fluxcd/flux2/blob/v2.9.4/"
KUSTOMIZE_DOC = "https://github.com/fluxcd/kustomize-controller/blob/v1.9.4/docs/spec/v1/kustomizations.md"
SOURCE_DOC = "https://github.com/fluxcd/source-controller/blob/v1.9.4/docs/spec/v1/gitrepositories.md"


def repo_url() -> str:
    forge, _, _ = kind_forge.names()
    return f"http://{forge}:8080/app.git"


@dataclass(frozen=True)
class GitOpsOption(Option):
    component = "pipeline"
    sync_interval_s: float = 0.0

    def tools(self) -> frozenset[str]:
        return frozenset({"helm"})

    def install(self, target: KubeTarget, cfg: ClusterConfig) -> Plan:
        plan = Plan(f"Deployment pipeline on {cfg.name}: forge, signature admission, {self.title}")
        for part in (kind_forge.forge_plan(cfg), admission.install(target, cfg), self.controller(target)):
            plan.add(*part.steps)
        return plan

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None) -> Plan:
        from labkit.components.pipeline import kind_verify

        return kind_verify.plan(self, target, image=image, cfg=cfg)

    def uninstall(self, target: KubeTarget, cfg: ClusterConfig | None = None) -> Plan:
        from labkit.components.up import cluster_config

        cfg = cfg or cluster_config(pipeline=self.name)
        plan = Plan(f"Remove {self.title}, the admission policy and the forge")
        for part in (self.controller_uninstall(target), admission.uninstall(target, cfg),
                     kind_forge.forge_uninstall(cfg)):
            plan.add(*part.steps)
        return plan

    def manifests(self, cfg: ClusterConfig) -> list[dict[str, Any]]:
        return [*admission.manifests(), *self.objects()]

    def row(self) -> dict[str, Any]:
        return {"option": self.name, "version": self.version, "delivery": "pull (GitOps)",
                "pull interval": f"{self.sync_interval_s:g} s", "admission": "Kyverno ImageValidatingPolicy"}

    # -- per option ------------------------------------------------------------------------------------
    def controller(self, target: KubeTarget) -> Plan:
        raise NotImplementedError

    def controller_uninstall(self, target: KubeTarget) -> Plan:
        raise NotImplementedError

    def objects(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def refresh(self, target: KubeTarget) -> list[Step]:
        """Ask for a sync now (the push-style trigger) instead of waiting for the interval."""
        raise NotImplementedError

    def synced(self, target: KubeTarget, timeout: float) -> list[Step]:
        """Wait until the controller applied commit ``${DEPLOY}``."""
        raise NotImplementedError


@dataclass(frozen=True)
class ArgoCD(GitOpsOption):
    name: str = "argocd"
    title: str = "Argo CD"
    sync_interval_s: float = 20.0
    design: str = ("Argo CD's repo-server renders the app's manifests from git (plain YAML, kustomize, Helm); the "
                   "application controller compares them with the cluster and syncs; the UI and API show every "
                   "Application's sync and health. One Application here, synced automatically with prune and "
                   "self-heal. Reconciliation every 20 s (chart default 120 s + up to 60 s jitter).")

    def helm_values(self, cfg: ClusterConfig | None = None) -> dict[str, Any]:
        return load_values(str(self.pin["values"]))

    def objects(self) -> list[dict[str, Any]]:
        return [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                 "metadata": {"name": APP, "namespace": "argocd", "labels": LABELS},
                 "spec": {"project": "default",
                          "source": {"repoURL": repo_url(), "targetRevision": "main", "path": "deploy"},
                          "destination": {"server": "https://kubernetes.default.svc", "namespace": admission.NAMESPACE},
                          "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}}]

    def controller(self, target: KubeTarget, *, timeout: float = 600.0) -> Plan:
        p = self.pin
        plan = Plan(f"Argo CD {p['app_version']} (chart {self.version})").add(
            Step("Add the Argo Helm repository", Cmd((target.helm_bin, "repo", "add", "argo", str(p["repo"]),
                                                      "--force-update")), source=ARGO_CHART + "README.md"),
            Step(f"Install (or upgrade) {p['chart']} {self.version}",
                 Cmd(target.helm("upgrade", "--install", "argocd", str(p["chart"]), "--version", self.version,
                                 "--namespace", "argocd", "--create-namespace", "--values", "-", "--wait",
                                 "--timeout", "10m"), stdin=to_yaml(self.helm_values())),
                 why="values: environments/pipeline/argocd/ (no Dex, no notifications, 20 s reconciliation)",
                 timeout=timeout + 60, source=ARGO_CHART + "values.yaml"))
        for what in ("deployment/argocd-server", "deployment/argocd-repo-server", "deployment/argocd-redis",
                     "deployment/argocd-applicationset-controller", "statefulset/argocd-application-controller"):
            plan.add(rollout_step(target, "argocd", what, timeout, f"Wait for {what}",
                                  source=ARGO_CHART + "templates"))
        return plan.add(
            Step("Point Argo CD at the forge (an Application)", Cmd(target.kubectl("apply", "-f", "-"),
                                                                     stdin=to_yaml(self.objects()[0])),
                 why="anonymous HTTP needs no repository Secret; the Application lives in Argo CD's namespace",
                 source=ARGO_DOCS + "operator-manual/declarative-setup.md"),
            appears_step(target, "argocd", f"application/{APP}", 120, "the API server",
                         source=ARGO_DOCS + "operator-manual/declarative-setup.md"))

    def refresh(self, target: KubeTarget) -> list[Step]:
        return [Step("Ask Argo CD to refresh now", Cmd(target.kubectl(
            "-n", "argocd", "annotate", f"application/{APP}", "argocd.argoproj.io/refresh=normal", "--overwrite")),
            why="the push-style trigger; without it the next reconciliation (≤ 20 s) finds the commit",
            source=ARGO_DOCS + "user-guide/annotations-and-labels.md")]

    def synced(self, target: KubeTarget, timeout: float) -> list[Step]:
        k = target.kubectl
        return [Step("Wait until Argo CD synced the deploy commit",
                     Cmd(k("-n", "argocd", "wait", f"application/{APP}",
                           "--for=jsonpath={.status.sync.revision}=${DEPLOY}", f"--timeout={timeout:g}s")),
                     timeout=timeout + 30, source=ARGO_DOCS + "user-guide/auto_sync.md",
                     diagnose=(Cmd(k("-n", "argocd", "get", f"application/{APP}", "-o", "yaml")),)),
                Step("Check the Application is Synced at that revision",
                     Cmd(k("-n", "argocd", "get", f"application/{APP}", "-o",
                           "jsonpath={.status.sync.status} {.status.sync.revision}")),
                     expect="Synced <the deploy commit>", expect_match=r"^Synced ${DEPLOY}$", retries=30,
                     retry_delay=2, source=ARGO_DOCS + "user-guide/auto_sync.md")]

    def controller_uninstall(self, target: KubeTarget) -> Plan:
        k = target.kubectl
        return Plan("Remove Argo CD").add(
            Step("Delete the Application", Cmd(k("-n", "argocd", "delete", f"application/{APP}", "--ignore-not-found",
                                                 "--wait=true")), timeout=300,
                 source=ARGO_DOCS + "operator-manual/declarative-setup.md"),
            Step("Delete the app's namespace (its objects go with it)",
                 Cmd(k("delete", "namespace", admission.NAMESPACE, "--ignore-not-found")), timeout=300,
                 source=ARGO_DOCS + "operator-manual/declarative-setup.md"),
            Step("Uninstall the chart", Cmd(target.helm("uninstall", "argocd", "--namespace", "argocd",
                                                        "--ignore-not-found")), timeout=300,
                 source=ARGO_CHART + "README.md"),
            Step("Delete Argo CD's CRDs (the chart keeps them: crds.keep)",
                 Cmd(k("delete", "crd", "applications.argoproj.io", "applicationsets.argoproj.io",
                       "appprojects.argoproj.io", "--ignore-not-found")), timeout=300,
                 source=ARGO_CHART + "values.yaml"),
            Step("Delete the argocd namespace", Cmd(k("delete", "namespace", "argocd", "--ignore-not-found")),
                 timeout=300, source=ARGO_CHART + "README.md"))


@dataclass(frozen=True)
class Flux(GitOpsOption):
    name: str = "flux"
    title: str = "Flux"
    sync_interval_s: float = 30.0
    design: str = ("Flux is a set of controllers: source-controller fetches git (a GitRepository) into an "
                   "artifact, kustomize-controller applies it (a Kustomization) and prunes what left git. No UI; "
                   "state is in the objects' status. Installed from the release's install.yaml (all seven "
                   "controllers), pinned by URL; the GitRepository polls every 30 s.")

    def objects(self) -> list[dict[str, Any]]:
        meta = {"namespace": "flux-system", "labels": LABELS}
        return [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                 "metadata": {"name": APP, **meta},
                 "spec": {"interval": "30s", "url": repo_url(), "ref": {"branch": "main"}}},
                {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                 "metadata": {"name": APP, **meta},
                 "spec": {"interval": "1m", "prune": True, "path": "./deploy", "targetNamespace": admission.NAMESPACE,
                          "sourceRef": {"kind": "GitRepository", "name": APP}, "wait": True, "timeout": "2m"}}]

    def controller(self, target: KubeTarget, *, timeout: float = 600.0) -> Plan:
        k = target.kubectl
        plan = Plan(f"Flux {self.version}").add(
            Step(f"Install Flux {self.version} (install.yaml of the release)",
                 Cmd(k("apply", "--server-side", "-f", str(self.pin["manifest"]))), timeout=300,
                 why="the docs' kubectl install; --server-side: Flux's CRDs exceed the client-side annotation limit",
                 source=FLUX + ".github/workflows/release.yaml"))
        for name in ("source-controller", "kustomize-controller", "helm-controller", "notification-controller"):
            plan.add(rollout_step(target, "flux-system", f"deployment/{name}", timeout, f"Wait for {name}",
                                  source=FLUX + f"manifests/bases/{name}/kustomization.yaml"))
        return plan.add(
            Step("Point Flux at the forge (GitRepository + Kustomization)",
                 Cmd(k("apply", "-f", "-"), stdin=to_yaml(self.objects())),
                 why="the branch must be named: a GitRepository defaults to master", source=SOURCE_DOC),
            Step("Wait until Flux fetched the repository", Cmd(k(
                "-n", "flux-system", "wait", f"gitrepository/{APP}", "--for=condition=Ready", "--timeout=120s")),
                timeout=150, source=SOURCE_DOC,
                diagnose=(Cmd(k("-n", "flux-system", "get", f"gitrepository/{APP}", "-o", "yaml")),)))

    def refresh(self, target: KubeTarget) -> list[Step]:
        k = target.kubectl
        return [Step(f"Ask Flux to reconcile the {kind} now", Cmd(k(
            "-n", "flux-system", "annotate", "--overwrite", f"{kind}/{APP}",
            "reconcile.fluxcd.io/requestedAt=${DEPLOY}")),
            why="what `flux reconcile` does; without it the next interval (≤ 30 s) finds the commit",
            source=FLUX + "cmd/flux/reconcile.go") for kind in ("gitrepository", "kustomization")]

    def synced(self, target: KubeTarget, timeout: float) -> list[Step]:
        k = target.kubectl
        return [Step("Wait until Flux applied the deploy commit",
                     Cmd(k("-n", "flux-system", "wait", f"kustomization/{APP}",
                           "--for=jsonpath={.status.lastAppliedRevision}=main@sha1:${DEPLOY}",
                           f"--timeout={timeout:g}s")), timeout=timeout + 30, source=KUSTOMIZE_DOC,
                     diagnose=(Cmd(k("-n", "flux-system", "get", f"kustomization/{APP}", "-o", "yaml")),)),
                Step("Check the GitRepository's artifact is that commit",
                     Cmd(k("-n", "flux-system", "get", f"gitrepository/{APP}", "-o",
                           "jsonpath={.status.artifact.revision}")),
                     expect="main@sha1:<the deploy commit>", expect_match=r"^main@sha1:${DEPLOY}$", retries=30,
                     retry_delay=2, source=SOURCE_DOC)]

    def controller_uninstall(self, target: KubeTarget) -> Plan:
        k = target.kubectl
        return Plan("Remove Flux").add(
            Step("Delete the Kustomization and GitRepository while the controllers run (finalizers, prune)",
                 Cmd(k("-n", "flux-system", "delete", f"kustomization/{APP}", f"gitrepository/{APP}",
                       "--ignore-not-found", "--wait=true")), timeout=300,
                 why="Flux's docs: uninstall with `flux uninstall`; deleting the namespace first leaves finalizers "
                     "hanging. With a flux v2.9.4 CLI, `flux uninstall` replaces the next step",
                 source=KUSTOMIZE_DOC),
            Step("Delete the app's namespace", Cmd(k("delete", "namespace", admission.NAMESPACE, "--ignore-not-found")),
                 timeout=300, source=KUSTOMIZE_DOC),
            Step(f"Delete Flux {self.version}", Cmd(k("delete", "--ignore-not-found", "-f", str(self.pin["manifest"]))),
                 timeout=600, source=FLUX + ".github/workflows/release.yaml"))


OPTIONS = Options("pipeline", "pipeline option", {"argocd": ArgoCD(), "flux": Flux()},
                  example="e.g. `labkit up --pipeline argocd`")
INSTALLABLE = OPTIONS.installable


def option(name: str) -> GitOpsOption:
    return OPTIONS.get(name)  # type: ignore[return-value]


def options_table() -> Any:
    return OPTIONS.table()
