"""Per-customer behaviour features at a cut-off date, shared by churn and clusters.

Only orders on or before the cut-off are read, so the same function serves past training
snapshots and the scoring date without leaking the future.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from .schema import CATEGORY, COUPON_CODE, CUSTOMER_ID, DISCOUNT, ORDER_ID, PRODUCT_ID, QUANTITY

__all__ = ["ExtraFeatures", "customer_features", "on_or_before"]

ExtraFeatures = Callable[[pd.DataFrame, pd.Timestamp], pd.DataFrame]
DAY = pd.Timedelta(days=1)


def on_or_before(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Rows dated on or before the cut-off's day."""
    return frame.loc[frame["order_date"] < cutoff + DAY]


def _gap_stats(orders: pd.DataFrame) -> pd.DataFrame:
    ordered = orders.sort_values([CUSTOMER_ID, "order_date"])
    day = ordered["order_date"].dt.normalize()
    gaps = (day - day.groupby(ordered[CUSTOMER_ID]).shift()).dt.days
    gaps = gaps.loc[gaps > 0]
    g = gaps.groupby(ordered.loc[gaps.index, CUSTOMER_ID])
    return pd.DataFrame({"mean_gap_days": g.mean(), "gap_cv": g.std() / g.mean()})


def _line_features(lines: pd.DataFrame, orders_count: pd.Series) -> pd.DataFrame:
    g = lines.groupby(CUSTOMER_ID)
    out = pd.DataFrame(index=orders_count.index)
    if QUANTITY in lines:
        out["items_per_order"] = g[QUANTITY].sum() / orders_count
    if PRODUCT_ID in lines:
        out["distinct_products"] = g[PRODUCT_ID].nunique()
    if CATEGORY in lines:
        out["distinct_categories"] = g[CATEGORY].nunique()
    used = None
    if COUPON_CODE in lines:
        used = lines[COUPON_CODE].notna() & (lines[COUPON_CODE].astype("string") != "")
    if DISCOUNT in lines:
        has_discount = lines[DISCOUNT].fillna(0) > 0
        used = has_discount if used is None else used | has_discount
    if used is not None and ORDER_ID in lines:
        coupon_orders = lines.loc[used].groupby(CUSTOMER_ID)[ORDER_ID].nunique()
        out["coupon_order_share"] = coupon_orders.reindex(out.index, fill_value=0) / orders_count
    return out


def customer_features(
    orders: pd.DataFrame,
    cutoff: pd.Timestamp,
    horizon_days: int,
    lines: pd.DataFrame | None = None,
    extra: ExtraFeatures | None = None,
) -> pd.DataFrame:
    """Per-customer features from orders on or before ``cutoff`` (later rows are ignored).

    ``orders`` has one row per order (``customer_id, order_id, order_date, amount``);
    ``lines`` (optional) adds basket size, product and category breadth and coupon use.
    """
    past = on_or_before(orders, cutoff)
    g = past.groupby(CUSTOMER_ID)
    day = cutoff.normalize()
    first, last = g["order_date"].min(), g["order_date"].max()
    f = pd.DataFrame({
        "recency_days": (day - last.dt.normalize()).dt.days,
        "tenure_days": (day - first.dt.normalize()).dt.days,
        "frequency": g.size(),
        "monetary": g["amount"].sum(),
    })
    f["avg_order_value"] = f["monetary"] / f["frequency"]
    f["orders_per_30d"] = f["frequency"] * 30 / f["tenure_days"].clip(lower=30)
    h = pd.Timedelta(days=horizon_days)
    recent = past["order_date"] > day + DAY - h
    previous = (past["order_date"] > day + DAY - 2 * h) & ~recent
    for name, mask in (("last", recent), ("prev", previous)):
        sub = past.loc[mask].groupby(CUSTOMER_ID)
        f[f"orders_{name}_horizon"] = sub.size().reindex(f.index, fill_value=0)
        f[f"spend_{name}_horizon"] = sub["amount"].sum().reindex(f.index, fill_value=0.0)
    f = f.join(_gap_stats(past))
    f["overdue_ratio"] = f["recency_days"] / f["mean_gap_days"]
    if lines is not None:
        f = f.join(_line_features(on_or_before(lines, cutoff), f["frequency"]))
    if extra is not None:
        f = f.join(extra(past, day))
    return f
