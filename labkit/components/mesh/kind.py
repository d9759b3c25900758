"""Service meshes on kind: Linkerd (edge) and Istio (sidecar, ambient), installed the upstream way, with sources.

``labkit up --mesh linkerd|istio|istio-ambient`` adds, after the cluster and its CNI, the mesh's install plan
(Helm charts pinned in environments/versions.yaml, values from environments/mesh/ with a source for every key),
readiness waits, and the verify of :mod:`labkit.components.mesh.kind_objects`: a meshed call whose server saw the
caller's identity, plaintext refused, the wrong identity refused, the wire captured. One mesh per cluster:
install, measure, uninstall, then the next.

Kind gotchas handled: Linkerd needs the Gateway API CRDs before its control plane (installed first, v1.5.1, the
version its healthcheck names); Linkerd's trust anchor and issuer are made by labkit (Python ``cryptography``,
ECDSA P-256) instead of the ``step`` CLI of its docs; Istio's default requests (istiod 500m/2 GiB, ztunnel 200m/512
MiB per node) are lowered to fit a laptop; ambient's node agents need the inotify limits kind's known issues name.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit._run import Cmd
from labkit.components.base import NotInstalled, Option, Options, load_values
from labkit.components.kube import rollout_step
from labkit.components.mesh import kind_objects as objects
from labkit.errors import Unavailable
from labkit.paths import labkit_home
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig, node_image_pin
from labkit.targets.kube import KubeTarget

TIMEOUT = 600.0
LINKERD_DOCS = "https://github.com/linkerd/website/blob/{commit}/linkerd.io/content/2-edge/{path}"
LINKERD = "https://github.com/linkerd/linkerd2/blob/{version}/{path}"
ISTIO = "https://github.com/istio/istio/blob/{version}/{path}"
INOTIFY = {"max_user_watches": 524288, "max_user_instances": 512}


def kind_doc(path: str) -> str:
    """A file of kubernetes-sigs/kind at the release that published the pinned node image."""
    return f"https://github.com/kubernetes-sigs/kind/blob/v{node_image_pin().min_kind}/{path}"


def k8s_source(path: str) -> str:
    """A file of kubernetes/kubernetes at the release inside the pinned node image."""
    tag = node_image_pin().tag.rsplit(":", 1)[1].split("@")[0]
    return f"https://github.com/kubernetes/kubernetes/blob/{tag}/{path}"


def kubectl_wait_source() -> str:
    return k8s_source("staging/src/k8s.io/kubectl/pkg/cmd/wait/wait.go")


def inotify_problem(read: Any = None) -> str:
    """Why this host's inotify limits are too low for ambient's node agents ("" when they are fine)."""
    read = read or (lambda name: int(Path(f"/proc/sys/fs/inotify/{name}").read_text()))
    low = []
    for name, want in INOTIFY.items():
        try:
            have = read(name)
        except (OSError, ValueError):
            continue
        if have < want:
            low.append(f"fs.inotify.{name}={have} (kind's known issues: {want})")
    return "; ".join(low)


@dataclass(frozen=True)
class MeshOption(Option):
    component = "mesh"
    proxy: str = ""  # the data-plane proxy, for the options table

    def tools(self) -> frozenset[str]:
        return frozenset({"helm"})

    def helm_values(self, cfg: ClusterConfig | None = None) -> dict[str, Any] | None:
        return load_values(str(self.pin["values"]))

    def _values(self, key: str = "values") -> str:
        from labkit.manifests import to_yaml

        return to_yaml([load_values(str(self.pin[key]))])

    def repo_step(self, target: KubeTarget, source: str) -> Step:
        return Step(f"Add the {self.pin['repo_name']} Helm repository",
                    Cmd((target.helm_bin, "repo", "add", str(self.pin["repo_name"]), str(self.pin["repo"]),
                         "--force-update")), why="the charts are published there", source=source)

    def before_create(self, cfg: ClusterConfig) -> list[Plan]:
        return [objects.build_plan()]  # the verify's pods run labkit's mesh-app image, loaded into the nodes

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None) -> Plan:
        return objects.verify_plan(target, self.name, image=image)

    def manifests(self, cfg: ClusterConfig) -> list[dict[str, Any]]:
        from labkit.versions import tools_image

        return objects.lab_manifests(self.name, tools_image())

    def row(self) -> dict[str, Any]:
        return {"option": self.name, "version": self.version, "data plane": self.proxy, "on kind": "yes"}


@dataclass(frozen=True)
class Linkerd(MeshOption):
    name: str = "linkerd"
    title: str = "Linkerd (edge, Helm)"
    proxy: str = "linkerd2-proxy (Rust) as a native sidecar"
    design: str = ("Linkerd injects its own small proxy (linkerd2-proxy, written in Rust for this one job) into each "
                   "meshed pod, as a native sidecar. The identity controller signs a 24-hour certificate for each "
                   "pod's ServiceAccount from an issuer you provide, under a trust anchor you provide; mTLS between "
                   "meshed pods is on by default. Policy (who may call whom) is Server + AuthorizationPolicy; "
                   "routing uses the Gateway API types. History: Linkerd 1 (2016) ran on the JVM (Scala, Finagle) "
                   "as a per-host proxy; Buoyant's Conduit (2017), a Rust data plane and Go control plane, was "
                   "merged back as Linkerd 2.0 in 2018.")

    def doc(self, path: str) -> str:
        return LINKERD_DOCS.format(commit=self.pin["docs_commit"], path=path)

    def src(self, path: str, line: str = "") -> str:
        return LINKERD.format(version=self.version, path=path) + (f"#{line}" if line else "")

    def identity_dir(self, target: KubeTarget) -> Path:
        return labkit_home() / "mesh" / target.name / "linkerd-identity"

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        k, gw = target.kubectl, self.pin["gateway_api"]
        d = self.identity_dir(target)
        chart = str(self.pin["chart_version"])
        return Plan(f"Install Linkerd {self.version} (charts {chart})").add(
            self.repo_step(target, self.doc("tasks/install-helm.md")),
            Step(f"Install the Gateway API CRDs {gw['version']} (standard channel)",
                 Cmd(k("apply", "--server-side", "-f", str(gw["manifest"]))),
                 why="Linkerd's policy controller watches Gateway API routes it finds at startup: they must exist "
                     "first; linkerd-crds' own copy (installGatewayAPI) stays off", source=self.src(
                     "pkg/healthcheck/healthcheck.go")),
            Step("Wait until the route CRDs are established",
                 Cmd(k("wait", "--for=condition=Established", "crd/httproutes.gateway.networking.k8s.io",
                       "crd/grpcroutes.gateway.networking.k8s.io", "--timeout=60s")), timeout=90,
                 source=kubectl_wait_source()),
            Step("Make the trust anchor and the identity issuer (ECDSA P-256)",
                 Cmd((sys.executable, "-m", "labkit.components.mesh.kind_certs", str(d))),
                 why="labkit makes them with Python cryptography (the docs use the step CLI): root "
                     "CA:TRUE pathlen 1, issuer pathlen 0, 1 year; the issuer key is written 0600 and passed by file",
                 check=Cmd(("test", "-s", str(d / "issuer.key"))), source=self.doc("tasks/generate-certificates.md")),
            Step(f"Install linkerd-crds {chart}", Cmd(target.helm(
                "upgrade", "--install", "linkerd-crds", str(self.pin["chart_crds"]), "--version", chart,
                "--namespace", "linkerd", "--create-namespace", "--wait")), timeout=timeout,
                source=self.doc("tasks/install-helm.md")),
            Step(f"Install linkerd-control-plane {chart}", Cmd(target.helm(
                "upgrade", "--install", "linkerd-control-plane", str(self.pin["chart"]), "--version", chart,
                "--namespace", "linkerd", "--set-file", f"identityTrustAnchorsPEM={d / 'ca.crt'}",
                "--set-file", f"identity.issuer.tls.crtPEM={d / 'issuer.crt'}",
                "--set-file", f"identity.issuer.tls.keyPEM={d / 'issuer.key'}", "--values", "-", "--wait",
                f"--timeout={timeout:g}s"), stdin=self._values()),
                why=f"values from environments/{self.pin['values']} (disableHeartBeat); the three PEMs are required "
                    "by the chart", timeout=timeout + 30, source=self.doc("tasks/install-helm.md")),
            *[rollout_step(target, "linkerd", f"deployment/linkerd-{d_}", timeout, f"Wait for linkerd-{d_}",
                           source=self.src(f"charts/linkerd-control-plane/templates/{d_}.yaml"))
              for d_ in ("identity", "destination", "proxy-injector")])

    def uninstall(self, target: KubeTarget) -> Plan:
        k = target.kubectl
        return Plan("Remove Linkerd").add(
            objects.delete_lab_step(target, source=self.doc("tasks/uninstall.md")),
            Step("Uninstall linkerd-control-plane", Cmd(target.helm("uninstall", "linkerd-control-plane", "--namespace",
                                                                    "linkerd", "--ignore-not-found", "--wait")),
                 timeout=300, source=self.doc("tasks/install-helm.md")),
            Step("Uninstall linkerd-crds", Cmd(target.helm("uninstall", "linkerd-crds", "--namespace", "linkerd",
                                                           "--ignore-not-found")), timeout=300,
                 source=self.doc("tasks/install-helm.md")),
            Step("Delete the linkerd namespace", Cmd(k("delete", "namespace", "linkerd", "--ignore-not-found")),
                 why="helm does not remove a namespace it created with --create-namespace", timeout=300,
                 source="labkit: helm uninstall leaves the --create-namespace namespace behind; labkit made it"),
            Step("Delete the Gateway API CRDs labkit installed",
                 Cmd(k("delete", "-f", str(self.pin["gateway_api"]["manifest"]), "--ignore-not-found")), timeout=300,
                 source="labkit: the reverse of its own install step (only on a cluster labkit made for the mesh)"))


@dataclass(frozen=True)
class Istio(MeshOption):
    name: str = "istio"
    title: str = "Istio (sidecar mode, Helm)"
    proxy: str = "Envoy (istio-proxy) as a sidecar"
    ambient: bool = False
    design: str = ("Istio injects Envoy (istio-proxy) into each pod of a labelled namespace; istiod is the "
                   "control plane: it watches Kubernetes, turns Services and policies into Envoy configuration "
                   "(xDS, pushed over gRPC) and signs each workload's SPIFFE certificate. PeerAuthentication STRICT "
                   "refuses plaintext; AuthorizationPolicy names the principals allowed.")

    def src(self, path: str, line: str = "") -> str:
        return ISTIO.format(version=self.version, path=path) + (f"#{line}" if line else "")

    def _chart(self, target: KubeTarget, release: str, chart: str, readme: str, values: str | None = None, *,
               timeout: float, create: bool = False) -> Step:
        argv = ["upgrade", "--install", release, f"istio/{chart}", "--version", self.version, "--namespace",
                "istio-system", *(["--create-namespace"] if create else []), *(["--values", "-"] if values else []),
                "--wait", f"--timeout={timeout:g}s"]
        return Step(f"Install istio/{chart} {self.version}", Cmd(target.helm(*argv),
                                                                 stdin=self._values(values) if values else None),
                    why=f"values from environments/{self.pin[values]}" if values else "chart defaults",
                    timeout=timeout + 30, source=self.src(f"manifests/charts/{readme}/README.md"))

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        mode = "ambient" if self.ambient else "sidecar"
        plan = Plan(f"Install Istio {self.version} ({mode} mode)").add(
            self.repo_step(target, self.src("manifests/charts/base/README.md")),
            self._chart(target, "istio-base", "base", "base", timeout=timeout, create=True),
            self._chart(target, "istiod", "istiod", "istio-control/istio-discovery", "values", timeout=timeout))
        if self.ambient:  # istio-system, as Istio's ambient Helm guide installs it (the chart README shows kube-system)
            plan.add(self._chart(target, "istio-cni", "cni", "istio-cni", "values_cni", timeout=timeout),
                     self._chart(target, "ztunnel", "ztunnel", "ztunnel", "values_ztunnel", timeout=timeout))
        plan.add(rollout_step(target, "istio-system", "deployment/istiod", timeout, "Wait for istiod",
                              source=self.src("manifests/charts/istio-control/istio-discovery/templates/deployment.yaml")))
        if self.ambient:
            plan.add(rollout_step(target, "istio-system", "daemonset/istio-cni-node", timeout,
                                  "Wait for the CNI node agent on every node",
                                  source=self.src("manifests/charts/istio-cni/templates/daemonset.yaml")),
                     rollout_step(target, "istio-system", "daemonset/ztunnel", timeout,
                                  "Wait for ztunnel on every node",
                                  source=self.src("manifests/charts/ztunnel/templates/daemonset.yaml")))
        return plan

    def check_host(self) -> None:
        problem = inotify_problem() if self.ambient else ""
        if problem:
            raise Unavailable(f"ambient's node agents (istio-cni, ztunnel) on kind need more inotify than this host "
                              f"allows: {problem}", fix="sudo sysctl fs.inotify.max_user_watches=524288 && sudo sysctl "
                              "fs.inotify.max_user_instances=512 (kind's known issues: 'too many open files')")

    def uninstall(self, target: KubeTarget) -> Plan:
        k = target.kubectl
        releases = (["ztunnel", "istio-cni"] if self.ambient else []) + ["istiod", "istio-base"]
        return Plan(f"Remove Istio ({'ambient' if self.ambient else 'sidecar'})").add(
            objects.delete_lab_step(target, source=self.src("manifests/charts/README.md")),
            *[Step(f"Uninstall {r}", Cmd(target.helm("uninstall", r, "--namespace", "istio-system",
                                                     "--ignore-not-found", "--wait")), timeout=300,
                   source=self.src("manifests/charts/base/README.md")) for r in releases],
            Step("Delete Istio's CRDs", Cmd(k("delete", "crd", "-l", "app.kubernetes.io/part-of=istio",
                                              "--ignore-not-found")),
                 why="the base chart templates them with helm.sh/resource-policy: keep, so uninstall leaves them",
                 timeout=300, source=self.src("manifests/charts/base/templates/zzz_profile.yaml", "L61-L68")),
            Step("Delete the istio-system namespace", Cmd(k("delete", "namespace", "istio-system",
                                                            "--ignore-not-found")), timeout=300,
                 source="labkit: helm uninstall leaves the --create-namespace namespace behind; labkit made it"))


def _istio_ambient() -> Istio:
    return Istio(name="istio-ambient", title="Istio ambient (ztunnel per node, Helm)", ambient=True,
                 proxy="ztunnel (Rust, per node, L4) — no sidecar",
                 design="Ambient mode drops the sidecar: the istio-cni node agent redirects a labelled namespace's "
                        "traffic to ztunnel, one per node, which does mTLS (HBONE, port 15008) and L4 policy for "
                        "every pod on its node. L7 features (retries, splits, header policy) need a waypoint proxy "
                        "(an Envoy per namespace or service), installed only when wanted.")


OPTIONS = Options("mesh", "service mesh", {
    "linkerd": Linkerd(),
    "istio": Istio(),
    "istio-ambient": _istio_ambient(),
    "envoy-sidecar": NotInstalled("envoy-sidecar", "Envoy sidecars built by hand",
                                  "the hand-built mesh runs on the Docker engine, not on kind",
                                  fix="mesh.Mesh.up(scope) or `python -m labkit.components.mesh up` (engine tier)",
                                  columns={"data plane": "Envoy 1.40 (engine tier)", "on kind": "no: engine tier"}),
    "osm": NotInstalled("osm", "Open Service Mesh", "the project announced its archival on 2023-05-04 (its team moved "
                        "to Istio); no maintained release",
                        fix="choose linkerd or istio", retired=True,
                        columns={"data plane": "Envoy", "on kind": "no: retired"}),
}, example="e.g. `labkit up --mesh linkerd`")
INSTALLABLE = OPTIONS.installable


def option(name: str) -> MeshOption:
    return OPTIONS.get(name)  # type: ignore[return-value]


def options_table() -> Any:
    return OPTIONS.table()
