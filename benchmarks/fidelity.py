"""labkit's own fidelity and cost, measured in one session.

1. Network fidelity: labkit's ``host`` cell (iperf3 in two --network host containers,
   driven through labkit's exec path and parser) against a raw ``iperf3`` client and
   server on the host loopback, alternated A B A B with the same flags.
2. Storage fidelity: labkit's ``hostfs`` cell (S0) against a raw ``fio`` process with
   the same job on the same file, alternated.
3. Cost: wall time of the quick engine matrices (``labkit bench net`` / ``storage``).

Targets: both fidelity ratios >= 0.95 (labkit adds no measurable overhead to what
it measures). Usage::

    .venv/bin/python benchmarks/fidelity.py [--reps 10] [--skip-matrix] [--json out.json]

Needs a Docker daemon, the tools image, and iperf3 + fio on the host.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labkit import engine, images  # noqa: E402
from labkit.bench import engine_net, engine_storage, net, stats, storage  # noqa: E402
from labkit.log import set_quiet  # noqa: E402


def _ratio(labkit_values: list[float], raw_values: list[float]) -> dict[str, float]:
    ratio, lo, hi = stats.ratio_ci(raw_values, labkit_values)
    return {"labkit_median": stats.summarize(labkit_values).median, "raw_median": stats.summarize(raw_values).median,
            "ratio": ratio, "ratio_ci_lo": lo, "ratio_ci_hi": hi, "n": len(labkit_values)}


def network(reps: int, duration: float) -> dict[str, float]:
    test = net.NetTest("tcp-1", "iperf3", "tcp", 1, duration)
    port = 15999
    server = subprocess.Popen(["iperf3", "--server", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    lab, raw = [], []
    try:
        with engine.Scope() as scope:
            pair = engine_net.open_cell("host", scope, {"image": images.ensure_tools()})
            for _ in range(reps):
                lab.append(pair.measure(test, timeout=duration * 3 + 30).metrics["throughput_bps"])
                out = subprocess.run(net.iperf3_client_argv("127.0.0.1", test, port=port), capture_output=True,
                                     text=True, timeout=duration * 3 + 30)
                raw.append(net.parse_iperf3(out.stdout)["throughput_bps"])
    finally:
        server.terminate()
    return _ratio(lab, raw)


def disk(reps: int, runtime: float) -> dict[str, float]:
    job = storage.fio_jobs(["randread-4k-qd32"], size="256M", runtime_s=runtime, ramp_s=0.5, numjobs=1)[0]
    lab, raw = [], []
    with engine.Scope() as scope:
        place = engine_storage.open_cell("hostfs", scope, {"image": images.ensure_tools(), "fio_size": job.size})
        argv = storage.fio_argv(job, place.directory, direct=place.direct)
        for _ in range(reps):
            lab.append(place.measure(job, timeout=runtime * 3 + 60).metrics["iops"])
            out = subprocess.run(argv, capture_output=True, text=True, timeout=runtime * 3 + 60)
            raw.append(storage.parse_fio(out.stdout, job)["iops"])
    return _ratio(lab, raw)


def matrix_wall_time(suite: str) -> float:
    from labkit import bench

    t0 = time.monotonic()
    bench.run(suite, profile="quick", store=str(ROOT / "results" / "fidelity"))
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per iperf3 / fio measurement")
    ap.add_argument("--skip-matrix", action="store_true", help="skip the quick-matrix wall-time measurement")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    for tool in ("iperf3", "fio"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed on the host: apt-get install {tool}", file=sys.stderr)
            return 2
    set_quiet(True)
    results: dict[str, object] = {"network_host_cell_vs_raw_iperf3": network(args.reps, args.duration),
                                  "storage_hostfs_cell_vs_raw_fio": disk(args.reps, args.duration)}
    if not args.skip_matrix:
        results["quick_matrix_wall_s"] = {"net": matrix_wall_time("net"), "storage": matrix_wall_time("storage")}
    set_quiet(False)
    print(json.dumps(results, indent=2))
    ok = all(r["ratio"] >= 0.95 for k, r in results.items() if k.endswith(("iperf3", "fio")))  # type: ignore[index]
    print("fidelity: OK (both ratios >= 0.95)" if ok else "fidelity: BELOW 0.95")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
