"""The objects of a storage cell on Kubernetes: its PVC and one Job per fio run (plain dicts; pure)."""

from __future__ import annotations

import math
import re
import shlex
from typing import Any

from labkit import docker
from labkit.bench import storage
from labkit.bench.kube import CONTROL_PLANE, NAMESPACE, namespace_manifest
from labkit.components.storage import engine_cells

S0, S1 = "hostfs-docker", "local-path"
HOST_CELLS = frozenset({S0})  # cells that run on this host, not in the cluster
MOUNT = "/data"
OPTION_CLASSES = {"local-path": "standard", "openebs-hostpath": "openebs-hostpath", "longhorn": "longhorn"}
PREPARE_TIMEOUT = 900.0
JOB_TTL_S = 600
CLAIM_MARGIN = 64 * 1024**2
DIRECT_MARK = "labkit: direct="



def slug(cell: str) -> str:
    """A short DNS-label form of a cell name (StorageClass names may be long or hold dots)."""
    text = re.sub(r"[^a-z0-9-]+", "-", cell.lower()).strip("-") or "sc"
    if len(text) <= 24 and text == cell:
        return text
    import hashlib

    return f"{text[:17].rstrip('-')}-{hashlib.sha256(cell.encode()).hexdigest()[:6]}"


def claim_name(session: str, cell: str) -> str:
    return f"lk-{session}-{slug(cell)}"


def job_name(session: str, cell: str, seq: int | str) -> str:
    return f"lk-{session}-{slug(cell)}-{seq}"


def object_labels(session: str, cell: str) -> dict[str, str]:
    """Labels of every object of a cell: ``labkit clean`` finds them, the cell's delete selects them."""
    return docker.labels(session, f"bench-{slug(cell)}")


def selector(session: str, cell: str) -> str:
    return f"{docker.SESSION}={session},{docker.ROLE}=bench-{slug(cell)}"


def claim_size(size_bytes: int) -> str:
    """The PVC request: the fio file × 1.5 plus a margin (probe file, filesystem overhead), in MiB."""
    return f"{math.ceil((size_bytes * 1.5 + CLAIM_MARGIN) / 1024**2)}Mi"


def pvc_manifest(cell: str, *, session: str, storage_class: str, size_bytes: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim_name(session, cell), "namespace": NAMESPACE,
                         "labels": object_labels(session, cell)},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                     "resources": {"requests": {"storage": claim_size(size_bytes)}}}}


def job_manifest(cell: str, *, session: str, seq: int | str, image: str, command: list[str], node: str,
                 tolerate: bool = False, deadline_s: float = 600, test: str = "") -> dict[str, Any]:
    """One fio run on the cell's claim, on ``node``; never retried (a failure is a result)."""
    labels = {**object_labels(session, cell), **({"io.labkit.test": test} if test else {})}
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {  # the node by name,
            "nodeSelectorTerms": [{"matchFields": [                          # through the scheduler (not nodeName),
                {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}},  # so WaitForFirstConsumer binds
        "containers": [{"name": "fio", "image": image, "imagePullPolicy": "IfNotPresent", "command": command,
                        "volumeMounts": [{"name": "data", "mountPath": MOUNT}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name(session, cell)}}],
    }
    if tolerate:
        pod["tolerations"] = [{"key": CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"}]
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job_name(session, cell, seq), "namespace": NAMESPACE, "labels": labels},
            "spec": {"backoffLimit": 0,                          # a failed fio run is a result, not a retry
                     "activeDeadlineSeconds": max(1, math.ceil(deadline_s)),
                     "ttlSecondsAfterFinished": JOB_TTL_S,       # the cluster tidies up even if we cannot
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}


def prepare_command(size: str) -> list[str]:
    """Probe O_DIRECT, say which ``direct`` the cell uses, then precondition the data file with it."""
    probe = storage.direct_probe_argv(MOUNT)
    probe_file = next(a.split("=", 1)[1] for a in probe if a.startswith("--filename="))
    with_direct = shlex.join(storage.precondition_argv(MOUNT, size=size, direct=True))
    without = shlex.join(storage.precondition_argv(MOUNT, size=size, direct=False))
    return ["sh", "-c",
            f"if {shlex.join(probe)} > /dev/null 2>&1; then rm -f {probe_file}; echo '{DIRECT_MARK}1'; "
            f"exec {with_direct}; fi; rm -f {probe_file}; echo '{DIRECT_MARK}0 (O_DIRECT refused)'; exec {without}"]


def cell_manifests(cell: str, *, session: str, image: str, storage_class: str, size: str, node: str,
                   tolerate: bool = False) -> list[dict[str, Any]]:
    """The claim and its first consumer (the preparing Job), applied together."""
    return [pvc_manifest(cell, session=session, storage_class=storage_class,
                         size_bytes=engine_cells.size_bytes(size)),
            job_manifest(cell, session=session, seq="prep", image=image, command=prepare_command(size), node=node,
                         tolerate=tolerate, deadline_s=PREPARE_TIMEOUT, test="prepare")]


def all_manifests(*, session: str = "0123456789", image: str | None = None, node: str = "node-a",
                  tolerate: bool = True) -> list[dict[str, Any]]:
    """Every object the cluster cells create (for strict schema checks), one measurement Job per fio job."""
    from labkit.versions import tools_image

    image = image or tools_image()
    out = [namespace_manifest()]
    for cell, sc in (*OPTION_CLASSES.items(), ("rook-ceph.block.example.com", "rook-ceph.block.example.com")):
        out += cell_manifests(cell, session=session, image=image, storage_class=sc, size="64M", node=node,
                              tolerate=tolerate)
    for i, job in enumerate(storage.fio_jobs(list(storage.JOBS), size="64M", runtime_s=1, ramp_s=0.5, numjobs=1)):
        out.append(job_manifest(S1, session=session, seq=i + 1, image=image, node=node, tolerate=tolerate,
                                command=storage.fio_argv(job, MOUNT, direct=True), deadline_s=40, test=job.name))
    return out
