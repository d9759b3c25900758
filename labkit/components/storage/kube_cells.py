"""Storage cells on Kubernetes: fio as a Job per StorageClass and fio run, on the same store and charts.

=================  ===== ============================================================ =============
cell               level what                                                         baseline
=================  ===== ============================================================ =============
hostfs-docker      S0    fio on the host, in a Docker volume: the filesystem that      -
                         holds every kind node's ``/var`` (Docker's volumes dir)
local-path         S1    a PVC of StorageClass ``standard`` (kind's local-path)        hostfs-docker
openebs-hostpath         a PVC of ``openebs-hostpath``                                 hostfs-docker
longhorn                 a PVC of ``longhorn`` (replicas over iSCSI)                   hostfs-docker
<any class>              on ``--target cluster``: the StorageClasses you name          the first one
=================  ===== ============================================================ =============

Per cell: one PVC, then one **Job per fio run**: first a preparing Job (an O_DIRECT probe, then
the preconditioning write, recording which ``direct`` it used), then every measurement, a fresh
fio process each time, read back with ``kubectl logs`` (what a learner would type to see fio's
output) and parsed by the engine tier's parser. The claim's and the Jobs' waits, and the reads of
StorageClasses and claims, go through the API (:class:`labkit.k8s.Cluster`). With
``WaitForFirstConsumer`` a claim binds only once a pod that uses it is scheduled, so the preparing
Job is created together with the claim and *then* the claim must turn Bound within a timeout; if it
does not, the cell is unavailable with the claim's events and the reason.
All Jobs of a run go to one node, so every cell is measured where the others are.

Everything is labelled (``io.labkit.managed/session/role``) and deleted by label when the run
ends, however it ends. All kind nodes share one host disk: a cell's cost is relative to S0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import docker
from labkit.bench import storage
from labkit.bench.cells import Cell, Measurement
from labkit.bench.kube import (
    NAMESPACE,
    BenchCluster,
    JobFailed,
    LabelledObjects,
    wait_bound,
    wait_job,
)
from labkit.components.storage import engine_cells
from labkit.errors import BadInput, CommandError, LabkitError, Unavailable
from labkit.k8s import ApiError
from labkit.log import log
from labkit.manifests import to_yaml
from labkit.components.storage.classes import (
    StorageClassInfo,
    docker_volumes_dir,
    storage_classes,
)
from labkit.components.storage.kube_objects import (
    DIRECT_MARK,
    HOST_CELLS,
    MOUNT,
    OPTION_CLASSES,
    PREPARE_TIMEOUT,
    S0,
    S1,
    cell_manifests,
    claim_name,
    job_manifest,
    job_name,
    slug,
)


SUITE = "storage"
OPTION_OF = {"local-path": "local-path", "openebs-hostpath": "openebs", "longhorn": "longhorn"}
BIND_TIMEOUT = 180.0
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")

# --- cells -----------------------------------------------------------------------------------------------


def cells(classes: Sequence[str] | None = None, *, target: str = "kind") -> dict[str, Cell]:
    """kind: S0, S1 (local-path) and the named option cells; cluster: the named StorageClasses.

    On a cluster the first StorageClass named is the baseline of the others (no host baseline:
    the cluster's disks are not this host's)."""
    out: dict[str, Cell] = {}
    if target == "kind":
        out[S0] = Cell(SUITE, S0, "fio on the host, in a Docker volume (where the kind nodes' /var lives)",
                       None, "S0", placement="host", path="hostfs", component="hostfs-docker",
                       no_impair="impairments on cluster cells are not supported yet")
        for name in dict.fromkeys([S1, *(classes or [])]):
            if name not in OPTION_CLASSES:
                raise BadInput("storage cell on kind", name, ", ".join(OPTION_CLASSES),
                               fix="name the cell of an installed option (`labkit up --storage NAME` installs it)")
            option = OPTION_OF[name]
            out[name] = Cell(SUITE, name, f"a PVC of StorageClass {OPTION_CLASSES[name]} ({option})", S0,
                             "S1" if name == S1 else None, placement="one-node", path="pvc", component=option,
                             config={"storage_class": OPTION_CLASSES[name], "option": option,
                                     "version": _version(option), "replicas": replicas(option)},
                             no_impair="impairments on cluster cells are not supported yet")
        return out
    names = list(classes or [])
    if not names:
        raise BadInput("StorageClasses", None, "one or more of the cluster's StorageClasses",
                       fix="name them: --storage-class rook-ceph-block,standard (`kubectl get storageclass`)")
    if len(set(names)) != len(names):
        raise BadInput("StorageClasses", names, "each StorageClass once")
    for sc in names:
        if not _DNS_SUBDOMAIN.fullmatch(sc):
            raise BadInput("StorageClass", sc, "a Kubernetes object name (lower case, digits, '-', '.')")
        out[sc] = Cell(SUITE, sc, f"a PVC of StorageClass {sc}", None if sc == names[0] else names[0], None,
                       placement="one-node", path="pvc", component=sc, config={"storage_class": sc},
                       no_impair="impairments on cluster cells are not supported yet")
    return out


def _version(option: str) -> str | None:
    """The pinned chart version of an option labkit installs (local-path comes with the node image: None)."""
    from labkit.components.storage import options as storage_mod

    return None if option == "local-path" else storage_mod.option(option).version


def replicas(option: str) -> int:
    """Copies of each byte a volume of ``option`` keeps (Longhorn: the pinned chart values' replica count)."""
    if option != "longhorn":
        return 1
    from labkit.components.storage import options as storage_mod

    values = storage_mod.option("longhorn").helm_values() or {}
    return int(values.get("persistence", {}).get("defaultClassReplicaCount", 3))


def fio_json(logs: str) -> str:
    """fio's JSON document out of ``kubectl logs``, which interleaves the container's stderr (fio's
    warnings) with it; the text is returned unchanged when it holds no complete JSON object."""
    start = logs.find("{")
    if start < 0:
        return logs
    try:
        _, end = json.JSONDecoder().raw_decode(logs, start)
    except ValueError:
        return logs
    return logs[start:end]


@dataclass
class ClaimCell:
    """fio on one PVC: each measurement is a fresh Job on the same node, read back with ``kubectl logs``."""

    cell: Cell
    cluster: BenchCluster
    session: str
    image: str
    node: str
    tolerate: bool = False
    direct: bool = True
    seq: int = 0

    @property
    def claim(self) -> str:
        return claim_name(self.session, self.cell.name)

    def run_job(self, command: list[str], *, timeout: float, quiet: bool = False, test: str = "") -> str:
        """Apply a Job running ``command``, wait for it, return its output; the Job is deleted after."""
        self.seq += 1
        name = job_name(self.session, self.cell.name, self.seq)
        job = job_manifest(self.cell.name, session=self.session, seq=self.seq, image=self.image, command=command,
                           node=self.node, tolerate=self.tolerate, deadline_s=timeout, test=test)
        self.cluster.kubectl("apply", "--filename", "-", stdin=to_yaml([job]), quiet=quiet)
        try:
            wait_job(self.cluster, name, timeout=timeout)
            return str(self.cluster.kubectl("logs", f"job/{name}", "--namespace", NAMESPACE, timeout=60,
                                            quiet=True).stdout)
        finally:
            self.cluster.kubectl("delete", "job", name, "--namespace", NAMESPACE, "--ignore-not-found",
                                 "--wait=false", "--cascade=background", timeout=60, check=False, quiet=True)

    def measure(self, job: storage.FioJob, *, timeout: float, quiet: bool = False) -> Measurement:
        out = fio_json(self.run_job(storage.fio_argv(job, MOUNT, direct=self.direct), timeout=timeout, quiet=quiet,
                                    test=job.name))
        return Measurement(storage.parse_fio(out, job), storage.fio_version(out), job.scenario(direct=self.direct))

    def alive(self) -> str | None:
        """Why the claim can no longer be measured, or None (a failure to *read* it is no verdict)."""
        try:
            pvc = self.cluster.api.pvc(self.claim, NAMESPACE)
        except ApiError as exc:
            return f"PVC {self.claim} is gone (deleted?)" if exc.status == 404 else None
        except LabkitError:
            return None
        if pvc.deleting:
            return f"PVC {self.claim} is being deleted"
        return None if pvc.phase == "Bound" else f"PVC {self.claim} is {pvc.phase}"

    def impair(self, spec: Any, *, calibrate: Any = None) -> str:
        raise Unavailable(f"cannot impair cell {self.cell.name}: impairments on cluster cells are not supported yet",
                          fix="impair an engine cell (e.g. volume), or run without --impair")


def host_problem() -> str | None:
    """Why S0 cannot run here (no fio, Docker's volumes directory out of reach), or None."""
    if shutil.which("fio") is None:
        return "fio is not installed on the host (S0 runs fio natively): apt-get install fio"
    volumes = docker_volumes_dir()
    try:
        os.stat(volumes)
    except FileNotFoundError:
        return (f"Docker's volumes directory {volumes} is not on this machine: the daemon runs elsewhere "
                "(Docker Desktop's VM, or a remote DOCKER_HOST)")
    except PermissionError:
        return f"Docker's volumes directory {volumes} is not readable by uid {os.geteuid()} (it is root's)"
    if not os.access(volumes, os.W_OK | os.X_OK):
        return f"Docker's volumes directory {volumes} is not writable by uid {os.geteuid()}"
    return None


def open_host(name: str, scope: docker.Scope, ctx: dict[str, Any]) -> engine_cells.FioPlace:
    """S0: fio natively on the host, in a labelled Docker volume beside the kind nodes' own ``/var`` volumes."""
    problem = host_problem()
    if problem:
        raise Unavailable(f"{name}: {problem}", fix="run the benchmark as root on the Docker host; the cluster "
                          "cells do not need it")
    volume = scope.volume(f"lk-{scope.session}-{name}")  # labelled: `labkit clean` finds it after a crash
    mount = Path(str(volume.attrs.get("Mountpoint", "")))
    if not mount.is_dir():
        raise Unavailable(f"{name}: Docker put volume {volume.name} at {mount}, which is not on this machine",
                          fix="run labkit on the Docker host itself")
    return engine_cells.open_cell("hostfs", scope, ctx.with_(scratch=str(mount), cell=ctx["cells"][name]))


def open_claim(name: str, scope: docker.Scope, ctx: dict[str, Any]) -> ClaimCell:
    """Apply the claim with its first consumer (the preparing Job), wait for Bound, then for the Job."""
    cluster: BenchCluster | None = ctx.get("cluster")
    if cluster is None:
        raise Unavailable(f"{name}: no cluster to run Jobs in", fix="pass a KubeTarget (kube=...)")
    cell: Cell = ctx["cells"][name]
    sc = str(cell.config["storage_class"])
    classes: dict[str, StorageClassInfo] = ctx.get("classes") or storage_classes(cluster.api)
    if sc not in classes:
        option = cell.config.get("option", name)
        raise Unavailable(f"{name}: StorageClass {sc} does not exist in this cluster (it has: "
                          f"{', '.join(classes) or 'none'})",
                          fix=f"install it (`labkit up --storage {option}`), or measure one of those")
    node = cluster.placement.first
    if node is None:
        raise Unavailable(f"{name}: no node can take the fio Jobs ({cluster.placement.note})",
                          fix="make a node Ready and schedulable (kubectl get nodes)")
    session, size = scope.session, str(ctx["fio_size"])
    session_cell = ClaimCell(cell, cluster, session, ctx["image"], node, cluster.placement.tolerate_control_plane)
    objects = cell_manifests(name, session=session, image=ctx["image"], storage_class=sc, size=size, node=node,
                             tolerate=session_cell.tolerate)
    scope.adopt(LabelledObjects(cluster, session, f"bench-{slug(name)}", "jobs,pods,persistentvolumeclaims"))
    try:
        cluster.kubectl("apply", "--filename", "-", stdin=to_yaml(objects))
    except CommandError as exc:
        raise Unavailable(f"{name}: the cluster refused the claim or its Job: {exc.stderr.strip()[-300:]}",
                          fix="read the message (quota? admission policy? a size the class refuses?)") from exc
    prep = job_name(session, name, "prep")
    wait_bound(cluster, name, session_cell.claim, classes[sc], consumer=prep,
               timeout=float(ctx.get("bind_timeout") or BIND_TIMEOUT))
    try:
        wait_job(cluster, prep, timeout=float(ctx.get("prepare_timeout") or PREPARE_TIMEOUT))
        out = cluster.kubectl("logs", f"job/{prep}", "--namespace", NAMESPACE, timeout=60, quiet=True).stdout
    except JobFailed as exc:
        raise Unavailable(f"{name}: preparing the data file failed: {exc.message}", fix=exc.fix) from exc
    mark = re.search(re.escape(DIRECT_MARK) + r"([01])", out)
    if mark is None:
        raise Unavailable(f"{name}: the preparing Job did not say whether O_DIRECT works: {out.strip()[-300:]!r}",
                          fix=f"is {ctx['image']} the lab's tools image (sh, fio)?")
    session_cell.direct = mark.group(1) == "1"
    if not session_cell.direct:
        log(f"! {name}: the volume refuses O_DIRECT; rows are recorded with direct=0")
    cluster.kubectl("delete", "job", prep, "--namespace", NAMESPACE, "--ignore-not-found", "--wait=false",
                    "--cascade=background", timeout=60, check=False, quiet=True)
    log(f"✓ cell {name}: {cell.description} on {node} (PVC {session_cell.claim}, {classes[sc].binding_mode}, "
        f"direct={int(session_cell.direct)})")
    return session_cell


def open_cell(name: str, scope: docker.Scope, ctx: dict[str, Any]) -> Any:
    """Set up one storage cell of the kind or cluster target; raises :class:`Unavailable` with the reason.

    ``ctx``: ``cells`` (this run's cells by name), ``image``, ``fio_size``, ``cluster`` (from
    :func:`labkit.bench.kube.prepare`; not needed for S0), ``classes`` (from :func:`check_classes`),
    ``bind_timeout``, ``prepare_timeout``."""
    if name in HOST_CELLS:
        return open_host(name, scope, ctx)
    return open_claim(name, scope, ctx)
