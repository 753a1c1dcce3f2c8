"""Products bought together: pair counts, confidence and lift, what a basket is."""

import itertools

import pandas as pd
import pytest

from analytics import baskets as baskets_module
from analytics.baskets import Baskets, basket_unit, multi_product_baskets
from analytics.errors import DataError
from analytics.sample import generate_sample_shop


def _lines(baskets: dict[str, str], customer_of: dict[str, str] | None = None) -> pd.DataFrame:
    """Order lines from {"o1": "A B C", ...}: one line per product of each order."""
    rows = [{"order_id": order, "customer_id": (customer_of or {}).get(order, f"c-{order}"),
             "order_date": pd.Timestamp("2025-01-01"), "product_id": product}
            for order, products in baskets.items() for product in products.split()]
    return pd.DataFrame(rows)


# pairs by hand: A+B in 3 orders, A+C in 2, B+C in 1, D+E in 2; A in 4 orders, B in 4
# (postage is no product), C in 2, D in 3, E in 2; 8 orders hold a product
SHOP = {"o1": "AA BB CC", "o2": "AA BB", "o3": "AA BB", "o4": "AA CC", "o5": "DD",
        "o6": "BB POST", "o7": "DD EE", "o8": "DD EE", "o9": "POST"}


def test_pairs_count_orders_holding_both_with_confidence_and_lift():
    baskets = Baskets.from_lines(_lines(SHOP), unit="order")
    assert baskets.count == 8 and baskets.multi() == 6
    pairs = baskets.pairs(min_together=2)
    assert pairs[["product_a", "product_b", "together"]].values.tolist() == [
        ["AA", "BB", 3], ["DD", "EE", 2], ["AA", "CC", 2]]  # ties on orders: the higher lift first
    ab, de, ac = (pairs.iloc[i] for i in range(3))
    assert ab["lift"] == pytest.approx(3 * 8 / (4 * 4))
    assert de["lift"] == pytest.approx(2 * 8 / (3 * 2))
    assert (ac["confidence"], ac["b_confidence"]) == pytest.approx((2 / 4, 2 / 2))
    assert (ac["a_baskets"], ac["b_baskets"]) == (4, 2)
    by_lift = baskets.pairs(min_together=2, by="lift")
    assert by_lift[["product_a", "product_b"]].values.tolist() == [["DD", "EE"], ["AA", "CC"],
                                                                   ["AA", "BB"]]
    assert baskets.pairs(min_together=3)[["product_a", "product_b"]].values.tolist() == [
        ["AA", "BB"]]
    assert len(baskets.pairs(min_together=2, top=1)) == 1
    assert "POST" not in set(baskets.products[baskets.product_baskets() > 0])


def test_what_is_bought_with_one_product():
    baskets = Baskets.from_lines(_lines(SHOP), unit="order")
    with_a = baskets.with_product("AA", min_together=1)
    # C: lift 2 > B: 1.5 but fewer orders; B+C (1 order) is not about A
    assert with_a[["product_a", "product_b", "together"]].values.tolist() == [
        ["AA", "BB", 3], ["AA", "CC", 2]]
    assert with_a["confidence"].tolist() == pytest.approx([3 / 4, 2 / 4])
    assert with_a["b_confidence"].tolist() == pytest.approx([3 / 4, 2 / 2])
    assert baskets.with_product("CC", min_together=2)["product_b"].tolist() == ["AA"]
    with pytest.raises(KeyError):
        baskets.with_product("Z")


def test_a_product_in_every_basket_pairs_with_nothing():
    # lift 1 with everything: it meets every product by chance, it is not bought "with" them
    baskets = Baskets.from_lines(_lines({f"o{i}": f"BAG P{i % 3}" for i in range(30)}),
                                 unit="order")
    assert baskets.pairs(min_together=1).empty
    assert baskets.with_product("BAG", min_together=1).empty


def test_baskets_are_customers_when_orders_hold_one_product():
    # a purchase event log: one product per order; the same customers buy X and Y
    events = {f"e{i}": "X" if i % 2 else "Y" for i in range(400)}
    owner = {f"e{i}": f"c{i // 2}" for i in range(400)}
    events.update({f"f{i}": "Z" for i in range(100)})
    lines = _lines(events, owner)
    product, products = pd.factorize(lines["product_id"])
    order = pd.factorize(lines["order_id"])[0]
    assert multi_product_baskets(order, product, len(products)) == 0
    assert basket_unit(order, product, len(products)) == "customer"
    baskets = Baskets.from_lines(lines)
    assert baskets.unit == "customer" and baskets.count == 300
    pair = baskets.pairs(min_together=5)
    assert len(pair) == 1 and pair["together"].iloc[0] == 200
    assert {pair["product_a"].iloc[0], pair["product_b"].iloc[0]} == {"X", "Y"}
    assert pair["lift"].iloc[0] == pytest.approx(200 * 300 / (200 * 200))
    assert Baskets.from_lines(lines, unit="order").pairs(min_together=1).empty


def test_postage_on_every_order_does_not_make_a_basket_of_two():
    events = {f"e{i}": ("X" if i % 2 else "Y") + " POST" for i in range(400)}
    owner = {f"e{i}": f"c{i // 2}" for i in range(400)}
    events.update({f"f{i}": "Z POST" for i in range(100)})
    lines = _lines(events, owner)
    baskets = Baskets.from_lines(lines)
    assert baskets.unit == "customer" and baskets.multi() == 200
    assert baskets.pairs(min_together=5)["together"].tolist() == [200]


def test_without_an_order_id_an_order_is_a_customers_lines_at_one_time():
    lines = _lines({"o1": "AA BB", "o2": "AA BB", "o3": "CC"}).drop(columns="order_id")
    lines["customer_id"] = ["c1", "c1", "c1", "c1", "c2"]
    lines["order_date"] = pd.to_datetime(["2025-01-01", "2025-01-01", "2025-02-01",
                                          "2025-02-01", "2025-01-01"])
    baskets = Baskets.from_lines(lines, unit="order")
    assert baskets.count == 3
    assert baskets.pairs(min_together=2)[["product_a", "product_b", "together"]] \
        .values.tolist() == [["AA", "BB", 2]]


def test_pairs_agree_with_counting_every_orders_pairs():
    orders, _ = generate_sample_shop(customers=400, months=12, seed=5)
    lines = orders.dropna(subset=["product_id"])
    baskets = Baskets.from_lines(lines, unit="order")
    held = lines[["order_id", "product_id"]].drop_duplicates()
    sets = held.groupby("order_id")["product_id"].agg(sorted)
    counts = held["product_id"].value_counts()
    together = pd.Series([pair for items in sets for pair in itertools.combinations(items, 2)]
                         ).value_counts()
    n = len(sets)
    expected = pd.DataFrame({"together": together.to_numpy()},
                            index=pd.MultiIndex.from_tuples(together.index))
    expected["lift"] = [t * n / (counts[a] * counts[b]) for (a, b), t in
                        zip(expected.index, expected["together"], strict=True)]
    expected = expected.loc[(expected["together"] >= 3) & (expected["lift"] > 1)]
    pairs = baskets.pairs(top=len(expected) + 10, min_together=3)
    assert len(pairs) == len(expected)
    for row in pairs.itertuples():
        key = tuple(sorted((row.product_a, row.product_b)))
        assert row.together == expected.loc[key, "together"]
        assert row.lift == pytest.approx(expected.loc[key, "lift"])
        assert counts[row.product_a] >= counts[row.product_b]
    assert pairs["together"].is_monotonic_decreasing
    top = counts.index[0]
    mine = expected.loc[[k for k in expected.index if top in k]]
    with_top = baskets.with_product(top, top=1000, min_together=3)
    assert sorted(with_top["together"]) == sorted(mine["together"])
    assert with_top["confidence"].tolist() == pytest.approx(
        (with_top["together"] / counts[top]).tolist())


def test_only_the_most_bought_products_pair_in_a_long_catalogue(monkeypatch):
    # the pair counts are made for the MAX_PAIRED_PRODUCTS most bought products; a rarer
    # product's pairs are counted when it is asked about
    orders, _ = generate_sample_shop(customers=400, months=12, seed=5)
    lines = orders.dropna(subset=["product_id"])
    unlimited = Baskets.from_lines(lines, unit="order")
    everything = unlimited.pairs(top=10_000, min_together=2)
    counts = lines[["order_id", "product_id"]].drop_duplicates()["product_id"].value_counts()
    rare = counts.index[-20]
    monkeypatch.setattr(baskets_module, "MAX_PAIRED_PRODUCTS", 12)
    baskets = Baskets.from_lines(lines, unit="order")
    pairs = baskets.pairs(top=10_000, min_together=2)
    most = set(counts.index[counts >= counts.iloc[11]])  # the 12 most bought, with ties
    assert len(pairs) and set(pairs["product_a"]) | set(pairs["product_b"]) <= most
    clear = set(counts.index[counts > counts.iloc[11]])
    within = everything.loc[everything["product_a"].isin(clear)
                            & everything["product_b"].isin(clear)]
    pd.testing.assert_frame_equal(
        pairs.merge(within[["product_a", "product_b"]]), within.reset_index(drop=True))
    asked = baskets.with_product(rare, top=100, min_together=1)
    assert len(asked)
    pd.testing.assert_frame_equal(asked, unlimited.with_product(rare, top=100, min_together=1))


def test_a_ranking_sorted_in_part_lists_what_a_whole_ranking_lists(monkeypatch):
    # a ranking is sorted RANKED_PREFIX pairs deep (with the pairs tied with the last) and
    # further when a longer list is asked; every list must be the whole ranking's head
    orders, _ = generate_sample_shop(customers=400, months=12, seed=5)
    lines = orders.dropna(subset=["product_id"])
    whole = Baskets.from_lines(lines, unit="order")
    lists = {(by, top): whole.pairs(top=top, min_together=2, by=by)
             for by in ("together", "lift") for top in (1, 3, 4, 9, 30, 10_000)}
    assert len(lists["together", 10_000]) > 40  # longer than any part sorted below
    assert lists["together", 10_000]["together"].duplicated().any()  # ties to cut through
    monkeypatch.setattr(baskets_module, "RANKED_PREFIX", 4)
    for asked in (list(lists), list(reversed(lists))):
        baskets = Baskets.from_lines(lines, unit="order")
        for by, top in asked:
            pd.testing.assert_frame_equal(baskets.pairs(top=top, min_together=2, by=by),
                                          lists[by, top])


def test_bad_arguments_say_what_is_wrong():
    baskets = Baskets.from_lines(_lines(SHOP), unit="order")
    with pytest.raises(ValueError, match="by must be one of together, lift"):
        baskets.pairs(by="support")
    with pytest.raises(ValueError, match="min_together must be at least 1"):
        baskets.pairs(min_together=0)
    with pytest.raises(ValueError, match="unit must be one of order, customer"):
        Baskets.from_lines(_lines(SHOP), unit="session")
    with pytest.raises(DataError, match="no product_id column"):
        Baskets.from_lines(_lines(SHOP).drop(columns="product_id"))
