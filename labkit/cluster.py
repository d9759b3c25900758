"""kind clusters as plans: up (create → registry → images → CNI → verify), down, connect.

labkit never touches ``~/.kube/config``: every cluster gets ``<labkit home>/kube/<name>.yaml``
(mode 0600, as kind writes it) and every kubectl/helm step passes ``--kubeconfig``. The
config a cluster was made with is kept beside it (``<name>.config.yaml``), so ``up`` can
tell "the same cluster again" (reused) from "another cluster under that name" (refused).

>>> script = up_script("calico", workers=2)   # nothing runs: explain or inspect it
>>> print(script.explain())                    # doctest: +SKIP
>>> up("calico", workers=2)                    # doctest: +SKIP  runs exactly that
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit._run import Cmd, Runner, default_runner
from labkit.components import network
from labkit.config import REGISTRY_PORT, ClusterConfig
from labkit.errors import BadInput, DockerUnavailable, LabkitError, Unavailable
from labkit.log import log
from labkit.steps import Plan, Script, Step
from labkit.target import KubeTarget, kubeconfig_path
from labkit.versions import pins, tools_image

__all__ = ["ClusterConflict", "Connected", "connect", "create_plan", "delete_plan", "down", "gates", "kubeconfig_path",
           "load_images", "registry_plan", "up", "up_script"]


class ClusterConflict(LabkitError):
    """A kind cluster of that name exists but was made with another config."""


def saved_config_path(name: str) -> Path:
    return kubeconfig_path(name).with_name(f"{name}.config.yaml")


# -- plans ------------------------------------------------------------------------------------------

def create_plan(cfg: ClusterConfig, *, kind: str = "kind", kubectl: str = "kubectl", wait_s: int = 180) -> Plan:
    """Create the cluster from ``cfg`` (skipped if a cluster of that name answers), then wait for its nodes."""
    kc = str(kubeconfig_path(cfg.name))
    argv = [kind, "create", "cluster",
            "--name", cfg.name,                  # labkit's clusters all start with "labkit"
            "--config", "-",                     # the config below, on stdin
            "--kubeconfig", kc]                  # a kubeconfig of the lab's own (0600)
    if not cfg.disable_default_cni:
        argv += ["--wait", f"{wait_s}s"]         # until the control plane is Ready (needs a CNI)
    plan = Plan(f"Create kind cluster {cfg.name}").add(
        Step("Create the kind cluster", Cmd(tuple(argv), stdin=cfg.to_yaml()),
             why=f"{cfg.control_planes} control plane(s) and {cfg.workers} worker(s) as Docker containers, "
                 f"node image {cfg.image}",
             check=Cmd((kubectl, "--kubeconfig", kc, "get", "--raw", "/readyz")),
             timeout=wait_s + 600,
             diagnose=(Cmd(("docker", "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={cfg.name}")),
                       Cmd((kind, "export", "logs", "--name", cfg.name)))))
    if not cfg.disable_default_cni:  # without a CNI nodes stay NotReady until the network chapter installs one
        plan.add(Step("Wait for every node to be Ready",
                      Cmd((kubectl, "--kubeconfig", kc, "wait", "--for=condition=Ready", "nodes", "--all",
                           f"--timeout={wait_s}s")),
                      why="kubelet, kube-proxy and the CNI are up on every node",
                      timeout=wait_s + 30,
                      diagnose=(Cmd((kubectl, "--kubeconfig", kc, "get", "nodes", "-o", "wide")),
                                Cmd((kubectl, "--kubeconfig", kc, "get", "events", "-A",
                                     "--sort-by=.lastTimestamp")))))
    return plan


def delete_plan(name: str, *, kind: str = "kind") -> Plan:
    return Plan(f"Delete kind cluster {name}").add(
        Step("Delete the kind cluster", Cmd((kind, "delete", "cluster", "--name", name,
                                             "--kubeconfig", str(kubeconfig_path(name)))),
             why="removes its node containers and network; the lab's kubeconfig entry goes with it"))


def _registry() -> dict[str, Any]:
    return dict(pins()["components"]["registry"])


def registry_configmap(port: int = REGISTRY_PORT) -> dict[str, Any]:
    """KEP-1755's ``local-registry-hosting`` ConfigMap: tells tools where the cluster's registry is."""
    import yaml

    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "local-registry-hosting", "namespace": "kube-public",
                         "labels": {"io.labkit.managed": "true", "io.labkit.role": "registry"}},
            "data": {"localRegistryHosting.v1": yaml.safe_dump(
                {"host": f"localhost:{port}", "help": "https://kind.sigs.k8s.io/docs/user/local-registry/"},
                sort_keys=False)}}


def registry_plan(cfg: ClusterConfig, target: KubeTarget) -> Plan:
    """kind's documented local registry: one ``registry`` container, every node told to use it."""
    reg = _registry()
    name, port, image = str(reg["name"]), int(reg["host_port"]), str(reg["image"])
    hosts_dir = f"/etc/containerd/certs.d/localhost:{port}"
    plan = Plan(f"Wire the local registry localhost:{port} into {cfg.name}").add(
        Step("Start the registry container (shared by every lab cluster)",
             Cmd(("docker", "run", "-d", "--restart=always", "-p", f"127.0.0.1:{port}:5000", "--network", "bridge",
                  "--name", name, "--label", "io.labkit.managed=true", "--label", "io.labkit.role=registry", image)),
             why=f"the host pushes to localhost:{port}; pods and nodes reach it as {name}:5000",
             check=Cmd(("docker", "inspect", "--format", "{{.State.Running}}", name)), timeout=300))
    from labkit.components.network import node_names

    hosts_toml = f'[host."http://{name}:5000"]\n'
    for node in node_names(cfg):
        plan.add(Step(f"Tell containerd on {node} where localhost:{port} is",
                      Cmd(("docker", "exec", "-i", node, "sh", "-c",
                           f"mkdir -p {hosts_dir} && cat > {hosts_dir}/hosts.toml"), stdin=hosts_toml),
                      why="containerd reads /etc/containerd/certs.d (kind node images since v0.27)"))
    return plan.add(
        Step("Attach the registry to the kind network",
             Cmd(("docker", "network", "connect", "kind", name)),
             why="so nodes resolve and reach it by name",
             check=Cmd(("docker", "exec", node_names(cfg)[0], "getent", "hosts", name))),
        Step("Publish the registry's address in the cluster (local-registry-hosting)",
             Cmd(target.kubectl("apply", "-f", "-"), stdin=_yaml(registry_configmap(port)))))


def load_images_plan(target: KubeTarget, images: list[str]) -> Plan:
    for image in images:
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            raise BadInput("image to load", image, "an explicit tag other than :latest",
                           fix="tag it (e.g. labkit/tools:0.2.0): with :latest the kubelet's pull policy is Always "
                               "and pods fail with ErrImagePull")
    if not target.kind_cluster:
        raise BadInput("cluster for kind load", target.name, "a kind cluster labkit made",
                       fix="push the image to a registry your cluster can pull from")
    return Plan(f"Load images into {target.kind_cluster}'s nodes").add(*[
        Step(f"Load {image}", Cmd((target.kind, "load", "docker-image", image, "--name", target.kind_cluster)),
             why="copies the image into containerd on every node, so pods start without a registry", timeout=600)
        for image in images])


def _yaml(obj: dict[str, Any]) -> str:
    from labkit.components import to_yaml

    return to_yaml([obj])


def cluster_config(cni: str = "kindnet", *, workers: int = 2, name: str | None = None, kubernetes: str | None = None,
                   allow_cgroup_v1: bool = False, storage: str | None = None, **overrides: Any) -> ClusterConfig:
    """The config for a cluster running ``cni`` (and ``storage``): its kind profile plus what they need."""
    opt = network.option(cni)
    extra: dict[str, Any] = {"workers": workers, **overrides}
    if storage:
        from labkit.components import storage as storage_mod

        sopt = storage_mod.option(storage)
        extra.update(sopt.cluster_overrides())
        if isinstance(sopt, storage_mod.Longhorn):
            extra["node_image_override"] = sopt.node_image(kubernetes)
    if name:
        extra["name"] = name
    if kubernetes:
        extra["kubernetes"] = kubernetes
    if allow_cgroup_v1:
        extra["fail_cgroup_v1"] = False
    return opt.cluster_config(**extra)


def up_script(cni: str = "kindnet", *, workers: int = 2, name: str | None = None, kubernetes: str | None = None,
              verify: bool = True, registry: bool = True, image: str | None = None, allow_cgroup_v1: bool = False,
              storage: str | None = None, target: KubeTarget | None = None,
              cfg: ClusterConfig | None = None) -> Script:
    """Everything ``labkit up`` does, as data: explain it, golden-test it, or run it."""
    from labkit.components import storage as storage_mod

    opt = network.option(cni)
    cni = opt.name  # "calico@v3.31.2" → "calico"
    sopt = storage_mod.option(storage) if storage else None
    if sopt is not None and cni == "none":
        raise BadInput("--storage with --cni", "none", "any CNI but none",
                       fix="storage pods need a pod network: choose a CNI (e.g. --cni kindnet)")
    cfg = cfg or cluster_config(cni, workers=workers, name=name, kubernetes=kubernetes,
                                allow_cgroup_v1=allow_cgroup_v1, storage=storage)
    opt.check_config(cfg)
    target = target or KubeTarget.for_kind(cfg.name)
    image = image or tools_image()
    plans = []
    if isinstance(sopt, storage_mod.Longhorn):
        plans.append(sopt.build_plan(cfg.kubernetes))
    plans.append(create_plan(cfg, kind=target.kind, kubectl=target.kubectl_bin))
    if registry:
        plans.append(registry_plan(cfg, target))
    plans.append(opt.install(target, cfg))
    if verify and cni != "none":
        plans.append(load_images_plan(target, [image]))
        plans.append(opt.verify(target, image=image, cross_node=cfg.control_planes + cfg.workers >= 2))
    if sopt is not None:
        plans.append(sopt.install(target, cfg))
        if verify:
            plans.append(sopt.verify(target, image=image))
    title = f"labkit up --cni {cni}" + (f" --storage {storage}" if storage else "")
    return Script(f"{title}: cluster {cfg.name} with {opt.title}" + (f" and {sopt.title}" if sopt else ""), plans)


# -- preflight --------------------------------------------------------------------------------------

def gates(cfg: ClusterConfig, *, docker_info: dict[str, Any] | None = None, meminfo_gib: float | None = None,
          inotify: tuple[int | None, int | None] | None = None) -> None:
    """Refuse to create a cluster this host cannot run, before anything is made (doctor's blockers for kind)."""
    from labkit import doctor
    from labkit.config import kubernetes_version

    if docker_info is None:
        from labkit import engine

        try:
            docker_info = engine.client().info()
        except LabkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to talk to dockerd
            raise DockerUnavailable(f"Docker is not answering: {exc}", fix="start Docker, then run this again") from exc
    cgroup = str(docker_info.get("CgroupVersion", "2"))
    if cgroup == "1" and cfg.fail_cgroup_v1 and kubernetes_version(cfg.image) >= (1, 35):
        raise Unavailable(f"this host runs cgroup v1, and the kubelet of Kubernetes "
                          f"{'.'.join(map(str, kubernetes_version(cfg.image)))} refuses to start on cgroup v1 "
                          "(kind only warns, then times out)",
                          fix="use a cgroup v2 host (boot with systemd.unified_cgroup_hierarchy=1), or pass "
                              "--allow-cgroup-v1 (sets the kubelet's failCgroupV1: false; deprecated upstream)")
    watches, instances = inotify if inotify is not None else (doctor._read_int("/proc/sys/fs/inotify/max_user_watches"),
                                                              doctor._read_int("/proc/sys/fs/inotify/max_user_instances"))
    nodes = cfg.control_planes + cfg.workers
    if instances is not None and watches is not None and nodes > 1 and (
            instances < doctor.INOTIFY_INSTANCES or watches < doctor.INOTIFY_WATCHES):
        raise Unavailable(f"inotify limits too low for a {nodes}-node cluster (max_user_watches={watches}, "
                          f"max_user_instances={instances}): kubelets fail with 'too many open files'",
                          fix=f"sudo sysctl fs.inotify.max_user_watches={doctor.INOTIFY_WATCHES} "
                              f"fs.inotify.max_user_instances={doctor.INOTIFY_INSTANCES}")
    need = 1.5 + 0.75 * nodes  # GiB: a control plane ~1.5, each extra node and the workloads ~0.75 (measure yours)
    if meminfo_gib is None:
        meminfo_gib = _mem_available_gib()
    if meminfo_gib is not None and meminfo_gib < need:
        raise Unavailable(f"{meminfo_gib:.1f} GiB memory available; a {nodes}-node cluster wants about {need:.1f} GiB",
                          fix="close other workloads, give Docker Desktop more memory, or use --workers 1")


def _mem_available_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024**2
    except (OSError, ValueError):
        return None
    return None


def _tools_for(cni: str, registry: bool) -> dict[str, str]:
    """Resolve the CLIs a plan needs (kind, kubectl, helm for Cilium); missing or too old → ToolMissing."""
    from labkit import tools

    found = {"kind": tools.require("kind"), "kubectl": tools.require("kubectl"), "helm": "helm"}
    if cni.startswith("cilium"):
        found["helm"] = tools.require("helm")
    need = ["docker"] + (["curl", "tar", "sha256sum"] if cni == "flannel" else [])
    for cli in need:
        if shutil.which(cli) is None:
            from labkit.errors import ToolMissing

            raise ToolMissing(cli, "not found on PATH", fix=f"install {cli}")
    return found


def existing_clusters(kind: str = "kind", runner: Runner | None = None) -> list[str]:
    res = (runner or default_runner()).run([kind, "get", "clusters"], timeout=60, quiet=True)
    return [line.strip() for line in res.stdout.splitlines() if line.strip() and " " not in line.strip()]


def check_existing(cfg: ClusterConfig, clusters: list[str]) -> bool:
    """True if a cluster of this name exists with the same config (reuse); raise ClusterConflict if different."""
    if cfg.name not in clusters:
        return False
    saved = saved_config_path(cfg.name)
    if saved.is_file() and saved.read_text() == cfg.to_yaml():
        return True
    why = ("it was made with another config:\n" + _diff(saved.read_text(), cfg.to_yaml())) if saved.is_file() \
        else "labkit has no record of its config (made by hand or by an older labkit)"
    raise ClusterConflict(f"a kind cluster named {cfg.name} already exists and {why}",
                          fix=f"`labkit down --name {cfg.name}` first, or choose another name with --name")


def _diff(a: str, b: str) -> str:
    import difflib

    return "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), "existing", "requested", lineterm="", n=1))


# -- doing it ---------------------------------------------------------------------------------------

def up(cni: str = "kindnet", *, workers: int = 2, name: str | None = None, kubernetes: str | None = None,
       verify: bool = True, registry: bool = True, allow_cgroup_v1: bool = False, storage: str | None = None,
       runner: Runner | None = None, preflight: bool = True) -> KubeTarget:
    """Create (or reuse) a kind cluster with ``cni`` (and ``storage``) installed and verified; returns its target.

    Interrupted? Run it again: finished steps are skipped. ``down(name)`` removes it."""
    run = runner or default_runner()
    cni = network.option(cni).name
    cfg = cluster_config(cni, workers=workers, name=name, kubernetes=kubernetes, allow_cgroup_v1=allow_cgroup_v1,
                         storage=storage)
    if storage and preflight:
        from labkit.components import storage as storage_mod

        storage_mod.option(storage).check_host()
    bins = (_tools_for(cni if not storage or storage == "local-path" else "cilium", registry) if preflight
            else {"kind": "kind", "kubectl": "kubectl", "helm": "helm"})
    target = KubeTarget.for_kind(cfg.name, kind=bins["kind"], kubectl=bins["kubectl"], helm=bins["helm"])
    reuse = check_existing(cfg, existing_clusters(bins["kind"], run))
    if preflight and not reuse:
        gates(cfg)
        if registry:
            _registry_port_ok()
        if verify:
            from labkit import images

            images.ensure_tools()
    if not reuse:
        path = saved_config_path(cfg.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cfg.to_yaml())
    log(("reusing" if reuse else "creating") + f" kind cluster {cfg.name} (kubeconfig {target.kubeconfig})")
    up_script(cni, cfg=cfg, target=target, verify=verify, registry=registry, storage=storage).run(run)
    return target


def _registry_port_ok() -> None:
    from labkit import doctor, engine

    name, port = str(_registry()["name"]), int(_registry()["host_port"])
    try:
        running = engine.client().containers.get(name).status == "running"
    except Exception:  # noqa: BLE001 - not there
        running = False
    if not running and not doctor.port_free(port):
        from labkit.errors import PortInUse

        raise PortInUse(f"port {port} is taken, and the lab's registry must listen there",
                        fix=f"stop what listens on {port} (`ss -ltnp 'sport = :{port}'`), or pass --no-registry")


def down(name: str = "labkit", *, runner: Runner | None = None, kind: str | None = None) -> None:
    """Delete the kind cluster ``name`` and the lab's files for it. Missing is fine (nothing to do)."""
    if not name.startswith("labkit"):
        raise BadInput("cluster name", name, "a labkit cluster (its name starts with 'labkit')",
                       fix="labkit only deletes clusters it made; use `kind delete cluster` for others")
    from labkit import tools

    kind = kind or tools.locate("kind") or "kind"
    delete_plan(name, kind=kind).run(runner)
    for path in (saved_config_path(name), kubeconfig_path(name)):
        path.unlink(missing_ok=True)


def load_images(target: KubeTarget, images: list[str], *, runner: Runner | None = None) -> None:
    load_images_plan(target, images).run(runner)


def kind_available(cni: str = "kindnet") -> tuple[bool, str]:
    """Can ``up(cni)`` run on this machine? (answer, reason) — for notebooks that run live only where it works."""
    from labkit import doctor

    rows = {c.name: c for c in doctor.checks(ports=())}
    need = ["docker daemon", "kind", "kubectl", "privileged containers"] + (["helm"] if cni.startswith("cilium")
                                                                            else [])
    missing = [f"{n}: {rows[n].detail}" for n in need if n in rows and rows[n].status != doctor.OK]
    if missing:
        return False, "; ".join(missing)
    try:
        gates(cluster_config(cni))
    except LabkitError as exc:
        return False, exc.message
    return True, "kind, kubectl, privileged containers and the host limits are fine"


# -- clusters labkit did not make -------------------------------------------------------------------

@dataclass
class Connected:
    """An existing cluster: run the same verify and benchmark steps against it."""

    target: KubeTarget
    api: Any  # labkit.k8s.Cluster
    cni: str | None

    def verify_plan(self, *, cni: str | None = None, image: str | None = None) -> Plan:
        name = cni or self.cni
        if not name:
            raise BadInput("CNI", None, ", ".join(network.CNIS),
                           fix="labkit could not recognise this cluster's CNI from its DaemonSets; pass cni=...")
        nodes = [n for n in self.api.nodes() if n.ready]
        return network.option(name).verify(self.target, image=image or tools_image(), cross_node=len(nodes) >= 2)

    def verify_storage_plan(self, storage_class: str, *, image: str | None = None) -> Plan:
        """The persistence verify against any StorageClass of this cluster (Rook-Ceph, Portworx, …)."""
        from labkit.components import storage

        classes = self.api.storage_classes() if hasattr(self.api, "storage_classes") else None
        if classes is not None and storage_class not in classes:
            raise BadInput("StorageClass", storage_class, ", ".join(classes) or "(none in this cluster)",
                           fix="`kubectl get storageclass` lists them")
        return storage.verify_plan(self.target, storage_class=storage_class, image=image or tools_image(),
                                   option=storage_class)

    def verify(self, *, cni: str | None = None, image: str | None = None, runner: Runner | None = None) -> Plan:
        """Run the network verify; ``image`` must be pullable by this cluster (push the tools image first)."""
        plan = self.verify_plan(cni=cni, image=image)
        plan.run(runner)
        return plan


def connect(context: str | None = None, kubeconfig: str | os.PathLike[str] | None = None, *,
            kubectl: str = "kubectl", helm: str = "helm") -> Connected:
    """Attach to an existing cluster by kubeconfig context (read only: the kubeconfig is never written)."""
    from labkit import k8s

    api = k8s.connect(context=context, kubeconfig=kubeconfig)
    path = str(kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or
               Path.home() / ".kube" / "config")
    target = KubeTarget(name=context or "current-context", kubeconfig=path, context=context,
                        kubectl_bin=kubectl, helm_bin=helm)
    return Connected(target, api, api.detect_cni())
