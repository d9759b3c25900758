"""labkit's fidelity, measured in one session with a paired design (issue 13 §8).

1. Network: labkit's ``host`` cell (iperf3 in two --network host containers, driven through labkit's
   exec path and parser) against a raw ``iperf3`` client and server on the host loopback.
2. Storage: labkit's ``hostfs`` cell (S0) against a raw ``fio`` process with the same job on the same file.

Each *block* measures both once, back to back in a random order (AB or BA: they cannot run at the same
moment without competing for the same loopback / disk). The ratio labkit/raw is the 20 %-trimmed mean of
the per-block log ratios with a paired BCa bootstrap CI (:mod:`labkit.bench.paired`); blocks go on until
the CI lies within ±``--tolerance`` (5 %) of the ratio, or the pair/time budget is spent. Target: ratio
≥ 0.95 (labkit adds no measurable overhead). Usage::

    .venv/bin/python benchmarks/fidelity.py [--budget 330] [--max-pairs 150] [--json out.json]

Needs a Docker daemon, the tools image, and iperf3 + fio on the host. Quick-matrix wall times are timed
separately from the CLI: ``/usr/bin/time labkit bench net --profile quick`` (README, Regression gate).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labkit import docker, images  # noqa: E402
from labkit.bench import net, paired, storage  # noqa: E402
from labkit.components.network import engine_cells as net_cells  # noqa: E402
from labkit.components.storage import engine_cells as sto_cells  # noqa: E402
from labkit.log import set_quiet  # noqa: E402


def _paired(lab_fn: Callable[[], float], raw_fn: Callable[[], float], *, budget_s: float, max_pairs: int,
            tolerance: float, min_pairs: int = 8) -> dict[str, object]:
    """Blocks of (labkit, raw) in random order until the CI is within ±tolerance of the ratio."""
    lab: list[float] = []
    raw: list[float] = []
    orders = paired.block_orders(max_pairs)
    t0 = time.monotonic()
    lab_fn(), raw_fn()  # one unrecorded warm-up each
    ratio = lo = hi = float("nan")
    while len(lab) < max_pairs and time.monotonic() - t0 < budget_s:
        first, second = (lab_fn, raw_fn) if orders[len(lab)] == "AB" else (raw_fn, lab_fn)
        x, y = first(), second()
        lab.append(x if first is lab_fn else y)
        raw.append(y if first is lab_fn else x)
        if len(lab) >= min_pairs:
            ratio, lo, hi = paired.ratio_ci(raw, lab)
            if lo >= ratio * (1 - tolerance) and hi <= ratio * (1 + tolerance):
                break
    ratio, lo, hi = paired.ratio_ci(raw, lab)
    within = bool(lo >= ratio * (1 - tolerance) and hi <= ratio * (1 + tolerance))
    return {"ratio": ratio, "ratio_ci_lo": lo, "ratio_ci_hi": hi, "n_pairs": len(lab), "within_tolerance": within,
            "seconds": round(time.monotonic() - t0, 1), "labkit_median": sorted(lab)[len(lab) // 2],
            "raw_median": sorted(raw)[len(raw) // 2], "design": "interleaved AB/BA, paired BCa (trimmed mean)"}


def network(duration: float, **kw: object) -> dict[str, object]:
    test = net.NetTest("tcp-1", "iperf3", "tcp", 1, duration, 0.0)
    port = 15999
    server = subprocess.Popen(["iperf3", "--server", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        with docker.Scope() as scope:
            pair = net_cells.open_cell("host", scope, {"image": images.ensure_tools()})

            def lab() -> float:
                return pair.measure(test, timeout=duration * 3 + 30, quiet=True).metrics["throughput_bps"]

            def raw() -> float:
                out = subprocess.run(net.iperf3_client_argv("127.0.0.1", test, port=port), capture_output=True,
                                     text=True, timeout=duration * 3 + 30)
                return net.parse_iperf3(out.stdout)["throughput_bps"]

            return _paired(lab, raw, **kw)  # type: ignore[arg-type]
    finally:
        server.terminate()


def disk(runtime: float, **kw: object) -> dict[str, object]:
    job = storage.fio_jobs(["randread-4k-qd32"], size="256M", runtime_s=runtime, ramp_s=0.5, numjobs=1)[0]
    with docker.Scope() as scope:
        place = sto_cells.open_cell("hostfs", scope, {"image": images.ensure_tools(), "fio_size": job.size})
        place.prepare(size=job.size, timeout=300)
        argv = storage.fio_argv(job, place.directory, direct=place.direct)

        def lab() -> float:
            return place.measure(job, timeout=runtime * 3 + 60, quiet=True).metrics["iops"]

        def raw() -> float:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=runtime * 3 + 60)
            return storage.parse_fio(out.stdout, job)["iops"]

        return _paired(lab, raw, **kw)  # type: ignore[arg-type]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per iperf3 / fio measurement")
    ap.add_argument("--budget", type=float, default=330.0, help="seconds per side (network, storage)")
    ap.add_argument("--max-pairs", type=int, default=150)
    ap.add_argument("--tolerance", type=float, default=0.05, help="stop when the CI is within ± this of the ratio")
    ap.add_argument("--only", choices=["net", "storage"], help="measure one side only")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    for tool in ("iperf3", "fio"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed on the host: apt-get install {tool}", file=sys.stderr)
            return 2
    random.seed()
    set_quiet(True)
    kw = {"budget_s": args.budget, "max_pairs": args.max_pairs, "tolerance": args.tolerance}
    results: dict[str, object] = {"load1_before": os.getloadavg()[0],
                                  "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.only != "storage":
        results["network_host_cell_vs_raw_iperf3"] = network(args.duration, **kw)
    if args.only != "net":
        results["storage_hostfs_cell_vs_raw_fio"] = disk(args.duration, **kw)
    results["load1_after"] = os.getloadavg()[0]
    set_quiet(False)
    print(json.dumps(results, indent=2))
    ratios = [r for k, r in results.items() if isinstance(r, dict)]
    ok = all(float(r["ratio"]) >= 0.95 for r in ratios)  # type: ignore[arg-type]
    print("fidelity: OK (every ratio >= 0.95)" if ok else "fidelity: BELOW 0.95 (or undecided)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
