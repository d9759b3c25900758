"""The persistence verify: the same proof for every storage option and every cluster.

1. a PVC is created; with ``WaitForFirstConsumer`` it stays Pending *on purpose* until a pod uses it,
   so the plan creates the writer pod and then waits for Bound;
2. the writer stores random bytes in a file named by their sha256 and prints the name;
3. the writer pod is deleted; a new pod mounts the same PVC and checks the file against its name
   (``sha256sum -c``): the data outlived the pod;
4. for replicated options the plan checks the volume's health as the storage system reports it, against
   the replica count labkit asked for (Longhorn: healthy, attached, N running replicas on N nodes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from labkit._run import Cmd
from labkit.manifests import to_yaml
from labkit.steps import Plan, Step
from labkit.targets.kind import sources as src
from labkit.targets.kube import KubeTarget

NAMESPACE = "labkit-verify-storage"
LABELS = {"io.labkit.managed": "true", "io.labkit.role": "verify-storage"}
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)}


WRITE = ("head -c 1048576 /dev/urandom > /data/new && sum=$(sha256sum /data/new | cut -c1-64) "
         "&& mv /data/new /data/$sum && sync && echo $sum")


def _placement(workers_only: bool) -> dict[str, Any]:
    """Off the control plane (where a storage system's node agents may not run), or allowed on it (so a
    cluster without workers works for node-local options)."""
    if workers_only:
        return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": CONTROL_PLANE, "operator": "DoesNotExist"}]}]}}}}
    return {"tolerations": [{"key": CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"}]}


def _pod(name: str, image: str, command: list[str], restart: str, workers_only: bool) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name),
            "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 1, **_placement(workers_only),
                     "containers": [{"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                                     "command": command, "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}


def manifests(storage_class: str, image: str, *, size: str = "1Gi",
              workers_only: bool = False) -> dict[str, list[dict[str, Any]]]:
    """The verify's objects by stage: ``claim`` (namespace, PVC, writer) and ``reader``."""
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("data"),
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                    "resources": {"requests": {"storage": size}}}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(LABELS)}}
    return {"claim": [ns, pvc, _pod("writer", image, ["sh", "-c", WRITE], "Never", workers_only)],
            "reader": [_pod("reader", image, ["sleep", "infinity"], "Always", workers_only)]}


@dataclass(frozen=True)
class Replicated:
    """How to read a replicated volume's health: Longhorn's ``volumes``/``replicas.longhorn.io``."""

    namespace: str
    replicas: int  # what labkit asked for (the StorageClass's replica count)
    source: str  # where the states and labels are defined, at the pinned version


def distinct_lines(n: int) -> str:
    """A regex for exactly ``n`` non-empty lines, no two alike (replicas on ``n`` different nodes)."""
    parts = []
    for i in range(1, n + 1):
        seen = "|".join(f"\\{j}(?:\\n|$)" for j in range(1, i))
        parts.append((f"(?!{seen})" if seen else "") + r"(\S+)")
    return r"\n".join(parts)


def plan(target: KubeTarget, *, storage_class: str, image: str, option: str, provisioner: str | None = None,
         replicated: Replicated | None = None, workers_only: bool = False, timeout_s: int = 300,
         kubernetes: str | None = None) -> Plan:
    """Prove that data on a PVC of ``storage_class`` survives its pod; ``replicated`` adds the volume's
    health as the storage system reports it; ``workers_only`` keeps the verify pods off the control plane."""
    k = target.kubectl
    ns = ("-n", NAMESPACE)
    objs = manifests(storage_class, image, workers_only=workers_only)
    diag = (Cmd(k("get", "pvc,pods", *ns, "-o", "wide")), Cmd(k("describe", "pvc", *ns, "data")),
            Cmd(k("get", "events", *ns, "--sort-by=.lastTimestamp")))
    pv_doc = src.k8s_doc("docs/concepts/storage/persistent-volumes.md", kubernetes)
    own = src.labkit("labkit's persistence proof: a file named by its sha256 outlives the pod that wrote it "
                     f"(PersistentVolumes: {pv_doc})")
    classes = src.k8s_doc("docs/concepts/storage/storage-classes.md", kubernetes)
    show = Step("Show the StorageClass", Cmd(k("get", "storageclass", storage_class, "-o",
                                               "jsonpath={.provisioner} {.volumeBindingMode}")),
                why="its provisioner and volumeBindingMode (WaitForFirstConsumer delays binding until a pod needs it)",
                diagnose=(Cmd(k("get", "storageclass")),), source=classes)
    if provisioner:
        show = Step(show.title, show.cmd, why=show.why, diagnose=show.diagnose, source=classes,
                    expect=f"{provisioner} and a binding mode",
                    expect_match=rf"\A{re.escape(provisioner)} (WaitForFirstConsumer|Immediate)\s*\Z")
    p = Plan(f"Verify persistence ({option}, StorageClass {storage_class})").add(
        Step("Wait until a previous verify's namespace is gone",
             Cmd(k("wait", "--for=delete", f"namespace/{NAMESPACE}", f"--timeout={timeout_s}s")),
             why="the last step deletes it without waiting; `apply` into a Terminating namespace fails "
                 "(kubectl wait --for=delete succeeds at once when it does not exist)", timeout=timeout_s + 30,
             source=own),
        show,
        Step("Create a PVC and a writer pod that uses it", Cmd(k("apply", "-f", "-"), stdin=to_yaml(objs["claim"])),
             why="with WaitForFirstConsumer the PVC binds only once a pod needs it, so the consumer comes with it"
             + ("; the pods stay off the control plane, where the storage system's node agents do not run"
                if workers_only else ""), source=own),
        Step("Wait for the PVC to be Bound", Cmd(k("wait", *ns, "--for=jsonpath={.status.phase}=Bound", "pvc/data",
                                                   f"--timeout={timeout_s}s")),
             why="the provisioner made a volume on the node the writer was scheduled to", timeout=timeout_s + 30,
             diagnose=diag, source=own),
        Step("Wait for the writer to finish", Cmd(k("wait", *ns, "--for=jsonpath={.status.phase}=Succeeded",
                                                    "pod/writer", f"--timeout={timeout_s}s")),
             timeout=timeout_s + 30, diagnose=diag + (Cmd(k("logs", *ns, "writer")),), source=own),
        Step("Read the name of the file it wrote (its sha256)", Cmd(k("logs", *ns, "writer")), capture="SUM",
             capture_match=r"[0-9a-f]{64}", expect="64 hex digits: the sha256 of the bytes written", source=own),
        Step("Note the volume behind the claim", Cmd(k("get", "pvc", *ns, "data", "-o",
                                                       "jsonpath={.spec.volumeName}")), capture="PV",
             capture_match=r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", source=own),
        Step("Delete the writer pod", Cmd(k("delete", "pod", *ns, "writer", "--wait=true")),
             why="the pod is gone; the PersistentVolume is not", source=own),
        Step("Start a reader pod on the same claim", Cmd(k("apply", "-f", "-"), stdin=to_yaml(objs["reader"])),
             source=own),
        Step("Wait for the reader", Cmd(k("wait", *ns, "--for=condition=Ready", "pod/reader",
                                          f"--timeout={timeout_s}s")), timeout=timeout_s + 30, diagnose=diag,
             source=own),
        Step("The data survived: the file still matches its checksum",
             Cmd(k("exec", *ns, "reader", "--", "sh", "-c", 'echo "$1  /data/$1" | sha256sum -c', "sh", "${SUM}")),
             expect="/data/<sha256>: OK", expect_match=r"/data/${SUM}: OK", source=own),
    )
    if replicated is not None:
        p.add(*_replica_health(target, replicated, timeout_s))
    return p.add(Step("Remove the verify workloads", Cmd(k("delete", "namespace", NAMESPACE, "--ignore-not-found",
                                                           "--wait=false")),
                      why="the PVC goes with the namespace; its volume is deleted by the reclaim policy", source=own))


def _replica_health(target: KubeTarget, r: Replicated, timeout_s: int) -> list[Step]:
    """While the reader holds the volume: healthy, attached, and ``r.replicas`` running replicas on as many
    nodes. ``.spec.numberOfReplicas`` would only repeat what labkit asked for; these are what Longhorn sees."""
    k = target.kubectl
    vol = ("-n", r.namespace)
    diag = (Cmd(k("get", "volumes.longhorn.io", *vol, "${PV}", "-o", "yaml")),
            Cmd(k("get", "replicas.longhorn.io", *vol, "-l", "longhornvolume=${PV}", "-o", "wide")))
    running = '{range .items[?(@.status.currentState=="running")]}{.spec.nodeID}{"\\n"}{end}'
    return [
        Step("The volume is healthy", Cmd(k("wait", *vol, "volumes.longhorn.io/${PV}",
                                            "--for=jsonpath={.status.robustness}=healthy",
                                            f"--timeout={timeout_s}s")),
             why="robustness is `healthy` only while attached with every replica in sync (a fresh volume is "
                 "`degraded` until its replicas are built); `unknown` when detached, so the reader still holds it",
             timeout=timeout_s + 30, diagnose=diag, source=r.source),
        Step("The volume is attached", Cmd(k("get", "volumes.longhorn.io", *vol, "${PV}", "-o",
                                             "jsonpath={.status.state}")),
             expect="attached", expect_match=r"\Aattached\s*\Z", diagnose=diag, source=r.source),
        Step(f"{r.replicas} replicas are running, on {r.replicas} different nodes",
             Cmd(k("get", "replicas.longhorn.io", *vol, "-l", "longhornvolume=${PV}", "-o", f"jsonpath={running}")),
             capture="REPLICA_NODES", capture_match=distinct_lines(r.replicas),
             expect=f"{r.replicas} node names, all different (the replica count labkit asked for)",
             why="on kind all replicas still share one host disk: replication's cost, not its durability",
             diagnose=diag, source=r.source),
    ]
