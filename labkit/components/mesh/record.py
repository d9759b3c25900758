"""The chapter's non-benchmark results, recorded from a real run for replay (Binder, a stopped Docker).

``environments/mesh/recorded/evidence.json`` holds what a live run of the chapter showed: the verify's checks and
wire captures (without the pcap bytes), the control-plane timings, the retry demo, the generator's proof and the
faults, with where and when they were measured. The benchmark itself is a recorded run in the results store
(``environments/recordings``), like every chapter's.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from labkit.versions import environments_dir

PATH = "mesh/recorded/evidence.json"


def _frame_rows(frame: Any) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records")) if frame is not None else []


def evidence(*, report: Any = None, control: Any = None, retry: dict[str, Any] | None = None, proof: Any = None,
             faults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plain data from the live objects (checks, captures as rows, DataFrames as records)."""
    out: dict[str, Any] = {"where": {"host": platform.node(), "kernel": platform.release(),
                                     "machine": platform.machine()},
                           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if report is not None:
        out["verify"] = [c.row() for c in report.checks]
        out["reasons"] = {c.name: c.evidence.get("envoy_reason", []) for c in report.checks
                          if c.evidence.get("envoy_reason")}
        out["captures"] = [c.row() | {"lines": list(c.lines[:8])} for c in report.captures]
    if control is not None:
        out["control"] = _frame_rows(control)
    if retry is not None:
        out["retry"] = retry
    if proof is not None:
        out["proof"] = _frame_rows(proof)
    if faults is not None:
        out["faults"] = {k: (_frame_rows(v) if hasattr(v, "to_json") else v) for k, v in faults.items()}
    return out


def save(data: dict[str, Any], path: str | Path | None = None) -> Path:
    target = Path(path) if path else environments_dir() / PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return target


def load(path: str | Path | None = None) -> dict[str, Any]:
    """The recorded evidence ({} when none ships)."""
    target = Path(path) if path else environments_dir() / PATH
    return dict(json.loads(target.read_text())) if target.is_file() else {}
