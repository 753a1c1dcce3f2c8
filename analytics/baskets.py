"""Products bought together (market-basket association), for bundles and cross-sell offers.

A basket is an order, or a customer's purchases to date when the shop's orders rarely hold
two products (a purchase event log: one product per order). For a pair of products A and B:

- ``together``: the baskets that hold both;
- ``confidence``: the share of A's baskets that also hold B (``b_confidence``: of B's,
  holding A);
- ``lift``: how many times more often they share a basket than if customers chose them
  independently, ``together × baskets / (A's baskets × B's baskets)``: above 1, bought
  together more than chance; around 1, two popular products that merely meet.

Pairs are kept when they share at least ``min_together`` baskets and their lift is above 1,
and ranked by how many baskets they share (``by="together"``) or by lift. Postage, fees
and adjustments (:data:`analytics.recommend.NON_PRODUCT_PATTERN`) are no products here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import DataError
from .features import sorted_distinct
from .recommend import non_products
from .schema import CUSTOMER_ID, ORDER_DATE, ORDER_ID, PRODUCT_ID

__all__ = ["BASKET_UNITS", "PAIR_RANKINGS", "Baskets", "basket_unit", "multi_product_baskets",
           "products_only", "unit_for"]

BASKET_UNITS = ("order", "customer")
PAIR_RANKINGS = ("together", "lift")
#: Orders are the baskets when at least this many hold two products or more, and at least
#: ``MIN_MULTI_SHARE`` of the orders do; otherwise customers are.
MIN_MULTI_ORDERS = 100
MIN_MULTI_SHARE = 0.05
#: At most this many products (the most bought) are paired at once: the pair counts of a
#: long-tail catalogue would otherwise grow with its square.
MAX_PAIRED_PRODUCTS = 5_000
#: A ranking of pairs is sorted this far (and through the pairs tied with the last) when
#: first asked, further when a longer list is asked: a question lists a few pairs, and
#: sorting all of a catalogue's millions took most of its time (0.5 s on UCI's export).
RANKED_PREFIX = 1_000


def products_only(product: np.ndarray, products: pd.Index) -> np.ndarray:
    """The lines' product codes, with postage, fees and adjustments as none (-1)."""
    other = non_products(products)
    return np.where((product >= 0) & other[np.maximum(product, 0)], -1, product) \
        if len(other) else product


def multi_product_baskets(basket: np.ndarray, product: np.ndarray, n_products: int) -> int:
    """How many baskets (``basket``: the lines' basket codes) hold two products or more
    (``product``: the lines' product codes, below ``n_products``; negative: none)."""
    known = product >= 0
    basket, product = basket[known], product[known]
    pairs = sorted_distinct(basket.astype(np.int64) * n_products + product)
    per_basket = np.bincount(pairs // n_products)
    return int(np.count_nonzero(per_basket >= 2))


def basket_unit(order: np.ndarray, product: np.ndarray, n_products: int) -> str:
    """"order" when enough orders hold two products or more (see ``MIN_MULTI_ORDERS``),
    else "customer"; ``order`` and ``product`` are the lines' integer codes."""
    orders = int(order.max()) + 1 if len(order) else 0
    return unit_for(multi_product_baskets(order, product, n_products), orders)


def unit_for(multi: int, orders: int) -> str:
    """The basket unit of a shop whose ``orders`` include ``multi`` with two products or
    more (see :func:`basket_unit`)."""
    return "order" if multi >= max(MIN_MULTI_ORDERS, MIN_MULTI_SHARE * orders) else "customer"


@dataclass(frozen=True)
class Baskets:
    """Which products each basket holds (``matrix``: baskets × products, 1 where it holds
    the product), the products (``products``, the matrix's columns) and what a basket is
    (``unit``: "order" or "customer"). Build it with :meth:`from_codes` or
    :meth:`from_lines`."""

    matrix: sparse.csr_matrix
    products: pd.Index
    unit: str

    @classmethod
    def from_codes(cls, basket: np.ndarray, product: np.ndarray, products: pd.Index,
                   unit: str) -> Baskets:
        """From the lines' basket codes (orders or customers, 0..n-1) and product codes
        (positions in ``products``; negative: no product). Non-products are left out."""
        if unit not in BASKET_UNITS:
            raise ValueError(f"unit must be one of {', '.join(BASKET_UNITS)}, got {unit!r}")
        product = products_only(product, products)
        keep = product >= 0
        basket, product = basket[keep].astype(np.int64), product[keep].astype(np.int64)
        n = len(products)
        pairs = sorted_distinct(basket * n + product)
        rows, columns = np.divmod(pairs, n)
        # the baskets with a product are the rows, in order: the pairs come sorted by
        # basket, then product, which is how CSR stores them (on 10M lines, building it
        # from the coordinates took 1.3 s)
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) \
            else np.zeros(0, dtype=np.int64)
        matrix = sparse.csr_matrix(
            (np.ones(len(pairs), dtype=np.int32), columns, np.r_[starts, len(pairs)]),
            shape=(len(starts), n))
        matrix.has_sorted_indices = True
        return cls(matrix, pd.Index(products, name=PRODUCT_ID), unit)

    @classmethod
    def from_lines(cls, lines: pd.DataFrame, unit: str = "auto") -> Baskets:
        """From order lines (``customer_id``, ``product_id``, and ``order_id`` or
        ``order_date``: without an order id, a customer's lines at one time are an order).
        ``unit``: "order", "customer" or "auto" (see :func:`basket_unit`)."""
        if PRODUCT_ID not in lines or lines[PRODUCT_ID].isna().all():
            raise DataError("the data has no product_id column with values: map the column "
                            "that identifies products (--map product_id=HEADER)")
        product, products = pd.factorize(lines[PRODUCT_ID])
        customer = pd.factorize(lines[CUSTOMER_ID])[0]
        order = pd.factorize(lines[ORDER_ID])[0] if ORDER_ID in lines else \
            np.full(len(lines), -1)
        if (order < 0).any():  # an order is a customer's lines at one time
            missing = order < 0
            times = pd.MultiIndex.from_arrays([customer[missing],
                                               lines[ORDER_DATE].to_numpy()[missing]])
            order = order.copy()
            order[missing] = int(order.max()) + 1 + pd.factorize(times)[0]
        if unit == "auto":
            unit = basket_unit(order, products_only(product, pd.Index(products)),
                               len(products))
        return cls.from_codes(order if unit == "order" else customer, product,
                              pd.Index(products), unit)

    @property
    def count(self) -> int:
        """How many baskets hold a product."""
        return int(self.matrix.shape[0])

    @cached_property
    def _counts(self) -> np.ndarray:
        return np.asarray(self.matrix.sum(axis=0)).ravel().astype(np.int64)

    def product_baskets(self) -> np.ndarray:
        """How many baskets hold each product."""
        return self._counts.copy()

    @cached_property
    def _multi(self) -> int:
        return int(np.count_nonzero(np.diff(self.matrix.indptr) >= 2))

    def multi(self) -> int:
        """How many baskets hold two products or more."""
        return self._multi

    @cached_property
    def _together(self) -> dict[int, tuple[np.ndarray, sparse.csr_matrix]]:
        return {}

    def _cooccurrence(self, min_together: int) -> tuple[np.ndarray, sparse.csr_matrix]:
        """The products that can pair at ``min_together`` (in at least so many baskets; the
        most bought ``MAX_PAIRED_PRODUCTS``) and how many baskets each two of them share,
        made once: on 10M order lines it took seconds."""
        if min_together not in self._together:
            counts = self._counts
            paired = np.flatnonzero(counts >= min_together)
            if len(paired) > MAX_PAIRED_PRODUCTS:
                paired = np.sort(paired[np.argsort(-counts[paired], kind="stable")]
                                 [:MAX_PAIRED_PRODUCTS])
            sub = self._columns(paired)
            self._together[min_together] = (paired, (sub.T.tocsr() @ sub).tocsr())
        return self._together[min_together]

    def _columns(self, kept: np.ndarray) -> sparse.csr_matrix:
        """The matrix's columns at ``kept`` (sorted positions), as columns 0..k-1; what
        ``matrix[:, kept]`` gives, without its conversion to CSC (0.4 s on 10M lines)."""
        matrix = self.matrix
        if len(kept) == matrix.shape[1]:
            return matrix
        position = np.full(matrix.shape[1], -1, dtype=np.int64)
        position[kept] = np.arange(len(kept))
        column = position[matrix.indices]
        keep = column >= 0
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[keep]
        indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=matrix.shape[0]))]
        return sparse.csr_matrix((matrix.data[keep], column[keep], indptr),
                                 shape=(matrix.shape[0], len(kept)))

    def pairs(self, top: int = 10, min_together: int = 5, by: str = "together"
              ) -> pd.DataFrame:
        """The ``top`` pairs bought together: ``product_a, product_b, together, confidence,
        b_confidence, lift`` (A: the product in more baskets; on a tie, the first in the
        data)."""
        _check(by, min_together)
        top = max(int(top), 0)
        a, b, together, first, second = self._ranked(min_together, by, top)
        # the top rows and any tied with the last of them: _table orders those by name
        end = min(top, len(a))
        if 0 < top < len(a):  # sorted by first, then second, both descending
            high = int(np.searchsorted(-first, -first[top - 1], side="right"))
            end = top + int(np.searchsorted(-second[top:high], -second[top - 1],
                                            side="right"))
        return self._table(a[:end], b[:end], together[:end], self._counts, min_together, by,
                           top)

    @cached_property
    def _listable(self) -> dict[int, tuple[np.ndarray, ...]]:
        return {}

    def _pairs_at(self, min_together: int) -> tuple[np.ndarray, ...]:
        """Every pair that :meth:`pairs` can list at ``min_together``, unranked: A, B,
        together (as int32: UCI's customers pair 1.4M times) and lift, made once."""
        if min_together not in self._listable:
            counts = self._counts
            paired, shared = self._cooccurrence(min_together)
            co = sparse.triu(shared, k=1).tocoo()
            narrow = paired.astype(np.int32)
            a, b, together = narrow[co.row], narrow[co.col], co.data
            swap = counts[b] > counts[a]  # A: the more bought of the two
            a, b = np.where(swap, b, a), np.where(swap, a, b)
            lift = together * float(self.count) / np.maximum(
                counts[a].astype(float) * counts[b].astype(float), 1.0)
            kept = np.flatnonzero((together >= min_together) & (lift > 1.0))
            self._listable[min_together] = (a[kept], b[kept], together[kept], lift[kept])
        return self._listable[min_together]

    @cached_property
    def _rankings(self) -> dict[tuple[int, str], tuple[tuple[np.ndarray, ...], bool]]:
        return {}

    def _ranked(self, min_together: int, by: str, top: int) -> tuple[np.ndarray, ...]:
        """The pairs that :meth:`pairs` can list at ``min_together``, best first by ``by``
        (A, B, together, and the two keys ranked on): at least the ``top`` best, and every
        pair tied with the last of them on the first key, or all. Kept for later questions
        (see ``RANKED_PREFIX``)."""
        key = (min_together, by)
        ranked, complete = self._rankings.get(key, ((), False))
        if not complete and (not ranked or len(ranked[0]) < top):
            a, b, together, lift = self._pairs_at(min_together)
            first, second = (together, lift) if by == "together" else (lift, together)
            wanted = max(top, RANKED_PREFIX)
            if wanted < len(first):  # the pairs at or above the wanted-th best first key
                cut = len(first) - wanted
                chosen = np.flatnonzero(first >= np.partition(first, cut)[cut])
            else:
                chosen = np.arange(len(first))
            # lexsort is stable: ties on both keys stay in the pairs' order, as in a full sort
            chosen = chosen[np.lexsort((-second[chosen], -first[chosen]))]
            ranked = (a[chosen].astype(np.int64), b[chosen].astype(np.int64),
                      together[chosen].astype(np.int64), lift[chosen])
            self._rankings[key] = (ranked, len(chosen) == len(first))
        a, b, together, lift = ranked
        return (a, b, together, *((together, lift) if by == "together" else (lift, together)))

    def with_product(self, product: str, top: int = 10, min_together: int = 5,
                     by: str = "together") -> pd.DataFrame:
        """The ``top`` products bought with ``product`` (a value of ``products``), in the
        columns of :meth:`pairs` (A: ``product``)."""
        _check(by, min_together)
        position = self.products.get_loc(product)
        counts = self._counts
        paired, shared = self._cooccurrence(min_together)
        at = np.searchsorted(paired, position)
        if at < len(paired) and paired[at] == position:  # a row of the pairs made once
            row = shared.getrow(at)
            b, together = paired[row.indices], row.data.astype(np.int64)
        else:  # too rarely bought to pair at min_together, or beyond the most bought
            column = self.matrix[:, [position]]
            counted = np.asarray((self.matrix.T @ column).todense()).ravel().astype(np.int64)
            b = np.flatnonzero(counted)
            together = counted[b]
        keep = b != position
        b, together = b[keep], together[keep]
        return self._table(np.full(len(b), position), b, together, counts, min_together,
                           by, top)

    def _table(self, a: np.ndarray, b: np.ndarray, together: np.ndarray, counts: np.ndarray,
               min_together: int, by: str, top: int) -> pd.DataFrame:
        n_a, n_b = counts[a].astype(float), counts[b].astype(float)
        lift = together * float(self.count) / np.maximum(n_a * n_b, 1.0)
        kept = np.flatnonzero((together >= min_together) & (lift > 1.0))
        # the top rows, and any tied with the last of them, before the (text) names are
        # read: a shop's pairs can number millions
        first, second = (together, lift) if by == "together" else (lift, together)
        top = max(int(top), 0)
        if len(kept) > top:
            best = kept[np.lexsort((-second[kept], -first[kept]))[:top]]
            if top == 0:
                kept = best
            else:
                last = best[-1]
                kept = kept[(first[kept] > first[last]) | ((first[kept] == first[last])
                                                           & (second[kept] >= second[last]))]
        a, b, together, lift = a[kept], b[kept], together[kept], lift[kept]
        table = pd.DataFrame({
            "product_a": self.products.take(a), "product_b": self.products.take(b),
            "together": together, "confidence": together / np.maximum(counts[a], 1),
            "b_confidence": together / np.maximum(counts[b], 1), "lift": lift,
            "a_baskets": counts[a], "b_baskets": counts[b]})
        order = ["together", "lift"] if by == "together" else ["lift", "together"]
        table = table.sort_values([*order, "product_a", "product_b"],
                                  ascending=[False, False, True, True], kind="stable")
        return table.head(top).reset_index(drop=True)


def _check(by: str, min_together: int) -> None:
    if by not in PAIR_RANKINGS:
        raise ValueError(f"by must be one of {', '.join(PAIR_RANKINGS)}, got {by!r}")
    if min_together < 1:
        raise ValueError(f"min_together must be at least 1, got {min_together}")
