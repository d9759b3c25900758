"""The collector's records as a pandas DataFrame (RFC 5424 parsed, or the JSON lines), and filters on them.

RFC 5424 (https://www.rfc-editor.org/rfc/rfc5424#section-6)::

    <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]

The collector writes every record twice (``docker.json`` and ``docker.5424``); both readers return the
same columns (:data:`COLUMNS`), with ``ts``/``received`` as UTC timestamps and ``labels`` as a dict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from labkit.errors import LabkitError

if TYPE_CHECKING:
    import pandas as pd

SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
              "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
              "local7")
COLUMNS = ["ts", "received", "host", "app_name", "procid", "msgid", "severity", "facility", "container", "image",
           "container_id", "labels", "sd", "msg"]
SD_ID = "labkit@32473"  # 32473: the documentation PEN of RFC 5612

_HEADER = re.compile(r"<(?P<pri>\d{1,3})>(?P<version>\d{1,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) "
                     r"(?P<procid>\S+) (?P<msgid>\S+) ")
_EMITTER = re.compile(r"^(?P<token>\S+) seq=(?P<seq>\d+) t=(?P<t>\d+\.\d+)")


class ParseError(LabkitError, ValueError):
    """A line that is not what the reader expects (not RFC 5424, a broken SD element)."""


@dataclass
class Rfc5424:
    pri: int
    version: int
    timestamp: str | None
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    sd: dict[str, dict[str, str]] = field(default_factory=dict)
    msg: str = ""

    @property
    def severity(self) -> str:
        return SEVERITIES[self.pri & 7]

    @property
    def facility(self) -> str:
        f = self.pri >> 3
        return FACILITIES[f] if f < len(FACILITIES) else str(f)


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def parse_sd(text: str, pos: int) -> tuple[dict[str, dict[str, str]], int]:
    """STRUCTURED-DATA from ``text[pos]`` on: (elements, the index after them). ``\\"``, ``\\\\``, ``\\]`` unescape."""
    if text.startswith("-", pos):
        return {}, pos + 1
    out: dict[str, dict[str, str]] = {}
    while pos < len(text) and text[pos] == "[":
        end = pos + 1
        while end < len(text) and text[end] not in " ]":
            end += 1
        sd_id, params, pos = text[pos + 1:end], {}, end
        while pos < len(text) and text[pos] == " ":
            eq = text.find("=", pos)
            if eq < 0 or eq + 1 >= len(text) or text[eq + 1] != '"':
                raise ParseError(f"SD-PARAM of {sd_id!r} is not name=\"value\" at {pos}: {text[pos:pos + 40]!r}")
            i, buf = eq + 2, []
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in '"\\]':
                    buf.append(text[i + 1])
                    i += 2
                else:
                    buf.append(text[i])
                    i += 1
            if i >= len(text):
                raise ParseError(f"SD-PARAM value of {sd_id!r} is not closed")
            params[text[pos + 1:eq]] = "".join(buf)
            pos = i + 1
        if pos >= len(text) or text[pos] != "]":
            raise ParseError(f"SD-ELEMENT {sd_id!r} is not closed")
        out[sd_id] = params
        pos += 1
    return out, pos


def parse_rfc5424(line: str) -> Rfc5424:
    """One RFC 5424 record (without its newline)."""
    m = _HEADER.match(line)
    if not m:
        raise ParseError(f"not an RFC 5424 header: {line[:80]!r}")
    sd, pos = parse_sd(line, m.end())
    msg = line[pos + 1:] if line[pos:pos + 1] == " " else line[pos:]
    return Rfc5424(int(m["pri"]), int(m["version"]), _nil(m["ts"]), _nil(m["host"]), _nil(m["app"]),
                   _nil(m["procid"]), _nil(m["msgid"]), sd, msg.removeprefix("\ufeff"))


def parse_labels(query: str) -> dict[str, str]:
    """The URL-encoded labels the syslog tag carries (``k=v&k2=v2``)."""
    return dict(parse_qsl(query, keep_blank_values=True)) if query else {}


def _row_5424(r: Rfc5424) -> dict[str, Any]:
    lk = r.sd.get(SD_ID, {})
    return {"ts": r.timestamp, "received": lk.get("received"), "host": r.hostname, "app_name": r.app_name,
            "procid": r.procid, "msgid": r.msgid, "severity": r.severity, "facility": r.facility,
            "container": lk.get("container", r.app_name), "image": lk.get("image") or None,
            "container_id": lk.get("id") or None, "labels": parse_labels(lk.get("labels", "")),
            "sd": {k: v for k, v in r.sd.items() if k != SD_ID}, "msg": r.msg}


def _row_json(obj: Mapping[str, Any]) -> dict[str, Any]:
    row = {k: obj.get(k) for k in COLUMNS}
    for k in ("host", "app_name", "procid", "msgid"):
        if row[k] == "-":
            row[k] = None
    for k in ("image", "container_id"):
        row[k] = row[k] or None
    row["labels"] = parse_labels(obj.get("labels") or "")
    row["sd"] = obj.get("sd") if obj.get("sd") not in (None, "-") else {}
    return row


def iter_lines(path: Path) -> Iterator[str]:
    """Complete lines of ``path`` (a half-written last line is skipped)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.endswith("\n"):
                yield line[:-1]


def frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(list(rows), columns=COLUMNS)
    for col in ("ts", "received"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601", errors="coerce")
    return df


def read_rfc5424(path: Path) -> pd.DataFrame:
    """The collector's ``docker.5424`` as a DataFrame."""
    return frame(_row_5424(parse_rfc5424(line)) for line in iter_lines(Path(path)))


def read_json(path: Path) -> pd.DataFrame:
    """The collector's ``docker.json`` (one JSON object per line) as a DataFrame."""
    return frame(_row_json(json.loads(line)) for line in iter_lines(Path(path)))


def _utc(t: datetime | str) -> Any:
    import pandas as pd

    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def select(df: pd.DataFrame, *, container: str | None = None, image: str | None = None,
           since: datetime | str | None = None, until: datetime | str | None = None,
           labels: Mapping[str, str] | None = None, contains: str | None = None) -> pd.DataFrame:
    """Records of ``container`` (and ``image``), in [``since``, ``until``), carrying ``labels``, containing text."""
    import pandas as pd

    mask = pd.Series(True, index=df.index)
    if container is not None:
        mask &= df["container"] == container
    if image is not None:
        mask &= df["image"] == image
    if since is not None:
        mask &= df["ts"] >= _utc(since)
    if until is not None:
        mask &= df["ts"] < _utc(until)
    for k, v in (labels or {}).items():
        mask &= df["labels"].map(lambda d, k=k, v=v: isinstance(d, dict) and d.get(k) == v)
    if contains is not None:
        mask &= df["msg"].str.contains(contains, regex=False)
    return df[mask]


def emitter_fields(msg: str) -> tuple[str, int, float] | None:
    """(token, seq, send time in epoch seconds) of a line labkit's emitter wrote, else None."""
    m = _EMITTER.match(msg)
    return (m["token"], int(m["seq"]), float(m["t"])) if m else None
