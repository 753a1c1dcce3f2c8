"""Acquisition cohorts, monthly activity and headline retention KPIs.

All functions take the order table (one row per order, see :func:`analytics.rfm.order_table`)
already restricted to rows on or before ``as_of``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import CUSTOMER_ID, ORDER_ID

__all__ = ["cohort_matrix", "cohort_table", "monthly_activity", "retention_kpis"]


def _month_index(dates: pd.Series) -> pd.Series:
    return dates.dt.year * 12 + dates.dt.month - 1


def cohort_table(orders: pd.DataFrame) -> pd.DataFrame:
    """Long table: ``cohort`` (month of first order) × ``period`` (months since it).

    Columns: ``cohort``, ``period``, ``customers`` (active in that month), ``cohort_size``,
    ``retention`` (customers / cohort_size). Period 0 is the acquisition month, so its
    retention is 1.
    """
    month = _month_index(orders["order_date"])
    first = month.groupby(orders[CUSTOMER_ID]).transform("min")
    active = pd.DataFrame(
        {"customer": orders[CUSTOMER_ID], "cohort": first, "period": month - first}
    )
    counts = (
        active.drop_duplicates()
        .groupby(["cohort", "period"])
        .size()
        .rename("customers")
        .reset_index()
    )
    sizes = counts.loc[counts["period"] == 0].set_index("cohort")["customers"]
    counts["cohort_size"] = counts["cohort"].map(sizes)
    counts["retention"] = counts["customers"] / counts["cohort_size"]
    counts["cohort"] = _month_label(counts["cohort"])
    return counts[["cohort", "period", "customers", "cohort_size", "retention"]]


def _month_label(index: pd.Series) -> pd.Series:
    years, months = np.divmod(index.to_numpy(), 12)
    return pd.Series(
        [f"{y:04d}-{m + 1:02d}" for y, m in zip(years, months, strict=True)],
        index=index.index,
        dtype="string",
    )


def cohort_matrix(cohorts: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """Wide view of :func:`cohort_table`: one row per cohort, one column per period."""
    return cohorts.pivot(index="cohort", columns="period", values=value).sort_index()


def monthly_activity(orders: pd.DataFrame) -> pd.DataFrame:
    """Per calendar month: revenue, orders, active and new customers, average order value."""
    month = orders["order_date"].dt.to_period("M")
    first = month.groupby(orders[CUSTOMER_ID]).transform("min")
    frame = orders.assign(month=month, is_new=month == first)
    g = frame.groupby("month")
    table = g.agg(
        revenue=("amount", "sum"),
        orders=(ORDER_ID, "size"),
        active_customers=(CUSTOMER_ID, "nunique"),
    )
    new = frame.loc[frame["is_new"]].groupby("month")[CUSTOMER_ID].nunique()
    table["new_customers"] = new.reindex(table.index, fill_value=0)
    table["avg_order_value"] = table["revenue"] / table["orders"]
    table.index = table.index.astype(str)
    return table


def _first_two_orders(orders: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each customer's first and second order dates (NaT without a second order).

    One sort of (customer, date) for all customers: a grouped sort and count of several
    million orders costs several times more.
    """
    codes, uniques = pd.factorize(orders[CUSTOMER_ID])
    dates = orders["order_date"].to_numpy()
    if len(codes) == 0:
        empty = pd.Series(dates[:0], index=uniques[:0])
        return empty, empty
    order = np.lexsort((dates, codes))
    codes, dates = codes[order], dates[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    after = np.minimum(starts + 1, len(codes) - 1)
    has_second = (starts + 1 < len(codes)) & (codes[after] == codes[starts])
    index = uniques.take(codes[starts])
    first = pd.Series(dates[starts], index=index)
    second = pd.Series(np.where(has_second, dates[after], np.datetime64("NaT")), index=index)
    return first, second


def _repeat_within(first: pd.Series, second: pd.Series, days: int,
                   as_of: pd.Timestamp) -> dict[str, float]:
    """Share of customers acquired at least ``days`` before ``as_of`` who reordered in time."""
    eligible = (first <= as_of - pd.Timedelta(days=days)).to_numpy()
    gap = second[eligible] - first[eligible]
    repeated = int((gap <= pd.Timedelta(days=days)).sum())
    n = int(eligible.sum())
    return {"customers": n, "rate": repeated / n if n else float("nan")}


def retention_kpis(orders: pd.DataFrame, as_of: pd.Timestamp, active_days: int = 90) -> dict:
    """Headline KPIs: customers, active customers, repeat rate, new-customer repeat rates, AOV.

    ``orders`` has one row per order (:func:`analytics.rfm.order_table`).
    """
    g = orders.groupby(CUSTOMER_ID)
    per_customer = g.size()
    last = g["order_date"].max()
    first, second = _first_two_orders(orders)
    repeat_30 = _repeat_within(first, second, 30, as_of)
    repeat_90 = _repeat_within(first, second, 90, as_of)
    return {
        "customers": len(per_customer),
        "orders": len(orders),
        "revenue": float(orders["amount"].sum()),
        f"active_customers_{active_days}d": int((last > as_of - pd.Timedelta(days=active_days))
                                               .sum()),
        "repeat_purchase_rate": float((per_customer >= 2).mean()) if len(per_customer) else 0.0,
        "new_customer_repeat_rate_30d": repeat_30["rate"],
        "new_customer_repeat_rate_90d": repeat_90["rate"],
        "new_customer_repeat_30d_base": repeat_30["customers"],
        "new_customer_repeat_90d_base": repeat_90["customers"],
        "avg_order_value": float(orders["amount"].mean()) if len(orders) else 0.0,
        "orders_per_customer": float(per_customer.mean()) if len(per_customer) else 0.0,
    }
