"""Benchmark profiles: ``quick`` for CI and workshops, ``full`` for numbers you quote."""

from __future__ import annotations

import os
from dataclasses import dataclass

from labkit.errors import BadInput


@dataclass(frozen=True)
class Profile:
    name: str
    reps: int
    net_tests: tuple[str, ...]
    net_duration_s: float
    net_omit_s: float
    streams: int
    fio_jobs: tuple[str, ...]
    fio_size: str
    fio_runtime_s: float
    fio_ramp_s: float
    fio_numjobs: int
    start_reps: int = 8  # container starts per engine cell (one start is one repetition)


def _streams() -> int:
    return min(8, max(2, os.cpu_count() or 2))


ALL_FIO = ("randread-4k-qd32", "randwrite-4k-qd32", "read-1m-qd16", "write-1m-qd16",
           "randread-4k-qd1", "fsync-write-4k")

PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", reps=6, net_tests=("tcp-1", "tcp-N", "latency"), net_duration_s=2, net_omit_s=1,
                     streams=_streams(), fio_jobs=ALL_FIO, fio_size="64M", fio_runtime_s=1.5, fio_ramp_s=0.5,
                     fio_numjobs=1, start_reps=8),
    "full": Profile("full", reps=10, net_tests=("tcp-1", "tcp-N", "udp", "latency"), net_duration_s=10,
                    net_omit_s=1, streams=_streams(), fio_jobs=ALL_FIO, fio_size="1G", fio_runtime_s=10,
                    fio_ramp_s=2, fio_numjobs=min(4, os.cpu_count() or 1), start_reps=20),
}


def get(name: str) -> Profile:
    if name not in PROFILES:
        raise BadInput("profile", name, ", ".join(PROFILES), fix="use --profile quick (CI, workshops) or full")
    return PROFILES[name]
