"""Write an analysis to a folder: the CSV tables, ``summary.json``, ``report.md`` and charts."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

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


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file so an interrupted run never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    floats = frame.select_dtypes("float").columns
    _atomic_write(path, frame.round(dict.fromkeys(floats, 6)).to_csv(index=False))


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
