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
import pyarrow.compute as pc
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


def write_atomic(path: Path, write: Callable[[Any], object], *, text: bool = False,
                 durable: bool = False) -> None:
    """``write(handle)`` into a temporary file beside ``path``, then rename it over
    ``path``: an interrupted run never leaves half a file (nor the temporary one).

    The handle takes bytes, or with ``text`` UTF-8 text (newlines as written). ``durable``
    flushes the file to the disk before the rename, for what a user made (saved plans): a
    power cut then leaves the old file or the new one.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with (os.fdopen(fd, "w", encoding="utf-8", newline="") if text
              else os.fdopen(fd, "wb")) as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _atomic_write(path: Path, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


_NEEDS_QUOTES = r'[",\r\n]'
_CHUNK_ROWS = 200_000
# Non-whole floats that Arrow prints as Python does (measured: Arrow switches to exponents
# from 1e10, Python below 1e-4 and from 1e16; 1e9 to be safe)
_PLAIN_FLOATS = (1e-4, 1e9)


def _quoted(text: pa.Array) -> pa.Array:
    """Text as ``to_csv`` writes it: in quotes, with quotes doubled, where it needs them."""
    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return text
    doubled = pc.replace_substring(text, '"', '""')
    return pc.if_else(needs, pc.binary_join_element_wise('"', doubled, '"', ""), text)


def _float_text(values: np.ndarray) -> pa.Array:
    """Floats as Python prints them (``repr``), as ``to_csv`` does; missing ones empty.

    Arrow prints the shortest repr too, but whole numbers without ".0", and numbers below
    1e-4 or from 1e10 in its own style (measured): those go through Python, whole ones
    cheaply, the others (rare in money and probabilities) one by one from 1e9.
    """
    text = pc.cast(pa.array(values), pa.string())
    size = np.abs(values)
    missing = np.isnan(values)
    with np.errstate(invalid="ignore"):
        whole = (values == np.round(values)) & (size < 1e15) & ~((values == 0)
                                                                 & np.signbit(values))
        other = ~whole & ~missing & ((size < _PLAIN_FLOATS[0]) | (size >= _PLAIN_FLOATS[1]))
    if whole.any():
        digits = pc.cast(pa.array(values[whole].astype(np.int64)), pa.string())
        text = pc.replace_with_mask(text, pa.array(whole),
                                    pc.binary_join_element_wise(digits, ".0", ""))
    if other.any():
        text = pc.replace_with_mask(text, pa.array(other),
                                    pa.array([repr(float(v)) for v in values[other]]))
    if missing.any():
        text = pc.if_else(pa.array(missing), "", text)
    return text


def _formatter(column: pd.Series) -> Callable[[pd.Series], pa.Array] | None:
    """How to write a column as ``to_csv`` does, part by part; None for a kind whose
    formatting this does not copy (pandas then writes the table)."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return lambda part: pc.cast(pa.array(part.to_numpy()), pa.string())
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return lambda part: _float_text(part.to_numpy(dtype=float))
    if pd.api.types.is_string_dtype(column) and not isinstance(dtype, np.dtype):
        return lambda part: pc.fill_null(_quoted(pa.array(part, type=pa.string())), "")
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        times = column.dropna()
        if (times != times.dt.floor("s")).any():  # pandas adds fractions of a second
            return None
        # pandas leaves out the time of a column whose times are all midnight
        layout = "%Y-%m-%d" if (times == times.dt.normalize()).all() else "%Y-%m-%d %H:%M:%S"
        return lambda part: pc.fill_null(pc.strftime(
            pc.cast(pa.array(part.to_numpy()), pa.timestamp("s")), layout), "")
    return None


def _arrow_writes_it_as_pandas(frame: pd.DataFrame) -> bool:
    """Whether pyarrow's CSV writer gives the same bytes as ``to_csv`` for this frame.

    True for plain integer columns, text without delimiters or quotes, and floats that
    Python and Arrow both print in plain decimals (not whole: Python adds ".0"; not below
    1e-4 nor from 1e10, where either switches to exponents; 1e9 to be safe).
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
                    or (size < _PLAIN_FLOATS[0]).any() or (size >= _PLAIN_FLOATS[1]).any()):
                return False
        elif pd.api.types.is_string_dtype(column) and not isinstance(column.dtype, np.dtype):
            if column.str.contains(_NEEDS_QUOTES, regex=True).fillna(False).any():
                return False
        elif not (pd.api.types.is_integer_dtype(column) and isinstance(column.dtype, np.dtype)):
            return False
    return True


def _write_arrow(frame: pd.DataFrame, handle: BinaryIO) -> None:
    handle.write((",".join(map(str, frame.columns)) + os.linesep).encode())
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), handle,
                    pacsv.WriteOptions(include_header=False, quoting_style="none",
                                       eol=os.linesep))


def _write_formatted(frame: pd.DataFrame, formatters: list[Callable[[pd.Series], pa.Array]],
                     handle: BinaryIO) -> None:
    """Each column as text (see :func:`_formatter`), joined into lines by Arrow, a block
    of rows at a time."""
    names = _quoted(pa.array([str(c) for c in frame.columns], type=pa.string()))
    handle.write((",".join(names.to_pylist()) + os.linesep).encode())
    for start in range(0, len(frame), _CHUNK_ROWS):
        part = frame.iloc[start:start + _CHUNK_ROWS]
        columns = [f(part[name]) for f, name in zip(formatters, part.columns, strict=True)]
        columns[-1] = pc.binary_join_element_wise(columns[-1], os.linesep, "")
        rows = pc.binary_join_element_wise(*columns, ",")
        # (a text column read by pyarrow in blocks comes in chunks, and so do its lines)
        for lines in rows.chunks if isinstance(rows, pa.ChunkedArray) else [rows]:
            if len(lines):  # its lines lie back to back in its data buffer
                offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
                offsets = offsets[lines.offset:lines.offset + len(lines) + 1]
                handle.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_csv`` with floats rounded to 6 decimals, written atomically. A large
    table is written by Arrow, with the same bytes, several times faster: by Arrow's own
    CSV writer when its output is already the same (plain numbers and text), else column by
    column (whole floats, text with commas, dates)."""
    floats = frame.select_dtypes("float").columns
    frame = frame.round(dict.fromkeys(floats, 6))
    # (a table of one column is left to pandas, which quotes a lone empty field)
    if len(frame) >= 20_000 and frame.shape[1] >= 2:
        if _arrow_writes_it_as_pandas(frame):
            write_atomic(path, lambda handle: _write_arrow(frame, handle))
            return
        formatters = [_formatter(frame[name]) for name in frame.columns]
        if all(f is not None for f in formatters):
            write_atomic(path, lambda handle: _write_formatted(frame, formatters, handle))
            return
    _atomic_write(path, frame.to_csv(index=False))


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
    if analysis.contacts is not None:  # whom each pseudonymous id stands for, for this
        # machine's mailings; the advisor never reads it
        paths["contacts"] = out / "contacts.csv"
        known = analysis.contacts[analysis.contacts.index.isin(analysis.customers.index)]
        _write_csv(known.reset_index(), paths["contacts"])
    paths["summary"] = out / "summary.json"
    _atomic_write(paths["summary"], json.dumps(_jsonable(analysis.summary()), indent=2))
    charts = write_charts(analysis, out)
    paths["report"] = out / "report.md"
    _atomic_write(paths["report"], render_report(analysis, charts))
    return {**paths, **{f"chart_{k}": v for k, v in charts.items()}}
