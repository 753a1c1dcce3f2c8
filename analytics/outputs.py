"""Write an analysis to a folder: the CSV tables, ``summary.json``, ``report.md`` and charts."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .charts import write_charts
from .errors import DataError
from .report import render_report

if TYPE_CHECKING:
    from .pipeline import Analysis

__all__ = ["CUSTOMER_COLUMNS", "customers_frame", "write_outputs"]

CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_id", "first_order", "last_order", "recency_days", "frequency", "monetary",
    "avg_order_value", "rfm_r", "rfm_f", "rfm_m", "rfm_segment", "cluster",
    "churn_probability", "p_alive", "expected_orders", "predicted_clv", "revenue_at_risk",
)


def customers_frame(analysis: Analysis) -> pd.DataFrame:
    """``customers.csv`` as a frame: the contract's columns first, then any extra ones."""
    frame = analysis.customers.reset_index()
    first = [c for c in CUSTOMER_COLUMNS if c in frame]
    return frame[first + [c for c in frame.columns if c not in first]]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(handle)`` into a temporary file beside ``path``, then rename it over
    ``path``: an interrupted run never leaves half a file (nor the temporary one)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _atomic_write(path: Path, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


_NEEDS_QUOTES = r'[",\r\n]'


def _arrow_writes_it_as_pandas(frame: pd.DataFrame) -> bool:
    """Whether pyarrow's CSV writer gives the same bytes as ``to_csv`` for this frame.

    True for plain integer columns, text without delimiters or quotes, and floats that
    Python and Arrow both print in plain decimals (not whole: Python adds ".0"; not below
    1e-4 or from 1e16: Python switches to exponents).
    """
    if any(re.search(_NEEDS_QUOTES, str(name)) for name in frame.columns):
        return False
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_float_dtype(column) and isinstance(column.dtype, np.dtype):
            values = column.to_numpy()
            known = values[~np.isnan(values)]
            size = np.abs(known)
            if (not np.isfinite(known).all() or (known == np.round(known)).any()
                    or (size < 1e-4).any() or (size >= 1e16).any()):
                return False
        elif pd.api.types.is_string_dtype(column) and not isinstance(column.dtype, np.dtype):
            if column.str.contains(_NEEDS_QUOTES, regex=True).fillna(False).any():
                return False
        elif not (pd.api.types.is_integer_dtype(column) and isinstance(column.dtype, np.dtype)):
            return False
    return True


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_csv`` with floats rounded to 6 decimals, written atomically; big plain
    tables (the recommendations) go through pyarrow's writer, which is several times
    faster and, for them, writes the same bytes."""
    floats = frame.select_dtypes("float").columns
    frame = frame.round(dict.fromkeys(floats, 6))
    if len(frame) < 100_000 or not _arrow_writes_it_as_pandas(frame):
        _atomic_write(path, frame.to_csv(index=False))
        return

    def write(handle: BinaryIO) -> None:
        handle.write((",".join(map(str, frame.columns)) + "\n").encode())
        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), handle,
                        pacsv.WriteOptions(include_header=False, quoting_style="none"))

    write_atomic(path, write)


def write_outputs(analysis: Analysis, out_dir: str | Path) -> dict[str, Path]:
    """Write every output file of the contract into ``out_dir``; returns name → path."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output folder {out}: {exc.strerror}; "
                        "pass another --out") from exc
    paths = {name: out / f"{name}.csv" for name in ("customers", "segments", "cohorts",
                                                    "monthly", "clusters")}
    _write_csv(customers_frame(analysis), paths["customers"])
    _write_csv(analysis.segments, paths["segments"])
    _write_csv(analysis.cohorts, paths["cohorts"])
    _write_csv(analysis.monthly.reset_index(names="month"), paths["monthly"])
    _write_csv(analysis.clusters.reset_index(), paths["clusters"])
    if analysis.recommendations is not None:
        paths["recommendations"] = out / "recommendations.csv"
        _write_csv(analysis.recommendations, paths["recommendations"])
    paths["summary"] = out / "summary.json"
    _atomic_write(paths["summary"], json.dumps(_jsonable(analysis.summary()), indent=2))
    charts = write_charts(analysis, out)
    paths["report"] = out / "report.md"
    _atomic_write(paths["report"], render_report(analysis, charts))
    return {**paths, **{f"chart_{k}": v for k, v in charts.items()}}
