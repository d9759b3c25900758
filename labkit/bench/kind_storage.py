"""Storage cells on Kubernetes: fio as a Job per StorageClass and fio job, on the same store and charts.

=================  ===== ============================================================ =============
cell               level what                                                         baseline
=================  ===== ============================================================ =============
hostfs-docker      S0    fio on the host, in Docker's data root (what backs the        -
                         kind nodes' /var: their volumes live there)
local-path         S1    a PVC of StorageClass ``standard`` (kind's local-path)        hostfs-docker
openebs-hostpath         a PVC of ``openebs-hostpath``                                 hostfs-docker
longhorn                 a PVC of ``longhorn`` (replicas over iSCSI)                   hostfs-docker
<any class>              on ``--target cluster``: the StorageClasses you name          -
=================  ===== ============================================================ =============

Per cell: one PVC, then one **Job per fio run** (the O_DIRECT probe, the preconditioning
write, then every measurement: a fresh fio process each time), each read back with
``kubectl logs`` and parsed by the same parser as the engine tier. With
``WaitForFirstConsumer`` the claim binds when the first Job's pod is scheduled, so the
probe Job is created first and *then* the claim must turn Bound within a timeout — if it
does not, the cell is unavailable with the claim's events attached.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import engine
from labkit.bench import engine_storage, kind_net, storage
from labkit.bench.cells import Cell
from labkit.errors import BadInput, LabkitError, Unavailable
from labkit.log import log

SUITE = "storage"
S0 = "hostfs-docker"
MOUNT = "/data"
OPTION_CLASSES = {"local-path": "standard", "openebs-hostpath": "openebs-hostpath", "longhorn": "longhorn"}


def cells(classes: list[str] | None = None, *, target: str = "kind") -> dict[str, Cell]:
    """kind: S0 + local-path + the named options; cluster: the named StorageClasses (no host baseline)."""
    out: dict[str, Cell] = {}
    if target == "kind":
        out[S0] = Cell(SUITE, S0, "fio on the host filesystem behind Docker's data root (kind nodes' /var)",
                       None, "S0", placement="host", path="hostfs", component="host")
        for name in ["local-path", *[c for c in classes or [] if c != "local-path"]]:
            if name not in OPTION_CLASSES:
                raise BadInput("storage cell on kind", name, ", ".join(OPTION_CLASSES),
                               fix="install the option with `labkit up --storage NAME` first")
            out[name] = Cell(SUITE, name, f"a PVC of StorageClass {OPTION_CLASSES[name]}", S0,
                             "S1" if name == "local-path" else None, placement="pod", path="pvc",
                             component=name, config={"storage_class": OPTION_CLASSES[name]})
        return out
    for sc in classes or []:
        out[sc] = Cell(SUITE, sc, f"a PVC of StorageClass {sc}", None, None, placement="pod", path="pvc",
                       component=sc, config={"storage_class": sc})
    if not out:
        raise BadInput("StorageClasses", None, "one or more of the cluster's StorageClasses",
                       fix="e.g. --storage-class rook-ceph-block,standard")
    return out


def docker_volumes_dir() -> Path:
    return Path(str(engine.info().get("DockerRootDir", "/var/lib/docker"))) / "volumes"


def check_free_space(size_bytes: int, n_cells: int, where: Path) -> None:
    """Refuse a benchmark whose files would not fit (each cell holds one file of ``size`` plus margin)."""
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return  # not visible from here (Docker Desktop): the cells' own checks still apply
    need = int(size_bytes * 1.5) * n_cells + 256 * 1024**2
    if need > free:
        raise BadInput("fio size", f"{size_bytes / 1024**2:.0f} MiB × {n_cells} cells",
                       f"at most about {(free - 256 * 1024**2) / 1.5 / max(1, n_cells) / 1024**2:.0f} MiB per cell "
                       f"({free / 1024**3:.1f} GiB free at {where})", fix="use a smaller --size, or free space")


def pvc_manifest(name: str, storage_class: str, size_bytes: int, session: str) -> dict[str, Any]:
    gib = max(1, -(-int(size_bytes * 1.5 + 64 * 1024**2) // 1024**3))
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": kind_net.NAMESPACE, "labels": _labels(session, name)},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                     "resources": {"requests": {"storage": f"{gib}Gi"}}}}


def job_manifest(name: str, claim: str, image: str, argv: list[str], session: str, cell: str,
                 *, tolerate_control_plane: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                            "containers": [{"name": "fio", "image": image, "imagePullPolicy": "IfNotPresent",
                                            "command": argv, "volumeMounts": [{"name": "data", "mountPath": MOUNT}]}],
                            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}
    if tolerate_control_plane:
        spec["tolerations"] = [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                "effect": "NoSchedule"}]
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": kind_net.NAMESPACE, "labels": _labels(session, cell)},
            "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 600,
                     "template": {"metadata": {"labels": _labels(session, cell)}, "spec": spec}}}


def _labels(session: str, cell: str) -> dict[str, str]:
    return {engine.MANAGED: "true", engine.SESSION: session, engine.ROLE: f"bench-{cell}"}


def all_manifests(image: str = "labkit/tools:0.2.0") -> list[dict[str, Any]]:
    """Everything the cells create, for strict schema tests."""
    job = storage.fio_jobs(["randread-4k-qd32"], size="64M", runtime_s=1, ramp_s=0, numjobs=1)[0]
    return [kind_net.namespace_manifest(), pvc_manifest("lk-s-local-path", "standard", 64 * 1024**2, "0a1b2c"),
            job_manifest("lk-s-local-path-1", "lk-s-local-path", image, storage.fio_argv(job, MOUNT, direct=True),
                         "0a1b2c", "local-path", tolerate_control_plane=True)]


@dataclass
class ClaimObjects:
    cluster: kind_net.BenchCluster
    session: str
    cell: str

    @property
    def name(self) -> str:
        return f"jobs/pvc of {self.cell}"

    def remove(self) -> None:
        self.cluster.kubectl("delete", "jobs,pvc", "--namespace", kind_net.NAMESPACE, "--selector",
                             kind_net.selector(self.session, self.cell), "--ignore-not-found", "--wait=false",
                             timeout=60)


@dataclass
class JobPlace(engine_storage.FioPlace):
    """fio runs as Jobs on a PVC; prepare/measure are the engine tier's (probe, precondition, parse)."""

    cluster: Any = None
    claim: str = ""
    image: str = ""
    session: str = ""
    tolerate: bool = False
    count: int = 0
    gone: str | None = None
    events: list[str] = field(default_factory=list)

    def run_fio(self, argv: list[str], *, timeout: float, quiet: bool = False) -> str:
        return self.collect(self.submit(argv, quiet=quiet), timeout=timeout, quiet=quiet)

    def submit(self, argv: list[str], *, quiet: bool = False) -> str:
        """Create the Job that runs ``argv`` on the claim; returns its name."""
        self.count += 1
        name = f"{self.claim}-{self.count}"
        manifest = job_manifest(name, self.claim, self.image, argv, self.session, self.cell.name,
                                tolerate_control_plane=self.tolerate)
        self.cluster.kubectl("apply", "--filename", "-", stdin=kind_net.to_yaml([manifest]), quiet=quiet)
        return name

    def collect(self, name: str, *, timeout: float, quiet: bool = False) -> str:
        """Wait for Job ``name``, return fio's output, delete the Job (and its pod)."""
        k = self.cluster.kubectl
        ns = ("--namespace", kind_net.NAMESPACE)
        try:
            done = k("wait", *ns, "--for=condition=Complete", f"job/{name}", f"--timeout={int(timeout)}s",
                     timeout=timeout + 30, check=False, quiet=quiet)
            logs = k("logs", *ns, f"job/{name}", timeout=60, check=False, quiet=True)
            if not done.ok:
                why = k("describe", "job", *ns, name, timeout=60, check=False, quiet=True).stdout[-1500:]
                raise storage.ParseError(f"fio Job {name} did not complete: {(done.stderr or done.stdout).strip()}"
                                         f"\n{logs.stdout.strip()[-400:]}\n{why}")
            return str(logs.stdout)
        finally:
            k("delete", "job", *ns, name, "--ignore-not-found", "--wait=false", "--cascade=background",
              timeout=60, check=False, quiet=True)

    def alive(self) -> str | None:
        return self.gone


def _wait_bound(cluster: kind_net.BenchCluster, claim: str, timeout: float) -> None:
    ns = ("--namespace", kind_net.NAMESPACE)
    res = cluster.kubectl("wait", *ns, "--for=jsonpath={.status.phase}=Bound", f"pvc/{claim}",
                          f"--timeout={int(timeout)}s", timeout=timeout + 30, check=False, quiet=True)
    if not res.ok:
        why = cluster.kubectl("describe", "pvc", *ns, claim, timeout=60, check=False, quiet=True).stdout
        raise Unavailable(f"PVC {claim} never became Bound within {timeout:g} s:\n{why.strip()[-2000:]}",
                          fix="check the StorageClass's provisioner pods (kubectl get pods -A) and the events above")


def open_cell(name: str, scope: engine.Scope, ctx: dict[str, Any]) -> engine_storage.FioPlace:
    """S0 on the host (in Docker's data root), or a PVC whose first Job makes it bind."""
    size: str = ctx["fio_size"]
    cell: Cell = ctx["cells"][name]
    if name == S0:
        volumes = docker_volumes_dir()
        if not volumes.is_dir() or not os.access(volumes, os.W_OK):
            raise Unavailable(f"{S0}: Docker's volumes directory {volumes} is not writable from here",
                              fix="run as root on the Docker host (on Docker Desktop the disk is inside its VM)")
        place = engine_storage.open_cell("hostfs", scope, {**ctx, "scratch": str(volumes)})
        place.cell = cell
        return place
    cluster: kind_net.BenchCluster = ctx["cluster"]
    storage_class = cell.config["storage_class"]
    classes = json.loads(cluster.kubectl("get", "storageclass", "--output", "json", quiet=True).stdout or "{}")
    known = [c["metadata"]["name"] for c in classes.get("items", [])]
    if storage_class not in known:
        raise Unavailable(f"{name}: StorageClass {storage_class} does not exist in this cluster "
                          f"(it has: {', '.join(known) or 'none'})",
                          fix=f"install it (`labkit up --storage {name}`) or pick one of those")
    session = scope.session
    claim = f"lk-{session}-{name}"[:60]
    scope.adopt(ClaimObjects(cluster, session, name))
    cluster.kubectl("apply", "--filename", "-", stdin=kind_net.to_yaml(
        [pvc_manifest(claim, storage_class, engine_storage.size_bytes(size), session)]))
    place = JobPlace(cell, MOUNT, cluster=cluster, claim=claim, image=ctx["image"], session=session,
                     tolerate=cluster.placement.tolerate_control_plane)
    probe = place.submit(storage.direct_probe_argv(MOUNT), quiet=True)  # the claim's first consumer (WFFC)
    _wait_bound(cluster, claim, 180)  # binds once the probe's pod is scheduled; never → Unavailable + events
    try:
        place.collect(probe, timeout=300, quiet=True)
    except storage.ParseError:
        place.direct = False
        log(f"! {name}: O_DIRECT refused on this volume; rows are recorded with direct=0")
    try:
        place.run_fio(storage.precondition_argv(MOUNT, size=size, direct=place.direct), timeout=900, quiet=True)
    except LabkitError as exc:
        raise Unavailable(f"{name}: preconditioning failed: {exc.message}") from exc
    log(f"✓ cell {name}: {cell.description} (direct={int(place.direct)})")
    return place
