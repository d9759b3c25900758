"""Storage options on kind: local-path, OpenEBS LocalPV hostpath, Longhorn — installed, then proven.

Like the CNIs (:mod:`labkit.components.network`), each option answers: what it needs from
the cluster (Longhorn: two workers, a kernel with iSCSI, iscsid running in every node), its install
plan (Helm with pinned chart and values from ``environments/storage/``), its StorageClass, and a
**persistence verify** that is the same for every option (:mod:`.verify`): a file named by its
sha256 outlives the pod that wrote it; for Longhorn also the volume's health as Longhorn reports it.

Rook-Ceph, StorageOS/Ondat and Portworx are :class:`Elsewhere`: explained, not installed on
kind (Rook: "never test on your host"; privileged kind nodes see every host device); the
same verify and fio benchmark run against them on a real cluster via ``labkit.connect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.components.base import NotInstalled, Option, Options, load_values, pin, values_why
from labkit.components.kube import appears_step as _appears, rollout_step as _rollout
from labkit.components.storage import verify as verify_mod
from labkit.errors import BadInput, Unavailable
from labkit.steps import Plan, Step
from labkit.targets.kernel import iscsi_support
from labkit.targets.kind import sources as src
from labkit.targets.kind.config import ClusterConfig
from labkit.targets.kube import KubeTarget

TIMEOUT = 600.0
MIN_FREE = 0.25  # Longhorn's storage-minimal-available-percentage default (types/setting.go at the tag)
EMPTY = r"\A\s*\Z"  # a list that must be empty (kubectl prints nothing)


def _pins(name: str) -> dict[str, Any]:
    return pin("storage", name)


def docker_disk_free() -> tuple[float, str] | None:
    """(free fraction, path) of the disk behind Docker's root dir, where kind nodes keep their data; None
    when it cannot be read from here (no daemon, or Docker Desktop's VM)."""
    import shutil
    from pathlib import Path

    from labkit import docker
    from labkit.errors import LabkitError

    try:
        root = str(docker.info().get("DockerRootDir") or "")
    except LabkitError:
        return None
    if not root or not Path(root).is_dir():
        return None
    usage = shutil.disk_usage(root)
    return usage.free / usage.total, root


@dataclass(frozen=True)
class StorageOption(Option):
    component = "storage"
    replicated: bool = False

    @property
    def storage_class(self) -> str:
        return str(_pins(self.name)["storage_class"])

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None) -> Plan:
        return verify_mod.plan(target, storage_class=self.storage_class, image=image, option=self.name,
                               provisioner=str(self.pin.get("provisioner") or "") or None,
                               kubernetes=cfg.kubernetes if cfg is not None else None)

    def stack(self) -> Any:
        """Pod → PVC → PV → provisioner → disk for this option
        (:class:`~labkit.components.storage.stack.StackFacts`)."""
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
                "on kind": "yes" + (" (Linux hosts with iSCSI, 2+ workers)" if self.replicated else "")}

    def chart_doc(self, path: str) -> str:
        raise NotImplementedError

    def _helm(self, target: KubeTarget, namespace: str, release: str, timeout: float, *, repo_source: str,
              install_source: str) -> list[Step]:
        import yaml

        p = _pins(self.name)
        values = self.helm_values() or {}
        return [
            Step(f"Add the {self.name} Helm repository", Cmd((target.helm_bin, "repo", "add", self.name,
                                                              str(p["repo"]), "--force-update")),
                 why="--force-update makes the step repeatable", source=repo_source),
            Step(f"Install (or upgrade) {p['chart']} {self.version}",
                 Cmd(target.helm("upgrade", "--install", release, str(p["chart"]), "--version", self.version,
                                 "--namespace", namespace, "--create-namespace", "--values", "-"),
                     stdin=yaml.safe_dump(values, sort_keys=False)),
                 why=f"values from environments/{p['values']}: " + values_why(values, self.values_sources()),
                 timeout=timeout, source=install_source)]


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
                     "Wait for the local-path provisioner",
                     source=src.kind("pkg/build/nodeimage/const_storage.go", cfg.kubernetes, "L109-L112")))

    def uninstall(self, target: KubeTarget) -> Plan:
        return Plan("local-path is part of the node image")


@dataclass(frozen=True)
class OpenEBS(StorageOption):
    name: str = "openebs"
    title: str = "OpenEBS LocalPV hostpath (Helm)"
    design: str = ("OpenEBS LocalPV hostpath is, like local-path, a directory per volume on the node the pod "
                   "lands on (/var/openebs/local), created by a provisioner pod, with WaitForFirstConsumer "
                   "binding. OpenEBS's other engines — LVM and ZFS LocalPV (need a volume group / zpool per "
                   "node), rawfile, and Mayastor (replicated, SPDK + NVMe-oF, hugepages) — and the chart's own "
                   "Loki/Alloy log stack are turned off on kind.")

    def chart_doc(self, path: str) -> str:
        return f"https://github.com/openebs/openebs/blob/v{self.version}/charts/{path}"

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = TIMEOUT) -> Plan:
        return Plan(f"Install OpenEBS {self.version} (LocalPV hostpath only)").add(
            *self._helm(target, "openebs", "openebs", timeout, repo_source=self.chart_doc("README.md"),
                        install_source=self.chart_doc("README.md")),
            _rollout(target, "openebs", "deployment/openebs-localpv-provisioner", timeout,
                     "Wait for the LocalPV provisioner", source=self.chart_doc("Chart.yaml")),
            _appears(target, None, "storageclass/openebs-hostpath", 60, "the chart",
                     source=self.chart_doc("values.yaml")))

    def uninstall(self, target: KubeTarget) -> Plan:
        k = target.kubectl
        return Plan("Remove OpenEBS").add(
            Step("Wait until no volume of class openebs-hostpath is left",
                 Cmd(k("get", "pv", "-o", 'jsonpath={range .items[?(@.spec.storageClassName=="openebs-hostpath")]}'
                                          '{.metadata.name}{"\\n"}{end}')),
                 why="upstream: delete the volumes before the chart (the verify deletes its namespace without "
                     "waiting); the VolumeSnapshot CRDs stay after uninstall (openebs-crds keep: true)",
                 expect="no PersistentVolume of that class", expect_match=EMPTY, retries=60, retry_delay=5,
                 source=self.chart_doc("README.md")),
            Step("Uninstall the Helm release", Cmd(target.helm(
                "uninstall", "openebs", "--namespace", "openebs", "--ignore-not-found")), timeout=300,
                 source=self.chart_doc("README.md")))


@dataclass(frozen=True)
class Longhorn(StorageOption):
    name: str = "longhorn"
    title: str = "Longhorn (Helm)"
    replicated: bool = True
    design: str = ("Longhorn runs a manager on every node and, per volume, an engine plus N replicas on "
                   "different nodes; the engine exposes the volume to the node as an iSCSI block device and "
                   "mirrors every write synchronously to each replica over the network. That is why every node "
                   "needs open-iscsi (iscsiadm + a running iscsid) and a kernel with iSCSI. kind's node image "
                   "ships open-iscsi; labkit enables iscsid in each node and checks that it stays up. On kind all "
                   "replicas sit on the same host disk, so you see what replication *costs*, not what it protects.")

    def chart_doc(self, path: str) -> str:
        return f"https://github.com/longhorn/longhorn/blob/v{self.version}/chart/{path}"

    def doc(self, path: str) -> str:
        return f"{_pins('longhorn')['docs']}/{path}"

    def manager_doc(self, path: str) -> str:
        return f"https://github.com/longhorn/longhorn-manager/blob/v{self.version}/{path}"

    @property
    def replicas(self) -> int:
        return int((self.helm_values() or {})["persistence"]["defaultClassReplicaCount"])

    def check_config(self, cfg: ClusterConfig) -> None:
        need = int(_pins("longhorn").get("min_workers", self.replicas))
        if cfg.workers < need:
            raise BadInput("workers for longhorn", cfg.workers, f"at least {need}",
                           fix=f"Longhorn's manager does not run on kind's control plane and keeps the {self.replicas} "
                               f"replicas of a volume on different nodes: `labkit up --storage longhorn --workers "
                               f"{need}`; or choose --storage openebs / local-path")

    def check_host(self) -> None:
        ok, why = iscsi_support()
        if not ok:
            raise Unavailable(f"Longhorn cannot run on this host: {why}",
                              fix="use a Linux host whose kernel has iSCSI (iscsi_tcp), e.g. `sudo modprobe "
                                  "iscsi_tcp` on Ubuntu/Debian; or choose --storage openebs / local-path")
        free = docker_disk_free()
        if free is not None and free[0] < MIN_FREE:
            raise Unavailable(f"Longhorn cannot place volumes here: the disk behind {free[1]} is {free[0]:.0%} free; "
                              f"Longhorn marks a disk unschedulable below {MIN_FREE:.0%} free "
                              f"({self.manager_doc('types/setting.go')}#L704-L712), and every kind node's "
                              "/var/lib/longhorn is on that disk",
                              fix="free space on Docker's disk (`docker system prune`), or choose --storage openebs / "
                                  "local-path")

    def iscsid_steps(self, cfg: ClusterConfig) -> list[Step]:
        """Enable iscsid in every node that runs Longhorn, then check it stays up."""
        base = src.kind("images/base/Dockerfile", cfg.kubernetes)
        requirement = self.doc("deploy/install/_index.md")
        fix = ("iscsid died inside the kind node: the kernel's iSCSI netlink is reachable from the host's "
               "network namespace only (open-iscsi/open-iscsi#177, kubernetes/minikube#19400), which a kind node is "
               "not in. Longhorn cannot attach volumes on this host's kind: use --storage openebs or local-path, "
               "or run Longhorn on VMs and `labkit.connect(...)`")
        steps: list[Step] = []
        for node in cfg.node_names()[cfg.control_planes:]:
            steps.append(Step(f"Enable iscsid on {node}", Cmd(("docker", "exec", node, "systemctl", "enable", "--now",
                                                                 "iscsid.socket")),
                              why="kind's node image ships open-iscsi but removes the unit links its package made "
                                  f"({base}#L75-L88); Longhorn needs iscsid running on every node ({requirement})",
                              check=Cmd(("docker", "exec", node, "systemctl", "is-active", "--quiet", "iscsid.socket")),
                              timeout=60, source=base + "#L75-L88"))
            steps.append(Step(f"iscsid starts and stays up on {node}",
                              Cmd(("docker", "exec", node, "sh", "-c",
                                   "systemctl start iscsid.service; sleep 3; systemctl is-active iscsid.service")),
                              why="the daemon exits at once where the kernel refuses it the iSCSI netlink socket; "
                                  "checked before Longhorn is installed, so nothing waits 15 minutes for it",
                              expect="active", expect_match=r"(?m)^active\s*\Z", fix=fix, timeout=60,
                              diagnose=(Cmd(("docker", "exec", node, "journalctl", "-u", "iscsid", "--no-pager",
                                             "-n", "30")),),
                              source=requirement))
        return steps

    def install(self, target: KubeTarget, cfg: ClusterConfig, *, timeout: float = 900.0) -> Plan:
        self.check_config(cfg)
        k = target.kubectl
        ns = "longhorn-system"
        helm = self.doc("deploy/install/install-with-helm.md")
        deploy = self.manager_doc("types/deploy.go") + "#L15-L25"
        return Plan(f"Install Longhorn {self.version}").add(
            *self.iscsid_steps(cfg),
            *self._helm(target, ns, "longhorn", timeout, repo_source=helm, install_source=helm),
            _rollout(target, ns, "daemonset/longhorn-manager", timeout, "Wait for longhorn-manager on every node",
                     source=self.chart_doc("templates/daemonset-sa.yaml"),
                     logs=("app=longhorn-manager", "longhorn-manager")),
            _rollout(target, ns, "deployment/longhorn-driver-deployer", timeout, "Wait for the CSI driver deployer",
                     source=self.chart_doc("templates/deployment-driver.yaml")),
            _appears(target, ns, ("daemonset/longhorn-csi-plugin", "deployment/csi-attacher",
                                  "deployment/csi-provisioner"), timeout, "the driver deployer", source=deploy),
            _rollout(target, ns, "daemonset/longhorn-csi-plugin", timeout, "Wait for the CSI plugin on every node",
                     source=deploy),
            _rollout(target, ns, "deployment/csi-attacher", timeout, "Wait for the CSI attacher", source=deploy),
            _rollout(target, ns, "deployment/csi-provisioner", timeout, "Wait for the CSI provisioner",
                     source=deploy),
            Step("Wait for longhorn-manager to create the StorageClass",
                 Cmd(k("wait", "--for=create", "storageclass/longhorn", f"--timeout={timeout:g}s")),
                 why="the chart ships only a ConfigMap (longhorn-storageclass); longhorn-manager makes the "
                     "StorageClass from it later", timeout=timeout + 30,
                 source=self.chart_doc("templates/storageclass.yaml")))

    def verify(self, target: KubeTarget, *, image: str, cfg: ClusterConfig | None = None) -> Plan:
        health = verify_mod.Replicated("longhorn-system", self.replicas,
                                       self.manager_doc("k8s/pkg/apis/longhorn/v1beta2/volume.go") + "#L10-L24")
        return verify_mod.plan(target, storage_class=self.storage_class, image=image, option=self.name,
                               provisioner=str(self.pin["provisioner"]), replicated=health, workers_only=True,
                               kubernetes=cfg.kubernetes if cfg is not None else None)

    def uninstall(self, target: KubeTarget) -> Plan:
        k = target.kubectl
        uninstall = self.doc("deploy/uninstall/_index.md")
        flag = k("-n", "longhorn-system", "get", "settings.longhorn.io", "deleting-confirmation-flag",
                 "-o", "jsonpath={.value}", "--ignore-not-found")
        return Plan("Remove Longhorn").add(
            Step("Wait until no Longhorn volume is left",
                 Cmd(k("get", "volumes.longhorn.io", "-n", "longhorn-system", "-o", "name")),
                 why="upstream: delete the workloads using Longhorn volumes first (the verify deletes its namespace "
                     "without waiting); exit 1 with nothing listed means Longhorn's CRDs are gone already",
                 expect="no volumes.longhorn.io object", expect_match=EMPTY, ok_codes=(0, 1), retries=60,
                 retry_delay=5, source=uninstall),
            Step("Allow uninstalling (Longhorn refuses without this flag)",
                 Cmd(k("-n", "longhorn-system", "patch", "settings.longhorn.io", "deleting-confirmation-flag",
                       "--type=merge", "-p", '{"value":"true"}')),
                 why="skipped when the flag is already true or Longhorn is gone (a re-run after a partial uninstall)",
                 check=Cmd(("sh", "-c", 'test "$("$@")" != false', "sh", *flag)), source=uninstall),
            Step("Uninstall the Helm release", Cmd(target.helm("uninstall", "longhorn", "--namespace",
                                                               "longhorn-system", "--ignore-not-found",
                                                               "--timeout", "15m")),
                 why="the chart's pre-delete job may run 15 minutes (activeDeadlineSeconds: 900); Helm's own "
                     "default timeout is 5", timeout=960, source=uninstall))


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
