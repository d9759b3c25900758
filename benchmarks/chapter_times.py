"""Measure each chapter's wall time under papermill and write the time boxes the chapters show.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/chapter_times.py [--profile quick] [--out DIR] [CHAPTER ...]

Each chapter runs top to bottom, once per path it has:

* ``live``: the part this machine can run live (``mode=live`` for the engine chapters 01, 05–08, 10, 11, 20;
  ``mode=auto`` for 00 and 02, whose Swarm half runs on the engine). 03 and 04 have no engine part: they
  run live only where kind works;
* ``replay``: ``mode=replay``, what Binder and a machine without Docker get (plans, recorded results).

The kind half (02's Kubernetes half, 03, 04, the kind targets of 10 and 11) is measured only where
``labkit.clusters.kind_available()`` says kind works; elsewhere the YAML says so, and why.

Results go to ``environments/chapter-times.yaml`` (merged: chapters not run keep their entries), which
``labkit.chapters.time_box()`` reads, and the table between the markers in docs/trainer-guide.md is
rewritten from it (``--no-write`` leaves both alone). Raw papermill output lands in ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: per chapter: the live run's parameters ("" when it has no engine part), what the live run does, and
#: whether the chapter has a kind half.
CHAPTERS: dict[str, dict[str, Any]] = {
    "00-start-here": {"live": {"mode": "auto"}, "what": "doctor and the map", "kind": False, "profile": False},
    "01-engine": {"live": {"mode": "live"}, "what": "namespaces, cgroups, layers, every start-latency cell, "
                  "image loads", "kind": False},
    "02-orchestration": {"live": {"mode": "auto"}, "what": "Swarm half: 3 Docker-in-Docker nodes, every "
                         "operation", "kind": True},
    "03-network": {"live": {"mode": "live"}, "what": "kind cluster, CNI, verify", "kind": True, "profile": False,
                   "kind_only": True},
    "04-storage": {"live": {"mode": "live"}, "what": "kind cluster, storage option, persistence proof",
                   "kind": True, "profile": False, "kind_only": True},
    "05-monitoring": {"live": {"mode": "live"}, "what": "the stack, verify with a fired alert, PromQL, the quick "
                      "measurements", "kind": True},
    "06-logging": {"live": {"mode": "live"}, "what": "collector, verify, quick faults, mtail, the quick measurements",
                   "kind": True},
    "07-mesh": {"live": {"mode": "live"}, "what": "mesh, verify, control plane, faults, the quick tax benchmark",
                "kind": True},
    "08-pipeline": {"live": {"mode": "live"}, "what": "lab, a commit to a verified deploy, registry, the quick "
                    "measurements", "kind": True},
    "10-bench-network": {"live": {"mode": "live"}, "what": "every engine cell", "kind": True},
    "11-bench-storage": {"live": {"mode": "live"}, "what": "every engine cell", "kind": True},
    "20-regression": {"live": {"mode": "live"}, "what": "bridge cell, 10 repetitions per side", "kind": False},
}
TIMES = ROOT / "environments" / "chapter-times.yaml"
GUIDE = ROOT / "docs" / "trainer-guide.md"
BEGIN, END = "<!-- chapter-times: begin (benchmarks/chapter_times.py writes this table) -->", \
    "<!-- chapter-times: end -->"
HOW = "benchmarks/chapter_times.py: papermill, top to bottom, one run per chapter and path"


def machine() -> dict[str, Any]:
    from labkit import docker

    facts: dict[str, Any] = {"cpus": os.cpu_count(), "shared": True, "python": sys.version.split()[0],
                             "kernel": platform.release(),
                             "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}
    try:
        info = docker.info()
        facts.update(docker=docker.server_version(), cgroup=f"v{info.get('CgroupVersion')}")
    except Exception as exc:  # noqa: BLE001 - no Docker: the facts say so
        facts["docker"] = f"not reachable ({type(exc).__name__})"
    return facts


def run_one(name: str, params: dict[str, Any], out: Path, tag: str) -> dict[str, Any]:
    import papermill as pm

    os.environ["LABKIT_CHAPTER"] = name
    load0 = os.getloadavg()
    t0 = time.monotonic()
    error = ""
    try:
        pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out / f"{name}.{tag}.ipynb"),
                            parameters=params, kernel_name="python3", cwd=str(ROOT / "notebooks"),
                            progress_bar=False, execution_timeout=3600)
    except Exception as exc:  # noqa: BLE001 - record and go on
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    return {"seconds": round(time.monotonic() - t0, 1), "params": params,
            "date": datetime.date.today().isoformat(),
            "load": [round(load0[0], 1), round(os.getloadavg()[0], 1)], "error": error}


def kind_note() -> tuple[bool, str]:
    from labkit import clusters

    ok, why = clusters.kind_available()
    first = why.split(";")[0].strip()  # the whole reason is long (versions, URLs): `labkit doctor` has it
    return ok, "" if ok else (f"The kind half: not measured here (kind cannot run on this machine: {first}; "
                              "`labkit doctor` lists the rest). Time it on a laptop like the room's with "
                              "`benchmarks/chapter_times.py`.")


def main(argv: list[str] | None = None) -> int:
    import yaml

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chapters", nargs="*", help="default: every chapter listed in CHAPTERS")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--paths", default="live,replay",
                    help="which paths to run: live, replay or both; '' runs none and only rewrites the notes and "
                    "the guide's table from the YAML")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "labkit-chapter-timings"))
    ap.add_argument("--no-write", action="store_true", help="print only; leave the YAML and the guide alone")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    names = a.chapters or list(CHAPTERS)
    paths = [p.strip() for p in a.paths.split(",") if p.strip()]
    data = yaml.safe_load(TIMES.read_text()) if TIMES.is_file() else {}
    data = {"schema": 1, "how": HOW, **(data or {})}
    data["machine"] = machine()
    kind_ok, why_not = kind_note()
    for name in names:
        spec = CHAPTERS[name]
        entry = data.setdefault("chapters", {}).setdefault(name, {})
        runs = entry.setdefault("profiles", {}).setdefault(a.profile, {})
        extra = {"profile": a.profile} if spec.get("profile", True) else {}
        store = {"out_dir": str(out / "results")} if name not in ("00-start-here", "03-network", "04-storage") else {}
        if "live" in paths and spec["live"] is not None and (kind_ok or not spec.get("kind_only")):
            runs["live"] = {**run_one(name, {**spec["live"], **extra, **store}, out, "live"), "what": spec["what"]}
            print(json.dumps({name: {"live": runs["live"]}}), flush=True)
        if "replay" in paths:
            runs["replay"] = run_one(name, {"mode": "replay", **extra}, out, "replay")
            print(json.dumps({name: {"replay": runs["replay"]}}), flush=True)
        entry["kind"] = (why_not if spec["kind"] else "")
        if spec["kind"] and kind_ok:
            entry["kind"] = "The kind half ran live in the live path above."
        if not a.no_write:
            write(data)
    return 0


def write(data: dict[str, Any]) -> None:
    import yaml

    from labkit import chapters

    head = ("# Measured time per chapter and profile: written by benchmarks/chapter_times.py, read by\n"
            "# labkit.chapters.time_box(). Do not edit by hand: run the script (see docs/trainer-guide.md).\n")
    TIMES.write_text(head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110))
    text = GUIDE.read_text()
    table = chapters.times_table(TIMES)
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: f"{BEGIN}\n{table}\n{END}", text,
                      flags=re.S)
        GUIDE.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
