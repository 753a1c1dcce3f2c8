"""The segment table: size, value, churn risk and its change since the previous period."""

from __future__ import annotations

import pandas as pd

__all__ = ["SEGMENT_KINDS", "segment_summary", "segment_table"]

SEGMENT_KINDS = {"rfm": "rfm_segment", "cluster": "cluster"}


def segment_summary(customers: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per value of ``column``: customers, revenue, means, churn and value when present."""
    aggregations = {
        "customers": ("frequency", "size"),
        "revenue": ("monetary", "sum"),
        "avg_recency_days": ("recency_days", "mean"),
        "avg_frequency": ("frequency", "mean"),
        "avg_monetary": ("monetary", "mean"),
    }
    optional = {
        "mean_churn_probability": ("churn_probability", "mean"),
        "revenue_at_risk": ("revenue_at_risk", "sum"),
        "mean_predicted_clv": ("predicted_clv", "mean"),
        "predicted_clv": ("predicted_clv", "sum"),
    }
    aggregations |= {k: v for k, v in optional.items() if v[0] in customers}
    table = customers.groupby(column, observed=True).agg(**aggregations)
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["revenue"] / table["revenue"].sum()
    return table


def _with_change(now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in ("customers", "mean_churn_probability", "revenue_at_risk")
               if c in now and c in before]
    previous = before[columns].reindex(now.index)
    previous["customers"] = previous["customers"].fillna(0).astype(int)
    for column in columns:
        now[f"{column}_prev"] = previous[column]
        now[f"{column}_change"] = now[column] - previous[column]
    return now


def segment_table(customers: pd.DataFrame, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """RFM segments then clusters, each with ``kind`` and ``segment`` columns.

    With ``previous`` (the customers frame of an earlier date) every row also gets the
    segment's size, mean churn probability and revenue at risk then, and the change since.
    """
    tables = []
    for kind, column in SEGMENT_KINDS.items():
        table = segment_summary(customers, column)
        if previous is not None:
            table = _with_change(table, segment_summary(previous, column))
        table = table.reset_index().rename(columns={column: "segment"})
        table["segment"] = table["segment"].astype(str)
        table.insert(0, "kind", kind)
        sort_by = "revenue_at_risk" if "revenue_at_risk" in table else "revenue"
        tables.append(table.sort_values(sort_by, ascending=False, ignore_index=True))
    return pd.concat(tables, ignore_index=True)
