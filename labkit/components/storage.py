"""Storage options on kind: local-path, OpenEBS LocalPV hostpath, Longhorn — installed, then proven.

Like the CNIs (:mod:`labkit.components.network`), each option answers: what it needs from
the cluster (Longhorn: a node image with open-iscsi), its install plan (Helm with pinned
chart and values from ``environments/storage/``), its StorageClass, and a **persistence
verify** that is the same for every option:

1. a PVC is created; with ``WaitForFirstConsumer`` it stays Pending *on purpose* until a
   pod uses it, so the plan creates the writer pod and then waits for Bound;
2. the writer stores random bytes in a file named by their sha256 and prints the name;
3. the writer pod is deleted; a new pod mounts the same PVC and checks the file against
   its name (``sha256sum -c``): the data outlived the pod;
4. for replicated options the plan reports how many replicas the volume has.

Rook-Ceph, StorageOS/Ondat and Portworx are :class:`Elsewhere`: explained, not installed on
kind (Rook: "never test on your host"; privileged kind nodes see every host device); the
same verify and fio benchmark run against them on a real cluster via ``labkit.connect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components import rollout_step as _rollout, to_yaml
from labkit.config import ClusterConfig, node_image
from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.steps import Plan, Step
from labkit.target import KubeTarget
from labkit.versions import environments_dir, pins

NAMESPACE = "labkit-verify-storage"
LABELS = {"io.labkit.managed": "true", "io.labkit.role": "verify-storage"}


def _pins(name: str) -> dict[str, Any]:
    return dict(pins()["components"]["storage"][name])


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)}


# -- the persistence verify ---------------------------------------------------------------------------

WRITE = ("head -c 1048576 /dev/urandom > /data/new && sum=$(sha256sum /data/new | cut -c1-64) "
         "&& mv /data/new /data/$sum && sync && echo $sum")


def _pod(name: str, image: str, command: list[str], restart: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name),
            "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                     "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                      "effect": "NoSchedule"}],
                     "containers": [{"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                                     "command": command, "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}


def verify_manifests(storage_class: str, image: str, *, size: str = "1Gi") -> dict[str, list[dict[str, Any]]]:
    """The verify's objects by stage: ``claim`` (namespace, PVC, writer) and ``reader``."""
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("data"),
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                    "resources": {"requests": {"storage": size}}}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(LABELS)}}
    return {"claim": [ns, pvc, _pod("writer", image, ["sh", "-c", WRITE], "Never")],
            "reader": [_pod("reader", image, ["sleep", "infinity"], "Always")]}


def verify_plan(target: KubeTarget, *, storage_class: str, image: str, option: str,
                replicas_of: tuple[str, str] | None = None, timeout_s: int = 300) -> Plan:
    """Prove that data on a PVC of ``storage_class`` survives its pod. ``replicas_of`` = (namespace, resource)
    of the storage system's volume objects (Longhorn: volumes.longhorn.io) to report the replica count."""
    k = target.kubectl
    ns = ("-n", NAMESPACE)
    objs = verify_manifests(storage_class, image)
    diag = (Cmd(k("get", "pvc,pods", *ns, "-o", "wide")), Cmd(k("describe", "pvc", *ns, "data")),
            Cmd(k("get", "events", *ns, "--sort-by=.lastTimestamp")))
    p = Plan(f"Verify persistence ({option}, StorageClass {storage_class})").add(
        Step("Show the StorageClass", Cmd(k("get", "storageclass", storage_class, "-o", "wide")),
             why="its provisioner, reclaim policy and volumeBindingMode (WaitForFirstConsumer delays binding)",
             diagnose=(Cmd(k("get", "storageclass")),)),
        Step("Create a PVC and a writer pod that uses it", Cmd(k("apply", "-f", "-"), stdin=to_yaml(objs["claim"])),
             why="with WaitForFirstConsumer the PVC binds only once a pod needs it, so the consumer comes with it"),
        Step("Wait for the PVC to be Bound", Cmd(k("wait", *ns, "--for=jsonpath={.status.phase}=Bound", "pvc/data",
                                                   f"--timeout={timeout_s}s")),
             why="the provisioner made a volume on the node the writer was scheduled to", timeout=timeout_s + 30,
             diagnose=diag),
        Step("Wait for the writer to finish", Cmd(k("wait", *ns, "--for=jsonpath={.status.phase}=Succeeded",
                                                    "pod/writer", f"--timeout={timeout_s}s")),
             timeout=timeout_s + 30, diagnose=diag + (Cmd(k("logs", *ns, "writer")),)),
        Step("Read the name of the file it wrote (its sha256)", Cmd(k("logs", *ns, "writer")), capture="SUM"),
        Step("Note the volume behind the claim", Cmd(k("get", "pvc", *ns, "data", "-o",
                                                       "jsonpath={.spec.volumeName}")), capture="PV"),
        Step("Delete the writer pod", Cmd(k("delete", "pod", *ns, "writer", "--wait=true")),
             why="the pod is gone; the PersistentVolume is not"),
        Step("Start a reader pod on the same claim", Cmd(k("apply", "-f", "-"), stdin=to_yaml(objs["reader"]))),
        Step("Wait for the reader", Cmd(k("wait", *ns, "--for=condition=Ready", "pod/reader",
                                          f"--timeout={timeout_s}s")), timeout=timeout_s + 30, diagnose=diag),
        Step("The data survived: the file still matches its checksum",
             Cmd(k("exec", *ns, "reader", "--", "sh", "-c", "echo ${SUM}  /data/${SUM} | sha256sum -c")),
             expect="/data/<sha256>: OK"),
    )
    if replicas_of:
        rns, resource = replicas_of
        p.add(Step("How many replicas does the volume have?",
                   Cmd(k("get", resource, "-n", rns, "${PV}", "-o", "jsonpath={.spec.numberOfReplicas}")),
                   capture="REPLICAS",
                   why="on kind all replicas share one host disk: replication's cost, not its durability"))
    return p.add(Step("Remove the verify workloads", Cmd(k("delete", "namespace", NAMESPACE, "--ignore-not-found",
                                                           "--wait=false")),
                      why="the PVC goes with the namespace; its volume is deleted by the reclaim policy"))


# -- options ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StorageOption:
    name: str = ""
    title: str = ""
    version: str = ""
    design: str = ""
    replicated: bool = False

    @property
    def storage_class(self) -> str:
        return str(_pins(self.name)["storage_class"])

    def cluster_overrides(self) -> dict[str, Any]:
        """ClusterConfig fields this option needs (Longhorn: its node image)."""
        return {}

    def check_host(self) -> None:
        """Raise :class:`Unavailable` when this host cannot run the option (before anything is made)."""

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout_s: int = 600) -> Plan:
        raise NotImplementedError

    def verify(self, target: KubeTarget, *, image: str) -> Plan:
        return verify_plan(target, storage_class=self.storage_class, image=image, option=self.name)

    def uninstall(self, target: KubeTarget) -> Plan:
        raise NotImplementedError

    def helm_values(self) -> dict[str, Any] | None:
        p = _pins(self.name)
        if "values" not in p:
            return None
        import yaml

        return dict(yaml.safe_load((environments_dir() / str(p["values"])).read_text()))

    def _helm(self, target: KubeTarget, namespace: str, release: str, timeout_s: int) -> list[Step]:
        import yaml

        p = _pins(self.name)
        return [
            Step(f"Add the {self.name} Helm repository", Cmd((target.helm_bin, "repo", "add", self.name,
                                                              str(p["repo"]), "--force-update"))),
            Step(f"Install (or upgrade) {p['chart']} {self.version}",
                 Cmd(target.helm("upgrade", "--install", release, str(p["chart"]), "--version", self.version,
                                 "--namespace", namespace, "--create-namespace", "--values", "-"),
                     stdin=yaml.safe_dump(self.helm_values(), sort_keys=False)),
                 why=f"values from environments/{p['values']}", timeout=timeout_s)]


@dataclass(frozen=True)
class LocalPath(StorageOption):
    name: str = "local-path"
    title: str = "local-path (kind's default)"
    version: str = "built into the node image"
    design: str = ("Rancher's local-path-provisioner watches PVCs of StorageClass `standard`; when the first pod "
                   "using one is scheduled (WaitForFirstConsumer) it creates a directory on that node and a "
                   "hostPath-like PV pinned to the node by node affinity. No CSI driver, no replication, no "
                   "capacity limits: the volume is a directory on the node's filesystem (here: Docker's disk).")

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout_s: int = 600) -> Plan:
        return Plan("local-path: nothing to install, check that it runs").add(
            _rollout(target, "local-path-storage", "deployment/local-path-provisioner", timeout_s,
                     "Wait for the local-path provisioner"))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("local-path is part of the node image")


@dataclass(frozen=True)
class OpenEBS(StorageOption):
    name: str = "openebs"
    title: str = "OpenEBS LocalPV hostpath (Helm)"
    version: str = ""
    design: str = ("OpenEBS LocalPV hostpath is, like local-path, a directory per volume on the node the pod "
                   "lands on (/var/openebs/local), created by a provisioner pod, with WaitForFirstConsumer "
                   "binding. OpenEBS's other engines — LVM and ZFS LocalPV (need a volume group / zpool per "
                   "node) and Mayastor (replicated, SPDK + NVMe-oF, hugepages) — are turned off on kind.")

    def __post_init__(self) -> None:
        if not self.version:
            object.__setattr__(self, "version", str(_pins("openebs")["version"]))

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout_s: int = 600) -> Plan:
        return Plan(f"Install OpenEBS {self.version} (LocalPV hostpath only)").add(
            *self._helm(target, "openebs", "openebs", timeout_s),
            _rollout(target, "openebs", "deployment/openebs-localpv-provisioner", timeout_s,
                     "Wait for the LocalPV provisioner"),
            Step("Check the StorageClass exists", Cmd(target.kubectl("get", "storageclass", "openebs-hostpath"))))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("Remove OpenEBS").add(Step("Uninstall the Helm release", Cmd(target.helm(
            "uninstall", "openebs", "--namespace", "openebs", "--ignore-not-found")), timeout=300))


@dataclass(frozen=True)
class Longhorn(StorageOption):
    name: str = "longhorn"
    title: str = "Longhorn (Helm)"
    version: str = ""
    replicated: bool = True
    design: str = ("Longhorn runs a manager on every node and, per volume, an engine plus N replicas on "
                   "different nodes; the engine exposes the volume to the node as an iSCSI block device and "
                   "mirrors every write synchronously to each replica over the network. That is why every node "
                   "needs open-iscsi (iscsiadm + iscsid) and a kernel with iSCSI. On kind all replicas sit on "
                   "the same host disk, so you see what replication *costs*, not what it protects.")

    def __post_init__(self) -> None:
        if not self.version:
            object.__setattr__(self, "version", str(_pins("longhorn")["version"]))

    def node_image(self, kubernetes: str | None = None) -> str:
        """The locally built node image with open-iscsi, tagged by the Kubernetes patch version + revision."""
        base = node_image(kubernetes)
        spec = _pins("longhorn")["node_image"]
        ver = base.split(":", 1)[1].split("@", 1)[0]
        return f"{spec['repository']}:{ver}-{spec['revision']}"

    def cluster_overrides(self) -> dict[str, Any]:
        return {"node_image_override": self.node_image()}

    def check_host(self) -> None:
        ok, why = iscsi_support()
        if not ok:
            raise Unavailable(f"Longhorn cannot run on this host: {why}",
                              fix="use a Linux host whose kernel has iSCSI (iscsi_tcp), e.g. `sudo modprobe "
                                  "iscsi_tcp` on Ubuntu/Debian; or choose --storage openebs / local-path")

    def build_plan(self, kubernetes: str | None = None) -> Plan:
        dockerfile = (environments_dir() / str(_pins("longhorn")["node_image"]["dockerfile"])).read_text()
        tag = self.node_image(kubernetes)
        return Plan(f"Build the node image {tag} (kind node + open-iscsi)").add(
            Step("Build it from the pinned kind node image",
                 Cmd(("docker", "build", "--tag", tag, "--build-arg", f"NODE_IMAGE={node_image(kubernetes)}",
                      "-"), stdin=dockerfile),
                 why="stock kind nodes lack open-iscsi and longhorn-manager crash-loops (longhorn#1984)",
                 check=Cmd(("docker", "image", "inspect", tag)), timeout=900,
                 fix="the build runs apt-get inside the kind node image: it needs internet (Debian mirror) and "
                     "the pinned kindest/node image; read the build output above, then run the same command again "
                     "(nothing else was created yet)"))

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout_s: int = 900) -> Plan:
        if cfg.image != self.node_image(cfg.kubernetes):
            raise BadInput("node image for longhorn", cfg.image, self.node_image(cfg.kubernetes),
                           fix="`labkit up --storage longhorn` builds and uses it; with your own config set "
                               "node_image_override to it")
        return Plan(f"Install Longhorn {self.version}").add(
            *self._helm(target, "longhorn-system", "longhorn", timeout_s),
            _rollout(target, "longhorn-system", "daemonset/longhorn-manager", timeout_s,
                     "Wait for longhorn-manager on every node"),
            _rollout(target, "longhorn-system", "deployment/longhorn-driver-deployer", timeout_s,
                     "Wait for the CSI driver deployer"),
            Step("Wait for the Longhorn CSI plugin", Cmd(target.kubectl(
                "wait", "-n", "longhorn-system", "--for=create", "daemonset/longhorn-csi-plugin",
                f"--timeout={timeout_s}s")), timeout=timeout_s + 30),
            _rollout(target, "longhorn-system", "daemonset/longhorn-csi-plugin", timeout_s,
                     "Wait for the CSI plugin on every node"))

    def verify(self, target: KubeTarget, *, image: str) -> Plan:
        return verify_plan(target, storage_class=self.storage_class, image=image, option=self.name,
                           replicas_of=("longhorn-system", "volumes.longhorn.io"))

    def uninstall(self, target: KubeTarget) -> Plan:
        k = target.kubectl
        return Plan("Remove Longhorn").add(
            Step("Allow uninstalling (Longhorn refuses without this flag)",
                 Cmd(k("-n", "longhorn-system", "patch", "settings.longhorn.io", "deleting-confirmation-flag",
                       "--type=merge", "-p", '{"value":"true"}'))),
            Step("Uninstall the Helm release", Cmd(target.helm("uninstall", "longhorn", "--namespace",
                                                               "longhorn-system", "--ignore-not-found")),
                 timeout=600))


def iscsi_support() -> tuple[bool, str]:
    """Does the host kernel offer iSCSI to kind nodes (they share it)? Linux only."""
    import platform
    from pathlib import Path

    if platform.system() != "Linux":
        return False, f"{platform.system()}: Docker Desktop's VM kernel is not known to carry iscsi_tcp"
    if Path("/sys/module/iscsi_tcp").exists():
        return True, "iscsi_tcp loaded"
    release = platform.release()
    mods = Path("/lib/modules") / release
    if mods.is_dir() and any(mods.rglob("iscsi_tcp.ko*")):
        return True, f"iscsi_tcp available as a module for {release} (loaded on first use)"
    return False, f"kernel {release} has no iscsi_tcp (not loaded, no module under {mods})"


@dataclass(frozen=True)
class Elsewhere:
    """An option labkit explains but does not install on kind."""

    name: str
    title: str
    why: str

    def refuse(self) -> LabkitError:
        return Unavailable(f"{self.title} is not installed on kind: {self.why}",
                           fix="run it on VMs or a real cluster, then `labkit.connect(context=...)` runs the same "
                               "persistence verify and fio benchmark there")


OPTIONS: dict[str, Any] = {
    "local-path": LocalPath(),
    "openebs": OpenEBS(),
    "longhorn": Longhorn(),
    "rook-ceph": Elsewhere("rook-ceph", "Rook-Ceph",
                           "Rook warns: always use a virtual machine when testing Rook, never your host, where local "
                           "devices may be consumed; privileged kind nodes see every host /dev, and Ceph OSDs "
                           "want raw disks"),
    "storageos": Elsewhere("storageos", "StorageOS (now Ondat)",
                           "renamed Ondat and no longer maintained as a kind-installable product; no current recipe"),
    "portworx": Elsewhere("portworx", "Portworx", "a commercial product that wants dedicated disks per node and a "
                          "licence; no kind recipe"),
}
INSTALLABLE = tuple(k for k, v in OPTIONS.items() if isinstance(v, StorageOption))


def option(name: str) -> StorageOption:
    if name not in OPTIONS:
        raise BadInput("storage option", name, ", ".join(INSTALLABLE) + " (rook-ceph, storageos, portworx: real "
                       "clusters only)", fix="e.g. `labkit up --storage openebs`")
    opt = OPTIONS[name]
    if isinstance(opt, Elsewhere):
        raise opt.refuse()
    return opt  # type: ignore[no-any-return]


def options_table() -> Any:
    import pandas as pd

    rows = []
    for key, opt in OPTIONS.items():
        if isinstance(opt, Elsewhere):
            rows.append({"option": key, "version": "-", "StorageClass": "-", "replicas": "-",
                         "on kind": "no: " + opt.why.split(";")[0]})
        else:
            rows.append({"option": key, "version": opt.version, "StorageClass": opt.storage_class,
                         "replicas": "yes (synchronous)" if opt.replicated else "no (one node's directory)",
                         "on kind": "yes" + (" (node image + open-iscsi, Linux hosts)" if key == "longhorn" else "")})
    return pd.DataFrame(rows)
