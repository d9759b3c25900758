"""Power of the A/B regression gate on this host, measured through the public CLI (issue 13).

Every trial is one whole gate, ``labkit bench <suite> --ab ...`` in a fresh process (setup, warm-up,
adaptive paired blocks, verdict), exactly as a user or CI runs it. Trial kinds, shuffled so each sees
the same mix of host load:

- ``net-aa``     bridge tcp-1, no impairment (a regression verdict here is a false alarm)
- ``net-cut10``  bridge tcp-1, ``--impair rate=90%``: a tbf cap set before every block from the same
                 gate's A arm (its recent blocks); the cut really delivered is measured in the blocks
- ``net-cut20``  the same with ``rate=80%``
- ``sto-aa``     volume randread-4k-qd32, no impairment
- ``sto-cut10``  volume randread-4k-qd32, ``--impair riops=N`` with N = 0.9 × the cell's IOPS measured
                 just before (blkio throttle); the delivered cut is the B/A the gate measured

Detection is reported against the *delivered* cut (median per-block B/A for net; the gate's ratio
for storage), never only the requested one. Per trial: verdict, ratio and CI, MDE, blocks, wall time,
load average. Usage::

    .venv/bin/python benchmarks/gate_power.py                 # 20 A/A + 10 per cut, net and storage
    .venv/bin/python benchmarks/gate_power.py --quick         # 4/4/3 net, 2/3 storage, --budget 120
    .venv/bin/python benchmarks/gate_power.py --trials net-aa=20,net-cut10=10 --budget 300 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labkit.bench import report  # noqa: E402
from labkit.bench.store import Store  # noqa: E402

FULL = {"net-aa": 20, "net-cut10": 10, "net-cut20": 10, "sto-aa": 20, "sto-cut10": 10}
QUICK = {"net-aa": 4, "net-cut10": 4, "net-cut20": 3, "sto-aa": 2, "sto-cut10": 3}
NET = ["net", "--cells", "bridge", "--tests", "tcp-1"]
STO = ["storage", "--cells", "volume", "--tests", "randread-4k-qd32"]


def _cli(*args: str, timeout: float) -> tuple[int, str, float]:
    t0 = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def storage_iops(store: str) -> float:
    """The volume cell's randread-4k-qd32 IOPS now (median of 3), to set a 10 % throttle from."""
    code, out, _ = _cli("bench", *STO, "--reps", "3", "--store", store, timeout=600)
    rows = Store(store).load([Store(store).resolve("latest:storage")])
    ok = rows[(rows.metric == "iops") & (rows.status == "ok")]
    if code or ok.empty:
        raise SystemExit(f"could not measure the storage cell: {out[-2000:]}")
    return float(ok.value.astype(float).median())


def trial(kind: str, budget: float, store: str, design: str = "duet") -> dict[str, object]:
    args = ["bench", *(NET if kind.startswith("net") else STO), "--ab", "--budget", f"{budget:g}", "--store", store,
            "--design", design]
    requested = None
    if kind == "net-cut10":
        args += ["--impair", "rate=90%"]
        requested = 0.90
    elif kind == "net-cut20":
        args += ["--impair", "rate=80%"]
        requested = 0.80
    elif kind == "sto-cut10":
        iops = storage_iops(store)
        args += ["--impair", f"riops={int(0.9 * iops)}"]
        requested = 0.90
    load = os.getloadavg()[0]
    code, out, wall = _cli(*args, timeout=budget * 3 + 300)
    st = Store(store)
    runs = st.runs()
    b_id = runs.run_id.iloc[-1]
    a_id = st.meta(b_id)["interleaved_with"]
    result, _ = report.compare_runs(st, a_id, b_id)
    r = result.iloc[0]
    gate = st.meta(b_id).get("gate") or {}
    delivered = r.get("delivered")
    if kind.startswith("sto") or delivered != delivered:  # storage (or no per-block cap): the gate's ratio
        delivered = r.ratio if requested else None
    return {"kind": kind, "design": design, "sd_log": r.sd_log, "exit": code,
            "verdict": r.verdict, "ratio": r.ratio, "ci": [r.ratio_ci_lo, r.ratio_ci_hi],
            "mde": r.mde, "n_pairs": int(r.n_pairs), "n_dropped": int(r.n_dropped), "requested": requested,
            "delivered": delivered, "wall_s": round(wall, 1), "blocks": gate.get("blocks"),
            "stop": gate.get("stop_reason"), "load1_before": load, "load1_after": os.getloadavg()[0],
            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "a": a_id, "b": b_id,
            "noise": gate.get("noise")}


def table(results: list[dict[str, object]]) -> str:
    lines = ["| trials | kind | flagged regression | delivered B/A (median, range) | median MDE | time per gate "
             "(median, max) | load1 |", "|---|---|---|---|---|---|---|"]
    for kind in FULL:
        rs = [r for r in results if r["kind"] == kind]
        if not rs:
            continue
        flagged = sum(r["verdict"] == "regression" for r in rs)
        dl = [float(r["delivered"]) for r in rs if r["delivered"] is not None and r["delivered"] == r["delivered"]]
        dtxt = f"{statistics.median(dl):.2f} ({min(dl):.2f}-{max(dl):.2f})" if dl else "-"
        mdes = [float(r["mde"]) for r in rs if r["mde"] == r["mde"]]
        walls = [float(r["wall_s"]) for r in rs]
        loads = [float(r["load1_before"]) for r in rs]
        lines.append(f"| {len(rs)} | {kind} | {flagged} of {len(rs)} | {dtxt} | "
                     f"{statistics.median(mdes):.1%} | {statistics.median(walls):.0f} s, {max(walls):.0f} s | "
                     f"{min(loads):.1f}-{max(loads):.1f} |" if mdes else
                     f"| {len(rs)} | {kind} | {flagged} of {len(rs)} | {dtxt} | - | "
                     f"{statistics.median(walls):.0f} s | {min(loads):.1f}-{max(loads):.1f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", help="kind=N,... (kinds: " + ", ".join(FULL) + ")")
    ap.add_argument("--quick", action="store_true", help="a reduced run: " + str(QUICK) + ", budget 120 s")
    ap.add_argument("--budget", type=float, default=None, help="seconds per gate (default 300; --quick 120)")
    ap.add_argument("--design", default="duet", choices=["duet", "interleaved"], help="the gate's design")
    ap.add_argument("--store", default=None, help="results directory (default: a temporary one)")
    ap.add_argument("--json", help="append every trial as a JSON line here")
    args = ap.parse_args()
    plan = dict(QUICK if args.quick else FULL)
    if args.trials:
        plan = {k: int(v) for k, v in (x.split("=") for x in args.trials.split(","))}
    budget = args.budget or (120.0 if args.quick else 300.0)
    kinds = [k for k, n in plan.items() for _ in range(n)]
    random.shuffle(kinds)
    store = args.store or tempfile.mkdtemp(prefix="labkit-gate-power-")
    results = []
    for i, kind in enumerate(kinds, 1):
        r = trial(kind, budget, store, args.design)
        results.append(r)
        print(f"[{i}/{len(kinds)}] {kind}: {r['verdict']} ratio {float(r['ratio']):.3f} "  # type: ignore[arg-type]
              f"MDE {float(r['mde']):.1%} delivered {r['delivered']} {r['wall_s']} s load1 "  # type: ignore[arg-type]
              f"{float(r['load1_before']):.1f}", flush=True)  # type: ignore[arg-type]
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(r, default=float) + "\n")
    sds = [float(r["sd_log"]) for r in results if r["kind"].endswith("aa")]  # type: ignore[union-attr]
    if sds:
        print(f"\nA/A per-block sd of log ratio ({args.design}): median {statistics.median(sds):.3f}")
    day = time.strftime("%Y-%m-%d", time.gmtime())
    print(f"\nbudget {budget:g} s per gate, design {args.design}, {len(kinds)} trials, {day}\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
