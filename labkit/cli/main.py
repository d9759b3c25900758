"""The ``labkit`` command line.

    labkit doctor                 what this machine can run, and how to fix what it can't
    labkit up --cni calico [--plan]   a kind cluster with a CNI, installed step by step and verified
    labkit down [--name N | --all]    delete it
    labkit verify [--name N | --context C]   prove a cluster's pod network works
    labkit images build           build the lab's images (tools) from debian:bookworm-slim
    labkit clean [--dry-run]      remove everything labkit created
    labkit reset CHAPTER          restore one chapter's notebook and remove what it made
    labkit lab                    open JupyterLab on your copies of the notebooks (workspace/)
    labkit workshop prepare|serve the trainer's offline kit: a bundle by digest, a registry mirror
    labkit tools install NAME     fetch a pinned kind/kubectl/helm (sha256-verified)
    labkit bench net|storage      run a benchmark matrix and store the results
    labkit monitoring up|down|status   a component's engine-tier stack (chapter 05's Prometheus)
    labkit runs | compare A B | report RUN
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from labkit import __version__
from labkit.cli import stack
from labkit.cli.types import port
from labkit.errors import BadInput, LabkitError

EPILOG = "Every verb has its own --help, e.g. `labkit bench --help`."


def _doctor(args: argparse.Namespace) -> int:
    from labkit import doctor

    rows = doctor.checks(ports=args.port or doctor.DEFAULT_PORTS, probe_privileged=not args.fast,
                         probe_network=not args.fast)
    print(doctor.render(rows))
    return doctor.exit_code(rows)


def _images(args: argparse.Namespace) -> int:
    from labkit import images

    if args.action == "list":
        for name in images.names():
            print(f"{name:14} {images.ref(name)}")
        return 0
    for name in args.names or (images.names() if args.all else ["tools"]):
        images.build(name, force=args.force)
    return 0


def _clean(args: argparse.Namespace) -> int:
    from labkit import clean

    if args.context or args.kubeconfig:
        from labkit.targets.kube import KubeTarget

        plan = clean.cluster_plan(KubeTarget.for_context(args.context, args.kubeconfig))
        if args.dry_run:
            print(plan.explain())  # type: ignore[attr-defined]
        else:
            plan.run()  # type: ignore[attr-defined]
        return 0
    if args.dead:
        items = clean.reap(dry_run=args.dry_run)
        if not items:
            print("no leftovers of labkit processes that are gone")
        return 0
    items = clean.clean(dry_run=args.dry_run, images=args.images)
    if items and args.dry_run:
        print(f"{len(items)} item(s) would be removed; run `labkit clean` to remove them")
    return 0


def _tools(args: argparse.Namespace) -> int:
    from labkit import releases, tools

    if args.action == "install":
        releases.install(args.name, mirror=args.mirror)
    else:
        for name in tools.TOOLS:
            info = tools.find(name)
            state = f"{info.version} at {info.path}" if info.ok else f"{info.problem} (fix: {info.fix})"
            print(f"{name:8} {state}")
    return 0


def _lab(args: argparse.Namespace) -> int:
    from pathlib import Path

    from labkit import lab

    return lab.open_lab(port=args.port, build_images=not args.no_images, browser=args.browser, tracked=args.tracked,
                        workspace=Path(args.workspace).resolve() if args.workspace else None)


def _reset(args: argparse.Namespace) -> int:
    from labkit import chapters, clean

    if args.list:
        print("\n".join(clean.chapter_names()))
        return 0
    if not args.chapter:
        raise BadInput("chapter", None, ", ".join(clean.chapter_names()), fix="e.g. `labkit reset 01-engine`")
    chapters.reset(args.chapter, dry_run=args.dry_run)
    return 0


def _workshop(args: argparse.Namespace) -> int:
    from labkit.workshop import cli as workshop_cli

    return workshop_cli.run(args)


def _up(args: argparse.Namespace) -> int:
    from labkit.components import up

    chosen = {flag: getattr(args, flag.replace("-", "_")) for flag in up.flags()}
    kw = dict(workers=args.workers, name=args.name, kubernetes=args.kubernetes, verify=not args.no_verify,
              registry=not args.no_registry, allow_cgroup_v1=args.allow_cgroup_v1)
    mirror = args.mirror or os.environ.get("LABKIT_MIRROR") or None
    if mirror:
        from labkit.targets.kind.plans import check_mirror

        check_mirror(mirror)
    if args.plan:
        print(up.up_script(**kw, mirror=mirror, **chosen).explain())  # type: ignore[arg-type]
        return 0
    target = up.up(**kw, mirror=mirror or "", **chosen)  # type: ignore[arg-type]
    print(f"\ncluster {target.name} is up. Use it with:\n  export KUBECONFIG={target.kubeconfig}\n"
          f"Remove it with:\n  labkit down --name {target.name}")
    return 0


def _down(args: argparse.Namespace) -> int:
    from labkit import tools
    from labkit.targets.kind import lifecycle, plans

    names = [args.name]
    if args.all:
        from labkit import clean

        names = clean.kind_clusters()
        if not names:
            print("no labkit kind clusters")
    for name in names:
        if args.plan:
            print(plans.delete_plan(name, kind=tools.locate("kind") or "kind").explain())
        else:
            lifecycle.down(name)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from labkit.components import network
    from labkit.components.connect import connect
    from labkit.targets.kube import KubeTarget

    if args.context or args.kubeconfig:
        conn = connect(context=args.context, kubeconfig=args.kubeconfig)
        plan = conn.verify_plan(cni=args.cni, image=args.image)
    else:
        from labkit import tools

        if not args.cni:
            raise BadInput("--cni", None, ", ".join(network.CNIS),
                           fix="say which CNI the cluster runs, so the NetworkPolicy expectation is right")
        target = KubeTarget.for_kind(args.name, kubectl=tools.locate("kubectl") or "kubectl")
        plan = network.option(args.cni).verify(target, image=args.image or _tools_image())
    if args.plan:
        print(plan.explain())
        return 0
    plan.run()
    return 0


def _tools_image() -> str:
    from labkit.versions import tools_image

    return tools_image()


def _bench(args: argparse.Namespace) -> int:
    from labkit.cli import bench as bench_cli

    return bench_cli.bench(args)


def _runs(args: argparse.Namespace) -> int:
    from labkit.cli import bench as bench_cli

    return bench_cli.runs(args)


def _compare(args: argparse.Namespace) -> int:
    from labkit.cli import bench as bench_cli

    return bench_cli.compare(args)


def _report(args: argparse.Namespace) -> int:
    from labkit.cli import bench as bench_cli

    return bench_cli.report(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="labkit",
        description="A hands-on lab for running containers in production: engine, orchestration, "
        "network, storage, monitoring, logging, service mesh and delivery pipeline.",
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"labkit {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True

    d = sub.add_parser("doctor", help="check what this machine can run and how to fix the rest",
                       description="Check Docker, cgroups, inotify, memory, disk, kind/kubectl/helm (each against "
                       "the version range the pins imply, with the reason), the kubeconfig, whether the registries "
                       "and download sites the kind chapters need answer (3 s each, at once), and ports. "
                       "Exit code 1 only for blockers (no Docker daemon, Python too old).")
    d.add_argument("--port", type=port, action="append", help="also check that this TCP port is free (repeatable)")
    d.add_argument("--fast", action="store_true", help="skip the privileged-container and download-site probes")
    d.set_defaults(func=_doctor)

    i = sub.add_parser("images", help="build the lab's images", description="Build the lab's own images FROM "
                       "debian:bookworm-slim (bootstrapped from a Debian mirror when it cannot be pulled).")
    i.add_argument("action", choices=["build", "list"], help="build: build images that are missing; list: name them")
    i.add_argument("names", nargs="*", help="images to build (default: tools; see `labkit images list`)")
    i.add_argument("--all", action="store_true", help="build every lab image (each chapter's too)")
    i.add_argument("--force", action="store_true", help="rebuild even if present")
    i.set_defaults(func=_images)

    c = sub.add_parser("clean", help="remove everything labkit created",
                       description="Remove every container, network, volume and kind cluster labkit created "
                       "(found by the io.labkit.managed label or labkit name prefix), and the host links, loop "
                       "devices and scratch files of the benchmarks. The lab's built images stay unless --images.")
    c.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    c.add_argument("--images", action="store_true",
                   help="also remove the lab's built images (kept by default: rebuilding them takes minutes)")
    c.add_argument("--keep-images", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for scripts
    c.add_argument("--dead", action="store_true",
                   help="only the leftovers of labkit processes that are gone (a restarted kernel, a killed job)")
    c.add_argument("--context", help="remove labkit's namespaces and labelled objects from this cluster instead")
    c.add_argument("--kubeconfig", help="kubeconfig for --context (default: $KUBECONFIG or ~/.kube/config)")
    c.set_defaults(func=_clean)

    t = sub.add_parser("tools", help="find or install kind, kubectl, helm",
                       description="List the field's CLIs, or install a pinned one: the release and the checksum "
                       "file its project publishes beside it are downloaded, and only a match is installed "
                       "(into labkit's bin directory, searched before PATH).")
    t.add_argument("action", choices=["list", "install"])
    t.add_argument("name", nargs="?", choices=["kind", "kubectl", "helm"])
    t.add_argument("--mirror", metavar="URL", help="download from this base URL instead (same paths as upstream; "
                   "default: $LABKIT_DOWNLOAD_MIRROR)")
    t.set_defaults(func=_tools)

    lab = sub.add_parser("lab", help="open JupyterLab at 00-start-here",
                         description="Check the machine, build missing lab images, and start JupyterLab on "
                         "127.0.0.1 (token required) at notebooks/00-start-here.ipynb.")
    lab.add_argument("--port", type=port, default=os.environ.get("LABKIT_PORT", "8888"),
                     help="TCP port of JupyterLab, 1-65535 (default 8888, or LABKIT_PORT)")
    lab.add_argument("--no-images", action="store_true", help="do not build missing images")
    lab.add_argument("--browser", action="store_true", help="open a web browser")
    lab.add_argument("--tracked", action="store_true",
                     help="open notebooks/ itself instead of your copies (authors; autosave writes there)")
    lab.add_argument("--workspace", metavar="DIR", help="where your copies live (default: workspace/ in the checkout)")
    lab.set_defaults(func=_lab)

    rs = sub.add_parser("reset", help="restore one chapter's notebook and remove what it made",
                        description="Save your copy of the chapter's notebook to notebooks/.learner/, restore the "
                        "notebook as shipped (git checkout, or the pristine copy outside git), and remove the "
                        "containers, networks and volumes labelled with the chapter (io.labkit.chapter). Images and "
                        "kind clusters stay.", epilog="Example: labkit reset 03-network")
    rs.add_argument("chapter", nargs="?", help="the chapter's notebook name, e.g. 01-engine (see --list)")
    rs.add_argument("--dry-run", action="store_true", help="only say what would be restored and removed")
    rs.add_argument("--list", action="store_true", help="list the chapters")
    rs.set_defaults(func=_reset)

    from labkit.cli import workshop_args

    workshop_args.add_parser(sub, _workshop)

    from labkit.components import up as composer

    up = sub.add_parser("up", help="create a kind cluster with a CNI, step by step, and verify it",
                        description="Create (or reuse) a kind cluster configured for the chosen CNI, wire the "
                        "local registry (localhost:5001), install the CNI, load the lab's tools image and prove "
                        "the pod network works (DNS, pod to pod across nodes, Services, NetworkPolicy). Every "
                        "step shows its exact command; an interrupted run resumes when run again.",
                        epilog="Example: labkit up --cni calico --workers 2 --plan")
    for flag, comp in composer.flags().items():  # --cni, --storage, and every component registered later
        names = ", ".join(comp.options().installable) if comp.options else ""
        up.add_argument(f"--{flag}", default=composer.DEFAULT_CNI if flag == composer.NETWORK_FLAG else None,
                        help=f"{comp.title}: one of {names}" + (" (default kindnet)" if flag == "cni" else ""))
    up.add_argument("--workers", type=int, default=2, help="worker nodes (0-8; default 2)")
    up.add_argument("--name", help="cluster name, starting with 'labkit' (default: the CNI's profile)")
    up.add_argument("--kubernetes", help="Kubernetes minor, e.g. 1.36 (pinned node images only)")
    up.add_argument("--plan", action="store_true", help="print every step (commands and manifests); change nothing")
    up.add_argument("--no-verify", action="store_true", help="skip loading the tools image and the verify steps")
    up.add_argument("--no-registry", action="store_true", help="do not wire the local registry")
    up.add_argument("--mirror", metavar="HOST:PORT", help="pull images through a workshop mirror (`labkit workshop "
                    "serve`): hosts.toml on every node (default: $LABKIT_MIRROR)")
    up.add_argument("--allow-cgroup-v1", action="store_true",
                    help="let the kubelet start on a cgroup v1 host (failCgroupV1: false; deprecated)")
    up.set_defaults(func=_up)

    dn = sub.add_parser("down", help="delete a labkit kind cluster",
                        description="Delete a kind cluster labkit made, its kubeconfig and saved config.")
    dn.add_argument("--name", default="labkit", help="cluster name (default: labkit)")
    dn.add_argument("--all", action="store_true", help="every kind cluster whose name starts with 'labkit'")
    dn.add_argument("--plan", action="store_true", help="print the commands only")
    dn.set_defaults(func=_down)

    vf = sub.add_parser("verify", help="prove a cluster's pod network works",
                        description="DNS, pod to pod across nodes and on one node, pod to Service, and a "
                        "NetworkPolicy whose expected effect depends on the CNI. Against a labkit kind cluster "
                        "(--name) or any cluster (--context/--kubeconfig; the CNI is detected).")
    vf.add_argument("--name", default="labkit", help="labkit kind cluster (default: labkit)")
    vf.add_argument("--cni", help="the CNI it runs (detected with --context)")
    vf.add_argument("--context", help="a kubeconfig context of a cluster labkit did not make")
    vf.add_argument("--kubeconfig", help="kubeconfig file for --context (default: $KUBECONFIG or ~/.kube/config)")
    vf.add_argument("--image", help="tools image the cluster can pull (default: the pinned labkit/tools)")
    vf.add_argument("--plan", action="store_true", help="print the steps only")
    vf.set_defaults(func=_verify)

    from labkit.cli import bench as bench_cli

    bench_cli.add_parsers(sub, bench=_bench, runs=_runs, compare=_compare, report=_report)
    stack.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; every failure ends as one line on stderr and an exit code, never a traceback."""
    from labkit.signals import Terminated, terminating

    args = parser().parse_args(argv)
    if getattr(args, "verb", None) == "tools" and args.action == "install" and not args.name:
        parser().error("tools install needs a NAME: kind, kubectl or helm")
    try:
        with terminating():
            return int(args.func(args))
    except BadInput as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 2
    except LabkitError as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `labkit up --plan | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's flush at exit
        return 0
    except Terminated as exc:
        print(f"\nlabkit: {exc}; what this run made was removed (a run in progress is stored as interrupted). "
              "Run the same command again to resume, or `labkit clean` to remove anything left", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\nlabkit: interrupted. Run the same command again to resume (finished steps are skipped), "
              "or `labkit down` / `labkit clean` to remove what was made", file=sys.stderr)
        return 130
    except OSError as exc:  # a path the user gave that cannot be written or read
        where = f": {exc.filename}" if exc.filename else ""
        print(f"labkit: error: {exc.strerror or exc}{where}\nFix: choose a path you can write to (and that exists), "
              "or check the permissions", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug in labkit: one clear line, the traceback on request
        if os.environ.get("LABKIT_DEBUG"):
            raise
        print(f"labkit: internal error: {type(exc).__name__}: {exc}\nFix: this is a bug in labkit; run again with "
              "LABKIT_DEBUG=1 for the traceback and report it", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
