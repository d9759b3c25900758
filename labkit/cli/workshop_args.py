"""Arguments of ``labkit workshop`` (the trainer's offline kit); the work is in :mod:`labkit.workshop.cli`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from labkit.cli.types import port

DEFAULT_BUNDLE = "workshop-bundle"
DEFAULT_PORT = 5000


def _port(text: str) -> int:
    value = port(text)
    if value == 65535:
        raise argparse.ArgumentTypeError("the mirror uses --port and the next port for files: use 1-65534")
    return value


def add_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    ws = sub.add_parser("workshop", help="the trainer's offline kit: a bundle by digest and a registry mirror",
                        description="Before the workshop, online: `labkit workshop prepare` copies what the kind "
                        "chapters pull (node image, component images by digest, manifests, charts, kind/kubectl/"
                        "helm) into a bundle directory. In the room: `labkit workshop serve` runs a registry "
                        "mirror filled from it and prints what each laptop needs (`labkit up --mirror HOST:PORT` "
                        "or LABKIT_MIRROR writes containerd's hosts.toml on every kind node). "
                        "See docs/trainer-guide.md.")
    wsub = ws.add_subparsers(dest="action", metavar="ACTION")
    wsub.required = True
    p = wsub.add_parser("prepare", help="collect everything the kind chapters pull into a bundle",
                        description="Read the plans of `labkit up` for every option (or those named), download "
                        "and render their manifests and charts, and copy every image by digest (all platforms) "
                        "into BUNDLE/images (an OCI layout), with kind/kubectl/helm and their published "
                        "checksums under BUNDLE/files. Needs Docker and, for the downloads, the internet (or "
                        "LABKIT_DOWNLOAD_MIRROR and --from). Run again to resume.")
    p.add_argument("--bundle", default=DEFAULT_BUNDLE, help=f"the bundle directory (default ./{DEFAULT_BUNDLE})")
    p.add_argument("--option", action="append", default=[], metavar="COMPONENT/OPTION",
                   help="only these options, e.g. network/calico (repeatable; default: every installable one)")
    p.add_argument("--kubernetes", help="Kubernetes minor of the node image (default: the pinned default)")
    p.add_argument("--platform", action="append", default=[], metavar="OS-ARCH",
                   help="kind/kubectl/helm for these platforms, e.g. darwin-arm64 (repeatable; default: this one)")
    p.add_argument("--from", dest="rewrite", action="append", default=[], metavar="HOST=PLACE",
                   help="copy HOST's images from PLACE instead (a mirror with the same digests), e.g. "
                   "quay.io=mirror.example.org/quay.io")
    p.add_argument("--insecure-from", action="append", default=[], metavar="PLACE",
                   help="PLACE is plain HTTP (a local test registry)")
    p.add_argument("--network", help="Docker network the copier joins (to reach a --from registry by name)")
    p.add_argument("--list", action="store_true", help="only list what the plans name (no downloads)")
    s = wsub.add_parser("serve", help="run the registry mirror from a bundle and print the room's settings",
                        description="Check the bundle (every sha256), start the mirror container "
                        "labkit-workshop-mirror (registry on --port, the bundle's files on --port+1), push the "
                        "bundle's images it lacks, compare each served digest with the bundle's, and print "
                        "hosts.toml, daemon.json and the `labkit up --mirror` line for the laptops.")
    s.add_argument("--bundle", default=DEFAULT_BUNDLE, help=f"the bundle directory (default ./{DEFAULT_BUNDLE})")
    s.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"registry port (default {DEFAULT_PORT}; "
                   "files on the next one)")
    s.add_argument("--bind", default="0.0.0.0", help="host address to publish on (default 0.0.0.0: the room)")
    s.add_argument("--advertise", metavar="HOST", help="the address laptops reach this machine at (default: "
                   "this machine's address on its default route)")
    s.add_argument("--quick", action="store_true", help="check file sizes, not every sha256 (a trusted copy)")
    s.add_argument("--stop", action="store_true", help="stop and remove the mirror container (data kept)")
    v = wsub.add_parser("verify", help="check a bundle copy (every sha256) without serving it")
    v.add_argument("--bundle", default=DEFAULT_BUNDLE)
    h = wsub.add_parser("hosts", help="print containerd hosts.toml files for a mirror")
    h.add_argument("mirror", metavar="HOST:PORT")
    h.add_argument("--dir", help="also write them under DIR/<registry>/hosts.toml (mount DIR at "
                   "/etc/containerd/certs.d)")
    ws.set_defaults(func=func)
