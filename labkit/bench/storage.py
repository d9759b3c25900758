"""Storage workloads: the fio job set, its command lines, and a parser of fio JSON.

One fio process per job and repetition (so jobs never overlap, which is what
``stonewall`` guarantees inside one fio run; the flag is passed as well),
``libaio`` with ``direct=1`` where the filesystem allows O_DIRECT (probed per
cell and recorded per row when it does not), and the data file preconditioned
by a full sequential write before any read job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from labkit.bench.net import ParseError
from labkit.errors import BadInput

DATA_FILE = "lk-fio.dat"


@dataclass(frozen=True)
class FioJob:
    name: str
    rw: str  # randread | randwrite | read | write
    bs: str
    iodepth: int
    numjobs: int = 1
    fsync: int = 0
    latency: bool = False  # report clat percentiles as the headline
    size: str = "256M"
    runtime_s: float = 10.0
    ramp_s: float = 2.0

    @property
    def reads(self) -> bool:
        return "read" in self.rw

    @property
    def budget_s(self) -> float:
        """Seconds one measurement takes (the harness's timeout is a multiple of it)."""
        return self.runtime_s + self.ramp_s

    def scenario(self, *, direct: bool = True, **_: object) -> dict[str, object]:
        return {"tool": "fio", "test": self.name, "protocol": self.rw, "streams_or_numjobs": self.numjobs,
                "msg_size_or_bs": self.bs, "iodepth": self.iodepth, "direct": direct, "fsync": self.fsync,
                "file_size": self.size, "duration_s": self.runtime_s, "ramp_s": self.ramp_s}


#: The job set of DESIGN §4 (numjobs is raised by the full profile).
JOBS: dict[str, FioJob] = {
    "randread-4k-qd32": FioJob("randread-4k-qd32", "randread", "4k", 32),
    "randwrite-4k-qd32": FioJob("randwrite-4k-qd32", "randwrite", "4k", 32),
    "read-1m-qd16": FioJob("read-1m-qd16", "read", "1M", 16),
    "write-1m-qd16": FioJob("write-1m-qd16", "write", "1M", 16),
    "randread-4k-qd1": FioJob("randread-4k-qd1", "randread", "4k", 1, latency=True),
    "fsync-write-4k": FioJob("fsync-write-4k", "write", "4k", 1, fsync=1, latency=True),
}


def fio_jobs(names: list[str], *, size: str, runtime_s: float, ramp_s: float, numjobs: int) -> list[FioJob]:
    out = []
    for name in names:
        if name not in JOBS:
            raise BadInput("fio job", name, ", ".join(JOBS))
        job = JOBS[name]
        nj = numjobs if job.iodepth >= 32 else 1
        out.append(replace(job, size=size, runtime_s=runtime_s, ramp_s=ramp_s, numjobs=nj))
    return out


def fio_argv(job: FioJob, directory: str, *, direct: bool) -> list[str]:
    argv = [
        "fio",
        f"--name={job.name}",
        f"--filename={directory.rstrip('/')}/{DATA_FILE}",
        f"--size={job.size}",
        f"--rw={job.rw}",
        f"--bs={job.bs}",
        f"--iodepth={job.iodepth}",
        f"--numjobs={job.numjobs}",
        "--group_reporting",             # one result for all numjobs (iops is the group total)
        "--ioengine=libaio",
        f"--direct={int(direct)}",       # libaio is only asynchronous with O_DIRECT
        "--time_based",
        f"--runtime={job.runtime_s:g}",
        f"--ramp_time={job.ramp_s:g}",
        "--stonewall",
        "--randrepeat=0",
        "--output-format=json",
    ]
    if job.fsync:
        argv.append(f"--fsync={job.fsync}")  # etcd-like: fsync after every write
    return argv


def precondition_argv(directory: str, *, size: str, direct: bool) -> list[str]:
    """Write the whole data file once, so reads hit real blocks, not holes."""
    return ["fio", "--name=precondition", f"--filename={directory.rstrip('/')}/{DATA_FILE}", f"--size={size}",
            "--rw=write", "--bs=1M", "--iodepth=8", "--ioengine=libaio", f"--direct={int(direct)}",
            "--output-format=json"]


def direct_probe_argv(directory: str) -> list[str]:
    """A tiny O_DIRECT write: fails with EINVAL where the filesystem has no O_DIRECT."""
    return ["fio", "--name=direct-probe", f"--filename={directory.rstrip('/')}/lk-direct-probe.dat",
            "--size=1M", "--rw=write", "--bs=4k", "--ioengine=libaio", "--direct=1", "--output-format=json"]


def _load(text: str) -> dict:
    start = text.find("{")
    if start < 0:
        raise ParseError(f"fio printed no JSON: {text.strip()[:300]!r}")
    try:
        return dict(json.loads(text[start:]))
    except ValueError as exc:
        raise ParseError(f"fio JSON is malformed: {exc}") from exc


def parse_fio(text: str, job: FioJob) -> dict[str, float]:
    """iops, bandwidth and (for latency jobs) clat p50/p99/p99.9 in µs."""
    data = _load(text)
    jobs = data.get("jobs") or []
    if not jobs:
        raise ParseError("fio JSON has no jobs")
    j = jobs[0]
    if int(j.get("error", 0)):
        raise ParseError(f"fio job {j.get('jobname')} failed with errno {j['error']}")
    side = j["read"] if job.reads else j["write"]
    out = {"iops": float(side["iops"]), "bw_Bps": float(side["bw_bytes"])}
    if job.latency:
        # For fsync=1 the number that matters (etcd's wal_fsync_duration) is the fsync itself.
        source = j.get("sync", {}).get("lat_ns", {}) if job.fsync else {}
        pct = source.get("percentile") or side.get("clat_ns", {}).get("percentile", {})
        for key, metric in (("50.000000", "lat_p50_us"), ("99.000000", "lat_p99_us"), ("99.900000", "lat_p999_us")):
            if key in pct:
                out[metric] = float(pct[key]) / 1000.0
    return out


def fio_version(text: str) -> str | None:
    try:
        return str(_load(text)["fio version"]).replace("fio-", "")
    except (ParseError, KeyError):
        return None
