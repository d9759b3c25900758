"""Check your understanding: questions whose answers are in the live system, checks that verify the learner's own
answer or action against it, and answers that can be revealed.

>>> print(check("blocking-or-not", "non-blocking", summary=summary))      # doctest: +SKIP
✓ non-blocking: the 64 KiB ring overflowed and dropped lines (json-file-nb lost 16 %), blocking lost none
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from labkit.errors import BadInput


@dataclass(frozen=True)
class Question:
    text: str
    answer: str


QUESTIONS = {
    "blocking-or-not": Question(
        "A burst at the app's full speed: which mode lost lines, 'blocking' or 'non-blocking'?",
        "non-blocking: its ring buffer (max-buffer-size) overflows and dockerd drops the newest lines without a "
        "word (daemon/logger/ring.go Enqueue returns nil). Blocking mode never drops: it makes the app's write(2) "
        "wait instead (see write_max_ms)."),
    "rotation-kept": Question(
        "json-file with max-size=100k and max-file=3, 10,000 lines of 100 bytes: how many does `docker logs` still "
        "return? (a number)",
        "about 1,750: three files of ~100 KB at ~170 bytes per stored line (the JSON wrapping); the oldest lines "
        "were deleted at rotation, silently."),
    "label-through-syslog": Question(
        "Start a container that logs to the collector and carries the label team=<your name>, so that the record "
        "in the collector has that label. Then check with your name.",
        "the syslog driver never sends labels (structured data is always '-'): put the key into the tag, e.g. "
        "logging.syslog(collector.address(), label_keys=['team']) and docker run --label team=NAME …"),
    "logql-selector": Question(
        "Write the LogQL query that finds the verify's token in Loki: namespace labkit-verify-logging, pod writer, "
        "lines containing the token.",
        '{namespace="labkit-verify-logging", pod="writer"} |= "labkit-token-…": a stream selector on indexed '
        "labels first, then a line filter that scans only those streams."),
}


def ask(name: str) -> str:
    return _question(name).text


def reveal(name: str) -> str:
    return _question(name).answer


def _question(name: str) -> Question:
    if name not in QUESTIONS:
        raise BadInput("question", name, ", ".join(QUESTIONS))
    return QUESTIONS[name]


def _ok(good: bool, text: str) -> str:
    return ("✓ " if good else "✗ ") + text


def check(name: str, answer: Any, *, summary: Any = None, rotation: dict[str, Any] | None = None,
          collector: Any = None) -> str:
    """Verify ``answer`` against the measured or live evidence; a sentence that starts with ✓ or ✗."""
    _question(name)
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return "✗ no answer yet: set the variable above, then run this cell again"
    if name == "blocking-or-not":
        return _blocking(str(answer).strip().lower(), summary)
    if name == "rotation-kept":
        if rotation is None:
            return "✗ no rotation measured in this session: run the rotation cell first"
        try:
            n = int(str(answer).replace(",", "").strip())
        except ValueError:
            return f"✗ {answer!r} is not a number of lines"
        kept = int(rotation["kept"])
        return _ok(abs(n - kept) <= max(50, kept // 20),
                   f"measured here: {kept} of {rotation['written']} lines kept (you said {n})")
    if name == "label-through-syslog":
        return _label(str(answer), collector)
    return _logql(str(answer))


def _blocking(answer: str, summary: Any) -> str:
    if answer not in ("blocking", "non-blocking"):
        return "✗ answer 'blocking' or 'non-blocking'"
    if summary is None:
        return _ok(answer == "non-blocking", "by the theory (no measurement to compare with in this session)")
    loss = summary[(summary["metric"] == "loss_pct") & (summary["test"] == "burst-max")]
    nb = loss[loss["cell"].str.endswith("-nb")]
    blocking = loss[~loss["cell"].str.endswith("-nb") & (loss["cell"] != "syslog-udp")]
    if nb.empty:
        return "✗ no non-blocking cell was measured at burst-max: add one (e.g. json-file-nb) and run again"
    worst = nb.sort_values("median").iloc[-1]
    measured = "non-blocking" if worst["median"] > 0 and (blocking["median"].fillna(0) == 0).all() else "neither"
    facts = (f"{worst['cell']} lost {worst['median']:.1f} % (median), blocking cells lost "
             f"{blocking['median'].max():.1f} % at most")
    if measured == "neither":
        return f"? this run did not show the difference ({facts}): try a longer burst (seconds) or the full profile"
    return _ok(answer == measured, facts)


def _label(value: str, collector: Any) -> str:
    if collector is None:
        return "✗ no collector in this session: run the cells above live"
    df = collector.records()
    hits = df[df["labels"].map(lambda d: isinstance(d, dict) and d.get("team") == value)]
    if hits.empty:
        return ("✗ no record carries team=" + value + ": did you put 'team' into the tag (label_keys)? The syslog "
                "driver accepts --log-opt labels=team but never sends it")
    return _ok(True, f"{len(hits)} record(s) from {hits.iloc[-1]['container']} carry team={value}")


def _logql(query: str) -> str:
    q = query.strip()
    if not q.startswith("{"):
        return "✗ a LogQL query starts with a stream selector in braces: {label=\"value\", …}"
    selector, _, pipeline = q.partition("}")
    need = {"namespace": "labkit-verify-logging", "pod": "writer"}
    missing = [k for k, v in need.items() if not re.search(rf'\b{k}\s*=\s*"{re.escape(v)}"', selector)]
    if missing:
        wanted = ", ".join(f'{k}="{need[k]}"' for k in missing)
        return f"✗ the selector must match {wanted} (indexed labels)"
    if not re.search(r'\|=\s*"labkit-token-', pipeline):
        return '✗ then filter the lines: |= "labkit-token-…" (a scan of the selected streams only)'
    return _ok(True, "selector on labels, then a line filter: Loki reads only the writer pod's chunks")
