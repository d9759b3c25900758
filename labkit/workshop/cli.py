"""``labkit workshop prepare|serve|verify|hosts`` (arguments: :mod:`labkit.cli.workshop_args`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from labkit.errors import BadInput


def run(args: argparse.Namespace) -> int:
    return int({"prepare": _prepare, "serve": _serve, "verify": _verify, "hosts": _hosts}[args.action](args))


def _prepare(args: argparse.Namespace) -> int:
    from labkit.workshop.copier import Source
    from labkit.workshop.kit import inventory, prepare

    if args.list:
        labels, inv = inventory(args.option, kubernetes=args.kubernetes)
        print(f"options: {', '.join(labels)}")
        for title, items in (("images", inv.images), ("images (likely)", inv.likely),
                             ("manifests to read", inv.manifests), ("downloads", inv.files)):
            for key, why in sorted(items.items()):
                print(f"{title:18} {key}\n{'':18}   <- {'; '.join(sorted(why))}")
        for c in inv.charts:
            print(f"{'chart':18} {c.repo} {c.name} {c.version} (release {c.release} in {c.namespace})")
        print("charts and manifests name more images: `labkit workshop prepare` reads them")
        return 0
    rewrite = {}
    for item in args.rewrite:
        host, sep, place = item.partition("=")
        if not sep or not host or not place:
            raise BadInput("--from", item, "HOST=PLACE, e.g. quay.io=mirror.example.org/quay.io")
        rewrite[host] = place.rstrip("/")
    source = Source(rewrite, frozenset(args.insecure_from), args.network)
    prepare(args.bundle, options=args.option, kubernetes=args.kubernetes, platforms=args.platform or None,
                    source=source)
    return 0


def advertised(explicit: str | None) -> str:
    """The address laptops reach this machine at: ``explicit``, else the source address of the default route
    (a UDP socket is connected, nothing is sent)."""
    import socket

    if explicit:
        return explicit
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _serve(args: argparse.Namespace) -> int:
    from labkit.workshop import mirror, room
    from labkit.workshop.bundle import upstream_hosts, verify

    if args.stop:
        if not mirror.stop():
            print(f"{mirror.NAME} is not running")
        return 0
    bundle = Path(args.bundle).resolve()
    manifest = verify(bundle, hashes=not args.quick)
    base = mirror.start(bundle, args.port, bind=args.bind)
    mirror.load(bundle, base, hashes=False)
    print(room.instructions(f"{advertised(args.advertise)}:{args.port}", upstream_hosts(manifest),
                            files_port=args.port + 1))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from labkit.workshop.bundle import summary, verify

    manifest = verify(args.bundle)
    print(f"bundle {Path(args.bundle).resolve()} is whole: {summary(manifest)}")
    return 0


def _hosts(args: argparse.Namespace) -> int:
    from labkit.targets.kind.plans import MIRRORED_HOSTS, check_mirror
    from labkit.workshop import room

    check_mirror(args.mirror)
    for path in room.certs_dir(Path(args.dir), MIRRORED_HOSTS, args.mirror) if args.dir else []:
        print(f"wrote {path}")
    print(room.instructions(args.mirror, list(MIRRORED_HOSTS), files_port=None))
    return 0
