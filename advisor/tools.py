"""LangChain tools over an analysis: thin adapters that return compact JSON.

Tool output is the only source of numbers in an answer. Outputs hold aggregates and
per-customer summaries (an internal customer id, scores, reasons), never raw order rows
or direct identifiers. A bad argument (unknown segment or customer) raises a
``ToolException`` that the model sees and can recover from: it names the valid choices.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from langchain_core.tools import BaseTool, StructuredTool, ToolException

from analytics.baskets import PAIR_RANKINGS, Baskets, unit_for
from analytics.campaigns import Constraints, UnknownSegmentError, plan_campaign
from analytics.experiments import (
    HOLDOUT,
    holdout_size,
    sample_size_two_proportions,
    uplift_test,
)
from analytics.features import sorted_distinct
from analytics.pipeline import Analysis
from analytics.recommend import non_products
from analytics.rfm import DEFAULT_SEGMENT_RULES, SEGMENT_DESCRIPTIONS, SegmentRule

from .languages import country_aliases
from .plans import COPY_LANGUAGES, campaign_copy, render_plan
from .storage import PlanNotFoundError

if TYPE_CHECKING:
    from .knowledge import KnowledgeBase
    from .storage import PlanStore

__all__ = [
    "CHURN_DRIVERS",
    "DIMENSIONS",
    "PRODUCT_RANKINGS",
    "RANKINGS",
    "SEGMENT_SYNONYMS",
    "AdvisorContext",
    "ToolFunctions",
    "build_tools",
    "draft_campaign",
    "resolve_segment",
]

#: Words people use for a segment, in English, Chinese, German, French and Spanish
#: (normalised: lower case).
SEGMENT_SYNONYMS: dict[str, str] = {
    "champion": "Champions", "vip": "Champions", "best customers": "Champions",
    "top customers": "Champions", "冠军": "Champions", "重要价值": "Champions",
    "loyal": "Loyal Customers", "regulars": "Loyal Customers", "忠诚": "Loyal Customers",
    "potential": "Potential Loyalists", "潜力": "Potential Loyalists",
    "new": "New Customers", "newcomers": "New Customers", "first-time": "New Customers",
    "新客": "New Customers", "新用户": "New Customers",
    "promising": "Promising", "新晋": "Promising",
    "need attention": "Need Attention", "slipping": "Need Attention", "需要关注": "Need Attention",
    "about to sleep": "About To Sleep", "sleepy": "About To Sleep", "dormant": "About To Sleep",
    "即将沉睡": "About To Sleep",
    "at risk": "At Risk", "at-risk": "At Risk", "risky": "At Risk", "drifting": "At Risk",
    "high-value at risk": "At Risk", "高价值流失": "At Risk", "流失风险": "At Risk",
    "can't lose": "Cannot Lose Them", "cant lose": "Cannot Lose Them",
    "cannot lose": "Cannot Lose Them", "不能失去": "Cannot Lose Them",
    "hibernating": "Hibernating", "inactive": "Hibernating", "沉睡": "Hibernating",
    "lost": "Lost", "lapsed": "Lost", "churned": "Lost", "已流失": "Lost",
    # German, French and Spanish words for the most asked-about segments
    "neukunde": "New Customers", "neukunden": "New Customers",
    "nouveaux clients": "New Customers", "nouveau client": "New Customers",
    "clientes nuevos": "New Customers", "nuevos clientes": "New Customers",
    "stammkunde": "Loyal Customers", "stammkunden": "Loyal Customers",
    "treue kunden": "Loyal Customers", "clients fidèles": "Loyal Customers",
    "clientes fieles": "Loyal Customers", "clientes leales": "Loyal Customers",
}


#: What ``top_customers`` ranks by: a column of the analysis's customers table.
RANKINGS = ("predicted_clv", "monetary", "frequency", "avg_order_value", "revenue_at_risk",
            "churn_probability", "expected_orders")
PRODUCT_RANKINGS = ("revenue", "customers", "orders", "quantity")
TREND_DIRECTIONS = ("rising", "falling")
DIMENSIONS = ("country", "channel")
#: Cohorts with fewer customers are not ranked ("which cohort retains best?"): too noisy
MIN_COHORT = 30
#: Pairs bought together in fewer orders (or customers) are not listed: too few to go by
MIN_TOGETHER = 5
_BREAKDOWN_ROWS = 12  # values listed by name; the rest are summed as "other"


def _norm(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.strip().lower().rstrip("s"))


def resolve_segment(name: str, valid: list[str]) -> str:
    """A segment name from what a person typed: exact, synonym, or a close typo."""
    by_norm = {_norm(v): v for v in valid}
    key = _norm(name)
    if key in by_norm:
        return by_norm[key]
    for synonym, segment in sorted(SEGMENT_SYNONYMS.items(), key=lambda kv: -len(kv[0])):
        if _norm(synonym) == key and segment in valid:
            return segment
    close = difflib.get_close_matches(key, list(by_norm), n=1, cutoff=0.75)
    if close:
        return by_norm[close[0]]
    raise ToolException(f"unknown segment {name!r}; choose one of: {', '.join(valid)}")


@dataclass
class AdvisorContext:
    """What the tools read: the analysis, and optionally the playbook and the plan store."""

    analysis: Analysis
    knowledge: KnowledgeBase | None = None
    store: PlanStore | None = None


def _r(value: Any, digits: int = 4) -> Any:
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else round(float(value), digits)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _r(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class _ProductCounts:
    """Per product (rows) and segment (columns, the last one: customers in no segment):
    revenue, units, buyers and orders, and the buyers per segment; ``everyone`` holds the
    same for all customers (revenue, units, buyers, orders per product, and buyers)."""

    index: pd.Index
    other: np.ndarray  # postage, fees and adjustments: no products, as for recommendations
    segments: list[str]
    revenue: np.ndarray
    units: np.ndarray | None
    customers: np.ndarray
    orders: np.ndarray
    buyers: np.ndarray
    everyone: tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, int]

    def table(self, segment: str | None) -> tuple[pd.DataFrame, dict[str, Any], int]:
        """The products table of a segment (None: all), the non-products left out, its
        buyers."""
        if segment is None:
            revenue, units, customers, orders, buyers = self.everyone
        else:
            k = self.segments.index(segment)
            revenue, customers, orders = (self.revenue[:, k], self.customers[:, k],
                                          self.orders[:, k])
            units, buyers = None if self.units is None else self.units[:, k], \
                int(self.buyers[k])
        return (*_product_frame(self.index, self.other, revenue, units, customers, orders),
                buyers)


_ONE_INTEGER = 2 ** 62  # (product, order, customer) numbered as one int64 below this


def _narrow(codes: np.ndarray, bound: int) -> np.ndarray:
    """Codes below ``bound`` as int32 when they fit: half the memory kept."""
    return codes.astype(np.int32) if bound < 2 ** 31 else codes


@dataclass(frozen=True)
class _ProductLines:
    """The lines with a product as integer codes (product, customer, order) with their
    amounts and units, and their distinct (product, customer) pairs and (product, order,
    customer) triples, sorted by product: the products table of any set of customers is
    counted from these (:meth:`counts`) without sorting its lines again. On 10M lines, the
    table of a popular product's buyers took 2.2 s from their lines."""

    product: np.ndarray
    customer: np.ndarray
    order: np.ndarray
    amount: np.ndarray
    quantity: np.ndarray | None
    n_products: int
    n_customers: int
    n_orders: int
    pair_product: np.ndarray  # the distinct (product, customer) pairs
    pair_customer: np.ndarray
    product_order: np.ndarray  # the distinct triples' product * n_orders + order, sorted
    order_customer: np.ndarray  # and their customers
    with_lines: np.ndarray  # which customers have a line with a product
    stamp: np.ndarray  # each line's time, in nanoseconds

    @classmethod
    def of(cls, product: np.ndarray, customer: np.ndarray, order: np.ndarray,
           amount: np.ndarray, quantity: np.ndarray | None, stamp: np.ndarray,
           n_products: int, n_customers: int) -> _ProductLines | None:
        """From the lines' codes (product codes negative: none); None when no line has a
        product."""
        known = product >= 0
        if not known.any():
            return None
        if not known.all():
            product, customer, order, amount, stamp = (product[known], customer[known],
                                                       order[known], amount[known],
                                                       stamp[known])
            quantity = None if quantity is None else quantity[known]
        n_orders = int(order.max()) + 1
        pairs = sorted_distinct(product * n_customers + customer)
        pair_product, pair_customer = np.divmod(pairs, n_customers)
        if n_products * n_orders * n_customers < _ONE_INTEGER:
            triples = sorted_distinct((product * n_orders + order) * n_customers + customer)
            product_order, order_customer = np.divmod(triples, n_customers)
        else:  # too many to number as one integer: the (product, order) pairs, with the
            # customer of the first line of each (orders are one customer's in clean data)
            keys = product * n_orders + order
            ordering = np.argsort(keys, kind="stable")
            keys = keys[ordering]
            first = np.r_[True, keys[1:] != keys[:-1]]
            product_order, order_customer = keys[first], customer[ordering[first]]
        return cls(product, customer, order, amount, quantity, n_products, n_customers,
                   n_orders, _narrow(pair_product, n_products),
                   _narrow(pair_customer, n_customers), product_order,
                   _narrow(order_customer, n_customers),
                   np.bincount(customer, minlength=n_customers) > 0, stamp)

    @cached_property
    def by_time(self) -> np.ndarray:
        """The lines in time order (positions), made once."""
        return _narrow(np.argsort(self.stamp, kind="stable"), len(self.stamp))

    def window_counts(self, wanted: np.ndarray, since: pd.Timestamp, until: pd.Timestamp
                      ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, int]:
        """:meth:`counts` from the lines at ``since`` or later and before ``until``: found
        by a binary search of the lines in time order, then counted in the order of the
        data (so revenue adds what summing the window's lines does)."""
        ordering = self.by_time
        low, high = np.searchsorted(self.stamp, [since.as_unit("ns").value,
                                                 until.as_unit("ns").value], sorter=ordering)
        rows = np.sort(ordering[low:high])
        customer = self.customer[rows]
        rows = rows[wanted[customer]]
        product, customer, order = self.product[rows], self.customer[rows], self.order[rows]
        n, per = self.n_products, self.n_orders
        buyers = sorted_distinct(product * self.n_customers + customer) // self.n_customers
        bought = sorted_distinct(product * per + order) // per  # (product, order) pairs
        return (np.bincount(product, weights=self.amount[rows], minlength=n),
                None if self.quantity is None else np.bincount(
                    product, weights=self.quantity[rows], minlength=n),
                np.bincount(buyers, minlength=n), np.bincount(bought, minlength=n),
                int(np.count_nonzero(np.bincount(customer, minlength=self.n_customers))))

    def counts(self, wanted: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, int]:
        """Revenue, units, buyers and orders per product of the customers ``wanted`` (a
        mask over customer codes; None: all), and how many of them bought a product.
        Revenue adds the same amounts in the same order as summing their lines does."""
        n = self.n_products
        if wanted is None:
            line, pair, triple = None, slice(None), slice(None)
        else:
            line = wanted[self.customer]
            pair, triple = wanted[self.pair_customer], wanted[self.order_customer]

        def summed(values: np.ndarray) -> np.ndarray:
            return np.bincount(self.product, weights=values if line is None
                               else np.where(line, values, 0.0), minlength=n)

        keys = self.product_order[triple]
        first = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else keys.astype(bool)
        return (summed(self.amount), None if self.quantity is None else summed(self.quantity),
                np.bincount(self.pair_product[pair], minlength=n),
                np.bincount(keys[first] // self.n_orders, minlength=n),
                int(np.count_nonzero(self.with_lines if wanted is None
                                     else self.with_lines & wanted)))


@dataclass(frozen=True)
class _Chosen:
    """Which customers a question is about: a segment's, those with no order for
    ``inactive_days`` or more, the one-time buyers, those who spent ``min_spend`` or more,
    those who bought ``product``, those who did not buy ``not_bought`` (each None or False:
    all)."""

    segment: str | None = None
    inactive_days: int | None = None
    one_order_only: bool = False
    min_spend: float | None = None
    product: str | None = None  # those who bought it (its id)
    not_bought: str | None = None  # those who did not buy it (its id)

    @property
    def narrower(self) -> bool:
        """Whether it chooses by more than the segment."""
        return bool(self.inactive_days or self.one_order_only or self.min_spend
                    or self.product or self.not_bought)

    def mask(self, customers: pd.DataFrame, buyers: np.ndarray | None = None,
             lacking: np.ndarray | None = None) -> np.ndarray:
        """The chosen rows of the customers table (``buyers``: which of its rows bought
        ``product``; ``lacking``: which bought ``not_bought``)."""
        chosen = np.ones(len(customers), dtype=bool)
        if self.product is not None:
            chosen &= buyers if buyers is not None else False
        if self.not_bought is not None:
            chosen &= ~lacking if lacking is not None else True
        if self.segment is not None:
            chosen &= (customers["rfm_segment"] == self.segment).to_numpy(dtype=bool)
        if self.inactive_days:
            chosen &= (customers["recency_days"] >= self.inactive_days).to_numpy(dtype=bool)
        if self.one_order_only:
            chosen &= (customers["frequency"] == 1).to_numpy(dtype=bool)
        if self.min_spend:
            chosen &= (customers["monetary"] >= self.min_spend).to_numpy(dtype=bool)
        return chosen


def _concentration(spend: pd.Series) -> dict[str, Any]:
    """The share of revenue from the top 10% and 20% of customers by spend to date (at
    least one customer each): how much the shop leans on its best customers."""
    ordered = np.sort(spend.to_numpy(dtype=float))[::-1]
    total = float(ordered.sum())
    if not len(ordered) or total <= 0:
        return {}
    return {f"revenue_share_top_{p}pct": _r(float(ordered[:max(1, round(len(ordered) * p / 100))]
                                                   .sum()) / total)
            for p in (10, 20)}


@dataclass(frozen=True)
class _Window:
    """The days from ``since`` (included) to ``until`` (excluded), both at midnight."""

    since: pd.Timestamp
    until: pd.Timestamp

    @property
    def days(self) -> int:
        return int((self.until - self.since).days)

    @property
    def first_day(self) -> str:
        return str(self.since.date())

    @property
    def last_day(self) -> str:
        return str((self.until - pd.Timedelta(days=1)).date())


def _product_frame(index: pd.Index, other: np.ndarray, revenue: np.ndarray,
                   units: np.ndarray | None, customers: np.ndarray, orders: np.ndarray
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The products table (revenue, buyers, orders, units and revenue share per product) and
    the non-products (``other``: postage, fees) left out of it."""
    table = pd.DataFrame({"revenue": revenue, "customers": customers, "orders": orders},
                         index=index)
    if units is not None:
        table["quantity"] = units
    left_out = {"codes": int((other & (table["orders"] > 0)).sum()),
                "revenue": _r(float(table.loc[other, "revenue"].sum()), 2)}
    table = table.loc[~other].copy()
    table["revenue_share"] = table["revenue"] / max(float(table["revenue"].sum()), 1e-12)
    return table, left_out


class ToolFunctions:
    """The tool functions, bound to one context."""

    def __init__(self, context: AdvisorContext) -> None:
        self.ctx = context
        self.a = context.analysis
        # Built once here, so that the first question about a customer is as quick as the
        # next: on 10M lines and 847k customers the names took 0.7 s and the id lookup's
        # hash table 0.25 s, on every customer question for the names.
        self.segments = sorted(self.a.customers["rfm_segment"].astype(str).unique())
        self._product_names = _product_names(self.a.lines)
        _ = "" in self.a.customers.index
        self._line_codes: dict[str, tuple[np.ndarray, pd.Index]] = {}
        self._codes_lock = threading.RLock()  # prepare() may be making codes and tables in a thread
        self._baskets_lock = threading.RLock()  # and the baskets: taken before the codes' lock
        # kept: the analysis is fixed
        self._products: dict[str | None, tuple[pd.DataFrame, dict[str, Any], int]] = {}
        # products tables of the customers chosen by country, days, one order or spend
        self._chosen_tables: dict[tuple[str | None, _Chosen, _Window | None],
                                  tuple[pd.DataFrame, dict[str, Any], int]] = {}
        self._counts: _ProductCounts | None = None
        self._lines_made: _ProductLines | None = None
        self._baskets_made: dict[str, Baskets] = {}  # by unit: order or customer
        self._product_buyers: dict[str, np.ndarray] = {}
        self._rows: np.ndarray | None = None  # each customer code's row
        self._order_customers: np.ndarray | None = None  # each order's customer's row
        self._basket_choice: tuple[str, dict[str, Any]] | None = None
        self._lookup: tuple[pd.Index, np.ndarray, pd.Series, pd.Series, pd.Series,
                            np.ndarray] | None = None  # see _product_lookup
        self._breakdowns: dict[str, str] = {}
        self._driver_marks: np.ndarray | None = None
        self._main_values: dict[str, pd.Series] = {}
        self._main_on_rows: dict[str, tuple[np.ndarray, pd.Index, pd.Series]] = {}

    def _segment_rows(self, kind: str = "rfm") -> pd.DataFrame:
        return self.a.segments.loc[self.a.segments["kind"] == kind]

    def segment_overview(self, segments: list[str] | None = None, by: str = "rfm",
                         order: str = "customers") -> str:
        if by not in ("rfm", "cluster"):
            raise ToolException("by must be 'rfm' (named segments) or 'cluster'")
        if order not in ("customers", "change"):
            raise ToolException("order must be 'customers' (largest first) or 'change' "
                                "(most grown first)")
        cols = ["segment", "customers", "customer_share", "revenue_share",
                "mean_churn_probability", "revenue_at_risk", "mean_predicted_clv"]
        if by == "cluster":  # the behavioural clusters, by their labels, most valuable first
            rows = self._segment_rows("cluster").sort_values("revenue_share", ascending=False)
            labels = self.a.clusters["label"].to_dict()
            rows = rows.assign(label=rows["segment"].map(lambda s: labels[int(s)]))[
                [*cols, "label"]]
            return _dump({"as_of": str(self.a.as_of.date()),
                          "horizon_days": self.a.horizon_days, "by": "cluster",
                          "customers": len(self.a.customers), "segments": _records(rows)})
        rows = self._segment_rows()
        key = "customers_change" if order == "change" and "customers_change" in rows \
            else "customers"
        rows = rows.sort_values(key, ascending=False, kind="stable")
        rows = rows[[*cols, *(c for c in ("customers_change",) if c in rows)]]
        chosen = [resolve_segment(name, self.segments) for name in segments or []]
        if chosen:  # these, side by side, in the order asked
            rows = rows.set_index("segment").loc[list(dict.fromkeys(chosen))].reset_index()
        customers = self.a.customers  # the shop's means, to read a segment's against
        if chosen:  # how they order: the average order and orders per customer
            by_segment = customers.groupby(customers["rfm_segment"].astype(str))
            spend, orders = by_segment["monetary"].sum(), by_segment["frequency"].sum()
            rows = rows.assign(
                avg_order_value=rows["segment"].map(spend / orders.clip(lower=1)),
                orders_per_customer=rows["segment"].map(orders / by_segment.size()))
        for row in (rows := _records(rows)):
            row["meaning"] = SEGMENT_DESCRIPTIONS.get(row["segment"], "")
        return _dump({"as_of": str(self.a.as_of.date()), "horizon_days": self.a.horizon_days,
                      "change_over_days": self.a.diagnostics.get("trend_days"),
                      "customers": len(customers), "compared": bool(chosen),
                      "mean_churn_probability": _r(customers["churn_probability"].mean()),
                      "mean_predicted_clv": _r(customers["predicted_clv"].mean(), 2),
                      **({"avg_order_value": _r(float(customers["monetary"].sum()) / max(
                          float(customers["frequency"].sum()), 1.0), 2),
                          "orders_per_customer": _r(float(customers["frequency"].mean()), 2)}
                         if chosen else {}),
                      "segments": rows})

    def churning_segments(self, by: str = "rfm", segment: str | None = None) -> str:
        if by not in ("rfm", "cluster"):
            raise ToolException("by must be 'rfm' (named segments) or 'cluster'")
        if segment and by != "rfm":
            raise ToolException("a segment is one of the named (rfm) segments; leave by out")
        cols = ["segment", "customers", "mean_churn_probability", "revenue_at_risk",
                "mean_churn_probability_change", "revenue_at_risk_change", "customers_change"]
        rows = self._segment_rows(by)
        rows = rows.sort_values("revenue_at_risk", ascending=False)[
            [c for c in cols if c in rows]]
        if by == "cluster":
            labels = self.a.clusters["label"].to_dict()
            rows = rows.assign(segment=rows["segment"].map(lambda s: f"{s}: {labels[int(s)]}"))
        churn = self.a.customers["churn_probability"]
        payload = {
            "as_of": str(self.a.as_of.date()), "horizon_days": self.a.horizon_days,
            "change_over_days": self.a.diagnostics.get("trend_days"),
            "total_revenue_at_risk": _r(self.a.kpis["revenue_at_risk"], 2),
            # the shop's churn rate ahead: the mean probability, and the customers it makes
            "customers": len(churn), "mean_churn_probability": _r(churn.mean()),
            "expected_churners": round(float(churn.sum())),
            "segments": _records(rows),
        }
        if segment:  # the one asked about, and its place among the others
            segment = resolve_segment(segment, self.segments)
            place = rows["segment"].astype(str).tolist().index(segment)
            payload["focus"] = {**payload["segments"][place], "rank": place + 1,
                                "expected_churners": round(float(
                                    churn[self.a.customers["rfm_segment"] == segment].sum()))}
        return _dump(payload)

    def _main_value(self, by: str) -> pd.Series:
        """Each customer's country (or channel): the one of most of their lines (ties: the
        first value seen), by customer id; made once."""
        if by not in self.a.lines:
            raise ToolException(_NO_COLUMN.format(what=by, so="", field=by))
        with self._codes_lock:
            if by not in self._main_values:
                customer, ids = self._codes("customer_id")
                value, values = self._codes(by)
                known = value >= 0
                if not known.any():
                    raise ToolException(f"the data's {by} column is empty; map another column "
                                        f"to {by} in the app's Data tab, or with --map "
                                        f"{by}=HEADER")
                who, what, counts = _pairs(customer[known], value[known], len(values))
                best = np.lexsort((what, -counts, who))
                first = best[np.r_[True, who[best][1:] != who[best][:-1]]]
                self._main_values[by] = pd.Series(np.asarray(values.astype(str))[what[first]],
                                                  index=ids[who[first]])
            return self._main_values[by]

    def _main_codes(self, by: str) -> tuple[np.ndarray, pd.Index, pd.Series]:
        """:meth:`_main_value` on the rows of the customers table as codes (-1: none), the
        values they number, and how many customers have each value; made once: on 850,000
        customers, matching the ids took 0.6 s a country question."""
        with self._codes_lock:
            if by not in self._main_on_rows:
                main = self._main_value(by)
                codes, values = pd.factorize(main.reindex(self.a.customers.index))
                self._main_on_rows[by] = (codes, pd.Index(values), main.value_counts())
            return self._main_on_rows[by]

    def in_country(self, country: str) -> tuple[str, pd.Series]:
        """The data's name of ``country`` (typed as people type it: "UK", "Deutschland",
        "German") and which customers are from there (a mask on the customers table)."""
        codes, values, counts = self._main_codes("country")
        wanted = country_aliases(country)
        match = next((name for name in counts.index if name.strip().lower() in wanted), None)
        if match is None:
            close = difflib.get_close_matches(str(country).strip(), list(counts.index), n=1,
                                              cutoff=0.85)
            if not close:
                raise ToolException(f"no country {country!r} in the data; the countries with "
                                    f"the most customers: {', '.join(counts.index[:12])}")
            match = close[0]
        at = values.get_indexer([match])[0]
        mask = pd.Series(codes == at if at >= 0 else np.zeros(len(codes), dtype=bool),
                         index=self.a.customers.index)
        return str(match), mask

    def _chosen(self, segment: str | None, inactive_days: int | None, one_order_only: bool,
                min_spend: float | None, product: str | None = None,
                not_bought: str | None = None) -> _Chosen:
        """The customers a list or a products table is about, checked (a segment or a
        product named as people name them; a positive spend)."""
        if min_spend is not None and (not np.isfinite(min_spend) or min_spend <= 0):
            raise ToolException(f"min_spend must be an amount above 0, got {min_spend}")
        return _Chosen(resolve_segment(segment, self.segments) if segment else None,
                       int(inactive_days) if inactive_days else None, bool(one_order_only),
                       float(min_spend) if min_spend else None,
                       self._product_named(product) if product else None,
                       self._product_named(not_bought) if not_bought else None)

    def bought(self, product: str) -> tuple[str, str | None, np.ndarray]:
        """The product ``product`` names (typed as people type it: its id, name or a part of
        it), its name and which rows of the customers table bought it."""
        found = self._product_named(product)
        return found, self._product_names.get(found), self._buyers(found)

    def _mask(self, who: _Chosen, customers: pd.DataFrame,
              rows: np.ndarray | None = None) -> np.ndarray:
        """``who.mask`` on ``customers``, the analysis's table or (``rows``) its rows at
        those positions, with the buyers of its products."""

        def on(bought: np.ndarray) -> np.ndarray:
            return bought if rows is None else bought[rows]

        return who.mask(customers, on(self._buyers(who.product)) if who.product else None,
                        on(self._buyers(who.not_bought)) if who.not_bought else None)

    def _customer_rows(self) -> np.ndarray:
        """Each customer code's row in the customers table (-1: in none), kept: looking the
        ids up took 0.1 s a question on 1M lines."""
        with self._codes_lock:
            if self._rows is None:
                self._rows = self.a.customers.index.get_indexer(self._codes("customer_id")[1])
            return self._rows

    def _order_rows(self) -> np.ndarray:
        """Each order's customer's row in the customers table (-1: in none), kept: the
        last days' customers and a campaign's results are counted from it (matching the
        orders' ids took 0.5-4.1 s a question on 10M lines)."""
        with self._codes_lock:
            if self._order_customers is None:
                # each distinct id looked up once: on 10M lines (4.95M orders) 2.3 s, where
                # looking up every order's took 5.6 s
                codes, ids = pd.factorize(self.a.orders["customer_id"])
                found = self.a.customers.index.get_indexer(ids)
                rows = np.where(codes >= 0, found[np.maximum(codes, 0)], -1) if len(ids) \
                    else np.full(len(codes), -1)
                self._order_customers = rows.astype(np.int32) \
                    if len(self.a.customers) < 2**31 else rows
            return self._order_customers

    def _by_customer_row(self, chosen: np.ndarray) -> tuple[np.ndarray, pd.Series, pd.Series]:
        """The customers' rows among the orders at ``chosen`` (a mask of the orders),
        sorted, with their orders' spend and count: the sums of grouping by id, as they are
        grouped in the orders' order."""
        where = self._order_rows()[chosen]
        amount = self.a.orders["amount"].to_numpy()[chosen]
        known = where >= 0
        grouped = pd.Series(amount[known], index=where[known]).groupby(level=0)
        spend, count = grouped.sum(), grouped.size()
        return spend.index.to_numpy(), spend, count

    def _buyers(self, product: str) -> np.ndarray:
        """Which rows of the customers table bought ``product`` (an id of the data), kept."""
        with self._codes_lock:
            if product not in self._product_buyers:
                made = self._product_lines()  # its pairs are sorted by product
                at = self._codes("product_id")[1].get_loc(product)
                low, high = np.searchsorted(made.pair_product, [at, at + 1])
                rows = self._customer_rows()[made.pair_customer[low:high]]
                bought = np.zeros(len(self.a.customers), dtype=bool)
                bought[rows[rows >= 0]] = True
                self._product_buyers[product] = bought
            return self._product_buyers[product]

    def _product_payload(self, product: str | None) -> dict[str, Any] | None:
        return None if product is None else {"product_id": product,
                                             "name": self._product_names.get(product)}

    def _ranked(self, by: str, segment: str | None, top: int, columns: list[str],
                inactive_days: int | None = None, one_order_only: bool = False,
                country: str | None = None, min_spend: float | None = None,
                customers: tuple[pd.DataFrame, np.ndarray] | None = None,
                product: str | None = None, not_bought: str | None = None,
                **extra: Any) -> str:
        """``customers``: some customers (rows of the analysis's table, with more columns)
        and their rows in the table; default: all of the table."""
        customers, rows = (self.a.customers, None) if customers is None else customers
        chosen = self._chosen(segment, inactive_days, one_order_only, min_spend, product,
                              not_bought)
        segment = chosen.segment
        mask = self._mask(chosen, customers, rows)
        if country:
            country, home = self.in_country(country)  # a mask on all customers
            mask &= home.to_numpy(dtype=bool) if rows is None \
                else home.to_numpy(dtype=bool)[rows]
        if min_spend:  # what chose them, beside what ranks them
            columns = [*columns, *(["monetary"] if "monetary" not in columns else [])]
        top = max(1, min(int(top), 200))
        # ranked on the one column, then the top rows taken: copying every chosen row
        # first took 0.5 s for 640,000 customers
        picked = np.flatnonzero(mask)
        best = customers[by].iloc[picked].reset_index(drop=True).nlargest(top).index
        rows = customers.iloc[picked[best.to_numpy()]].reset_index()
        return _dump({"segment": segment or "all", "by": by, "country": country or None,
                      "horizon_days": self.a.horizon_days,
                      "inactive_days": chosen.inactive_days,
                      "one_order_only": chosen.one_order_only,
                      "min_spend": _r(chosen.min_spend),
                      "product": self._product_payload(chosen.product),
                      "not_bought": self._product_payload(chosen.not_bought), **extra,
                      "customers_in_scope": len(picked),
                      "customers": _records(rows[["customer_id", "rfm_segment", *columns]])})

    def _drivers(self) -> np.ndarray:
        """Which of `CHURN_DRIVERS` each customer's churn reasons give (customers ×
        drivers), made once and kept: on a million customers finding the words takes 1 s."""
        with self._codes_lock:
            if self._driver_marks is None:
                reasons = self.a.customers["churn_reasons"].fillna("").astype("string")
                marks = np.column_stack([reasons.str.contains(words, regex=False).to_numpy(
                    dtype=bool) for _, words in CHURN_DRIVERS])
                names = [name for name, _ in CHURN_DRIVERS]
                # "no order for" opens both: a silence is one without an overdue ratio
                marks[:, names.index("silent")] &= ~marks[:, names.index("overdue")]
                self._driver_marks = marks
            return self._driver_marks

    def churn_drivers(self, segment: str | None = None) -> str:
        customers = self.a.customers
        chosen = np.ones(len(customers), dtype=bool)
        if segment:
            segment = resolve_segment(segment, self.segments)
            chosen = (customers["rfm_segment"] == segment).to_numpy()
        marks = self._drivers()[chosen]
        risk = customers["revenue_at_risk"].to_numpy()[chosen]
        churn = customers["churn_probability"].to_numpy()[chosen]
        rows = [{"driver": name, "customers": int(mark.sum()), "share": _r(mark.mean()),
                 "revenue_at_risk": _r(risk[mark].sum(), 2),
                 "mean_churn_probability": _r(churn[mark].mean())}
                for (name, _), mark in zip(CHURN_DRIVERS, marks.T, strict=True) if mark.any()]
        rows.sort(key=lambda row: -row["revenue_at_risk"])
        return _dump({"segment": segment or "all", "horizon_days": self.a.horizon_days,
                      "customers": int(chosen.sum()), "revenue_at_risk": _r(risk.sum(), 2),
                      "mean_churn_probability": _r(churn.mean()), "drivers": rows})

    def at_risk_customers(self, segment: str | None = None, top: int = 10,
                          inactive_days: int | None = None,
                          one_order_only: bool = False, country: str | None = None,
                          min_spend: float | None = None, product: str | None = None,
                          not_bought: str | None = None) -> str:
        return self._ranked("revenue_at_risk", segment, top, [
            "churn_probability", "revenue_at_risk", "predicted_clv", "recency_days",
            "frequency", "churn_reasons"], inactive_days, one_order_only, country, min_spend,
            product=product, not_bought=not_bought)

    def top_customers(self, by: str = "predicted_clv", segment: str | None = None,
                      top: int = 10, country: str | None = None,
                      inactive_days: int | None = None, one_order_only: bool = False,
                      min_spend: float | None = None, recent_days: int | None = None,
                      product: str | None = None, not_bought: str | None = None) -> str:
        if by not in RANKINGS:
            raise ToolException(f"by must be one of {', '.join(RANKINGS)}, got {by!r}")
        columns = [by, *(c for c in ("monetary", "frequency", "predicted_clv",
                                     "churn_probability") if c != by)]
        if recent_days:  # who bought the most in the last so many days
            if by not in ("monetary", "frequency"):
                raise ToolException("recent_days ranks by monetary (spend in those days) or "
                                    f"frequency (orders in those days), not by {by}")
            if int(recent_days) < 1:
                raise ToolException(f"recent_days must be 1 or more, got {recent_days}")
            recent = self._recent(int(recent_days))
            by = "recent_spend" if by == "monetary" else "recent_orders"
            columns = ["recent_spend", "recent_orders", *columns]
            return self._ranked(by, segment, top, columns, inactive_days, one_order_only,
                                country, min_spend, customers=recent, product=product,
                                not_bought=not_bought, recent_days=int(recent_days))
        return self._ranked(by, segment, top, columns, inactive_days, one_order_only, country,
                            min_spend, product=product, not_bought=not_bought)

    def _recent(self, days: int) -> tuple[pd.DataFrame, np.ndarray]:
        """The customers who ordered in the last ``days`` days up to the analysis date (that
        day included), with their spend and orders in them, and their rows in the
        customers table."""
        since = self.a.as_of + pd.Timedelta(days=1) - pd.Timedelta(days=days)
        rows, spend, count = self._by_customer_row(
            (self.a.orders["order_date"] >= since).to_numpy())
        return self.a.customers.iloc[rows].assign(recent_spend=spend.to_numpy(),
                                                  recent_orders=count.to_numpy()), rows

    def shop_kpis(self) -> str:
        k, dates = self.a.kpis, self.a.orders["order_date"]
        active = next((key for key in k if key.startswith("active_customers_")), None)
        days = int(active.split("_")[-1].rstrip("d")) if active else self.a.horizon_days
        last = self.a.customers["last_order"]
        window = pd.Timedelta(days=days)
        # ordered in the window before the last one, and not since: lost in the last one
        lapsed = int(((last > self.a.as_of - 2 * window) & (last <= self.a.as_of - window))
                     .sum())
        # how often a customer who orders again does: the median of their usual gaps
        gaps = self.a.customers["mean_gap_days"].dropna() \
            if "mean_gap_days" in self.a.customers else pd.Series(dtype=float)
        return _dump({
            "as_of": str(self.a.as_of.date()), "horizon_days": self.a.horizon_days,
            "first_order": str(dates.min().date()), "last_order": str(dates.max().date()),
            "customers": int(k["customers"]), "orders": int(k["orders"]),
            "revenue": _r(k["revenue"], 2), "avg_order_value": _r(k["avg_order_value"], 2),
            "orders_per_customer": _r(k["orders_per_customer"], 2),
            "active_customers": int(k[active]) if active else None,
            "active_days": days if active else None, "lapsed_customers": lapsed,
            "lapsed_window_days": days,
            "repeat_purchase_rate": _r(k["repeat_purchase_rate"]),
            "median_days_between_orders": _r(gaps.median(), 1) if len(gaps) else None,
            "repeat_customers": len(gaps),
            "predicted_revenue": _r(k["predicted_clv"], 2),
            "revenue_at_risk": _r(k["revenue_at_risk"], 2),
            **_concentration(self.a.customers["monetary"]),
        })

    def prepare(self) -> None:
        """Make the codes that product and country questions group by (see ``_codes``),
        every segment's best-seller counts, every breakdown, the customers' churn drivers
        (see ``_drivers``) and the products bought together, in orders and by the same
        customers (see ``_baskets``), now, so that the first such question is as quick as
        the next (on 10M lines the first question on pairs took 7 s). A question asked
        meanwhile waits for what it needs; what cannot be made (no product column) is left
        to the question to say."""
        for column in ("product_id", "customer_id", "order_id", *DIMENSIONS):
            if column in self.a.lines and (column != "order_id" or "product_id" in self.a.lines):
                self._codes(column)
        self._customer_rows()
        self._order_rows()
        with contextlib.suppress(ToolException):
            if "product_id" in self.a.lines:
                self._product_table(None)
                self._product_lookup()
                _ = self._product_lines().by_time  # for the last days' best sellers, trends
        for by in DIMENSIONS:
            with contextlib.suppress(ToolException):
                if by in self.a.lines:
                    self.breakdown(by)
        with contextlib.suppress(ToolException):
            if "country" in self.a.lines:
                self._main_codes("country")
        self._drivers()
        if "product_id" in self.a.lines and (self._codes("product_id")[0] >= 0).any():
            # the shop's baskets first, then the other kind ("the same customers", or "the
            # same orders"): 1.5-3.3 s on 10M lines, 0.5-2.4 s on UCI's export when first
            # asked
            for other in (False, True):
                with self._baskets_lock:  # not the codes' lock: others go on meanwhile
                    baskets = self._baskets(None)[0]
                    if other:
                        baskets = self._baskets(
                            "customer" if baskets.unit == "order" else "order")[0]
                    for by in PAIR_RANKINGS:
                        baskets.pairs(top=1, min_together=MIN_TOGETHER, by=by)

    def _codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """A column of the lines as integer codes and their values, made on first use and
        kept: on 10M lines, grouping by the text took 8 s a question, by the codes 1.5 s."""
        with self._codes_lock:
            return self._make_codes(column)

    def _make_codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        if column not in self._line_codes:
            lines = self.a.lines
            codes, values = pd.factorize(lines[column]) if column in lines else (
                np.full(len(lines), -1), pd.Index([]))
            if column == "order_id" and (codes < 0).any():  # an order is a customer's time
                missing = codes < 0
                times, _ = pd.factorize(pd.MultiIndex.from_arrays(
                    [self._codes("customer_id")[0][missing], lines["order_date"][missing]]))
                codes = codes.copy()
                codes[missing] = len(values) + times
                values = pd.RangeIndex(int(codes.max()) + 1)
            self._line_codes[column] = (codes.astype(np.int64), pd.Index(values))
        return self._line_codes[column]

    def top_products(self, by: str = "revenue", segment: str | None = None,
                     top: int = 10, country: str | None = None,
                     min_spend: float | None = None, inactive_days: int | None = None,
                     one_order_only: bool = False, recent_days: int | None = None,
                     product: str | None = None, not_bought: str | None = None) -> str:
        self._check_products(by, "rank by")
        chosen = self._chosen(segment, inactive_days, one_order_only, min_spend, product,
                              not_bought)
        segment = chosen.segment
        window = self._window(recent_days) if recent_days else None
        if country or chosen.narrower or window:
            country, table, left_out, buyers = self._chosen_products(country, chosen, window)
        else:
            table, left_out, buyers = self._product_table(segment)
        top = max(1, min(int(top), 50))
        rows = table.loc[table["orders"] > 0].sort_values(
            [by, "revenue"], ascending=False, kind="stable").head(top)
        rows = rows.reset_index().assign(
            name=lambda t: t["product_id"].map(self._product_names))
        return _dump({"segment": segment or "all", "by": by, "country": country or None,
                      "inactive_days": chosen.inactive_days,
                      "one_order_only": chosen.one_order_only,
                      "min_spend": _r(chosen.min_spend),
                      "product": self._product_payload(chosen.product),
                      "not_bought": self._product_payload(chosen.not_bought),
                      "as_of": str(self.a.as_of.date()),
                      **({} if window is None else {"recent_days": window.days,
                                                    "since": window.first_day}),
                      "products_in_scope": int((table["orders"] > 0).sum()),
                      "customers_in_scope": buyers,
                      "revenue_in_scope": _r(float(table["revenue"].sum()), 2),
                      "non_products_left_out": left_out,
                      "products": _records(rows)})

    def _check_products(self, by: str, verb: str) -> None:
        """That products can be ranked ``by`` this measure in the data (``verb``: what the
        error suggests doing with the other measures)."""
        if by not in PRODUCT_RANKINGS:
            raise ToolException(f"by must be one of {', '.join(PRODUCT_RANKINGS)}, got {by!r}")
        if "product_id" not in self.a.lines:
            raise ToolException(_NO_COLUMN.format(what="product", so="", field="product_id"))
        if by == "quantity" and "quantity" not in self.a.lines:
            raise ToolException(f"the data has no quantity column: {verb} revenue, customers "
                                "or orders")

    def _product_table(self, segment: str | None
                       ) -> tuple[pd.DataFrame, dict[str, Any], int]:
        """Revenue, buyers, orders (and units) per product, in a segment or all, the
        non-products left out and the buyers in all; kept. Every segment's numbers are
        counted in one pass (:meth:`_product_counts`); a segment's table is made when
        asked."""
        with self._codes_lock:
            if segment not in self._products:
                if self._counts is None:
                    self._counts = self._product_counts()
                self._products[segment] = self._counts.table(segment)
            return self._products[segment]

    def product_trend(self, days: int = 30, direction: str = "rising", by: str = "revenue",
                      top: int = 10, segment: str | None = None,
                      country: str | None = None) -> str:
        if direction not in TREND_DIRECTIONS:
            raise ToolException(f"direction must be one of {', '.join(TREND_DIRECTIONS)}, "
                                f"got {direction!r}")
        self._check_products(by, "compare")
        chosen = self._chosen(segment, None, False, None)
        recent, earlier = self._window(days), self._window(days, back=1)
        country, now, _, buyers = self._chosen_products(country, chosen, recent)
        _, before, _, buyers_before = self._chosen_products(country, chosen, earlier)
        table = pd.DataFrame({"now": now[by], "before": before[by].reindex(now.index)})
        table = table.loc[(table["now"] > 0) | (table["before"] > 0)]
        table["change"] = table["now"] - table["before"]
        table["change_share"] = (table["change"] / table["before"]).where(table["before"] > 0)
        rising = direction == "rising"
        moved = table.loc[table["change"] > 0] if rising else table.loc[table["change"] < 0]
        moved = moved.sort_values(["change", "now"], ascending=[not rising, False],
                                  kind="stable").head(max(1, min(int(top), 50)))
        rows = moved.rename(columns={"now": by, "before": f"{by}_before"}).reset_index()
        rows["name"] = rows["product_id"].map(self._product_names)
        first = self.a.orders["order_date"].min().normalize()
        return _dump({
            "days": recent.days, "direction": direction, "by": by,
            "segment": chosen.segment or "all", "country": country or None,
            "as_of": str(self.a.as_of.date()),
            "recent": {"first_day": recent.first_day, "last_day": recent.last_day,
                       by: _r(float(now[by].sum()), 2), "customers": buyers},
            "before": {"first_day": earlier.first_day, "last_day": earlier.last_day,
                       by: _r(float(before[by].sum()), 2), "customers": buyers_before},
            # an earlier window that reaches back before the first order is short: its
            # products look new
            "before_complete": bool(earlier.since >= first), "first_order": str(first.date()),
            "products_rising": int((table["change"] > 0).sum()),
            "products_falling": int((table["change"] < 0).sum()),
            "products": _records(rows[["product_id", "name", by, f"{by}_before", "change",
                                       "change_share"]])})

    def _window(self, days: int, back: int = 0) -> _Window:
        """The ``days`` days up to the analysis date (that day included), or the ``days``
        before those when ``back`` is 1."""
        if int(days) < 1:
            raise ToolException(f"the number of days must be 1 or more, got {days}")
        until = self.a.as_of.normalize() + pd.Timedelta(days=1) \
            - back * pd.Timedelta(days=int(days))
        return _Window(until - pd.Timedelta(days=int(days)), until)

    def _chosen_products(self, country: str | None, who: _Chosen,
                         window: _Window | None = None
                         ) -> tuple[str | None, pd.DataFrame, dict[str, Any], int]:
        """The data's name of ``country`` and the products table of the customers from
        there (each under the country of most of their lines, as for lists and plans) that
        ``who`` chooses, from their lines in ``window`` (None: all); kept. Counted when
        first asked, not ahead for every choice as the segments' are: from the distinct
        pairs of :class:`_ProductLines` (0.2–0.7 s on 10M lines), or from the window's
        lines."""
        customers = self.a.customers
        chosen = self._mask(who, customers)
        if country:
            country, mask = self.in_country(country)
            chosen &= mask.to_numpy(dtype=bool)
        key = (country, who, window)
        with self._codes_lock:
            if key in self._chosen_tables:
                return (country, *self._chosen_tables[key])
            names = self._codes("product_id")[1]
            where = self._customer_rows()  # each id's row; -1: in no row
            wanted = np.where(where >= 0, chosen[where], False)
            made = self._product_lines()
            revenue, units, customers, bought, buyers = made.counts(wanted) \
                if window is None else made.window_counts(wanted, window.since, window.until)
            table, left_out = _product_frame(pd.Index(names, name="product_id"),
                                             non_products(names), revenue, units, customers,
                                             bought)
            self._chosen_tables[key] = (table, left_out, buyers)
            return (country, *self._chosen_tables[key])

    def _product_lines(self) -> _ProductLines:
        """The lines with a product, as codes (see :class:`_ProductLines`), made once."""
        with self._codes_lock:
            if self._lines_made is None:
                product, names = self._codes("product_id")
                customer, ids = self._codes("customer_id")
                lines = self.a.lines
                quantity = lines["quantity"].to_numpy(dtype="float64", na_value=0.0) \
                    if "quantity" in lines else None
                stamp = lines["order_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
                # (a line without a product id is in no product's numbers)
                self._lines_made = _ProductLines.of(
                    product, customer, self._codes("order_id")[0],
                    lines["amount"].to_numpy(dtype="float64"), quantity, stamp, len(names),
                    len(ids))
            if self._lines_made is None:
                raise ToolException(_NO_COLUMN.format(what="product", so=" with values",
                                                      field="product_id"))
            return self._lines_made

    def _product_counts(self) -> _ProductCounts:
        # One pass over the lines for all segments: on 10M lines a segment's table took
        # about 1 s when each was made from its own lines (two sorts for the distinct
        # counts), and all of them together take about as long as two of those.
        made = self._product_lines()
        product, customer, order = made.product, made.customer, made.order
        amount, quantity = made.amount, made.quantity
        names = self._codes("product_id")[1]
        # each customer's segment as a number; the last one (width - 1): in no segment
        width, n = len(self.segments) + 1, len(names)
        number = pd.Series(np.arange(width - 1), index=self.segments)
        segment_of = number.reindex(self.a.customers["rfm_segment"].astype(str)).to_numpy()
        where = self._customer_rows()  # each customer code's row
        segment_of = np.where(where >= 0, segment_of[where], width - 1).astype(np.int64)
        cell = product * width + segment_of[customer]  # (product, segment) of each line

        def by_segment(values: np.ndarray | None = None) -> np.ndarray:
            # a cell sums its lines in their order: what summing one segment's lines gives
            return np.bincount(cell, weights=values, minlength=n * width).reshape(n, width)

        # distinct (product, customer) pairs, and (product, order, segment) triples: an
        # order of customers in two segments is counted in each, and once in all
        pair_product, pair_customer = made.pair_product.astype(np.int64), made.pair_customer
        triples = sorted_distinct(order * (n * width) + cell)
        order_cell = triples % (n * width)
        product_order = triples // width
        first = np.r_[True, product_order[1:] != product_order[:-1]]
        bought = made.with_lines
        index = pd.Index(names, name="product_id")
        return _ProductCounts(
            index=index, other=non_products(index), segments=self.segments,
            revenue=by_segment(amount), units=None if quantity is None else by_segment(quantity),
            customers=np.bincount(pair_product * width + segment_of[pair_customer],
                                  minlength=n * width).reshape(n, width),
            orders=np.bincount(order_cell, minlength=n * width).reshape(n, width),
            buyers=np.bincount(segment_of[bought], minlength=width),
            everyone=(np.bincount(product, weights=amount, minlength=n),
                      None if quantity is None else np.bincount(product, weights=quantity,
                                                                minlength=n),
                      np.bincount(pair_product, minlength=n),
                      np.bincount(order_cell[first] // width, minlength=n),
                      int(np.count_nonzero(bought))))

    def bought_together(self, product: str | None = None, top: int = 10,
                        by: str = "together", across: str | None = None) -> str:
        if by not in PAIR_RANKINGS:
            raise ToolException(f"by must be one of {', '.join(PAIR_RANKINGS)}, got {by!r}")
        if across not in (None, "orders", "customers"):
            raise ToolException(f"across must be 'orders' or 'customers', got {across!r}")
        baskets, chosen_by = self._baskets(None if across is None else across[:-1])
        top = max(1, min(int(top), 50))
        asked = None if product is None else self._product_named(product)
        with self._baskets_lock:  # the pair counts are made once: wait for prepare()'s
            if asked is not None:
                pairs = baskets.with_product(asked, top=top, min_together=MIN_TOGETHER, by=by)
            else:
                pairs = baskets.pairs(top=top, min_together=MIN_TOGETHER, by=by)
        names = self._product_names
        pairs = pairs.assign(name_a=pairs["product_a"].map(names),
                             name_b=pairs["product_b"].map(names))
        counts = baskets.product_baskets()
        return _dump({
            "product": None if asked is None else {
                "product_id": asked, "name": names.get(asked),
                "baskets": int(counts[baskets.products.get_loc(asked)])},
            "across": f"{baskets.unit}s", **chosen_by, "by": by,
            "as_of": str(self.a.as_of.date()), "baskets": baskets.count,
            "multi_product_baskets": baskets.multi(), "min_together": MIN_TOGETHER,
            "pairs": _records(pairs[["product_a", "name_a", "product_b", "name_b", "together",
                                     "confidence", "b_confidence", "lift"]])})

    def _baskets(self, unit: str | None) -> tuple[Baskets, dict[str, Any]]:
        """The orders' (or customers') products (see :mod:`analytics.baskets`), kept; and,
        when customers were chosen for the question, why: how few orders hold two products
        or more."""
        if "product_id" not in self.a.lines:
            raise ToolException(_NO_COLUMN.format(what="product", so="", field="product_id"))
        product, names = self._codes("product_id")
        order, _ = self._codes("order_id")
        with self._baskets_lock:
            chosen_by: dict[str, Any] = {}
            if unit is None and self._basket_choice is None:  # decided once, then kept
                # the orders' baskets tell how many hold two products (postage, on every
                # order, is no product there); kept when they are the unit
                by_order = self._baskets_made.get("order") \
                    or Baskets.from_codes(order, product, names, "order")
                orders = int(order.max()) + 1 if len(order) else 0
                choice = unit_for(by_order.multi(), orders)
                if choice == "order":
                    self._baskets_made["order"] = by_order
                self._basket_choice = (choice, {} if choice == "order" else {
                    "chosen_because": "few orders hold two products or more: each "
                                      "customer's purchases to date are a basket",
                    "orders": orders, "orders_with_two_products": by_order.multi()})
            if unit is None:
                unit, chosen_by = self._basket_choice
            if unit not in self._baskets_made:
                basket = order if unit == "order" else self._codes("customer_id")[0]
                self._baskets_made[unit] = Baskets.from_codes(basket, product, names, unit)
            return self._baskets_made[unit], chosen_by

    def _product_named(self, asked: str) -> str:
        """The id of the product ``asked`` names: its id, its name, or a part of one name
        ("the portable charger", "charger"), in any case; a part of several names is not
        guessed: the error lists them, the most bought first."""
        if "product_id" not in self.a.lines:
            raise ToolException(_NO_COLUMN.format(what="product", so="", field="product_id"))
        text = re.sub(r"^(?:the|a|an|our|der|die|das|den|dem|le|la|les|l'|el|los|las)\s+", "",
                      str(asked).strip().strip("\"'“”‘’«»?.!"), flags=re.IGNORECASE).strip()
        values, folded_ids, names, folded, lines, products = self._product_lookup()
        wanted = text.casefold()
        if len(by_id := np.flatnonzero(folded_ids == wanted)):
            return values[int(by_id[0])]
        exact = np.flatnonzero(folded == wanted)
        part = exact if len(exact) else np.flatnonzero(
            folded.str.contains(wanted, regex=False).to_numpy() & products
            if wanted else np.zeros(len(values), dtype=bool))
        if len(part) == 1:
            return values[int(part[0])]
        if len(part):
            listed = lines.iloc[part].sort_values(ascending=False, kind="stable").index[:8]
            raise ToolException(f"{len(part)} products match {asked!r}: "
                                + "; ".join(f"{p} ({names[p]})" for p in listed)
                                + ". Name one by its id or full name")
        close = difflib.get_close_matches(wanted, list(folded.unique()), n=3, cutoff=0.8)
        hint = (" Did you mean " + " or ".join(repr(c) for c in close) + "?") if close else \
            " The most bought: " + "; ".join(
                f"{p} ({names[p]})" if names[p] else p
                for p in lines[products].sort_values(ascending=False, kind="stable")
                .index[:5]) + "."
        raise ToolException(f"no product {asked!r} in the data (by id or name).{hint}")

    def _product_lookup(self) -> tuple[pd.Index, np.ndarray, pd.Series, pd.Series, pd.Series,
                                       np.ndarray]:
        """What naming a product looks in, made once: the product values, their ids and
        names in lower case, the names and lines per product (by id as text) and which are
        products (not postage or fees)."""
        with self._codes_lock:
            if self._lookup is None:
                codes, values = self._codes("product_id")
                ids = pd.Index(values).astype(str)
                names = pd.Series([str(self._product_names.get(v) or "") for v in values],
                                  index=ids)
                self._lookup = (
                    values, ids.str.casefold().to_numpy(), names, names.str.casefold(),
                    pd.Series(np.bincount(codes[codes >= 0], minlength=len(values)), index=ids),
                    ~non_products(pd.Index(values)))
            return self._lookup

    def breakdown(self, by: str = "country") -> str:
        if by not in DIMENSIONS:
            raise ToolException(f"by must be one of {', '.join(DIMENSIONS)}, got {by!r}")
        if by not in self.a.lines:
            raise ToolException(_NO_COLUMN.format(what=by, so="", field=by))
        with self._codes_lock:
            if by not in self._breakdowns:
                self._breakdowns[by] = self._breakdown(by)
            return self._breakdowns[by]

    def _breakdown(self, by: str) -> str:
        main = self._main_value(by)  # each customer under the value of most of their lines
        customers = self.a.customers.assign(**{by: main.reindex(self.a.customers.index)
                                               .fillna("(none)").to_numpy()})
        grouped = customers.groupby(by, observed=True)
        table = pd.DataFrame({
            "customers": grouped.size(), "revenue": grouped["monetary"].sum(),
            "orders": grouped["frequency"].sum(),
            "revenue_at_risk": grouped["revenue_at_risk"].sum(),
            "predicted_clv": grouped["predicted_clv"].sum(),
            "churn_sum": grouped["churn_probability"].sum()})
        table = table.sort_values("revenue", ascending=False, kind="stable")
        named, rest = table.iloc[:_BREAKDOWN_ROWS], table.iloc[_BREAKDOWN_ROWS:]
        named = named.sort_values("revenue_at_risk", ascending=False, kind="stable")
        if len(rest) > 1:  # the long tail as one row, last
            total = rest.sum()
            total.name = f"other ({len(rest)})"
            rest = total.to_frame().T
        rows = pd.concat([named, rest])
        rows["revenue_share"] = rows["revenue"] / max(float(rows["revenue"].sum()), 1e-12)
        rows["mean_churn_probability"] = rows.pop("churn_sum") / rows["customers"]
        rows["avg_order_value"] = rows["revenue"] / rows["orders"].clip(lower=1)
        rows[["customers", "orders"]] = rows[["customers", "orders"]].astype("int64")
        return _dump({"by": by, "as_of": str(self.a.as_of.date()),
                      "horizon_days": self.a.horizon_days, "values": len(table),
                      "rows": _records(rows.rename_axis(by).reset_index())})

    def _customer(self, customer_id: str) -> pd.Series:
        key = str(customer_id).strip()
        index = self.a.customers.index
        if key not in index:
            near = difflib.get_close_matches(key, index[:200_000].tolist(), n=3, cutoff=0.8)
            hint = f" Did you mean {', '.join(near)}?" if near else ""
            raise ToolException(f"no customer {key!r} in the data ({len(index):,} customers, "
                                f"ids such as {', '.join(index[:3])}).{hint}")
        return self.a.customers.loc[key]

    def customer_profile(self, customer_id: str) -> str:
        row = self._customer(customer_id)
        fields = ["rfm_segment", "cluster_label", "first_order", "last_order", "recency_days",
                  "frequency", "monetary", "avg_order_value", "mean_gap_days",
                  "churn_probability", "churn_reasons", "p_alive", "expected_orders",
                  "predicted_clv", "revenue_at_risk"]
        profile = {f: _r(row[f]) for f in fields if f in row.index}
        profile["recommendations"] = self._recs(str(customer_id).strip(), 3)
        return _dump({"customer_id": str(customer_id).strip(),
                      "horizon_days": self.a.horizon_days, **profile})

    def _recs(self, customer_id: str, n: int) -> list[dict[str, Any]]:
        recs = self.a.recommendations
        if recs is None:
            return []
        mine = recs.loc[recs["customer_id"] == customer_id].head(n)
        return [{"product_id": r.product_id, "name": self._product_names.get(r.product_id),
                 "why": r.source} for r in mine.itertuples()]

    def recommendations(self, customer_id: str, n: int = 5) -> str:
        self._customer(customer_id)
        if self.a.recommendations is None:
            raise ToolException(_NO_COLUMN.format(
                what="product", so=", so there are no recommendations", field="product_id"))
        return _dump({"customer_id": str(customer_id).strip(),
                      "recommendations": self._recs(str(customer_id).strip(),
                                                    max(1, min(int(n), 10)))})

    def cohort_retention(self, months: int = 6, cohort: str | None = None,
                         rank: str | None = None) -> str:
        if rank not in (None, "best", "worst"):
            raise ToolException(f"rank must be 'best' or 'worst', got {rank!r}")
        cohorts = self.a.cohorts
        mean = cohorts.groupby("period")["retention"].mean().iloc[1:int(months) + 1]
        recent = cohorts.loc[cohorts["period"] == 1].tail(6)
        k = self.a.kpis
        payload: dict[str, Any] = {
            "mean_retention_by_month": {f"M{p}": _r(v) for p, v in mean.items()},
            "month1_retention_recent_cohorts": {r.cohort: _r(r.retention)
                                                for r in recent.itertuples()},
            "repeat_purchase_rate": _r(k["repeat_purchase_rate"]),
            "new_customer_repeat_rate_30d": _r(k["new_customer_repeat_rate_30d"]),
            "new_customer_repeat_rate_90d": _r(k["new_customer_repeat_rate_90d"]),
        }
        if cohort:
            name = self._cohort(str(cohort))
            rows = cohorts.loc[cohorts["cohort"].astype(str) == name]
            shown = rows.loc[rows["period"].between(1, int(months))]
            payload["cohort"] = {
                "cohort": name, "customers": int(rows["cohort_size"].iloc[0]),
                "retention_by_month": {f"M{r.period}": _r(r.retention)
                                       for r in shown.itertuples()}}
            return _dump(payload)
        table = self._cohort_months()
        if rank:  # cohorts large enough whose third month is over, best or worst first
            ranked = table.loc[table["M3"].notna() & (table["customers"] >= MIN_COHORT)]
            if ranked.empty:
                ranked = table.loc[table["M3"].notna()]
            table = ranked.sort_values(["M3", "customers"], ascending=[rank == "worst", False],
                                       kind="stable").head(6)
            payload.update(rank=rank, ranked_by="M3", min_customers=MIN_COHORT,
                           cohorts_ranked=len(ranked))
        else:  # the latest twelve, oldest first
            table = table.tail(12)
        payload["cohorts"] = _records(table.reset_index())
        return _dump(payload)

    def _cohort_months(self) -> pd.DataFrame:
        """Per cohort (oldest first): its customers and the share who ordered in the 1st,
        3rd and 6th month after the first order; None for a month not over yet (the month
        of the analysis date counts when that date ends it)."""
        cohorts = self.a.cohorts
        wide = cohorts.pivot_table(index="cohort", columns="period", values="retention",
                                   aggfunc="first", fill_value=0.0)
        table = pd.DataFrame({"customers": cohorts.drop_duplicates("cohort")
                              .set_index("cohort")["cohort_size"].reindex(wide.index)})
        as_of = self.a.as_of
        complete = as_of.year * 12 + as_of.month - (0 if as_of.is_month_end else 1)
        start = [int(c[:4]) * 12 + int(c[5:7]) for c in wide.index.astype(str)]
        for p in (1, 3, 6):
            values = wide[p] if p in wide.columns else pd.Series(0.0, index=wide.index)
            table[f"M{p}"] = values.where(np.asarray(start) + p <= complete)
        return table.sort_index()

    def _cohort(self, asked: str) -> str:
        """A cohort's month (YYYY-MM) from "2024-03", or the latest March from "3"/"03"."""
        names = sorted(self.a.cohorts["cohort"].astype(str).unique())
        asked = asked.strip()
        if re.fullmatch(r"\d{1,2}", asked) and 1 <= int(asked) <= 12:
            named = [n for n in names if n.endswith(f"-{int(asked):02d}")]
            if named:
                return named[-1]
        elif asked in names:
            return asked
        raise ToolException(f"no cohort {asked!r}: cohorts are the months from {names[0]} to "
                            f"{names[-1]} (YYYY-MM), or a month's number for its latest")

    def monthly_trend(self, months: int = 12) -> str:
        table = self.a.monthly
        # every month up to as_of's, a month without orders as none
        every = pd.period_range(table.index.min(), self.a.as_of.to_period("M"), freq="M")
        table = table.reindex(every.astype(str), fill_value=0)
        table["avg_order_value"] = table["revenue"] / table["orders"].where(table["orders"] > 0)
        shown = table.tail(max(2, min(int(months), 36)))
        as_of = self.a.as_of
        partial = None if (as_of + pd.Timedelta(days=1)).day == 1 else str(as_of.to_period("M"))
        complete = table.loc[table.index != partial]
        if complete.empty:  # the shop's first month is still going on
            complete = table
        latest = complete.index[-1]
        year_before = str(pd.Period(latest, freq="M") - 12)
        return _dump({
            "as_of": str(as_of.date()), "partial_month": partial, "latest": latest,
            "previous": complete.index[-2] if len(complete) > 1 else None,
            "year_before": year_before if year_before in table.index else None,
            "months": _records(shown.rename_axis("month").reset_index()),
            "by_month": {m: _records(table.loc[[m]])[0] for m in dict.fromkeys(
                [latest, *complete.index[-2:-1], year_before]) if m in table.index},
        })

    def clv_summary(self, segment: str | None = None) -> str:
        customers = self.a.customers
        if segment:
            segment = resolve_segment(segment, self.segments)
            customers = customers.loc[customers["rfm_segment"] == segment]
        clv = customers["predicted_clv"]
        by_segment = (self.a.customers.groupby("rfm_segment")["predicted_clv"]
                      .agg(["sum", "mean"]).sort_values("sum", ascending=False))
        return _dump({
            "segment": segment or "all", "horizon_days": self.a.horizon_days,
            "customers": len(customers), "total_predicted_clv": _r(clv.sum(), 2),
            "mean_predicted_clv": _r(clv.mean(), 2),
            "quantiles": {f"p{int(q * 100)}": _r(v, 2)
                          for q, v in clv.quantile([0.25, 0.5, 0.75, 0.9]).items()},
            "by_segment": {s: {"total": _r(r["sum"], 2), "mean": _r(r["mean"], 2)}
                           for s, r in by_segment.iterrows()},
        })

    def model_quality(self) -> str:
        backtest = self.a.diagnostics.get("backtest") or {
            "skipped": "the analysis ran without a backtest"}
        if "churn" not in backtest:
            return _dump({"skipped": backtest.get("skipped"), "cutoff": backtest.get("cutoff")})
        churn, clv = backtest["churn"], backtest.get("clv") or {}
        out: dict[str, Any] = {
            "cutoff": backtest["cutoff"], "horizon_days": backtest["horizon_days"],
            "customers": churn["customers"], "churn_rate": churn["churn_rate"],
            "churn_model": churn["model_used"],
            "churn": {name: {k: m[k] for k in ("roc_auc", "top_decile_lift", "brier")}
                      for name, m in churn["metrics"].items()},
            "churn_margin": churn.get("margin"),
        }
        if clv.get("metrics"):
            out["clv"] = {name: {k: m[k] for k in ("spearman", "predicted_total", "actual_total")}
                          for name, m in clv["metrics"].items()}
        if recommended := backtest.get("recommendations"):
            out["recommendations"] = {"n": recommended["n"], **recommended["metrics"]}
        return _dump(out)

    def ab_test_plan(self, segment: str, uplift: float = 0.05, holdout_share: float = 0.1,
                     alpha: float = 0.05, power: float = 0.8) -> str:
        segment = resolve_segment(segment, self.segments)
        audience = self.a.customers.loc[self.a.customers["rfm_segment"] == segment]
        baseline = float(1 - audience["churn_probability"].mean())
        uplift = uplift / 100 if uplift >= 1 else uplift
        try:
            size = sample_size_two_proportions(min(max(baseline, 0.01), 0.98), uplift,
                                               alpha=alpha, power=power)
        except ValueError as exc:
            raise ToolException(str(exc)) from exc
        holdout = int(holdout_size(len(audience), holdout_share))
        return _dump({
            "segment": segment, "audience": len(audience),
            "baseline_retention": _r(baseline), "target_uplift": _r(uplift),
            "required_per_group": size.n_control, "alpha": alpha, "power": power,
            "holdout_at_share": holdout, "holdout_share": holdout_share,
            "powered": holdout >= size.n_control and len(audience) - holdout >= size.n_control,
            "duration_days": self.a.horizon_days,
        })

    def playbook_search(self, query: str, segment: str | None = None, k: int = 4) -> str:
        if self.ctx.knowledge is None:
            raise ToolException("the playbook is not available in this session")
        if segment:
            segment = resolve_segment(segment, self.segments)
        hits = self.ctx.knowledge.search(query, k=max(1, min(int(k), 8)), segment=segment)
        return _dump({"query": query, "segment": segment, "passages": [
            {"source": p.source, "title": p.title, "section": p.section,
             "text": p.text[:700]} for p in hits]})

    def campaign_plan(self, segment: str | None = None, discount_cap: float | None = None,
                      budget: float | None = None, channel: str | None = None,
                      language: str | None = None, inactive_days: int | None = None,
                      one_order_only: bool = False, country: str | None = None,
                      min_spend: float | None = None, product: str | None = None,
                      suggest: str | None = None, save: bool = True) -> str:
        within = self.in_country(country) if country else None
        bought = self.bought(product) if product else None
        offered = self.bought(suggest) if suggest else None
        payload, audience = draft_campaign(self.ctx, segment, discount_cap=discount_cap,
                                           budget=budget, channel=channel, language=language,
                                           inactive_days=inactive_days,
                                           one_order_only=one_order_only, within=within,
                                           min_spend=min_spend, bought=bought,
                                           suggest=offered)
        if save and self.ctx.store is not None:
            payload["plan_id"] = self.ctx.store.save_plan(
                payload, audience, name=f"{payload['segment']}: {payload['offer']}",
                markdown=render_plan(payload), source=self.a.source,
                as_of=str(self.a.as_of.date()))
        return _dump(payload)

    def glossary(self, term: str) -> str:
        """What a term of the analysis means, as this analysis computes it (its horizon,
        models and rules), for "what does churn probability mean?"."""
        key = re.sub(r"[\s-]+", "_", str(term).strip().lower())
        if key not in GLOSSARY_TERMS:
            raise ToolException(f"no glossary entry for {term!r}; choose one of "
                                f"{', '.join(GLOSSARY_TERMS)}")
        churn = self.a.diagnostics.get("churn") or {}
        backtest = (self.a.diagnostics.get("backtest") or {}).get("churn") or {}
        payload: dict[str, Any] = {
            "term": key, "horizon_days": self.a.horizon_days,
            "model": churn.get("model"), "fallback_reason": churn.get("fallback_reason"),
            "auc": (backtest.get("metrics") or {}).get("model", {}).get("roc_auc"),
            "k": (self.a.diagnostics.get("clusters") or {}).get("k"),
            "holdout_share": Constraints().holdout_share}
        if key == "rfm":  # the rules, with how many customers each segment holds now
            counts = self.a.customers["rfm_segment"].astype(str).value_counts()
            payload["segments"] = [{**_rule_row(rule), "customers": int(counts.get(rule.name, 0)),
                                    "meaning": SEGMENT_DESCRIPTIONS.get(rule.name, "")}
                                   for rule in DEFAULT_SEGMENT_RULES]
        return _dump(payload)

    def campaign_results(self, plan_id: int | None = None) -> str:
        """How a saved plan's campaign did: its audience's orders in the plan's horizon after
        the day it was drafted, treated customers against the holdout, from the data loaded
        now (a newer export of the shop)."""
        store = self.ctx.store
        if store is None:
            raise ToolException("no plan store in this session: plans are saved by the app "
                                "and by retention-advisor ask")
        plans = store.list_plans()
        if plans.empty:
            raise ToolException('no campaign plan is saved yet; draft one first ("draft a '
                                'win-back campaign for At Risk customers"), run it, then load '
                                "a newer export of the shop")
        plan_id = int(plans["id"].max()) if plan_id is None else int(plan_id)
        try:
            stored = store.get_plan(plan_id)
            audience = store.plan_audience(plan_id, columns=["group"])
        except PlanNotFoundError as exc:
            raise ToolException(str(exc)) from exc
        start = pd.Timestamp(stored.as_of)
        horizon = int(stored.plan.get("horizon_days") or self.a.horizon_days)
        end = min(start + pd.Timedelta(days=horizon), self.a.as_of)
        # each audience member's row in the customers table (-1: not in the data loaded); a
        # hash lookup (Index.isin of text ids took 5.6 s for 847,458 customers)
        ids = self.a.customers.index
        if not pd.api.types.is_string_dtype(ids):
            ids = ids.astype(str)
        rows = ids.get_indexer(audience.index)
        known = rows >= 0
        payload: dict[str, Any] = {
            "plan_id": plan_id, "name": stored.name, "segment": stored.segment,
            "drafted_on": str(start.date()), "horizon_days": horizon,
            "data_until": str(self.a.as_of.date()),
            "observed_days": max(0, (end - start).days),
            "audience": len(audience), "audience_in_data": int(known.sum()),
            "target_retention": stored.plan.get("target_retention"),
            "baseline_retention": stored.plan.get("baseline_retention")}
        if payload["observed_days"] == 0 or known.mean() < 0.5:
            # nothing to measure yet: the loaded data end before the campaign ran, or are
            # another shop's
            return _dump({**payload, "measured": False})
        dates = self.a.orders["order_date"]
        # each customer's orders and spend in the window, by row of the customers table
        ordered_rows, spend, count = self._by_customer_row(
            ((dates >= start + pd.Timedelta(days=1)) & (dates < end + pd.Timedelta(days=1)))
            .to_numpy())
        orders_in, spend_in = np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids))
        orders_in[ordered_rows], spend_in[ordered_rows] = count.to_numpy(), spend.to_numpy()
        size = np.where(known, orders_in[np.maximum(rows, 0)], 0)
        spent = np.where(known, spend_in[np.maximum(rows, 0)], 0.0)
        held = (audience["group"] == HOLDOUT).to_numpy()
        groups = {}
        for name, mask in (("treatment", ~held), ("holdout", held)):
            n = int(mask.sum())
            ordered = int((size[mask] > 0).sum())
            revenue = float(spent[mask].sum())
            groups[name] = {"customers": n, "ordered": ordered,
                            "rate": _r(ordered / n) if n else None,
                            "revenue": _r(revenue, 2),
                            "revenue_per_customer": _r(revenue / n, 2) if n else None}
        payload.update(measured=True, groups=groups)
        t, h = groups["treatment"], groups["holdout"]
        if t["customers"] and h["customers"]:
            test = uplift_test(t["ordered"], t["customers"], h["ordered"], h["customers"])
            payload["uplift"] = {
                "points": _r(test.absolute_uplift), "ci_low": _r(test.ci_low),
                "ci_high": _r(test.ci_high), "p_value": _r(test.p_value),
                "significant": test.significant,
                # orders and revenue the campaign added, beyond the holdout's rates
                "incremental_customers": _r(test.absolute_uplift * t["customers"], 1),
                "incremental_revenue": _r((t["revenue_per_customer"]
                                           - h["revenue_per_customer"]) * t["customers"], 2)}
        return _dump(payload)


#: The terms :meth:`ToolFunctions.glossary` explains
GLOSSARY_TERMS = ("rfm", "churn_probability", "revenue_at_risk", "predicted_clv",
                  "expected_orders", "cohort_retention", "holdout", "clusters")


def _score_range(low: float, high: float) -> str:
    """An inclusive range of scores or orders as people write it: "4–5", "5", "2+"."""
    def number(x: float) -> str:
        return f"{x:g}"
    if low == high:
        return number(low)
    return f"{number(low)}+" if high == np.inf else f"{number(low)}–{number(high)}"


def _rule_row(rule: SegmentRule) -> dict[str, str]:
    """A segment rule's conditions: R and FM scores and orders ("any" when unbounded)."""
    cells = {"R": "rfm_r", "FM": "rfm_fm", "orders": "frequency"}
    return {"segment": rule.name, **{label: _score_range(*rule.conditions[column])
                                     if column in rule.conditions else "any"
                                     for label, column in cells.items()}}


# What a language model may pass for a copy language instead of its code
_LANGUAGE_NAMES = {"english": "en", "chinese": "zh", "中文": "zh", "german": "de",
                   "deutsch": "de", "french": "fr", "français": "fr", "francais": "fr",
                   "spanish": "es", "español": "es", "espanol": "es"}


def draft_campaign(context: AdvisorContext, segment: str | None, *,
                   discount_cap: float | None = None, budget: float | None = None,
                   channel: str | None = None, language: str | None = None,
                   inactive_days: int | None = None, one_order_only: bool = False,
                   within: tuple[str, pd.Series] | None = None,
                   min_spend: float | None = None,
                   bought: tuple[str, str | None, np.ndarray] | None = None,
                   suggest: tuple[str, str | None, np.ndarray] | None = None
                   ) -> tuple[dict[str, Any], pd.DataFrame]:
    """A campaign plan for a segment (typed as people type it), or for the customers with no
    order for ``inactive_days`` or more, or with one order only (``one_order_only``; of the
    segment, if one is given), with playbook citations
    and message copy (in ``language``: en, zh, de, fr or es; English by default); returns
    the JSON-ready plan and its audience (not saved). ``within`` = (a country's name, the
    customers from there, see :meth:`ToolFunctions.in_country`) keeps the audience to them;
    ``min_spend`` to those who spent that much or more to date; ``bought`` = (a product's
    id, its name, which rows of the customers table bought it; see
    :meth:`ToolFunctions.bought`) to those who bought it; ``suggest`` (the same for another
    product) makes it a cross-sell of that product to those who have not bought it.

    A discount cap of 1 or more is read as a percentage (10 → 10 %). Bad constraints, an
    unknown segment or language, or no audience (neither a segment, nor days, nor one-time
    buyers) raise a ``ToolException`` that names the fix.
    """
    language = (language or "en").strip().lower()
    language = _LANGUAGE_NAMES.get(language, language.split("-")[0])  # "Chinese", "zh-CN"
    if language not in COPY_LANGUAGES:
        raise ToolException(f"no message copy in language {language!r}; choose one of "
                            f"{', '.join(COPY_LANGUAGES)}")
    analysis = context.analysis
    if segment is not None and not str(segment).strip():
        segment = None  # "" from a form or a model: no segment
    if segment is not None:
        segment = resolve_segment(segment, sorted(analysis.customers["rfm_segment"]
                                                  .astype(str).unique()))
    if discount_cap is not None and discount_cap >= 1:
        discount_cap = discount_cap / 100
    chosen = np.ones(len(analysis.customers), dtype=bool)
    if within is not None:
        chosen &= within[1].to_numpy(dtype=bool)
    product = None
    if bought is not None:
        product = f"{bought[0]}" + (f" ({bought[1]})" if bought[1] else "")
        chosen &= bought[2]
    if suggest is not None:
        if bought is not None and suggest[0] == bought[0]:
            raise ToolException(f"the product to cross-sell ({suggest[0]}) is the one the "
                                "customers bought; choose another, e.g. one bought with it "
                                "(bought_together)")
        chosen &= ~suggest[2]
    customers = analysis.customers if chosen.all() else analysis.customers.loc[chosen]
    try:
        plan = plan_campaign(customers, segment, inactive_days=inactive_days,
                             one_order_only=bool(one_order_only),
                             min_spend=float(min_spend) if min_spend else None,
                             place=within[0] if within else None,
                             bought=bought[0] if bought else None,
                             cross_sell=suggest[0] if suggest else None,
                             horizon_days=analysis.horizon_days,
                             constraints=Constraints(discount_cap=discount_cap,
                                                     budget=budget, channel=channel))
    except (ValueError, UnknownSegmentError) as exc:
        where = [f"who bought {product}" if product else "",
                 f"from {within[0]}" if within else ""]
        where_text = " and ".join(w for w in where if w)
        raise ToolException(f"{exc}" + (f" (among the customers {where_text})"
                                         if where_text else "")) from exc
    payload = plan.to_dict()
    # an audience by days without an order or by a single order: what chose it, and the
    # segment it was taken from
    payload["inactive_days"] = int(inactive_days) if inactive_days else None
    payload["one_order_only"] = bool(one_order_only)
    payload["min_spend"] = float(min_spend) if min_spend else None
    payload["audience_segment"] = segment
    payload["country"] = within[0] if within else None
    payload["product"] = None if bought is None else {"product_id": bought[0],
                                                      "name": bought[1]}
    payload["suggest"] = None if suggest is None else {"product_id": suggest[0],
                                                       "name": suggest[1]}
    payload["citations"] = _citations(context, plan.tactic, plan.offer, plan.segment)
    payload["language"] = language
    payload["subject"], payload["body"] = campaign_copy(payload, language)
    audience = plan.audience
    if analysis.contacts is not None:  # for the saved list and its export, not the model
        audience = audience.assign(contact=analysis.contacts.reindex(audience.index).to_numpy())
    return payload, audience


def _pairs(group: np.ndarray, item: np.ndarray, items: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (group, item) pairs of two code arrays (items below ``items``), sorted
    by group then item, with how many times each occurs."""
    pairs = np.sort(group * items + item)
    starts = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]]) if len(pairs) else pairs
    counts = np.diff(np.r_[starts, len(pairs)])
    who, what = np.divmod(pairs[starts], items)
    return who, what, counts


#: What drives a customer's churn risk, named by the words of the churn reasons that say it
#: (:func:`analytics.churn.churn_reasons`); "no order for" opens the overdue reason too.
CHURN_DRIVERS: tuple[tuple[str, str], ...] = (
    ("overdue", "× their usual gap"),
    ("one_order", "one order only"),
    ("slowing", " days against "),
    ("silent", "no order for"),
    ("one_day", " on one day"),
    ("infrequent", "orders about every"),
    ("few_orders", " so far"),
    ("usual_pace", "buying at their usual pace"),
)

_NO_COLUMN = ("the data has no {what} column{so}; map one in the app's Data tab (field "
              "{field}), or with --map {field}=HEADER")


def _product_names(lines: pd.DataFrame) -> dict[str, str]:
    """Product id → name (the first name a product has in the lines); empty without names."""
    if "product_id" not in lines or "product_name" not in lines:
        return {}
    products = lines[["product_id", "product_name"]].drop_duplicates("product_id")
    return dict(zip(products["product_id"], products["product_name"], strict=True))


def _citations(context: AdvisorContext, tactic: str, offer: str,
               segment: str) -> list[dict[str, str]]:
    if context.knowledge is None:
        return []
    hits = context.knowledge.search(f"{tactic.replace('-', ' ')} {offer} for {segment}",
                                    k=3, segment=segment, max_per_source=1)
    return [{"source": p.source, "title": p.title, "section": p.section,
             "excerpt": p.text[:300]} for p in hits]


_DESCRIPTIONS = {
    "segment_overview": "All RFM segments: size and its change over the last period, "
                        "shares, mean churn probability, revenue at risk and mean predicted "
                        "CLV. Use for 'give me an overview'; order='change' puts the most "
                        "grown first ('which segment grew?'); "
                        "segments = a list of names to compare only those side by side, "
                        "or one name for how that segment is doing (the shop's mean churn "
                        "and CLV come with it to compare; with segments named, each one's "
                        "average order value and orders per customer too, and the shop's); "
                        "by='cluster' for the behavioural clusters (K-means on how "
                        "customers buy) with their labels instead.",
    "churning_segments": "Which segments are churning: mean churn probability, revenue at "
                         "risk and their change over the last period, most at risk first. "
                         "by='rfm' (named segments) or 'cluster'; segment = one to focus on "
                         "('what is the churn rate of Champions?').",
    "churn_drivers": "Why customers are at risk, overall or in one segment: how many "
                     "customers each warning sign of the churn reasons applies to (overdue "
                     "against their usual gap, one order only, fewer orders than the horizon "
                     "before, a long silence, all orders on one day, infrequent buyers, few "
                     "orders, or none: buying at their usual pace), their revenue at risk "
                     "and mean churn probability. Use for 'why is At Risk churning?'.",
    "at_risk_customers": "The customers with the most revenue at risk, optionally in one "
                         "segment, with churn probability and reasons. top = how many; "
                         "inactive_days = only those without an order for at least that "
                         "many days ('who hasn't ordered in 6 months?': 180); "
                         "one_order_only = only one-time buyers (no second order yet); "
                         "country = only customers from there (most of their orders); "
                         "min_spend = only those who spent at least that much to date "
                         "('who spent over 500': 500); product = only those who bought it "
                         "(its id or name: 'which customers bought the Portable Charger?'); "
                         "not_bought = only those who have not bought it ('which customers "
                         "haven't bought P0311?').",
    "top_customers": "The top customers by predicted_clv (value over the horizon), "
                     "monetary (spend to date), frequency (orders), avg_order_value, "
                     "revenue_at_risk, churn_probability or expected_orders (BG/NBD "
                     "orders over the horizon: who is likely to buy next); optionally in "
                     "one segment. "
                     "top = how many; country = only customers from there; "
                     "inactive_days, one_order_only, min_spend, product and not_bought "
                     "choose the customers as for at_risk_customers ('most valuable customers who "
                     "haven't ordered in 60 days'); recent_days = rank by spend "
                     "(by=monetary) or orders (by=frequency) in the last so many days "
                     "('who bought the most in the last 30 days?': 30), only those who "
                     "ordered in them.",
    "shop_kpis": "Headline numbers of the shop: customers, orders, revenue, average order "
                 "value, orders per customer, active, lapsed and repeat customers, how "
                 "often a repeat customer orders (median days between orders), dates "
                 "covered, predicted revenue and revenue at risk over the horizon, and the "
                 "share of revenue from the top 10% and 20% of customers by spend.",
    "top_products": "Best-selling products by revenue, customers, orders or quantity, "
                    "optionally among one segment's customers (what they buy), with names "
                    "and revenue shares. top = how many; country = only customers from "
                    "there (most of their orders; 'what do German customers buy?'); "
                    "inactive_days, one_order_only, min_spend, product and not_bought "
                    "choose the customers as for at_risk_customers ('what do one-time buyers "
                    "buy?', "
                    "'what else do buyers of P0307 buy?'); "
                    "recent_days = from the lines of the last so many days only ('what "
                    "sold best last month?': 30).",
    "product_trend": "Products whose sales rose (direction='rising') or fell ('falling') "
                     "the most in the last `days` days (default 30, the analysis date "
                     "included) against the same number of days before: revenue, "
                     "customers, orders or quantity (by) in both windows, the change and "
                     "its share; optionally among one segment's or one country's "
                     "customers. For 'which products are trending?', 'what is selling "
                     "less than last month?'. before_complete=false: the earlier window "
                     "starts before the first order, so products look new.",
    "bought_together": "Products bought together (in the same orders; in the same "
                       "customers' purchases when few orders hold two products or more): "
                       "the pairs in the most orders first (by='together'), or the most "
                       "above chance first (by='lift'), with how many orders hold both, "
                       "the share of A's orders that hold B (confidence) and the lift "
                       "(above 1: together more often than chance), for bundles and "
                       "cross-selling. product = one product's id or name: what is bought "
                       "with it ('what do customers buy with the Portable Charger?'); "
                       "across = 'orders' or 'customers' to choose; top = how many.",
    "breakdown": "Customers by country or channel (each customer under the one of most of "
                 "their orders): customers, revenue, orders, average order value, mean "
                 "churn probability, revenue at risk and predicted value per value. by = "
                 "'country' or 'channel'.",
    "customer_profile": "One customer's summary: RFM, segment, churn probability and "
                        "reasons, CLV, top recommendations. Needs the customer id.",
    "recommendations": "Top product recommendations for one customer id.",
    "cohort_retention": "Cohort retention by months since first order, the latest cohorts "
                        "with their 1st, 3rd and 6th month retention, repeat-purchase "
                        "rates; cohort = one month's cohort (YYYY-MM, or a month's number "
                        "for its latest) with its retention month by month; rank = 'best' "
                        "or 'worst' for the cohorts (of 30 customers or more) that kept the "
                        "most or fewest in their third month ('which cohort retains best?').",
    "monthly_trend": "Month by month (the last `months`, default 12): revenue, orders, "
                     "active and new customers, average order value; the latest complete "
                     "month against the one before and the same month a year earlier. The "
                     "month of the analysis date may be partial (partial_month).",
    "clv_summary": "Predicted customer lifetime value over the horizon, overall or for one "
                   "segment, with quantiles and totals by segment.",
    "model_quality": "How well the models predicted in a backtest: refitted one horizon "
                     "before the analysis date and compared with what customers then did. "
                     "Churn ROC AUC, top-decile lift and Brier score against simple "
                     "baselines (recency, BG/NBD), the margin over the better one with its "
                     "95% interval; CLV rank correlation and totals; recommendation hit "
                     "rate. Use for 'how accurate is the churn model?', 'can I trust it?'.",
    "ab_test_plan": "A/B test design for a campaign on a segment: sample size per group "
                    "for a retention uplift (share, e.g. 0.05), holdout size.",
    "playbook_search": "Search the retention playbook; returns passages with their source "
                       "to cite. Optional segment to prefer passages for it.",
    "campaign_plan": "Draft and save a campaign plan for a segment, or for the customers "
                     "with no order for inactive_days or more ('send a coupon to customers "
                     "who haven't ordered in 90 days': 90) or with one order only "
                     "(one_order_only=true: 'a second-order coupon for one-time buyers'); "
                     "with a segment too, its customers only; country = only customers "
                     "from there ('German customers': Germany); min_spend = only those "
                     "who spent at least that much to date (it narrows a segment, days or "
                     "one-time buyers; 'who spent over 500': 500); product = only those who "
                     "bought it (its id or name; it narrows as min_spend does); "
                     "suggest = a product to cross-sell (its id or name): the plan offers "
                     "it to those who have not bought it, of the customers chosen (with "
                     "product: its buyers; no segment needed; 'cross-sell P0311 to buyers "
                     "of P0307'): "
                     "audience, offer and "
                     "depth (bounded by discount_cap as a share, e.g. 0.1, and budget), "
                     "channel, timing, control group and sample size, KPI targets, cost, "
                     "playbook citations, and message copy in language (en, zh, de, fr or "
                     "es; the shop's customers' language, English by default).",
    "glossary": "What a term of the analysis means and how it is computed here (this "
                "shop's horizon, models and segment rules), for 'what does churn probability "
                "mean?', 'how are the segments defined?': term = one of rfm (and the "
                "segments), churn_probability, revenue_at_risk, predicted_clv, "
                "expected_orders (and P(alive)), cohort_retention (and the repeat rate), "
                "holdout (control groups and uplift), clusters.",
    "campaign_results": "How a saved campaign plan did (plan_id; the latest saved plan by "
                        "default): the share of its treated customers and of its holdout "
                        "who ordered in the plan's horizon after it was drafted, with the "
                        "uplift's 95% interval and p-value and the revenue added, measured "
                        "on the data loaded now (load a newer export of the shop after the "
                        "campaign ran).",
}


def build_tools(context: AdvisorContext, functions: ToolFunctions | None = None
                ) -> list[BaseTool]:
    """The advisor's tools, bound to ``context`` (through ``functions``, when the caller
    keeps them to :meth:`ToolFunctions.prepare`); errors go back to the model as text."""
    impl = functions or ToolFunctions(context)
    tools = []
    for name, description in _DESCRIPTIONS.items():
        if name == "playbook_search" and context.knowledge is None:
            continue
        tools.append(StructuredTool.from_function(
            getattr(impl, name), name=name, description=description,
            handle_tool_error=True))
    return tools
