"""Storage cells on the Docker engine target: S0 and the places a container can write.

============ ===== ===================================================== ========
cell         level where fio writes                                    baseline
============ ===== ===================================================== ========
hostfs       S0    the host filesystem, fio run on the host itself       -
bind               a bind-mounted host directory (same filesystem)       hostfs
overlay            the container's own overlay2 layer                    hostfs
volume             a named Docker volume                                 hostfs
tmpfs              a tmpfs mount (memory)                                hostfs
loop-ext4          a loop-device-backed ext4 volume (--direct-io=on)     hostfs
loop-xfs           a loop-device-backed xfs volume                       hostfs
============ ===== ===================================================== ========

``hostfs`` needs fio on the host; the loop cells need root (losetup) and mkfs.
Each is reported unavailable with the fix where that is missing.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import docker
from labkit._run import default_runner
from labkit.bench import impair, storage
from labkit.bench.cells import Cell, Measurement, engine_cell
from labkit.errors import CommandError, Unavailable
from labkit.log import log
from labkit.paths import scratch_dir

SUITE = "storage"
MOUNT = "/bench"


def _cell(name: str, description: str, baseline: str | None, level: str | None, path: str,
          no_impair: str = "") -> Cell:
    return engine_cell(SUITE, name, description, baseline, level, path, no_impair=no_impair)


CELLS: dict[str, Cell] = {
    "hostfs": _cell("hostfs", "fio on the host filesystem (no container)", None, "S0", "hostfs",
                    "it is the unimpaired host baseline"),
    "bind": _cell("bind", "a bind-mounted host directory", "hostfs", None, "bind"),
    "overlay": _cell("overlay", "the container's overlay2 layer", "hostfs", None, "overlay"),
    "volume": _cell("volume", "a named Docker volume", "hostfs", None, "volume"),
    "tmpfs": _cell("tmpfs", "a tmpfs mount (memory, not disk)", "hostfs", None, "tmpfs",
                   "tmpfs has no block device to throttle"),
    "loop-ext4": _cell("loop-ext4", "a loop-device ext4 volume", "hostfs", None, "loop"),
    "loop-xfs": _cell("loop-xfs", "a loop-device xfs volume", "hostfs", None, "loop"),
}


def size_bytes(size: str) -> int:
    match = re.fullmatch(r"(\d+)([KMGkmg]?)", size)
    if not match:
        raise ValueError(size)
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]


@dataclass
class LoopDevice:
    device: str
    image: Path

    def remove(self) -> None:
        default_runner().run(["losetup", "-d", self.device], timeout=30, check=False)
        self.image.unlink(missing_ok=True)


@dataclass
class ScratchDir:
    path: Path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass
class FioPlace:
    """Where fio runs for one cell: in a container (``box``) or on the host (``box is None``)."""

    cell: Cell
    directory: str
    box: Any = None
    direct: bool = True
    impairment: str = ""
    refuse_impairment: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def run_fio(self, argv: list[str], *, timeout: float, quiet: bool = False) -> str:
        if self.box is None:
            res = default_runner().run(argv, timeout=timeout, check=False, quiet=quiet)
            out, ok, err = res.stdout, res.ok, res.stderr
        else:
            r = docker.exec_in(self.box, argv, timeout=timeout, quiet=quiet)
            out, ok, err = r.stdout, r.ok, r.stderr
        if not ok:
            raise storage.ParseError(f"fio failed: {(err or out).strip()[-400:]}")
        return out

    def prepare(self, *, size: str, timeout: float) -> None:
        try:
            self.run_fio(storage.direct_probe_argv(self.directory), timeout=60)
        except storage.ParseError:
            self.direct = False
            log(f"! {self.cell.name}: the filesystem refuses O_DIRECT; rows are recorded with direct=0")
        self.run_fio(storage.precondition_argv(self.directory, size=size, direct=self.direct), timeout=timeout)

    def alive(self) -> str | None:
        if self.box is not None and not docker.is_running(self.box):
            return f"container {self.box.name} is gone or stopped (killed?)"
        return None

    def measure(self, job: storage.FioJob, *, timeout: float, quiet: bool = False) -> Measurement:
        out = self.run_fio(storage.fio_argv(job, self.directory, direct=self.direct), timeout=timeout, quiet=quiet)
        return Measurement(storage.parse_fio(out, job), storage.fio_version(out), job.scenario(direct=self.direct))

    def impair(self, spec: impair.Impairment, *, calibrate: Any = None) -> str:
        if spec.suite != SUITE:
            raise Unavailable(f"{spec.spec!r} is a network impairment; cell {self.cell.name} is a storage cell")
        if self.refuse_impairment:
            raise Unavailable(f"cannot impair cell {self.cell.name}: {self.refuse_impairment}",
                              fix="impair a disk-backed container cell (volume, bind, overlay, loop-*)")
        return self.impairment


def _backing_device(path: str) -> str | None:
    """The whole-disk block device behind ``path`` (for blkio throttles), if visible here."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    sys_dir = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    if not sys_dir.exists():
        return None
    real = sys_dir.resolve()
    if (real / "partition").exists():
        real = real.parent
    dev = Path("/dev") / real.name
    return str(dev) if dev.exists() else None


def _blkio(spec: impair.Impairment | None, device: str | None) -> dict[str, Any]:
    if spec is None or spec.suite != SUITE or device is None:
        return {}
    key = {"wbps": "device_write_bps", "rbps": "device_read_bps",
           "wiops": "device_write_iops", "riops": "device_read_iops"}[spec.kind]
    return {key: [{"Path": device, "Rate": int(spec.value)}]}


def _need_root(cell: str, tool: str) -> None:
    if os.geteuid() != 0:
        raise Unavailable(f"{cell}: loop devices need root on the host", fix="run the benchmark as root")
    if shutil.which(tool) is None:
        pkg = "xfsprogs" if "xfs" in tool else ("e2fsprogs" if "ext4" in tool else "util-linux")
        raise Unavailable(f"{cell}: {tool} is not installed on the host", fix=f"apt-get install {pkg}")


def _check_space(place: FioPlace, size: str) -> None:
    need = size_bytes(size) * 1.2
    if place.box is None:
        free = shutil.disk_usage(place.directory).free
    else:
        out = docker.exec_in(place.box, ["df", "-B1", "--output=avail", MOUNT], timeout=20, quiet=True).stdout
        nums = [int(x) for x in out.split() if x.isdigit()]
        free = nums[-1] if nums else need
    if free < need:
        raise Unavailable(f"{place.cell.name}: fio needs {need / 1024**2:.0f} MiB but only "
                          f"{free / 1024**2:.0f} MiB are free at {place.directory}",
                          fix="use a smaller --size, or free space")


def open_cell(name: str, scope: docker.Scope, ctx: dict[str, Any]) -> FioPlace:
    """Set up one storage cell and precondition its data file.

    ``ctx["scratch"]`` puts the host cells' files in another directory and ``ctx["cell"]`` names the
    cell they stand for: the kind tier's S0 is ``hostfs`` in a Docker volume, as ``hostfs-docker``."""
    image, size, spec = ctx["image"], ctx["fio_size"], ctx.get("impair")
    cell, base = ctx.get("cell") or CELLS[name], Path(ctx.get("scratch") or scratch_dir())
    base.mkdir(parents=True, exist_ok=True)
    root_dev = _backing_device(docker.info().get("DockerRootDir", "/var/lib/docker"))
    box_name = f"lk-{scope.session}-{name}"
    refuse = "" if root_dev else "the Docker root filesystem's block device is not visible from here"
    if name == "hostfs":
        if shutil.which("fio") is None:
            raise Unavailable("hostfs: fio is not installed on the host (the S0 baseline runs fio natively)",
                              fix="apt-get install fio")
        d = base / f"lk-{scope.session}-hostfs"
        d.mkdir()
        scope.adopt(ScratchDir(d))
        place = FioPlace(cell, str(d), refuse_impairment="it is the unimpaired host baseline")
    elif name == "bind":
        d = base / f"lk-{scope.session}-bind"
        d.mkdir()
        scope.adopt(ScratchDir(d))
        dev = _backing_device(str(d))
        box = scope.container(image, name=box_name, role="bench-bind", volumes={str(d): {"bind": MOUNT}},
                              network_mode="none", **_blkio(spec, dev))
        place = FioPlace(cell, MOUNT, box, refuse_impairment="" if dev else "its block device is not visible")
    elif name == "overlay":
        box = scope.container(image, name=box_name, role="bench-overlay", network_mode="none",
                              command=["sh", "-c", f"mkdir -p {MOUNT} && exec sleep infinity"],
                              **_blkio(spec, root_dev))
        place = FioPlace(cell, MOUNT, box, refuse_impairment=refuse)
    elif name == "volume":
        vol = scope.volume(f"lk-{scope.session}-vol")
        box = scope.container(image, name=box_name, role="bench-volume", network_mode="none",
                              volumes={vol.name: {"bind": MOUNT}}, **_blkio(spec, root_dev))
        place = FioPlace(cell, MOUNT, box, refuse_impairment=refuse)
    elif name == "tmpfs":
        box = scope.container(image, name=box_name, role="bench-tmpfs", network_mode="none",
                              tmpfs={MOUNT: f"size={size_bytes(size) * 2}"})
        place = FioPlace(cell, MOUNT, box, refuse_impairment="tmpfs has no block device to throttle")
    elif name in ("loop-ext4", "loop-xfs"):
        fs = name.split("-")[1]
        _need_root(name, "losetup")
        _need_root(name, f"mkfs.{fs}")
        img = base / f"lk-{scope.session}-{fs}.img"
        with open(img, "wb") as fh:
            fh.truncate(max(size_bytes(size) * 2 + 64 * 1024**2, 512 * 1024**2))  # xfs needs >= 300 MiB
        dev = default_runner().run(["losetup", "--find", "--show", "--direct-io=on", str(img)], timeout=30)
        loop = LoopDevice(dev.stdout.strip(), img)
        scope.adopt(loop)
        default_runner().run([f"mkfs.{fs}", "-q", loop.device], timeout=120)
        vol = scope.volume(f"lk-{scope.session}-{fs}", driver_opts={"type": fs, "device": loop.device})
        box = scope.container(image, name=box_name, role=f"bench-{name}", network_mode="none",
                              volumes={vol.name: {"bind": MOUNT}}, **_blkio(spec, loop.device))
        place = FioPlace(cell, MOUNT, box)
    else:  # pragma: no cover - validated by the runner
        raise KeyError(name)
    if spec is not None and spec.suite == SUITE and not place.refuse_impairment:
        unit = "B/s" if spec.kind.endswith("bps") else "IO/s"
        place.impairment = f"blkio {spec.kind} {spec.value:g} {unit}"
    _check_space(place, size)
    try:
        place.prepare(size=size, timeout=600)
    except CommandError as exc:
        raise Unavailable(f"{name}: preconditioning failed: {exc.message}") from exc
    log(f"✓ cell {cell.name}: {cell.description} (direct={int(place.direct)})")
    return place
