"""The chapter's non-benchmark results, recorded for replay: verify verdicts, rotation, faults, mtail, promtool.

:func:`collect` runs them for real and returns one JSON-able dict stamped with where and when;
:func:`load` reads the recording shipped in ``environments/logging/recorded/evidence.json`` (a real run,
made with ``python -m labkit.components.logging.evidence OUT``).
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

from labkit.versions import environments_dir


def path() -> Path:
    return environments_dir() / "logging" / "recorded" / "evidence.json"


def load() -> dict[str, Any]:
    return dict(json.loads(path().read_text()))


def collect(lab: Any) -> dict[str, Any]:
    """Run every scenario once on ``lab`` (a :class:`~labkit.components.logging.lab.Lab`)."""
    import os

    from labkit import docker
    from labkit.components.logging import faults, measure, mtail, verify

    col = lab.collector
    found = lab.do(verify.verify_token, col)
    down, after = lab.do(verify.verify_missing_after_stop, col)
    out: dict[str, Any] = {
        "measured_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "host": platform.node(),
        "kernel": platform.release(), "docker": docker.server_version(), "load1": os.getloadavg()[0],
        "verify": {"found": found.row(), "after stop, while down": down.row(), "after stop, once back": after.row()},
        "rotation": [lab.do(measure.rotation, d, max_size=s, max_file=f) for d, s, f in
                     (("json-file", "100k", 3), ("local", "100k", 3), ("json-file", "1m", 1))],
        "bad_inputs": lab.do(faults.bad_inputs),
        "down_at_start": lab.do(faults.down_at_start, col),
        "logs_while_down": lab.do(faults.logs_while_down, col),
        # kill: 2,000 lines/s of 100 B; pause: 20 MB/s (10,000 × 2,000 B), more than the socket buffers hold
        "mid_stream": [lab.do(faults.mid_stream, col, action="kill", mode=m) for m in ("blocking", "non-blocking")]
        + [lab.do(faults.mid_stream, col, action="pause", mode=m, rate=10_000, size=2000, seconds=10, at=2,
                  back_after=5) for m in ("blocking", "non-blocking")],
        "promtool": lab.do(mtail.check_alert_rule),
    }
    return out


def main(argv: list[str]) -> int:  # pragma: no cover - run by hand to refresh the recording
    from labkit.components.logging.lab import Lab

    with Lab() as lab:
        data = collect(lab)
    Path(argv[0]).write_text(json.dumps(data, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
