"""Numbers people read: Gbit/s rather than 2.165606e+10, µs rather than us, IOPS rather than IO/s.

Results are stored in base units (bit/s, B/s, us, IO/s, s; schema.METRICS). For tables and charts
one scale is chosen per unit *and per series*, from its largest value, so a column never mixes
Mbit/s and Gbit/s and a chart's axis reads "throughput (Gbit/s)" with plain numbers on it.

>>> scale("bit/s", [2.165606e10, 9.1e9])
(1e-09, 'Gbit/s')
>>> fmt(2.165606e10, "bit/s")
'21.7 Gbit/s'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

# (threshold, factor, label) from the largest down; a value >= threshold uses that row.
_LADDERS: dict[str, tuple[tuple[float, float, str], ...]] = {
    "bit/s": ((1e9, 1e-9, "Gbit/s"), (1e6, 1e-6, "Mbit/s"), (1e3, 1e-3, "kbit/s"), (0, 1, "bit/s")),
    "B/s": ((1e9, 1e-9, "GB/s"), (1e6, 1e-6, "MB/s"), (1e3, 1e-3, "kB/s"), (0, 1, "B/s")),
    "B": ((1e9, 1e-9, "GB"), (1e6, 1e-6, "MB"), (1e3, 1e-3, "kB"), (0, 1, "B")),
    "us": ((1e6, 1e-6, "s"), (1e4, 1e-3, "ms"), (0, 1, "µs")),
    "ms": ((1e4, 1e-3, "s"), (0, 1, "ms")),
    "IO/s": ((1e5, 1e-3, "k IOPS"), (0, 1, "IOPS")),
    "s": ((0, 1, "s"),),
    "%": ((0, 1, "%"),),
    "count": ((0, 1, ""),),
}


def scale(unit: str | None, values: Iterable[Any]) -> tuple[float, str]:
    """The factor to multiply by and the label, chosen from the largest finite |value|."""
    ladder = _LADDERS.get(str(unit or ""))
    if ladder is None:
        return 1.0, str(unit or "")
    finite = [abs(float(v)) for v in values if v is not None and _finite(v)]
    top = max(finite, default=0.0)
    for threshold, factor, label in ladder:
        if top >= threshold:
            return factor, label
    return ladder[-1][1], ladder[-1][2]


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def number(v: Any) -> str:
    """Three significant figures, thousands separated, never an exponent: 21.7, 1,234, 0.0123."""
    if not _finite(v):
        return ""
    x = float(v)
    if x == int(x) and abs(x) < 1e15:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(x)))))
    return f"{x:,.{digits}f}"


def fmt(value: Any, unit: str | None) -> str:
    """One value with its own best scale: ``fmt(2.2e10, "bit/s")`` → ``"22.0 Gbit/s"``."""
    factor, label = scale(unit, [value])
    text = number(float(value) * factor) if _finite(value) else ""
    return f"{text} {label}".strip() if text else ""


_VALUE_COLUMNS = ("median", "mean", "q1", "q3", "ci_lo", "ci_hi", "iqr", "min", "max", "value",
                  "median_a", "median_b", "baseline_value")


def readable(frame: pd.DataFrame, *, unit_column: str = "unit") -> pd.DataFrame:
    """A copy for reading: value columns scaled per (metric, unit) series and rounded to three figures,
    ``unit`` replaced by the readable label, ratios as ``0.87×`` and CVs as percentages.

    The stored frame is left alone; use this for display only (strings do not sort numerically).
    """
    out = frame.copy()
    cols = [c for c in _VALUE_COLUMNS if c in out.columns]
    for c in cols:
        out[c] = out[c].astype(object)
    if unit_column in out.columns and cols:
        keys = ["metric", unit_column] if "metric" in out.columns else [unit_column]
        for _, idx in out.groupby(keys, dropna=False, sort=False).groups.items():
            unit = out.loc[idx, unit_column].iloc[0]
            factor, label = scale(unit if isinstance(unit, str) else None,
                                  pd.concat([pd.to_numeric(out.loc[idx, c], errors="coerce") for c in cols]))
            for c in cols:
                out.loc[idx, c] = [number(float(v) * factor) if _finite(v) else ""
                                   for v in pd.to_numeric(frame.loc[idx, c], errors="coerce")]
            out.loc[idx, unit_column] = label
    for c in [c for c in out.columns if c == "ratio" or c.startswith("ratio_")]:
        out[c] = [f"{float(v):.3f}×" if _finite(v) and not c.endswith(("_lo", "_hi")) else
                  (f"{float(v):.3f}" if _finite(v) else "") for v in frame[c]]
    for c in [c for c in ("cv", "cv_a", "cv_b") if c in out.columns]:
        out[c] = [f"{100 * float(v):.1f} %" if _finite(v) else "" for v in frame[c]]
    return out


def show(frame: pd.DataFrame, *, readable_units: bool = True) -> None:
    """Display every row and column of ``frame`` (readable units unless told not to)."""
    from IPython.display import display

    shown = readable(frame) if readable_units else frame
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.max_colwidth", 80):
        display(shown)
