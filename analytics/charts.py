"""PNG charts of an analysis. Plotting only, no maths.

Uses matplotlib's object API (``Figure``), so no backend or global pyplot state is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from .cohorts import cohort_matrix

if TYPE_CHECKING:
    from .pipeline import Analysis

__all__ = ["CHART_FILES", "cohort_heatmap", "write_charts"]

CHART_FILES = {
    "segments": "chart_segments.png",
    "cohorts": "chart_cohort_retention.png",
    "monthly": "chart_monthly_revenue.png",
}


def _segment_sizes(analysis: Analysis, path: Path) -> None:
    table = analysis.segments.loc[analysis.segments["kind"] == "rfm"]
    table = table.sort_values("customers")
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    ax.barh(table["segment"], table["customers"], color="#4C72B0")
    for y, (n, share) in enumerate(zip(table["customers"], table["revenue_share"], strict=True)):
        ax.text(n, y, f"  {n:,} ({share:.0%} of revenue)", va="center", fontsize=8)
    ax.set_xlabel("customers")
    ax.set_title(f"RFM segments at {analysis.as_of.date()}")
    ax.set_xlim(0, table["customers"].max() * 1.45)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def cohort_heatmap(analysis: Analysis, max_periods: int = 24) -> Figure:
    """Retention of the last 36 monthly cohorts by months since their first order."""
    matrix = cohort_matrix(analysis.cohorts).iloc[-36:, : max_periods + 1]
    fig = Figure(figsize=(10, max(4, 0.28 * len(matrix) + 1.5)))
    ax = fig.subplots()
    image = ax.imshow(matrix.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0,
                      vmax=max(0.01, float(matrix.iloc[:, 1:].max().max() or 0.01)))
    ax.set_yticks(range(len(matrix)), matrix.index, fontsize=7)
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, fontsize=7)
    ax.set_xlabel("months since first order")
    ax.set_ylabel("acquisition cohort")
    ax.set_title("Share of each cohort that ordered again, by month")
    fig.colorbar(image, ax=ax, label="retention")
    fig.tight_layout()
    return fig


def _monthly(analysis: Analysis, path: Path) -> None:
    monthly = analysis.monthly
    fig = Figure(figsize=(10, 4.5))
    ax = fig.subplots()
    ax.bar(monthly.index, monthly["revenue"], color="#55A868", label="revenue")
    ax.set_ylabel("revenue")
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    other = ax.twinx()
    other.plot(monthly.index, monthly["active_customers"], color="#C44E52", marker="o",
               label="active customers")
    other.set_ylabel("active customers")
    ax.set_title("Monthly revenue and active customers")
    fig.legend(loc="upper left", bbox_to_anchor=(0.08, 0.92), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_charts(analysis: Analysis, out_dir: Path) -> dict[str, Path]:
    """Write every chart into ``out_dir``; returns chart name → path."""
    paths = {name: out_dir / filename for name, filename in CHART_FILES.items()}
    _segment_sizes(analysis, paths["segments"])
    cohort_heatmap(analysis).savefig(paths["cohorts"], dpi=110)
    _monthly(analysis, paths["monthly"])
    return paths
