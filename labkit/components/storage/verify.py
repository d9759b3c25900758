"""The persistence verify: the same proof for every storage option and every cluster.

1. a PVC is created; with ``WaitForFirstConsumer`` it stays Pending *on purpose* until a pod uses it,
   so the plan creates the writer pod and then waits for Bound;
2. the writer stores random bytes in a file named by their sha256 and prints the name;
3. the writer pod is deleted; a new pod mounts the same PVC and checks the file against its name
   (``sha256sum -c``): the data outlived the pod;
4. for replicated options the plan checks the volume's health as the storage system reports it.
"""

from __future__ import annotations

from typing import Any

from labkit._run import Cmd
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kube import KubeTarget

NAMESPACE = "labkit-verify-storage"
LABELS = {"io.labkit.managed": "true", "io.labkit.role": "verify-storage"}


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)}


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


def manifests(storage_class: str, image: str, *, size: str = "1Gi") -> dict[str, list[dict[str, Any]]]:
    """The verify's objects by stage: ``claim`` (namespace, PVC, writer) and ``reader``."""
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("data"),
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                    "resources": {"requests": {"storage": size}}}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(LABELS)}}
    return {"claim": [ns, pvc, _pod("writer", image, ["sh", "-c", WRITE], "Never")],
            "reader": [_pod("reader", image, ["sleep", "infinity"], "Always")]}


def plan(target: KubeTarget, *, storage_class: str, image: str, option: str,
                replicas_of: tuple[str, str] | None = None, timeout_s: int = 300) -> Plan:
    """Prove that data on a PVC of ``storage_class`` survives its pod. ``replicas_of`` = (namespace, resource)
    of the storage system's volume objects (Longhorn: volumes.longhorn.io) to report the replica count."""
    k = target.kubectl
    ns = ("-n", NAMESPACE)
    objs = manifests(storage_class, image)
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
        Step("Read the name of the file it wrote (its sha256)", Cmd(k("logs", *ns, "writer")), capture="SUM",
             capture_match=r"[0-9a-f]{64}", expect="64 hex digits: the sha256 of the bytes written"),
        Step("Note the volume behind the claim", Cmd(k("get", "pvc", *ns, "data", "-o",
                                                       "jsonpath={.spec.volumeName}")), capture="PV"),
        Step("Delete the writer pod", Cmd(k("delete", "pod", *ns, "writer", "--wait=true")),
             why="the pod is gone; the PersistentVolume is not"),
        Step("Start a reader pod on the same claim", Cmd(k("apply", "-f", "-"), stdin=to_yaml(objs["reader"]))),
        Step("Wait for the reader", Cmd(k("wait", *ns, "--for=condition=Ready", "pod/reader",
                                          f"--timeout={timeout_s}s")), timeout=timeout_s + 30, diagnose=diag),
        Step("The data survived: the file still matches its checksum",
             Cmd(k("exec", *ns, "reader", "--", "sh", "-c", 'echo "$1  /data/$1" | sha256sum -c', "sh", "${SUM}")),
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


