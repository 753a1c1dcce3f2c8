"""The Markdown report of an analysis."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .backtest import describe_margin
from .cohorts import cohort_matrix
from .rfm import SEGMENT_DESCRIPTIONS

if TYPE_CHECKING:
    from .pipeline import Analysis

__all__ = ["markdown_table", "render_report"]


def markdown_table(frame: pd.DataFrame, floatfmt: str = ",.2f") -> str:
    """A GitHub-flavoured Markdown table; columns named ``*_share``/``*probability`` as %."""
    percent = [str(c).endswith(("share", "probability", "rate")) for c in frame.columns]

    def cell(value: object, as_percent: bool) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            if pd.isna(value):
                return ""
            return format(value, ".1%") if as_percent else format(value, floatfmt)
        if isinstance(value, int):
            return format(value, ",")
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = [
        "| " + " | ".join(cell(v, p) for v, p in zip(row, percent, strict=True)) + " |"
        for row in frame.itertuples(False)
    ]
    return "\n".join([header, rule, *rows])


def _pct(value: float | None) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.1%}"


def _kpi_lines(analysis: Analysis) -> list[str]:
    k = analysis.kpis
    return [
        f"- Customers: {k['customers']:,} ({k['orders']:,} orders, revenue {k['revenue']:,.2f})",
        f"- Active in the last 90 days: {k['active_customers_90d']:,}",
        f"- Repeat-purchase rate: {_pct(k['repeat_purchase_rate'])}",
        f"- New customers ordering again within 30 days: "
        f"{_pct(k['new_customer_repeat_rate_30d'])}, within 90 days: "
        f"{_pct(k['new_customer_repeat_rate_90d'])}",
        f"- Average order value: {k['avg_order_value']:,.2f}",
    ]


def _cleaning_lines(analysis: Analysis) -> list[str]:
    report = analysis.cleaning
    rows = [{"reason": r, "rows": n} for r, n in report.dropped.items()]
    lines = [f"Rows read: {report.rows_in:,}; kept: {report.rows_kept:,}.", ""]
    lines.append(markdown_table(pd.DataFrame(rows)))
    if analysis.notes:
        lines += ["", *[f"- {note}" for note in analysis.notes]]
    return lines


def _segment_section(analysis: Analysis) -> list[str]:
    seg = analysis.segments.loc[analysis.segments["kind"] == "rfm"].copy()
    seg["meaning"] = seg["segment"].map(SEGMENT_DESCRIPTIONS).fillna("")
    cols = ["segment", "customers", "customer_share", "revenue_share", "avg_recency_days",
            "avg_frequency", "avg_monetary", "meaning"]
    extra = [c for c in ("mean_churn_probability", "revenue_at_risk", "mean_predicted_clv")
             if c in seg]
    return [markdown_table(seg[cols[:-1] + extra + cols[-1:]])]


def _risk_section(analysis: Analysis, top: int = 10) -> list[str]:
    churn = analysis.diagnostics.get("churn", {})
    k = analysis.kpis
    lines = [
        f"Churn = probability of no order in the {analysis.horizon_days} days after "
        f"{analysis.as_of.date()} (model: {churn.get('model')}). Revenue at risk = churn "
        f"probability × the customer's usual revenue per {analysis.horizon_days} days.",
        "",
        f"- Revenue at risk: {k['revenue_at_risk']:,.2f}",
        f"- Predicted revenue in the next {analysis.horizon_days} days (CLV): "
        f"{k['predicted_clv']:,.2f}",
        "",
        f"Customers with the most revenue at risk (top {top}):",
        "",
    ]
    customers = analysis.customers.nlargest(top, "revenue_at_risk").reset_index()
    cols = ["customer_id", "rfm_segment", "churn_probability", "revenue_at_risk",
            "predicted_clv", "churn_reasons"]
    return [*lines, markdown_table(customers[cols])]


def _backtest_section(analysis: Analysis) -> list[str]:
    result = analysis.diagnostics.get("backtest")
    if not result:
        return ["Not run."]
    if "skipped" in result:
        return [f"Skipped: {result['skipped']}."]
    lines = [f"Models refitted on rows up to {result['cutoff']} and checked against the "
             f"following {result['horizon_days']} days.", ""]
    for key, title in (("churn", "Churn"), ("clv", "Lifetime value"),
                       ("recommendations", "Recommendations @10")):
        if key in result:
            table = pd.DataFrame(result[key]["metrics"]).T.reset_index(names="model")
            lines += [f"{title} ({result[key]['customers']:,} customers):", "",
                      markdown_table(table, floatfmt=",.4f"), ""]
            if key == "churn" and result[key].get("margin"):
                lines += [describe_margin(result[key]), ""]
    return lines


def _cluster_section(analysis: Analysis) -> list[str]:
    profile = analysis.clusters.reset_index()
    cols = ["cluster", "label", "customers", "customer_share", "revenue_share",
            "median_recency_days", "median_frequency", "median_order_value"]
    k = analysis.diagnostics.get("clusters", {})
    return [
        f"K = {k.get('k')} chosen by the highest mean silhouette score "
        f"(scores by K: {k.get('silhouette_by_k')}).",
        "",
        markdown_table(profile[cols]),
    ]


def _cohort_section(analysis: Analysis, periods: int = 6) -> list[str]:
    matrix = cohort_matrix(analysis.cohorts).iloc[-12:, : periods + 1]
    sizes = cohort_matrix(analysis.cohorts, "cohort_size").iloc[-12:, 0]
    table = matrix.map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    table.columns = [f"M{c}" for c in table.columns]
    table.insert(0, "customers", sizes.astype(int))
    return ["Share of each monthly cohort active N months after its first order "
            "(last 12 cohorts):", "", markdown_table(table.reset_index())]


def render_report(analysis: Analysis, charts: Mapping[str, Path]) -> str:
    """The whole report as Markdown; chart links are relative to the report's folder."""
    images = [f"![{name}]({path.name})" for name, path in charts.items()]
    sections = [
        f"# Retention report: {analysis.source or 'order log'}",
        "",
        f"As of {analysis.as_of.date()} (horizon {analysis.horizon_days} days).",
        "",
        "## Headline",
        *_kpi_lines(analysis),
        "",
        *(["## Warnings", *[f"- {w}" for w in analysis.warnings], ""] if analysis.warnings
          else []),
        "## Data cleaning",
        *_cleaning_lines(analysis),
        "",
        "## RFM segments",
        *_segment_section(analysis),
        "",
        "## Churn risk and lifetime value",
        *_risk_section(analysis),
        "",
        "## Behavioural clusters",
        *_cluster_section(analysis),
        "",
        "## Cohort retention",
        *_cohort_section(analysis),
        "",
        "## Backtest",
        *_backtest_section(analysis),
        "",
        "## Charts",
        *images,
        "",
    ]
    return "\n".join(sections)
