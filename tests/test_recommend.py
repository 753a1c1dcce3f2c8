"""Recommendations: item-kNN with replenishment, the baselines, and the backtest.

Small hand-built order logs, plus one synthetic shop with a planted structure (two groups of
customers with disjoint tastes) where collaborative filtering has to beat popularity.
"""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import analytics.recommend as recommend
from analytics.errors import DataError
from analytics.recommend import (
    NON_PRODUCT_PATTERN,
    RECOMMENDATION_COLUMNS,
    BuyAgainRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    evaluate_recommenders,
)

START = pd.Timestamp("2024-01-01")
AS_OF = pd.Timestamp("2024-03-31")

# No recency, trend or repeat-rate weighting: plain cosine similarity on bought / not bought,
# so the numbers can be checked by hand.
PLAIN = {
    "weighting": "binary",
    "half_life_days": None,
    "trend_exponent": 0.0,
    "repeat_prior": None,
    "shrink": 0.0,
}


def make_orders(lines: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """Order log from (customer, order, day after START, product) tuples."""
    customers, orders, days, products = zip(*lines, strict=True)
    return pd.DataFrame(
        {
            "customer_id": pd.array(customers, dtype="str"),
            "order_date": START + pd.to_timedelta(np.array(days), unit="D"),
            "amount": 1.0,
            "order_id": pd.array(orders, dtype="str"),
            "product_id": pd.array(products, dtype="str"),
            "quantity": 1,
        }
    )


def basket(customer: str, order: str, day: int, *products: str) -> list[tuple]:
    return [(customer, order, day, product) for product in products]


@pytest.fixture
def co_bought() -> pd.DataFrame:
    """APPLE is bought with BREAD twice and with CHEESE once; DATES is bought alone."""
    return make_orders(
        basket("u1", "o1", 80, "APPLE", "BREAD")
        + basket("u2", "o2", 81, "APPLE", "BREAD")
        + basket("u3", "o3", 82, "APPLE", "CHEESE")
        + basket("u4", "o4", 83, "DATES")
        + basket("u5", "o5", 84, "APPLE")
    )


def products_of(recs: pd.DataFrame, customer: str) -> list[str]:
    return recs.loc[recs["customer_id"] == customer, "product_id"].tolist()


# --- similarity and ranking --------------------------------------------------------------


def test_item_similarity_is_cosine_of_buyers(co_bought: pd.DataFrame) -> None:
    model = ItemKNNRecommender(**PLAIN).fit(co_bought, AS_OF)
    sim = pd.DataFrame(model.similarity_.toarray(), index=model.products_, columns=model.products_)
    # buyers: APPLE {u1, u2, u3, u5}, BREAD {u1, u2}, CHEESE {u3}, DATES {u4}
    assert sim.loc["APPLE", "BREAD"] == pytest.approx(2 / (math.sqrt(4) * math.sqrt(2)))
    assert sim.loc["APPLE", "CHEESE"] == pytest.approx(1 / (math.sqrt(4) * math.sqrt(1)))
    assert sim.loc["BREAD", "CHEESE"] == 0.0
    assert sim.loc["APPLE", "APPLE"] == 0.0
    assert sim.loc["DATES"].sum() == 0.0


def test_top_k_pruning_keeps_the_nearest_neighbour(co_bought: pd.DataFrame) -> None:
    model = ItemKNNRecommender(n_neighbors=1, **PLAIN).fit(co_bought, AS_OF)
    sim = model.similarity_.tocsr()
    assert np.diff(sim.indptr).max() == 1
    assert model.products_[sim[model.products_.get_loc("APPLE")].indices[0]] == "BREAD"


def test_similar_products_ranked_by_similarity(co_bought: pd.DataFrame) -> None:
    model = ItemKNNRecommender(**PLAIN).fit(co_bought, AS_OF)
    recs = model.recommend(["u5"], n=3)
    assert recs["product_id"].tolist() == ["APPLE", "BREAD", "CHEESE"]
    assert recs["source"].tolist() == ["buy_again", "similar", "similar"]
    similar = recs.set_index("product_id")["score"]
    assert similar["CHEESE"] / similar["BREAD"] == pytest.approx(0.5 / math.sqrt(0.5), rel=1e-5)


def test_replenishment_brings_back_the_repeated_product() -> None:
    # 'regular' re-orders TEA; COFFEE is the shop's hit and TEA's nearest neighbour.
    lines = basket("regular", "r0", 10, "TEA", "MUG")
    lines += [line for i in range(1, 5) for line in basket("regular", f"r{i}", 10 + 15 * i, "TEA")]
    for i in range(8):
        lines += basket(f"fan{i}", f"f{i}", 70 + i, "COFFEE", "TEA" if i < 3 else "CUP")
    recs = ItemKNNRecommender().fit(make_orders(lines), AS_OF).recommend(["regular"], n=3)
    first = recs.iloc[0]
    assert (first["product_id"], first["source"]) == ("TEA", "buy_again")
    assert "COFFEE" in recs["product_id"].tolist()


def test_one_off_durables_rank_below_products_customers_reorder() -> None:
    # SOFA: bought once by many, never again. SOAP: fewer buyers, who all re-order it.
    lines = basket("new", "n1", 85, "SOFA", "SOAP")
    for i in range(12):
        lines += basket(f"s{i}", f"s{i}", 70 + i, "SOFA")
    for i in range(6):
        lines += [
            line for k in range(3) for line in basket(f"p{i}", f"p{i}-{k}", 66 + 5 * k + i, "SOAP")
        ]
    orders = make_orders(lines)
    model = ItemKNNRecommender().fit(orders, AS_OF)
    assert model.repeat_rate_["SOAP"] > model.repeat_rate_["SOFA"]
    assert products_of(model.recommend(["new"], n=2), "new") == ["SOAP", "SOFA"]
    # the baseline ranks the customer's products by order count, ties by popularity
    baseline = BuyAgainRecommender().fit(orders, AS_OF).recommend(["new"], n=2)
    assert products_of(baseline, "new") == ["SOFA", "SOAP"]


def test_orders_without_order_id_count_timestamps() -> None:
    orders = make_orders(
        basket("c1", "x", 10, "APPLE")
        + basket("c1", "y", 20, "APPLE")
        + basket("c1", "z", 20, "BREAD")
    ).drop(columns="order_id")
    model = BuyAgainRecommender().fit(orders, AS_OF)
    recs = model.recommend(["c1"], n=2)
    assert recs["product_id"].tolist() == ["APPLE", "BREAD"]
    assert recs["score"].tolist() == [2.0, 1.0]  # two timestamps with APPLE, one with BREAD


def test_each_order_counts_once_per_product_and_a_missing_order_id_is_an_order() -> None:
    orders = make_orders(
        basket("c1", "o1", 10, "APPLE", "APPLE")  # one order with APPLE on two lines
        + basket("c1", "o2", 20, "APPLE")
        + basket("c2", "o3", 30, "APPLE")
        + basket("c3", "x", 40, "APPLE")
    )
    orders["order_id"] = orders["order_id"].mask(orders["customer_id"] == "c3")
    recs = BuyAgainRecommender().fit(orders, AS_OF).recommend(["c1", "c2", "c3"], n=1)
    assert recs["score"].tolist() == [2.0, 1.0, 1.0]


# --- fallback ----------------------------------------------------------------------------


@pytest.fixture
def trending() -> pd.DataFrame:
    """OLD was a hit three months ago; NEW is what customers bought in the last weeks."""
    lines: list[tuple] = []
    for i in range(6):
        lines += basket(f"old{i}", f"o{i}", 5 + i, "OLD")
    for i in range(3):
        lines += basket(f"new{i}", f"n{i}", 85 + i, "NEW", "SIDE")
    lines += basket("new0", "n9", 86, "RARE")
    return make_orders(lines)


def test_unknown_customers_get_recent_popularity(trending: pd.DataFrame) -> None:
    model = ItemKNNRecommender().fit(trending, AS_OF)
    recs = model.recommend(["nobody", "stranger"], n=3)
    assert products_of(recs, "nobody") == ["NEW", "SIDE", "RARE"]
    assert products_of(recs, "stranger") == products_of(recs, "nobody")
    assert set(recs["source"]) == {"popular"}
    # share of the 3 customers active in the last 28 days who bought the product
    assert recs["score"].tolist()[:3] == pytest.approx([1.0, 1.0, 1 / 3])


def test_popularity_baseline_matches_the_fallback(trending: pd.DataFrame) -> None:
    popular = PopularityRecommender().fit(trending, AS_OF).recommend(["old0", "x"], n=2)
    assert products_of(popular, "old0") == products_of(popular, "x") == ["NEW", "SIDE"]
    longer = PopularityRecommender(recent_days=120).fit(trending, AS_OF).recommend(["x"], n=1)
    assert products_of(longer, "x") == ["OLD"]


def test_short_histories_are_filled_with_popular_products(trending: pd.DataFrame) -> None:
    recs = BuyAgainRecommender().fit(trending, AS_OF).recommend(["old0"], n=3)
    assert recs["product_id"].tolist() == ["OLD", "NEW", "SIDE"]
    assert recs["source"].tolist() == ["buy_again", "popular", "popular"]


# --- non-products ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["POST", "post", "DOT", "M", "m", "D", "S", "C2", "CRUK", "ADJUST", "ADJUST2",
     "BANK CHARGES", "AMAZONFEE", "TEST001", "gift_0001_20", "PADS", "B"],
)  # fmt: skip
def test_non_product_pattern_matches_fees_and_adjustments(code: str) -> None:
    assert pd.Series([code]).str.fullmatch(NON_PRODUCT_PATTERN, case=False).iloc[0]


@pytest.mark.parametrize("code", ["85123A", "22423", "84997d", "DCGS0058", "MUG", "SOAP"])
def test_non_product_pattern_keeps_real_products(code: str) -> None:
    assert not pd.Series([code]).str.fullmatch(NON_PRODUCT_PATTERN, case=False).iloc[0]


def test_postage_and_fees_are_never_recommended() -> None:
    lines: list[tuple] = []
    for i in range(10):
        lines += basket(f"c{i}", f"o{i}", 80 + i, "POST", "BANK CHARGES", "M", f"P{i % 3}")
    orders = make_orders(lines)
    model = ItemKNNRecommender().fit(orders, AS_OF)
    recs = model.recommend(n=5)
    assert set(model.products_) == {"P0", "P1", "P2"}
    assert set(recs["product_id"]) == {"P0", "P1", "P2"}
    kept = ItemKNNRecommender().fit(orders, AS_OF, exclude_products=None)
    assert kept.recommend(["new"], n=1)["product_id"].iloc[0] in {"POST", "BANK CHARGES", "M"}
    listed = ItemKNNRecommender().fit(orders, AS_OF, exclude_products=["P0", "POST"])
    assert not {"P0", "POST"} & set(listed.products_)


# --- time --------------------------------------------------------------------------------


def test_rows_after_as_of_do_not_change_recommendations(co_bought: pd.DataFrame) -> None:
    future = make_orders(
        basket("u5", "f1", 95, "DATES", "EGGS")  # after AS_OF (day 90)
        + basket("u9", "f2", 100, "APPLE", "EGGS")
        + basket("u1", "f3", 91, "CHEESE")
    )
    for model in (ItemKNNRecommender(), PopularityRecommender(), BuyAgainRecommender()):
        alone = clone(model).fit(co_bought, AS_OF).recommend(["u1", "u5", "u9"], n=4)
        more = clone(model).fit(pd.concat([co_bought, future]), AS_OF)
        pd.testing.assert_frame_equal(more.recommend(["u1", "u5", "u9"], n=4), alone)
        assert "EGGS" not in set(more.products_)


def test_a_date_as_of_includes_that_whole_day() -> None:
    orders = make_orders(basket("c1", "o1", 10, "MUG"))
    orders.loc[0, "order_date"] = pd.Timestamp("2024-03-31 15:30")
    model = BuyAgainRecommender().fit(orders, "2024-03-31")
    assert list(model.products_) == ["MUG"]
    with pytest.raises(DataError, match="No purchases"):
        BuyAgainRecommender().fit(orders, "2024-03-30")


# --- output contract and scale -----------------------------------------------------------


def test_output_contract(co_bought: pd.DataFrame) -> None:
    model = ItemKNNRecommender().fit(co_bought, AS_OF)
    recs = model.recommend(["u5", "ghost", "u1", "u5"], n=10)
    assert tuple(recs.columns) == RECOMMENDATION_COLUMNS
    assert recs["customer_id"].drop_duplicates().tolist() == ["u5", "ghost", "u1"]
    assert recs.groupby("customer_id").size().eq(4).all()  # n capped at the 4 products
    assert recs.groupby("customer_id")["rank"].apply(list).map([1, 2, 3, 4].__eq__).all()
    assert not recs.duplicated(["customer_id", "product_id"]).any()
    assert set(recs["source"]) <= {"similar", "buy_again", "popular"}
    for column in ("customer_id", "product_id", "source"):
        assert pd.api.types.is_string_dtype(recs[column])
    assert recs["rank"].dtype == np.int64 and recs["score"].dtype == np.float64
    assert len(model.recommend()) == 4 * len(model.customers_)


def test_chunked_scoring_gives_the_same_lists(
    co_bought: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ItemKNNRecommender().fit(co_bought, AS_OF)
    whole = model.recommend(n=3)
    monkeypatch.setattr(recommend, "_CHUNK_CELLS", 1)  # one customer per chunk
    pd.testing.assert_frame_equal(model.recommend(n=3), whole)
    pd.testing.assert_frame_equal(ItemKNNRecommender().fit(co_bought, AS_OF).recommend(n=3), whole)


def test_estimator_conventions(co_bought: pd.DataFrame) -> None:
    model = ItemKNNRecommender(n_neighbors=7, buy_again_weight=0.5)
    assert model.get_params()["n_neighbors"] == 7
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(RuntimeError, match="not fitted"):
        model.recommend()
    assert model.fit(co_bought, AS_OF) is model
    assert model.as_of_ == AS_OF
    with pytest.raises(ValueError, match="n must be"):
        model.recommend(n=0)


def test_invalid_parameters_and_columns_are_named(co_bought: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="buy_again_weight"):
        ItemKNNRecommender(buy_again_weight=1.5).fit(co_bought, AS_OF)
    with pytest.raises(ValueError, match="weighting"):
        ItemKNNRecommender(weighting="tfidf").fit(co_bought, AS_OF)
    with pytest.raises(DataError, match="product_id"):
        ItemKNNRecommender().fit(co_bought.drop(columns="product_id"), AS_OF)


# --- backtest ----------------------------------------------------------------------------


def test_evaluate_recommenders_hand_computed() -> None:
    orders = make_orders(
        basket("c1", "a", 80, "X")
        + basket("c1", "b", 85, "X", "Y")
        + basket("c2", "c", 86, "Y")
        + basket("c3", "d", 87, "X")
        + basket("c1", "e", 95, "Y", "Z")  # test window (AS_OF is day 90)
        + basket("c2", "f", 99, "X")
        + basket("c4", "g", 99, "X")  # no history before AS_OF: not evaluated
        + basket("c2", "h", 200, "Z")  # after the horizon: ignored
    )
    popularity, buy_again = PopularityRecommender(), BuyAgainRecommender()
    table = evaluate_recommenders(
        orders, AS_OF, horizon_days=30, n=1,
        recommenders={"popularity": popularity, "buy_again": buy_again},
    )  # fmt: skip
    # popularity recommends X (2 buyers, X before Y): c1 buys {Y, Z} -> miss, c2 {X} -> hit
    # buy again: c1 -> X (2 orders) -> miss; c2 -> Y -> miss
    expected = pd.DataFrame(
        {
            "model": ["popularity", "buy_again"],
            "hit_rate": [0.5, 0.0],
            "recall": [0.5, 0.0],
            "precision": [0.5, 0.0],
            "customers": [2, 2],
        }
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert not hasattr(popularity, "products_")  # estimators are cloned, not fitted in place


def planted_shop(seed: int = 0) -> pd.DataFrame:
    """Two groups of customers with disjoint tastes; the larger group dominates popularity."""
    rng = np.random.default_rng(seed)
    lines: list[tuple] = []
    for group, size in (("A", 60), ("B", 30)):
        catalogue = [f"{group}{i}" for i in range(20)]
        for c in range(size):
            customer = f"{group}-{c}"
            for k, day in enumerate((20 + c % 30, 50 + c % 30, 100 + c % 20)):
                items = rng.choice(catalogue, size=4, replace=False)
                lines += basket(customer, f"{customer}-{k}", day, *items)
    return make_orders(lines)


def test_model_beats_popularity_on_planted_tastes() -> None:
    table = evaluate_recommenders(planted_shop(), AS_OF, horizon_days=60, n=5)
    table = table.set_index("model")
    assert table.loc["model", "customers"] == 90
    for metric in ("hit_rate", "recall"):
        assert table.loc["model", metric] > table.loc["popularity", metric]
    # popularity shows group A's products to group B, who never buy them
    recs = PopularityRecommender().fit(planted_shop(), AS_OF).recommend(["B-0"], n=5)
    assert recs["product_id"].str.startswith("A").all()
    model_recs = ItemKNNRecommender().fit(planted_shop(), AS_OF).recommend(["B-0"], n=10)
    assert model_recs["product_id"].str.startswith("B").all()


def test_own_products_come_back_even_when_nobody_reorders() -> None:
    orders = make_orders(basket("c1", "o1", 80, "LAMP") + basket("c2", "o2", 81, "RUG"))
    recs = ItemKNNRecommender().fit(orders, AS_OF).recommend(["c1", "c2"], n=1)
    assert recs["product_id"].tolist() == ["LAMP", "RUG"]
    assert set(recs["source"]) == {"buy_again"}


# --- a large catalogue: sparse similarities and scores -----------------------------------


def long_tail_shop(seed: int = 0) -> pd.DataFrame:
    """A marketplace: 1,500 customers buying 1-4 of 3,000 products, a few popular ones, in
    baskets of related products, on 90 days (so buy-again, similar and popular all occur)."""
    rng = np.random.default_rng(seed)
    lines: list[tuple] = []
    for c in range(1_500):
        for k in range(rng.integers(1, 3)):
            start = int(rng.zipf(1.3)) % 3_000
            items = {f"P{(start + int(j)) % 3_000:04d}" for j in rng.integers(0, 6, 2)}
            lines += basket(f"c{c}", f"c{c}-{k}", int(rng.integers(0, 90)), *sorted(items))
    return make_orders(lines)


@pytest.mark.parametrize("model", [ItemKNNRecommender(n_neighbors=5_000),
                                   BuyAgainRecommender()], ids=["item_knn", "buy_again"])
def test_a_sparse_shop_is_scored_sparsely_with_the_same_lists(
    model, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = long_tail_shop()
    sparse = clone(model).fit(orders, AS_OF)
    assert sparse.sparse_  # few products per customer among many: chosen by itself
    monkeypatch.setattr(recommend, "SPARSE_SHARE", 0.0)  # the dense way, cell by cell
    dense = clone(model).fit(orders, AS_OF)
    assert not dense.sparse_
    if isinstance(model, ItemKNNRecommender):  # every neighbour kept: no tie at the k-th
        assert (sparse.similarity_ != dense.similarity_).nnz == 0
    expected = dense.recommend(n=10)
    assert set(expected["source"]) >= {"popular", "buy_again"}
    pd.testing.assert_frame_equal(sparse.recommend(n=10), expected, check_exact=True)
    some = ["c7", "nobody", "c3"]
    pd.testing.assert_frame_equal(sparse.recommend(some, n=4), dense.recommend(some, n=4))


def test_a_dense_shop_stays_dense() -> None:
    assert not ItemKNNRecommender().fit(planted_shop(), AS_OF).sparse_


def test_sparse_top_k_keeps_the_largest_positive_values_ties_to_the_lower_column() -> None:
    import scipy.sparse as sp

    dense = np.array([[0.5, 0.0, 0.5, 0.9, -1.0, 0.5],
                      [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                      [0.1, 0.2, 0.0, 0.0, 0.0, 0.3]])
    kept = recommend._top_k_sparse(sp.csr_matrix(dense), 3).toarray()
    np.testing.assert_array_equal(kept, [[0.5, 0, 0.5, 0.9, 0, 0], [0] * 6,
                                         [0.1, 0.2, 0, 0, 0, 0.3]])
    top, best = recommend._top_n_sparse(sp.csr_matrix(dense), 4)
    # positive values first, then the lowest columns without one, at 0
    np.testing.assert_array_equal(top, [[3, 0, 2, 5], [0, 1, 2, 3], [5, 1, 0, 2]])
    np.testing.assert_array_equal(best, [[0.9, 0.5, 0.5, 0.5], [0] * 4, [0.3, 0.2, 0.1, 0]])


def test_an_order_id_two_customers_share_counts_a_purchase_for_each():
    # an export's mistake: one order id under two customers; each bought APPLE in it
    orders = make_orders(basket("X", "o1", 80, "APPLE", "APPLE", "BREAD")
                         + basket("Y", "o1", 81, "APPLE") + basket("Z", "o2", 82, "APPLE"))
    history = recommend._history(orders, AS_OF, None, recent_days=28)
    bought = history.matrix(np.ones(len(history.customer_code))).toarray()
    apple = history.products.get_loc("APPLE")
    assert dict(zip(history.customers, bought[:, apple], strict=True)) == \
        {"X": 1.0, "Y": 1.0, "Z": 1.0}  # one purchase each: X's two lines are one
    assert history.recent_buyers[apple] == 3
