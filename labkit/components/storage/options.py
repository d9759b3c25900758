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
from labkit.components.base import NotInstalled, Option, Options, load_values, pin
from labkit.components.kube import rollout_step as _rollout
from labkit.components.storage import verify as verify_mod
from labkit.errors import BadInput, Unavailable
from labkit.targets.kernel import iscsi_support
from labkit.steps import Plan, Step
from labkit.targets.kind.config import ClusterConfig, node_image
from labkit.targets.kube import KubeTarget
from labkit.versions import environments_dir

TIMEOUT = 600.0


def _pins(name: str) -> dict[str, Any]:
    return pin("storage", name)


@dataclass(frozen=True)
class StorageOption(Option):
    component = "storage"
    replicated: bool = False

    @property
    def storage_class(self) -> str:
        return str(_pins(self.name)["storage_class"])

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None) -> Plan:
        return verify_mod.plan(target, storage_class=self.storage_class, image=image, option=self.name)

    def stack(self) -> Any:
        """Pod → PVC → PV → provisioner → disk for this option (:class:`~labkit.components.storage.stack.StackFacts`)."""
        from labkit.components.storage import stack

        return stack.FACTS[self.name](self)

    def tools(self) -> frozenset[str]:
        return frozenset({"helm"}) if "chart" in self.pin else frozenset()

    def helm_values(self, cfg: ClusterConfig | None = None) -> dict[str, Any] | None:
        p = _pins(self.name)
        return load_values(str(p["values"])) if "values" in p else None

    def row(self) -> dict[str, Any]:
        return {"option": self.name, "version": self.version, "StorageClass": self.storage_class,
                "replicas": "yes (synchronous)" if self.replicated else "no (one node's directory)",
                "on kind": "yes" + (" (Linux hosts with iSCSI)" if self.replicated else "")}

    def _helm(self, target: KubeTarget, namespace: str, release: str, timeout: int) -> list[Step]:
        import yaml

        p = _pins(self.name)
        return [
            Step(f"Add the {self.name} Helm repository", Cmd((target.helm_bin, "repo", "add", self.name,
                                                              str(p["repo"]), "--force-update"))),
            Step(f"Install (or upgrade) {p['chart']} {self.version}",
                 Cmd(target.helm("upgrade", "--install", release, str(p["chart"]), "--version", self.version,
                                 "--namespace", namespace, "--create-namespace", "--values", "-"),
                     stdin=yaml.safe_dump(self.helm_values(), sort_keys=False)),
                 why=f"values from environments/{p['values']}", timeout=timeout)]


@dataclass(frozen=True)
class LocalPath(StorageOption):
    name: str = "local-path"
    title: str = "local-path (kind's default)"
    version: str = "built into the node image"
    design: str = ("Rancher's local-path-provisioner watches PVCs of StorageClass `standard`; when the first pod "
                   "using one is scheduled (WaitForFirstConsumer) it creates a directory on that node and a "
                   "hostPath-like PV pinned to the node by node affinity. No CSI driver, no replication, no "
                   "capacity limits: the volume is a directory on the node's filesystem (here: Docker's disk).")

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        return Plan("local-path: nothing to install, check that it runs").add(
            _rollout(target, "local-path-storage", "deployment/local-path-provisioner", timeout,
                     "Wait for the local-path provisioner"))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("local-path is part of the node image")


@dataclass(frozen=True)
class OpenEBS(StorageOption):
    name: str = "openebs"
    title: str = "OpenEBS LocalPV hostpath (Helm)"
    design: str = ("OpenEBS LocalPV hostpath is, like local-path, a directory per volume on the node the pod "
                   "lands on (/var/openebs/local), created by a provisioner pod, with WaitForFirstConsumer "
                   "binding. OpenEBS's other engines — LVM and ZFS LocalPV (need a volume group / zpool per "
                   "node) and Mayastor (replicated, SPDK + NVMe-oF, hugepages) — are turned off on kind.")

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        return Plan(f"Install OpenEBS {self.version} (LocalPV hostpath only)").add(
            *self._helm(target, "openebs", "openebs", timeout),
            _rollout(target, "openebs", "deployment/openebs-localpv-provisioner", timeout,
                     "Wait for the LocalPV provisioner"),
            Step("Check the StorageClass exists", Cmd(target.kubectl("get", "storageclass", "openebs-hostpath"))))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("Remove OpenEBS").add(Step("Uninstall the Helm release", Cmd(target.helm(
            "uninstall", "openebs", "--namespace", "openebs", "--ignore-not-found")), timeout=300))


@dataclass(frozen=True)
class Longhorn(StorageOption):
    name: str = "longhorn"
    title: str = "Longhorn (Helm)"
    replicated: bool = True
    design: str = ("Longhorn runs a manager on every node and, per volume, an engine plus N replicas on "
                   "different nodes; the engine exposes the volume to the node as an iSCSI block device and "
                   "mirrors every write synchronously to each replica over the network. That is why every node "
                   "needs open-iscsi (iscsiadm + iscsid) and a kernel with iSCSI. On kind all replicas sit on "
                   "the same host disk, so you see what replication *costs*, not what it protects.")

    def node_image(self, kubernetes: str | None = None) -> str:
        """The locally built node image with open-iscsi, tagged by the Kubernetes patch version + revision."""
        base = node_image(kubernetes)
        spec = _pins("longhorn")["node_image"]
        ver = base.split(":", 1)[1].split("@", 1)[0]
        return f"{spec['repository']}:{ver}-{spec['revision']}"

    def config_needs(self) -> dict[str, Any]:
        return {"node_image_override": self.node_image()}

    def before_create(self, cfg: ClusterConfig) -> list[Plan]:
        return [self.build_plan(cfg.kubernetes)]

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

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = 900.0) -> Plan:
        if cfg.image != self.node_image(cfg.kubernetes):
            raise BadInput("node image for longhorn", cfg.image, self.node_image(cfg.kubernetes),
                           fix="`labkit up --storage longhorn` builds and uses it; with your own config set "
                               "node_image_override to it")
        return Plan(f"Install Longhorn {self.version}").add(
            *self._helm(target, "longhorn-system", "longhorn", timeout),
            _rollout(target, "longhorn-system", "daemonset/longhorn-manager", timeout,
                     "Wait for longhorn-manager on every node"),
            _rollout(target, "longhorn-system", "deployment/longhorn-driver-deployer", timeout,
                     "Wait for the CSI driver deployer"),
            Step("Wait for the Longhorn CSI plugin", Cmd(target.kubectl(
                "wait", "-n", "longhorn-system", "--for=create", "daemonset/longhorn-csi-plugin",
                f"--timeout={timeout:g}s")), timeout=timeout + 30),
            _rollout(target, "longhorn-system", "daemonset/longhorn-csi-plugin", timeout,
                     "Wait for the CSI plugin on every node"))

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None) -> Plan:
        return verify_mod.plan(target, storage_class=self.storage_class, image=image, option=self.name,
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


def _elsewhere(name: str, title: str, why: str) -> NotInstalled:
    return NotInstalled(name, title, why,
                        fix="run it on VMs or a real cluster, then `labkit.connect(context=...)` runs the same "
                            "persistence verify and fio benchmark there",
                        columns={"StorageClass": "-", "replicas": "-", "on kind": "no: " + why.split(";")[0]})


OPTIONS = Options("storage", "storage option", {
    "local-path": LocalPath(),
    "openebs": OpenEBS(),
    "longhorn": Longhorn(),
    "rook-ceph": _elsewhere("rook-ceph", "Rook-Ceph",
                            "Rook warns: always use a virtual machine when testing Rook, never your host, where "
                            "local devices may be consumed; privileged kind nodes see every host /dev, and Ceph "
                            "OSDs want raw disks"),
    "storageos": _elsewhere("storageos", "StorageOS (now Ondat)",
                            "renamed Ondat and no longer maintained as a kind-installable product; no current recipe"),
    "portworx": _elsewhere("portworx", "Portworx", "a commercial product that wants dedicated disks per node and a "
                           "licence; no kind recipe"),
}, example="e.g. `labkit up --storage openebs`")
INSTALLABLE = OPTIONS.installable


def option(name: str) -> StorageOption:
    return OPTIONS.get(name)  # type: ignore[return-value]


def options_table() -> Any:
    return OPTIONS.table()
