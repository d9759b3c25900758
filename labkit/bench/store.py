"""The results store: append-only, crash-safe, one JSON-lines file per run.

Layout::

    <root>/runs/<run_id>/meta.json    written atomically (temp file + rename)
    <root>/runs/<run_id>/rows.jsonl   one tidy row per line, flushed and fsync'd per batch

A run killed mid-write loses at most its in-flight rows: a torn last line is
skipped (and reported), every earlier line and every other run still loads.
Nothing is ever rewritten except ``meta.json``, replaced whole.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.bench.schema import COLUMNS, SCHEMA_VERSION
from labkit.errors import StoreError
from labkit.log import log
from labkit.paths import atomic_write

if TYPE_CHECKING:
    import pandas as pd


_last_id_time: dt.datetime | None = None


def new_run_id(now: dt.datetime | None = None) -> str:
    """``20261126T180912.123Z-d361cb``: sorts by start time, unique within this process
    (two ids made in the same millisecond get consecutive milliseconds)."""
    global _last_id_time
    now = now or dt.datetime.now(dt.UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # ids have millisecond resolution
    if _last_id_time is not None and now <= _last_id_time:
        now = _last_id_time + dt.timedelta(milliseconds=1)
    _last_id_time = now
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z-" + secrets.token_hex(3)


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunWriter:
    """Appends rows of one run; a context manager that records how the run ended."""

    def __init__(self, directory: Path, meta: dict[str, Any]) -> None:
        self.directory = directory
        self.meta = meta
        self.rows_path = directory / "rows.jsonl"
        self._fh = open(self.rows_path, "a")  # noqa: SIM115 - closed in finish()
        self.n_rows = 0

    @property
    def run_id(self) -> str:
        return str(self.meta["run_id"])

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write rows (missing columns become null) and make them durable."""
        lines = []
        for row in rows:
            unknown = set(row) - set(COLUMNS)
            if unknown:
                raise StoreError(f"row has columns outside the schema: {sorted(unknown)}",
                                 fix="add them to labkit/bench/schema.py (and bump SCHEMA_VERSION)")
            full = {c: _clean(row.get(c)) for c in COLUMNS}
            full["run_id"] = full["run_id"] or self.run_id
            lines.append(json.dumps(full, default=str))
        if not lines:
            return
        self._fh.write("\n".join(lines) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.n_rows += len(lines)

    def update_meta(self, **fields: Any) -> None:
        self.meta.update(fields)
        atomic_write(self.directory / "meta.json", json.dumps(self.meta, indent=2, default=str))

    def finish(self, status: str, error: str | None = None) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.update_meta(status=status, error=error, ts_end_utc=utcnow(), n_rows=self.n_rows)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.finish("complete")
        elif issubclass(exc_type, KeyboardInterrupt):  # Ctrl-C, or SIGTERM/SIGHUP (labkit.signals.Terminated)
            self.finish("interrupted", str(exc) if exc is not None and str(exc) else exc_type.__name__)
        else:
            self.finish("failed", f"{exc_type.__name__}: {exc}")


class Store:
    """All runs under one directory."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        """``root`` defaults to the lab's results store (``LABKIT_RESULTS`` or ``results/``)."""
        if root is None:
            from labkit.paths import results_dir

            root = results_dir()
        self.root = Path(root)

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def check_writable(self) -> Store:
        """Refuse, before anything is measured, a store that cannot be written (a typo, /proc, read-only)."""
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            probe = self.runs_dir / f".labkit-write-probe-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"the results store {self.root} cannot be written: {exc.strerror or exc}",
                             fix="pass a directory you can write to (--store DIR / out_dir=...), or leave it "
                                 "empty for results/ in the checkout") from exc
        return self

    def new_run(self, meta: Mapping[str, Any]) -> RunWriter:
        run_id = str(meta.get("run_id") or new_run_id())
        directory = self.runs_dir / run_id
        if directory.exists():
            raise StoreError(f"run {run_id!r} already exists in {self.root}", fix="use a new run id (or none)")
        directory.mkdir(parents=True)
        full = {"schema_version": SCHEMA_VERSION, "status": "running", "ts_start_utc": utcnow(),
                **meta, "run_id": run_id}
        writer = RunWriter(directory, full)
        writer.update_meta()
        return writer

    def run_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if (p / "meta.json").is_file())

    def meta(self, run_id: str) -> dict[str, Any]:
        path = self.runs_dir / run_id / "meta.json"
        if not path.is_file():
            known = ", ".join(self.run_ids()[-5:]) or "none"
            raise StoreError(f"no run {run_id!r} in {self.root}", fix=f"`labkit runs` lists them (latest: {known})")
        try:
            return dict(json.loads(path.read_text()))
        except ValueError as exc:
            raise StoreError(f"{path} is not valid JSON: {exc}", fix="restore it or delete the run directory") from exc

    def runs(self) -> pd.DataFrame:
        """One row per run: id, times, status, suite, profile, target, host class, row count."""
        import pandas as pd

        cols = ["run_id", "ts_start_utc", "status", "suite", "profile", "target", "host_class", "n_rows",
                "notebook", "impairment", "error"]
        metas = []
        for rid in self.run_ids():
            try:
                m = self.meta(rid)
            except StoreError as exc:
                log(f"! skipping run {rid}: {exc.message}")
                continue
            if m.get("status") == "running" and "ts_end_utc" not in m:
                m["status"] = "incomplete"  # never finished: killed, or still running
            metas.append({c: m.get(c) for c in cols})
        return pd.DataFrame(metas, columns=cols)

    def resolve(self, ref: str) -> str:
        """A run id from an id, a unique id prefix, or ``latest``/``latest:<suite>``."""
        ids = self.run_ids()
        if ref.startswith("latest"):
            suite = ref.partition(":")[2]
            picks = [r for r in ids if not suite or self.meta(r).get("suite") == suite]
            if not picks:
                raise StoreError(f"no runs{' of suite ' + suite if suite else ''} in {self.root}",
                                 fix="run `labkit bench net` (or storage) first")
            return picks[-1]
        matches = [r for r in ids if r.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            self.meta(ref)  # raises with the list of known runs
        raise StoreError(f"run id prefix {ref!r} is ambiguous: {', '.join(matches[:5])}", fix="give more characters")

    def load(self, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Rows of the given runs (default: all) as one DataFrame with the schema's columns."""
        import pandas as pd

        ids = [self.resolve(r) for r in run_ids] if run_ids is not None else self.run_ids()
        records: list[dict[str, Any]] = []
        for rid in ids:
            records.extend(self._read_rows(rid))
        return derive(pd.DataFrame.from_records(records, columns=list(COLUMNS)))

    def _read_rows(self, run_id: str) -> list[dict[str, Any]]:
        path = self.runs_dir / run_id / "rows.jsonl"
        if not path.is_file():
            return []
        rows, bad = [], 0
        with open(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError("not an object")
                except ValueError:
                    bad += 1
                    log(f"! {path}:{lineno}: unreadable row skipped (torn write from a killed run?)")
                    continue
                rows.append(row)
        return rows


def derive(rows: pd.DataFrame) -> pd.DataFrame:
    """Fill ``baseline_value`` and ``ratio_to_baseline`` per repetition.

    A row is paired with its baseline cell's value from the *same* run and block
    (repetition), so slow drift of the host cancels in the ratio.
    """
    if rows.empty:
        return rows
    keys = ["run_id", "block", "suite", "test", "metric"]
    rows = rows.astype({k: object for k in keys + ["cell", "baseline_cell"]})
    ok = rows[(rows["status"] == "ok") & rows["metric"].fillna("").astype(bool)]
    base = ok[keys + ["cell", "value"]].rename(columns={"cell": "baseline_cell", "value": "_base"})
    # One baseline value per key (the median, should a key ever repeat), so the merge never adds rows.
    base = base.assign(_base=base["_base"].astype(float)).groupby(
        keys + ["baseline_cell"], dropna=False, sort=False)["_base"].median().reset_index()
    merged = rows.drop(columns=["baseline_value", "ratio_to_baseline"]).merge(
        base, on=keys + ["baseline_cell"], how="left", validate="many_to_one")
    merged["baseline_value"] = merged.pop("_base")
    value = merged["value"].astype(float)
    merged["ratio_to_baseline"] = value / merged["baseline_value"].astype(float)
    return merged[list(COLUMNS)]
