"""Per-customer behaviour features at a cut-off date, shared by churn and clusters.

Only orders on or before the cut-off are read, so the same function serves past training
snapshots and the scoring date without leaking the future.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .schema import (
    AMOUNT,
    CATEGORY,
    COUPON_CODE,
    CUSTOMER_ID,
    DISCOUNT,
    ORDER_DATE,
    ORDER_ID,
    PRODUCT_ID,
    QUANTITY,
)

__all__ = ["ExtraFeatures", "count_distinct", "customer_features", "feature_lines",
           "integer_ids", "on_or_before", "percentiles_among", "sorted_distinct"]

ExtraFeatures = Callable[[pd.DataFrame, pd.Timestamp], pd.DataFrame]
DAY = pd.Timedelta(days=1)
# Also given as a percentile among the customers at the cut-off (see _population_ranks).
RANKED_FEATURES: tuple[str, ...] = (
    "recency_days", "tenure_days", "frequency", "monetary", "avg_order_value", "orders_per_30d",
    "orders_last_horizon", "spend_last_horizon", "mean_gap_days", "overdue_ratio",
)


# The columns of the orders and of the order lines that customer_features reads.
ORDER_FEATURE_COLUMNS = (CUSTOMER_ID, ORDER_DATE, AMOUNT)
LINE_FEATURE_COLUMNS = (CUSTOMER_ID, ORDER_DATE, ORDER_ID, QUANTITY, PRODUCT_ID, CATEGORY,
                        COUPON_CODE, DISCOUNT)


def on_or_before(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Rows dated on or before the cut-off's day."""
    return frame.loc[frame["order_date"] < cutoff + DAY]


def _day_numbers(frame: pd.DataFrame) -> np.ndarray:
    """The day of each ``order_date`` as an integer from 0, the first day."""
    days = frame["order_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    return days - (days.min() if len(days) else 0)


def _gap_stats(orders: pd.DataFrame) -> pd.DataFrame:
    """Gaps in days between a customer's distinct order days: mean, spread and the last one."""
    # Sorted by customer, then day, as one integer key: the days in order are all that counts.
    codes, customers = pd.factorize(orders[CUSTOMER_ID], sort=True)
    days = _day_numbers(orders)
    order = np.argsort(codes.astype(np.int64) * (int(days.max(initial=0)) + 1) + days,
                       kind="stable")
    codes, days = codes[order], days[order]
    step = np.diff(days, prepend=days[:1])  # days since the line before
    gap = np.r_[False, codes[1:] == codes[:-1]] & (step > 0)
    g = pd.Series(step[gap], dtype="float64").groupby(
        pd.Index(customers.take(codes[gap]), name=CUSTOMER_ID))
    return pd.DataFrame({"mean_gap_days": g.mean(), "gap_cv": g.std() / g.mean(),
                         "last_gap_days": g.last(), "repeat_days": g.size()})


def _coupon_used(codes: pd.Series) -> pd.Series:
    """A coupon code was given: text that is not empty, or (as :func:`feature_lines` codes
    it) a number."""
    if pd.api.types.is_numeric_dtype(codes):
        return codes.notna()
    return codes.notna() & (codes.astype("string") != "")


def feature_lines(lines: pd.DataFrame, order_codes: np.ndarray | None = None) -> pd.DataFrame:
    """The columns of order lines that :func:`customer_features` reads, with text as numbers.

    Order, product and category ids become codes (missing stays missing) and a coupon code
    becomes 1 where one was given: the features only count these and test coupon use, so
    they come out the same, while filtering and grouping millions of lines of numbers costs
    a fraction of what it does with text. ``order_codes``: the order ids' codes
    (:func:`analytics.rfm.order_codes`), if already made.
    """
    out = lines[[c for c in LINE_FEATURE_COLUMNS if c in lines]]
    recoded: dict[str, np.ndarray] = {}
    for column in (ORDER_ID, PRODUCT_ID, CATEGORY):
        if column in out and not pd.api.types.is_numeric_dtype(out[column]):
            given = order_codes if column == ORDER_ID else None
            found = pd.factorize(out[column])[0] if given is None else given
            recoded[column] = np.where(found >= 0, found, np.nan)  # missing stays missing
    if COUPON_CODE in out:
        recoded[COUPON_CODE] = np.where(_coupon_used(out[COUPON_CODE]), 1.0, np.nan)
    return out.assign(**recoded)


def _small_codes(values: pd.Series | np.ndarray) -> np.ndarray | None:
    """The values as they are when they are integers from 0 to a few times their count
    (customer codes of :func:`integer_ids`, day numbers): they need no hashing."""
    array = np.asarray(values)
    if array.dtype.kind not in "iu" or len(array) == 0:
        return None
    low, high = array.min(), array.max()
    return array.astype(np.int64) if low >= 0 and high < 4 * len(array) + 1024 else None


def _among(ids: pd.Series, chosen: pd.Index) -> np.ndarray:
    """Whether each id is one of ``chosen``: ``ids.isin(chosen)``, looked up in a table when
    both are customer codes (10M lines in 0.07 s instead of 0.13 s, for each snapshot)."""
    codes, wanted = _small_codes(ids), np.asarray(chosen)
    if codes is None or wanted.dtype.kind not in "iu" or (len(wanted) and wanted.min() < 0):
        return ids.isin(chosen).to_numpy()
    member = np.zeros(int(codes.max()) + 1, dtype=bool)
    member[wanted[wanted < len(member)]] = True
    return member[codes]


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (what ``np.unique`` gives). Sorting (SIMD) and keeping
    each run's first is 16 times faster than hashing (``pd.unique``) for 4 million orders'
    (customer, day) pairs; ``np.unique``, which hashes first in numpy 2.4, took 8 s for
    10M integers where this takes 1 s."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def count_distinct(keys: pd.Series | np.ndarray, values: pd.Series | np.ndarray) -> pd.Series:
    """How many distinct known ``values`` each key has, by key, sorted: what
    ``groupby(keys)[values].nunique()`` gives.

    Each (key, value) pair becomes one integer: finding the distinct pairs of millions of
    lines that way costs a fraction of what grouping them does.
    """
    value_codes = _small_codes(values)
    if value_codes is None:
        value_codes, found = pd.factorize(values)
        width = max(len(found), 1)
    else:
        width = int(value_codes.max()) + 1
    key_codes = _small_codes(keys)
    if key_codes is None:
        key_codes, uniques = pd.factorize(keys, sort=True)
        present = np.arange(len(uniques))
    else:  # integer keys: bins by their value, then only the keys there are
        present = np.flatnonzero(np.bincount(key_codes))
        uniques = present
    known = (value_codes >= 0) & (key_codes >= 0)  # a missing key or value is not counted
    pairs = sorted_distinct(key_codes[known] * width + value_codes[known])
    counts = np.bincount(pairs // width, minlength=int(present.max(initial=-1)) + 1)
    return pd.Series(counts[present], index=pd.Index(uniques, name=getattr(keys, "name", None)))


def _line_features(lines: pd.DataFrame, orders_count: pd.Series) -> pd.DataFrame:
    g = lines.groupby(CUSTOMER_ID)
    out = pd.DataFrame(index=orders_count.index)
    if QUANTITY in lines:
        out["items_per_order"] = g[QUANTITY].sum() / orders_count
    if PRODUCT_ID in lines:
        out["distinct_products"] = count_distinct(lines[CUSTOMER_ID], lines[PRODUCT_ID])
    if CATEGORY in lines:
        out["distinct_categories"] = count_distinct(lines[CUSTOMER_ID], lines[CATEGORY])
    used = None
    if COUPON_CODE in lines:
        used = _coupon_used(lines[COUPON_CODE])
    if DISCOUNT in lines:
        has_discount = lines[DISCOUNT].fillna(0) > 0
        used = has_discount if used is None else used | has_discount
    if used is not None and ORDER_ID in lines:
        coupon_orders = count_distinct(lines.loc[used, CUSTOMER_ID], lines.loc[used, ORDER_ID])
        out["coupon_order_share"] = coupon_orders.reindex(out.index, fill_value=0) / orders_count
    return out


def _trend_features(past: pd.DataFrame, f: pd.DataFrame, day: pd.Timestamp,
                    horizon_days: int) -> pd.DataFrame:
    """Shape of the history: the latest pace and spend against the customer's own past."""
    out = pd.DataFrame(index=f.index)
    out["purchase_days"] = f["repeat_days"].fillna(0).astype(int) + 1
    out["recency_share"] = f["recency_days"] / f["tenure_days"].clip(lower=1)
    out["overdue_days"] = f["recency_days"] - f["mean_gap_days"]
    out["last_gap_ratio"] = f["last_gap_days"] / f["mean_gap_days"]
    spend = f["spend_last_horizon"] + f["spend_prev_horizon"]
    out["spend_trend"] = ((f["spend_last_horizon"] - f["spend_prev_horizon"])
                          / spend.where(spend > 0)).fillna(0.0)
    last = past.sort_values("order_date").groupby(CUSTOMER_ID)["amount"].last()
    out["last_order_value_ratio"] = last / f["avg_order_value"].where(f["avg_order_value"] > 0)
    short = past["order_date"] >= day + DAY - pd.Timedelta(days=max(1, horizon_days // 3))
    out["orders_last_third"] = past.loc[short].groupby(CUSTOMER_ID).size().reindex(
        f.index, fill_value=0)
    return out


def _population_ranks(f: pd.DataFrame, columns: list[str],
                      rows: pd.Index | None = None) -> pd.DataFrame:
    """Percentile of each column among all customers at the cut-off (``<column>_pct``).

    Snapshots taken at different ages of a shop (a single-cohort shop ages between them) or
    scored by models refitted at each cut-off (BG/NBD outputs passed as ``extra``) differ in
    scale; ranks within the cut-off's population stay comparable.

    ``rows``: the percentiles of these customers only, still among all of ``f`` (see
    :func:`percentiles_among`).
    """
    if rows is None:
        return f[columns].rank(pct=True).add_suffix("_pct")
    picked = f[columns].reindex(rows)
    return pd.DataFrame({f"{c}_pct": percentiles_among(picked[c], f[c]) for c in columns},
                        index=rows)


def _floats(values: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values, dtype="float64")


def percentiles_among(values: pd.Series | np.ndarray,
                      population: pd.Series | np.ndarray) -> np.ndarray:
    """The percentile of each value among the known values of ``population``: exactly what
    ``population.rank(pct=True)`` gives a member of it with that value (ties share their
    average rank; missing stays missing), for values that are members.

    One sort of the population and a binary search per value: for a training sample of
    5,000 of 700,000 customers, 6 ms a column where ranking them all takes 80 ms.
    """
    known = _floats(population)
    known = np.sort(known[~np.isnan(known)])
    wanted = _floats(values)
    if not len(known):
        return np.full(len(wanted), np.nan)
    below = np.searchsorted(known, wanted, "left")
    up_to = np.searchsorted(known, wanted, "right")
    # ranks below + 1 .. up_to share their mean; pandas divides it by the known count
    out = (below + up_to + 1) / 2 / len(known)
    out[np.isnan(wanted)] = np.nan
    return out


def integer_ids(orders: pd.DataFrame, lines: pd.DataFrame | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.Index]:
    """The frames with customer ids as integer codes numbered in the ids' sorted order
    (so grouped rows come out in the same order), and the ids (``ids[code]``).

    ``lines`` become :func:`feature_lines`, and lines of customers without an order are
    dropped. Grouping and matching integers is several times faster than text.
    """
    codes, uniques = pd.factorize(orders[CUSTOMER_ID], sort=True)
    ids = pd.Index(uniques, name=CUSTOMER_ID)
    orders = orders.assign(**{CUSTOMER_ID: codes})
    if lines is not None:
        line_codes = ids.get_indexer(lines[CUSTOMER_ID])
        lines = feature_lines(lines).assign(**{CUSTOMER_ID: line_codes}).loc[line_codes >= 0]
    return orders, lines, ids


def _base_features(past: pd.DataFrame, day: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """Recency, tenure, frequency, spend and the last two horizons' orders and spend."""
    g = past.groupby(CUSTOMER_ID)
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
    # The last horizon is the cut-off day and the horizon - 1 days before it.
    recent = past["order_date"] >= day + DAY - h
    previous = (past["order_date"] >= day + DAY - 2 * h) & ~recent
    for name, mask in (("last", recent), ("prev", previous)):
        sub = past.loc[mask].groupby(CUSTOMER_ID)
        f[f"orders_{name}_horizon"] = sub.size().reindex(f.index, fill_value=0)
        f[f"spend_{name}_horizon"] = sub["amount"].sum().reindex(f.index, fill_value=0.0)
    return f


def _ranked_base(past: pd.DataFrame, day: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """The features that are ranked, for every customer, without the costlier ones.

    The mean gap between distinct order days telescopes: (last day − first day) divided by
    (distinct days − 1), the same number :func:`_gap_stats` averages.
    """
    f = _base_features(past, day, horizon_days)
    distinct = count_distinct(past[CUSTOMER_ID], _day_numbers(past))
    span = (f["tenure_days"] - f["recency_days"]).astype(float)
    f["mean_gap_days"] = span / (distinct - 1).where(distinct > 1)
    f["overdue_ratio"] = f["recency_days"] / f["mean_gap_days"]
    return f


def customer_features(
    orders: pd.DataFrame,
    cutoff: pd.Timestamp,
    horizon_days: int,
    lines: pd.DataFrame | None = None,
    extra: ExtraFeatures | None = None,
    customers: pd.Index | None = None,
) -> pd.DataFrame:
    """Per-customer features from orders on or before ``cutoff`` (later rows are ignored).

    ``orders`` has one row per order (``customer_id, order_id, order_date, amount``);
    ``lines`` (optional) adds basket size, product and category breadth and coupon use;
    ``extra(past_orders, cutoff_day)`` (optional) adds columns, e.g. BG/NBD outputs. Key
    features and every numeric ``extra`` column also come as percentiles among the
    customers at the cut-off (``<name>_pct``).

    ``customers`` (optional, not with ``extra``): compute the rows of these customers only;
    their percentiles are still among all customers at the cut-off. Training on a sample
    of a large shop's customers then costs a fraction of the whole.
    """
    if extra is None:  # only these are read; a text order id would be copied by each filter
        orders = orders[list(ORDER_FEATURE_COLUMNS)]
    past = on_or_before(orders, cutoff)
    day = cutoff.normalize()
    population = None
    if customers is not None and extra is None:
        population = _ranked_base(past, day, horizon_days)
        past = past.loc[_among(past[CUSTOMER_ID], customers)]
        if lines is not None:
            lines = lines.loc[_among(lines[CUSTOMER_ID], customers)]
    f = _base_features(past, day, horizon_days)
    f = f.join(_gap_stats(past))
    f["overdue_ratio"] = f["recency_days"] / f["mean_gap_days"]
    f = f.join(_trend_features(past, f, day, horizon_days))
    f = f.drop(columns="repeat_days")
    if lines is not None:
        f = f.join(_line_features(on_or_before(lines, cutoff), f["frequency"]))
    ranked = [c for c in RANKED_FEATURES if c in f]
    if population is not None:
        return f.join(_population_ranks(population, ranked, rows=f.index))
    if extra is not None:
        added = extra(past, day)
        f = f.join(added)
        ranked += [c for c in added.columns if pd.api.types.is_numeric_dtype(added[c])]
    return f.join(_population_ranks(f, ranked))
