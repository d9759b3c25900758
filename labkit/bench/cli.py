"""CLI verbs of the benchmark harness: bench, runs, compare, report."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit.errors import BadInput
from labkit.log import log
from labkit.paths import results_dir

SUMMARY_COLS = ["cell", "test", "metric", "n", "median", "ci_lo", "ci_hi", "cv", "ratio", "baseline_cell", "note"]


def _csv(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def add_parsers(sub: Any, *, bench: Callable[..., int], runs: Callable[..., int], compare: Callable[..., int],
                report: Callable[..., int]) -> None:
    b = sub.add_parser(
        "bench", help="run a network or storage benchmark matrix",
        description="Measure every cell × test × repetition (interleaved), store tidy rows, print per cell the "
        "median, its 95%% bootstrap CI, the CV and the ratio to the cell's baseline.",
        epilog="Example: labkit bench net --cells loopback,bridge --tests tcp-1,latency --reps 6")
    b.add_argument("suite", choices=["net", "storage"])
    b.add_argument("--target", default="engine", choices=["engine", "kind", "cluster"],
                   help="where to measure (default: engine, the local Docker daemon)")
    b.add_argument("--cells", help="comma-separated cells (default: all the target offers)")
    b.add_argument("--tests", help="net: tcp-1,tcp-N,udp,latency; storage: fio job names (default: the profile's)")
    b.add_argument("--profile", default="quick", help="quick (n=6, short) or full (n=10, longer)")
    b.add_argument("--reps", type=int, help="repetitions per cell (>= 2; default from the profile)")
    b.add_argument("--duration", type=float, help="seconds per measurement (default from the profile)")
    b.add_argument("--size", help="fio file size, e.g. 64M (storage)")
    b.add_argument("--impair", help="inject a known impairment: rate=90%% or rate=5gbit "
                   "(tc tbf on the client's egress, network); "
                   "wbps=50mb, rbps=50mb, wiops=2000, riops=2000 (blkio throttle, storage)")
    b.add_argument("--impair-cells", help="cells to impair (default: every cell that can take it)")
    b.add_argument("--ab", action="store_true",
                   help="measure a baseline and a candidate (with --impair) interleaved A B A B, then compare them "
                   "(exit 1 on a regression)")
    b.add_argument("--store", default=None, help=f"results directory (default: {results_dir()})")
    b.set_defaults(func=bench)

    r = sub.add_parser("runs", help="list stored benchmark runs")
    r.add_argument("--store", default=None)
    r.set_defaults(func=runs)

    c = sub.add_parser("compare", help="compare two runs cell by cell (exit 1 on a regression)",
                       description="Verdict per cell: regression / improvement / equivalent / inconclusive, "
                       "by a one-sided Mann-Whitney test (Holm-corrected) AND a bootstrap CI of the ratio beyond "
                       "the threshold.")
    c.add_argument("baseline", help="run id, unique prefix, or latest[:suite]")
    c.add_argument("candidate", help="run id, unique prefix, or latest[:suite]")
    c.add_argument("--store", default=None)
    c.add_argument("--throughput-threshold", type=float, default=0.05, help="practical threshold (default 0.05)")
    c.add_argument("--latency-threshold", type=float, default=0.10, help="practical threshold (default 0.10)")
    c.add_argument("--alpha", type=float, default=0.05)
    c.add_argument("--report", help="also write an HTML report into this directory")
    c.set_defaults(func=compare)

    rp = sub.add_parser("report", help="write an offline HTML report of a run")
    rp.add_argument("run", help="run id, unique prefix, or latest[:suite]")
    rp.add_argument("--store", default=None)
    rp.add_argument("-o", "--out", default=None, help="output directory (default: <store>/reports/<run>)")
    rp.set_defaults(func=report)


def _store(args: argparse.Namespace) -> Any:
    from labkit.bench.store import Store

    return Store(args.store or results_dir())


def bench(args: argparse.Namespace) -> int:
    import pandas as pd

    from labkit.bench import runner

    if args.impair_cells and not args.impair:
        raise BadInput("--impair-cells", args.impair_cells, "only together with --impair")
    request = dict(target=args.target, cells=_csv(args.cells), tests=_csv(args.tests), profile=args.profile,
                   reps=args.reps, duration_s=args.duration, size=args.size)
    if args.ab:
        a, b = runner.run_ab(args.suite, **request, impair=args.impair, impair_cells=_csv(args.impair_cells),
                             store=_store(args))
        args.baseline, args.candidate, args.report = a.run_id, b.run_id, None
        args.throughput_threshold, args.latency_threshold, args.alpha = 0.05, 0.10, 0.05
        return compare(args)
    res = runner.run(args.suite, **request, impair=args.impair, impair_cells=_csv(args.impair_cells),
                     store=_store(args))
    summary = res.summary()
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        print(summary[[c for c in SUMMARY_COLS if c in summary]].to_string(index=False))
    print(f"\nrun id: {res.run_id}  (labkit report {res.run_id})")
    return 0


def runs(args: argparse.Namespace) -> int:
    import pandas as pd

    table = _store(args).runs()
    if table.empty:
        print(f"no runs in {_store(args).root}; start one with `labkit bench net`")
        return 0
    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        print(table.drop(columns=["error"]).to_string(index=False))
    return 0


def compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from labkit.bench import report as rep

    st = _store(args)
    result, warnings = rep.compare_runs(st, args.baseline, args.candidate,
                                        throughput_threshold=args.throughput_threshold,
                                        latency_threshold=args.latency_threshold, alpha=args.alpha)
    for w in warnings:
        print(f"warning: {w}")
    cols = ["cell", "test", "metric", "n_a", "n_b", "median_a", "median_b", "ratio", "ratio_ci_lo", "ratio_ci_hi",
            "p_worse_holm", "verdict"]
    with pd.option_context("display.width", 220, "display.max_columns", 20):
        print(result[[c for c in cols if c in result]].to_string(index=False))
    if args.report:
        path = rep.write_comparison(st, args.baseline, args.candidate, result, Path(args.report), warnings)
        print(f"report: {path}")
    from labkit.bench.compare import has_regression

    regressed = has_regression(result)
    print("\nverdict: REGRESSION" if regressed else "\nverdict: no regression")
    return 1 if regressed else 0


def report(args: argparse.Namespace) -> int:
    from labkit.bench import report as rep

    st = _store(args)
    run_id = st.resolve(args.run)
    out = Path(args.out) if args.out else st.root / "reports" / run_id
    path = rep.write_run_report(st, run_id, out)
    log(f"report: {path}")
    print(path)
    return 0
