"""The terminal's stack: ``labkit pipeline up|down|status`` (and ``python -m labkit.components.pipeline.cli run``).

``up`` starts the engine-tier lab with fixed ports — forge ``http://127.0.0.1:18080/app.git``, registry
``https://127.0.0.1:15443`` (TLS from the lab CA, user ``labci``), app ``http://127.0.0.1:18081`` — runs the
first commit through the pipeline, and leaves it all running. Its directory (``<labkit home>/pipeline/stack``,
0700) holds the CA certificate, the Docker config with the registry credential, and the key pair with its
passphrase (a 0600 file: the terminal's stack must sign later; a notebook's lab keeps it in memory only).
``run`` releases the forge's main (what the act workflow in the app's repository calls).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from labkit.components.pipeline.lab import EngineLab, home
from labkit.components.pipeline.settings import CLI
from labkit.errors import LabkitError


def stack_dir() -> Path:
    return home() / "stack"


def _attach() -> EngineLab:
    return EngineLab.attach(stack_dir())


def up(*, plan: bool = False) -> int:
    lab = EngineLab(settings=CLI, root=stack_dir(), persistent=True)
    if plan:
        from labkit.components.pipeline import explain

        print(explain.lab_plan(lab))
        print(explain.run_plan(lab))
        return 0
    if (stack_dir() / "state.json").exists():
        print(f"a pipeline stack is already up (session {_attach().session}); `labkit pipeline status` shows it")
        return 0
    from labkit.signals import terminating

    with terminating():
        try:
            lab.up()
            result = lab.run(lab.first_commit)
        except BaseException:
            lab.down()
            raise
    print(f"\npipeline stack {lab.session} is up (lead time of the first commit: {result.lead_time_s:.1f} s)")
    print(f"  forge     git clone {lab.forge_url}")
    print(f"  registry  https://{lab.registry}  (CA: {lab.layout.ca_cert}; "
          f"DOCKER_CONFIG={lab.layout.docker_config} docker pull {result.release.ref})")
    print(f"  app       {lab.app_url}")
    print("  release   python -m labkit.components.pipeline.cli run   (the forge's main, through every stage)")
    print("remove it with: labkit pipeline down")
    return 0


def status(*, plan: bool = False) -> int:
    if not (stack_dir() / "state.json").exists():
        print("no pipeline stack is up (start one: labkit pipeline up)")
        return 0
    lab = _attach()
    print(f"pipeline stack {lab.session} in {lab.root}")
    for row in lab.status():
        print(f"  {row['container']:28} {row['part']:9} {row['state']:8} {row['address']}")
    print(f"  serving: {lab.serving().strip() or '(nothing)'}")
    return 0


def down(*, plan: bool = False) -> int:
    if not (stack_dir() / "state.json").exists():
        print("no pipeline stack is up")
        return 0
    lab = _attach()
    if plan:
        print(f"would remove the containers and images of session {lab.session} and {lab.root}")
        return 0
    lab.down()
    return 0


def run(commit: str | None = None) -> int:
    lab = _attach()
    result = lab.run(commit)
    print(f"released {result.release.ref} for commit {result.commit[:12]} in {result.lead_time_s:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.components.pipeline.cli")
    ap.add_argument("action", choices=["up", "down", "status", "run"])
    ap.add_argument("--commit", help="with run: the commit to release (default: the forge's main)")
    args = ap.parse_args(argv)
    try:
        if args.action == "run":
            return run(args.commit)
        return {"up": up, "down": down, "status": status}[args.action]()
    except LabkitError as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
