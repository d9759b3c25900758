"""Measure each chapter's wall time under papermill, live where this machine can run it (trainer's guide).

    PYTHONPATH=$PWD .venv/bin/python docs/time_chapters.py [--profile quick] [--out DIR] [CHAPTER ...]

Each notebook runs once, top to bottom, with the quick profile and ``mode=live`` where the chapter can run
live on the engine tier (01, 10, 11, 20) and ``mode=auto`` where it needs kind (02, 03, 04: the kind half
shows its plan when kind cannot run). ``LABKIT_CHAPTER`` labels what each chapter makes. Writes
``timings.json`` (seconds, exit status, load average before/after, machine) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIVE = {"01-engine", "10-bench-network", "11-bench-storage", "20-regression"}


def main(argv: list[str] | None = None) -> int:
    import papermill as pm

    ap = argparse.ArgumentParser()
    ap.add_argument("chapters", nargs="*")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "labkit-chapter-timings"))
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    names = a.chapters or sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "kernel": platform.release(),
                          "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
              "profile": a.profile, "chapters": []}
    for name in names:
        params: dict[str, object] = {"mode": "live" if name in LIVE else "auto"}
        if name != "00-start-here":
            params["profile"] = a.profile
        if name in LIVE or name == "02-orchestration":
            params["out_dir"] = str(out / "results")
        os.environ["LABKIT_CHAPTER"] = name
        load0 = os.getloadavg()
        t0 = time.monotonic()
        error = ""
        try:
            pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out / f"{name}.out.ipynb"),
                                parameters={k: v for k, v in params.items()}, kernel_name="python3",
                                cwd=str(ROOT / "notebooks"), progress_bar=False, execution_timeout=3600)
        except Exception as exc:  # noqa: BLE001 - record and go on
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
        row = {"chapter": name, "params": params, "seconds": round(time.monotonic() - t0, 1),
               "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()],
               "error": error}
        report["chapters"].append(row)
        print(json.dumps(row), flush=True)
        (out / "timings.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
