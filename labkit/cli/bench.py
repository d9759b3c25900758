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
LADDER_COLS = ["cni", "cell", "level", "test", "metric", "n", "median", "ratio_n2", "ratio_n3", "note"]
STORAGE_LADDER_COLS = ["cell", "storage_class", "level", "test", "metric", "n", "median", "ci_lo", "ci_hi",
                       "ratio_s0", "ratio_s1", "note"]
CLUSTER_FLAGS = ("cni", "workers", "keep", "context", "kubeconfig", "docker_network", "storage",
                 "storage_class")


def _csv(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def add_parsers(sub: Any, *, bench: Callable[..., int], runs: Callable[..., int], compare: Callable[..., int],
                report: Callable[..., int]) -> None:
    b = sub.add_parser(
        "bench", help="run a network or storage benchmark matrix",
        description="Measure every cell × test × repetition (interleaved), store tidy rows, print per cell the "
        "median, its 95%% bootstrap CI, the CV and the ratio to the cell's baseline.",
        epilog="Examples: labkit bench net --cells loopback,bridge --tests tcp-1,latency --reps 6 | "
        "labkit bench net --target kind --cni kindnet,calico (a fresh kind cluster per CNI) | "
        "labkit bench net --target cluster --context my-cluster --cni cilium | "
        "labkit bench storage --target kind --storage openebs,longhorn (one cluster: S0, local-path and each "
        "option) | labkit bench storage --target cluster --context my-cluster --storage-class rook-ceph-block")
    b.add_argument("suite", help="a registered suite: net, storage, engine (container start latency), and the "
                   "suites of chapters 05-08 (monitoring, monitoring-cost, logging, mesh, pipeline, pipeline-build); "
                   "an unknown name lists them all")
    b.add_argument("--target", default="engine", choices=["engine", "kind", "cluster"],
                   help="where to measure (default: engine, the local Docker daemon; kind: fresh kind clusters, "
                   "one per --cni; cluster: an existing cluster, --context)")
    b.add_argument("--cni", help="kind: comma-separated CNIs to compare, each on a fresh cluster (kindnet, calico, "
                   "cilium, cilium-kpr, flannel; default kindnet); cluster: the CNI it runs (a label)")
    b.add_argument("--workers", type=int, default=None, help="kind: worker nodes per cluster (default 2)")
    b.add_argument("--keep", action="store_true", help="kind: keep each cluster after its run (labkit down removes it)")
    b.add_argument("--storage", help="kind, storage suite: options to install and measure beside local-path "
                   "(openebs, longhorn)")
    b.add_argument("--storage-class", help="cluster, storage suite: comma-separated StorageClasses to measure")
    b.add_argument("--context", help="cluster: the kubeconfig context to measure")
    b.add_argument("--kubeconfig", help="cluster: kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    b.add_argument("--docker-network", help="cluster: a Docker network beside its nodes, for the N2 cell "
                   "(kind always uses 'kind')")
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
                   help="regression gate: measure a baseline and a candidate (with --impair) in paired blocks "
                   "until decided or --budget is spent, then compare them as pairs (exit 1 on a regression)")
    b.add_argument("--budget", type=float, default=300.0,
                   help="--ab: seconds for the whole gate, setup included (default 300)")
    b.add_argument("--effect", type=float, default=0.10,
                   help="--ab: the slowdown the gate must see, as a fraction (default 0.10): the noise check "
                   "says up front when the host is too noisy for it")
    b.add_argument("--design", default="duet", choices=["duet", "interleaved"],
                   help="--ab: duet (A and B at the same moment, default: quieter on a shared host) or "
                   "interleaved (AB/BA in random order)")
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


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_target_flags(args: argparse.Namespace) -> None:
    """Refuse flags that mean nothing for the chosen target, naming where they do apply."""
    given = [f for f in CLUSTER_FLAGS if getattr(args, f, None) not in (None, False)]
    if args.target == "engine" and given:
        raise BadInput(_flag(given[0]), getattr(args, given[0]), "only with --target kind or cluster",
                       fix="add --target kind (fresh kind clusters) or --target cluster --context NAME")
    wrong = {"kind": ("context", "kubeconfig", "docker_network", "storage_class"),
             "cluster": ("workers", "keep", "storage")}.get(args.target, ())
    for name in wrong:
        if name in given:
            other = "cluster" if args.target == "kind" else "kind"
            raise BadInput(_flag(name), getattr(args, name), f"only with --target {other}")
    if args.target != "engine":
        for name, value in (("--ab", args.ab), ("--impair", args.impair)):
            if value:
                raise BadInput(name, value, "only with --target engine (cluster cells cannot be impaired yet)")


def _request(args: argparse.Namespace) -> Any:
    from labkit.bench import BenchRequest

    return BenchRequest(args.suite, target=args.target, cells=_csv(args.cells), tests=_csv(args.tests),
                        profile=args.profile, reps=args.reps, duration_s=args.duration, size=args.size,
                        impair=args.impair, impair_cells=_csv(args.impair_cells))


def _print_summary(summary: Any) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60,
                           "display.max_rows", None):
        print(summary[[c for c in SUMMARY_COLS if c in summary]].to_string(index=False))


def bench(args: argparse.Namespace) -> int:
    from labkit.bench import harness

    if args.impair_cells and not args.impair:
        raise BadInput("--impair-cells", args.impair_cells, "only together with --impair")
    _check_target_flags(args)
    request = _request(args)
    if args.target != "engine":
        return _bench_cluster(args, request)
    if args.ab:
        from labkit.bench.gate import GateSettings

        gate = GateSettings(design=args.design, budget_s=args.budget, effect=args.effect)
        a, b = harness.run_ab(request.with_(impair=None, impair_cells=None), impair=args.impair,
                              impair_cells=_csv(args.impair_cells), store=_store(args), gate=gate)
        args.baseline, args.candidate, args.report = a.run_id, b.run_id, None
        args.throughput_threshold, args.latency_threshold, args.alpha = 0.05, 0.10, 0.05
        return compare(args)
    res = harness.run(request, store=_store(args))
    _print_summary(res.summary())
    print(f"\nrun id: {res.run_id}  (labkit report {res.run_id})")
    return 0


def _bench_cluster(args: argparse.Namespace, request: Any) -> int:
    """``--target kind``: a fresh cluster per CNI; ``--target cluster``: the given context, nothing created."""
    from labkit.bench.plan import plan
    from labkit.components.network import compare as net_compare, kube_cells

    if args.suite == "storage":
        return _bench_cluster_storage(args, request)
    cnis = _csv(args.cni)
    for flag, value in (("--size", args.size), ("--storage", args.storage), ("--storage-class", args.storage_class)):
        if value:
            raise BadInput(flag, value, "only for the storage suite")
    if args.target == "kind":
        cnis = [kube_cells.check_cni(c) for c in cnis or ["kindnet"]]
        plan(request.with_(cni=cnis[0]))
        workers = 2 if args.workers is None else args.workers
        result = net_compare.compare_cnis(cnis, request, workers=workers, keep=args.keep, store=_store(args))
        _print_ladder(net_compare.ladder(result.rows()))
        for cni, why in result.failed.items():
            print(f"\n{cni}: not measured: {why}")
        print("\nrun ids: " + ", ".join(f"{c} {r.run_id}" for c, r in result.runs.items()))
        return 1 if result.failed else 0
    if not args.context:
        raise BadInput("--context", None, "the kubeconfig context of the cluster to measure",
                       fix="list them with `kubectl config get-contexts`")
    if cnis and len(cnis) > 1:
        raise BadInput("--cni", args.cni, "one name on --target cluster (the CNI the cluster runs)",
                       fix="compare CNIs with --target kind, one fresh cluster each")
    res = net_compare.run_on_cluster(_kube_target(args.context, args.kubeconfig),
                                     request.with_(cni=(cnis or [None])[0], docker_network=args.docker_network),
                                     store=_store(args))
    _print_ladder(net_compare.ladder(res.rows()))
    print(f"\nrun id: {res.run_id}  (labkit report {res.run_id})")
    return 0


def _bench_cluster_storage(args: argparse.Namespace, request: Any) -> int:
    """``--target kind``: one cluster with local-path and the named options; ``cluster``: named StorageClasses."""
    import pandas as pd

    from labkit.components.storage import compare as sto_compare
    from labkit.plots import STORAGE_NOTE

    cnis = _csv(args.cni) or []
    if len(cnis) > 1:
        raise BadInput("--cni", args.cni, "one name for the storage suite (the pod network of its one cluster)",
                       fix="compare CNIs with `labkit bench net --target kind --cni a,b`")
    failed: dict[str, str] = {}
    if args.target == "kind":
        res = sto_compare.compare_storage(_csv(args.storage) or [], request, cni=(cnis or ["kindnet"])[0],
                                          workers=2 if args.workers is None else args.workers, keep=args.keep,
                                          store=_store(args))
        failed = dict(getattr(res, "failed", {}) or {})
    else:
        if not args.context:
            raise BadInput("--context", None, "the kubeconfig context of the cluster to measure",
                           fix="list them with `kubectl config get-contexts`")
        if not args.storage_class:
            raise BadInput("--storage-class", None, "the StorageClasses to measure, comma-separated",
                           fix="list them with `kubectl get storageclass`")
        res = sto_compare.run_storage_on_cluster(_kube_target(args.context, args.kubeconfig),
                                                 _csv(args.storage_class) or [], request, store=_store(args))
    table = sto_compare.storage_ladder(res.rows())
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60,
                           "display.max_rows", None):
        print(table[[c for c in STORAGE_LADDER_COLS if c in table]].to_string(index=False))
    print(f"\nratio_s0 / ratio_s1: median relative to S0 (hostfs-docker) / S1 (local-path) of the same run; on a "
          f"cluster target, the summary's ratio is to the first StorageClass. {STORAGE_NOTE}")
    for cell, why in failed.items():
        print(f"\n{cell}: not measured: {why}")
    print(f"\nrun id: {res.run_id}  (labkit report {res.run_id})")
    return 1 if failed else 0


def _kube_target(context: str, kubeconfig: str | None) -> Any:
    """A cluster labkit did not make: its kubeconfig is read, never written (one resolver for all)."""
    from labkit.targets.kube import KubeTarget

    return KubeTarget.for_context(context, kubeconfig)


def _print_ladder(table: Any) -> None:
    import pandas as pd

    from labkit.plots import KIND_NOTE

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        print(table[[c for c in LADDER_COLS if c in table]].to_string(index=False))
    print(f"\nratio_n2 / ratio_n3: median relative to N2 (kind-bridge) / N3 (hostnet) of the same run. {KIND_NOTE}")


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
    cols = ["cell", "test", "metric", "n_a", "n_b", "n_pairs", "n_dropped", "median_a", "median_b", "ratio",
            "ratio_ci_lo", "ratio_ci_hi", "p_worse_holm", "delivered", "mde", "verdict"]
    with pd.option_context("display.width", 240, "display.max_columns", 20):
        print(result[[c for c in cols if c in result]].to_string(index=False))
    if "mde" in result:
        print(f"\npaired analysis ({result.attrs.get('design') or 'paired'} blocks): trimmed-mean ratio B/A, paired "
              "BCa CI, Wilcoxon (Holm); mde = the smallest slowdown this gate flags with 80 % power at the noise "
              "measured (a change smaller than it comes out inconclusive, never a regression)")
        for r in result.itertuples(index=False):
            if r.note and r.verdict != "regression":
                print(f"  {r.cell}/{r.test}/{r.metric}: {r.verdict}: {r.note}")
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
