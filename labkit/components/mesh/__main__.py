"""``python -m labkit.components.mesh up|down|status``: the engine mesh from a terminal.

The same as ``labkit mesh up|down|status`` once labkit's CLI has the generic component hook
(``Component.engine_up/down/status``); until then, this is the command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from labkit.errors import BadInput, LabkitError
    from labkit.signals import Terminated, terminating

    p = argparse.ArgumentParser(prog="python -m labkit.components.mesh",
                                description="An Envoy sidecar mesh on the local Docker engine (chapter 07), left "
                                            "running: client -> server v1/v2, mTLS, labkit-xds.")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--port", type=int, help="labkit-xds's operator API on 127.0.0.1 (default 18000)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a mesh setting (repeatable): mtls=strict|off, tls=1.3|1.2, control=xds|file|static, ...")
    args = p.parse_args(argv)
    from labkit.components.mesh import stack

    try:
        options = {}
        for item in args.option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise BadInput("--option", item, "KEY=VALUE", fix="e.g. --option mtls=off")
            options[key] = value
        with terminating():
            if args.action == "up":
                print(stack.up("lab", options, port=args.port))
            else:
                print(getattr(stack, args.action)("lab", options))
    except Terminated as exc:
        return exc.exit_code
    except LabkitError as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
