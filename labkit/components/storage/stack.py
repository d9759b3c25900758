"""The storage stack of each option — pod → PVC → PV → provisioner → disk — as facts with sources, and its picture.

``option.stack()`` says which StorageClass the option makes, its provisioner, binding mode and reclaim
policy, where a volume's bytes end up and how many copies there are. :func:`stack_diagram` draws it;
with a live cluster (:func:`live_objects`) the boxes name the real claim, volume and node instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit.diagrams import Arrow, Box, Diagram

KIND_STORAGE = "https://github.com/kubernetes-sigs/kind/blob/v0.32.0/pkg/build/nodeimage/const_storage.go"


@dataclass(frozen=True)
class StackFacts:
    option: str
    storage_class: str
    provisioner: str
    binding_mode: str   # WaitForFirstConsumer | Immediate
    reclaim_policy: str
    provisioner_runs: str  # what runs the provisioner
    volume_is: str      # what the PV is
    data_at: str        # where the bytes are
    replicas: int
    sources: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        return {"option": self.option, "StorageClass": self.storage_class, "provisioner": self.provisioner,
                "volumeBindingMode": self.binding_mode, "reclaimPolicy": self.reclaim_policy,
                "data lives in": self.data_at, "copies": self.replicas}


def local_path(option: Any) -> StackFacts:
    return StackFacts(option.name, option.storage_class, "rancher.io/local-path", "WaitForFirstConsumer", "Delete",
                      "local-path-provisioner (Deployment in local-path-storage)",
                      "a hostPath-like volume pinned to one node (node affinity)",
                      "a directory under /var/local-path-provisioner on the node the pod runs on", 1, (KIND_STORAGE,))


def openebs(option: Any) -> StackFacts:
    return StackFacts(option.name, option.storage_class, "openebs.io/local", "WaitForFirstConsumer", "Delete",
                      "openebs-localpv-provisioner (Deployment in openebs)",
                      "a local volume pinned to one node (node affinity)",
                      "a directory under /var/openebs/local on the node the pod runs on", 1,
                      # nearest tag readable here; OpenEBS 4.6.1 ships LocalPV hostpath 4.6.0
                      ("https://github.com/openebs/dynamic-localpv-provisioner/blob/v4.0.0/deploy/helm/charts/"
                       "templates/hostpath-class.yaml",
                       "https://github.com/openebs/dynamic-localpv-provisioner/blob/v4.0.0/deploy/helm/charts/"
                       "values.yaml"))


def longhorn(option: Any) -> StackFacts:
    values = option.helm_values() or {}
    replicas = int((values.get("persistence") or {}).get("defaultClassReplicaCount", 3))
    v = option.version
    return StackFacts(option.name, option.storage_class, "driver.longhorn.io", "Immediate", "Delete",
                      "Longhorn's CSI driver + longhorn-manager on every node",
                      "a Longhorn volume: an engine on the pod's node, served as an iSCSI block device "
                      "(/dev/longhorn/<volume>)",
                      f"{replicas} replicas, each a sparse file under /var/lib/longhorn/replicas on a different "
                      "node; every write goes to all of them", replicas,
                      (f"https://github.com/longhorn/longhorn/blob/v{v}/chart/values.yaml",
                       f"https://github.com/longhorn/longhorn/blob/v{v}/chart/templates/storageclass.yaml",
                       f"https://github.com/longhorn/longhorn-manager/blob/v{v}/types/setting.go",
                       "environments/storage/longhorn/values.yaml (persistence.defaultClassReplicaCount)"))


FACTS = {"local-path": local_path, "openebs": openebs, "longhorn": longhorn}


@dataclass(frozen=True)
class LiveObjects:
    """What a live cluster says about one claim (any field may be empty)."""

    claim: str = ""
    namespace: str = ""
    phase: str = ""
    volume: str = ""
    node: str = ""
    path: str = ""
    binding_mode: str = ""  # the StorageClass as the cluster has it
    provisioner: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def stack_diagram(facts: StackFacts, live: LiveObjects | None = None, *, disk: str = "") -> Diagram:
    """The stack of one option, drawn top (the pod) to bottom (the disk); live names where given."""
    live = live or LiveObjects()
    mode = live.binding_mode or facts.binding_mode
    provisioner = live.provisioner or facts.provisioner
    claim = f"{live.namespace}/{live.claim}" if live.claim else ""
    pod = Box("pod", "pod", f"mounts {'the claim ' + claim if claim else 'a claim'} (volumes: "
              "persistentVolumeClaim)", "pod")
    pvc = Box("pvc", "PersistentVolumeClaim", (f"{claim}: " if claim else "") +
              f"storageClassName {facts.storage_class}" +
              (f", {live.phase}" if live.phase else ""), "api")
    sc = Box("sc", f"StorageClass {facts.storage_class}", f"provisioner {provisioner}\nvolumeBindingMode {mode}\n"
             f"reclaimPolicy {facts.reclaim_policy}", "api")
    prov = Box("prov", "provisioner", facts.provisioner_runs, "kernel")
    pv = Box("pv", "PersistentVolume", (f"{live.volume}: " if live.volume else "") + facts.volume_is +
             (f"\non node {live.node}" if live.node else ""), "api")
    data = live.path or facts.data_at
    where = Box("disk", "disk", data + (f"\n{disk}" if disk else ""), "wire")
    wait = ("binds when the first pod using it is scheduled" if mode == "WaitForFirstConsumer"
            else "binds at once, before any pod")
    arrows = [Arrow("pod", "pvc", "claimName"), Arrow("pvc", "sc", "names the class"),
              Arrow("sc", "prov", "names the provisioner"), Arrow("prov", "pv", "creates", dashed=True),
              Arrow("pvc", "pv", "bound to"), Arrow("pv", "disk", "bytes land in")]
    caption = (f"{facts.option}: the claim {wait} ({mode}). Deleting the claim deletes the volume and its data "
               f"(reclaimPolicy {facts.reclaim_policy}). Copies of each byte: {facts.replicas}.")
    return Diagram(f"The storage stack with {facts.option}", [[pod, pvc, pv, where], [None, sc, prov, None]],
                   arrows, headers=["what the app uses", "who makes the volume"],
                   caption=caption, legend=(("pod", "the app's pod"), ("api", "Kubernetes objects"),
                                            ("kernel", "the provisioner"), ("wire", "the disk")))


def live_objects(target: Any, *, selector: str = "io.labkit.managed=true") -> list[LiveObjects]:
    """The labelled claims of a live cluster with their volume, node and StorageClass, read through the API."""
    from labkit.bench import kube as bench_kube

    out = []
    with bench_kube.connect(target) as api:
        classes = api.storage_class_infos()
        for claim in api.pvcs(selector=selector):
            node = path = ""
            if claim.volume:
                pv = api.get("v1", "PersistentVolume", claim.volume).get("spec") or {}
                path = str((pv.get("hostPath") or pv.get("local") or {}).get("path") or "")
                terms = ((pv.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []
                values = [v for t in terms for e in t.get("matchExpressions") or [] for v in e.get("values") or []]
                node = values[0] if values else ""
            sc = classes.get(claim.storage_class)
            out.append(LiveObjects(claim.name, claim.namespace, claim.phase, claim.volume, node, path,
                                   sc.binding_mode if sc else "", sc.provisioner if sc else ""))
    return out
