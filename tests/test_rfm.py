import numpy as np
import pandas as pd
import pytest

from analytics.rfm import (
    DEFAULT_SEGMENT_RULES,
    SegmentRule,
    assign_segments,
    order_codes,
    order_table,
    quintile_scores,
    rfm_scores,
    rfm_table,
)

AS_OF = pd.Timestamp("2024-03-31")


@pytest.fixture
def lines() -> pd.DataFrame:
    rows = [
        ("A", "a1", "2024-01-01 10:00", 60.0), ("A", "a1", "2024-01-01 10:00", 40.0),
        ("A", "a2", "2024-03-01 09:00", 50.0),
        ("B", "b1", "2024-03-30 18:00", 20.0),
        ("C", "c1", "2023-12-01 08:00", 500.0), ("C", "c2", "2024-01-15 08:00", 300.0),
        ("C", "c3", "2024-02-20 08:00", 200.0),
        ("D", "d1", "2023-06-01 12:00", 10.0),
        ("E", "e1", "2024-03-31 08:00", 80.0), ("E", "e2", "2024-03-31 20:00", 80.0),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    return frame.assign(order_date=pd.to_datetime(frame["order_date"]))


def test_rfm_table_hand_computed(lines):
    rfm = rfm_table(order_table(lines), AS_OF)
    assert rfm.loc["A", "recency_days"] == 30
    assert rfm["recency_days"].to_dict() == {"A": 30, "B": 1, "C": 40, "D": 304, "E": 0}
    assert rfm["frequency"].to_dict() == {"A": 2, "B": 1, "C": 3, "D": 1, "E": 2}
    assert rfm["monetary"].to_dict() == {"A": 150, "B": 20, "C": 1000, "D": 10, "E": 160}
    assert rfm.loc["C", "avg_order_value"] == pytest.approx(1000 / 3)


def test_order_table_without_order_id_treats_each_timestamp_as_an_order(lines):
    orders = order_table(lines.drop(columns="order_id"))
    per_customer = orders.groupby("customer_id").size().to_dict()
    assert per_customer == {"A": 2, "B": 1, "C": 3, "D": 1, "E": 2}
    assert orders.loc[orders["customer_id"] == "A", "amount"].max() == 100


def test_lines_missing_their_order_id_still_count_as_orders(lines):
    ids = lines["order_id"].astype("str").mask(lines["customer_id"].isin(["A", "E"]))
    rfm = rfm_table(order_table(lines.assign(order_id=ids)), AS_OF)
    # A's two lines at one time are one order, E's two times two: nothing is lost
    assert rfm["frequency"].to_dict() == {"A": 2, "B": 1, "C": 3, "D": 1, "E": 2}
    assert rfm["monetary"].to_dict() == {"A": 150, "B": 20, "C": 1000, "D": 10, "E": 160}


def test_an_order_id_two_customers_share_is_an_order_of_each_in_first_seen_order(lines):
    # B's order carries A's id (an export's mistake); A's first order's lines are apart
    shared = lines.assign(order_id=lines["order_id"].replace("b1", "a2")).iloc[
        [0, 2, 1, *range(3, len(lines))]]
    expected = pd.DataFrame({
        "customer_id": ["A", "A", "B", "C", "C", "C", "D", "E", "E"],
        "order_id": ["a1", "a2", "a2", "c1", "c2", "c3", "d1", "e1", "e2"],
        "amount": [100.0, 50.0, 20.0, 500.0, 300.0, 200.0, 10.0, 80.0, 80.0]})
    as_codes = shared.assign(customer_id=pd.factorize(shared["customer_id"])[0])
    for frame in (shared, as_codes):
        for orders in (order_table(frame), order_table(frame, order_codes(frame))):
            assert orders.columns.tolist() == ["customer_id", "order_id", "order_date",
                                               "amount"]
            assert orders["customer_id"].dtype == frame["customer_id"].dtype
            got = orders.assign(customer_id=orders["customer_id"].map(
                dict(zip(frame["customer_id"], shared["customer_id"], strict=True))))
            assert got[["customer_id", "order_id", "amount"]].to_dict("list") == \
                expected.to_dict("list")
            assert got["order_date"].iloc[1] == pd.Timestamp("2024-03-01 09:00")
    # without a shared id each order id is one customer's: what grouping the text gives
    grouped = lines.groupby(["customer_id", "order_id"], sort=False).agg(
        order_date=("order_date", "min"), amount=("amount", "sum")).reset_index()
    assert order_table(lines, order_codes(lines)).equals(grouped)


def test_scores_and_segments_hand_computed(lines):
    scored = rfm_scores(rfm_table(order_table(lines), AS_OF))
    assert scored["rfm_r"].to_dict() == {"A": 3, "B": 4, "C": 2, "D": 1, "E": 5}
    assert scored["rfm_f"].to_dict() == {"A": 3, "B": 1, "C": 5, "D": 1, "E": 3}
    assert scored["rfm_m"].to_dict() == {"A": 3, "B": 2, "C": 5, "D": 1, "E": 4}
    assert scored.loc["E", "rfm_code"] == "534"
    assert scored.loc["E", "rfm_score"] == pytest.approx(4.0)
    segments = assign_segments(scored).to_dict()
    assert segments == {"A": "Loyal Customers", "B": "Promising", "C": "At Risk",
                        "D": "Lost", "E": "Loyal Customers"}


def test_ties_share_one_score_and_one_time_buyers_score_lowest():
    frequency = pd.Series([1] * 60 + [2] * 15 + [3] * 10 + list(range(4, 19)))
    scores = quintile_scores(frequency)
    assert set(scores[:60]) == {1}
    assert scores.iloc[60:75].nunique() == 1
    assert scores.max() == 5 and scores.iloc[-1] == 5


def test_small_shops_get_valid_scores():
    assert quintile_scores(pd.Series([7.0])).tolist() == [1]
    assert quintile_scores(pd.Series([3.0, 1.0])).tolist() == [3, 1]
    assert quintile_scores(pd.Series([5, 5, 5])).tolist() == [1, 1, 1]
    assert quintile_scores(pd.Series([], dtype=float)).empty


def test_default_rules_give_every_customer_one_of_the_eleven_segments():
    grid = pd.DataFrame(
        [(r, f, m, n) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)
         for n in (1, 2, 5)],
        columns=["rfm_r", "rfm_f", "rfm_m", "frequency"],
    ).sample(frac=1, random_state=1)
    grid["rfm_fm"] = (grid["rfm_f"] + grid["rfm_m"]) / 2
    segments = assign_segments(grid)
    assert "Other" not in set(segments)
    assert set(segments) == {rule.name for rule in DEFAULT_SEGMENT_RULES}
    assert len(DEFAULT_SEGMENT_RULES) == 11


def test_callers_can_override_the_rule_map(lines):
    scored = rfm_scores(rfm_table(order_table(lines), AS_OF))
    rules = [SegmentRule("Whales", {"monetary": (500, np.inf)}),
             SegmentRule("Recent", {"recency_days": (0, 7)})]
    segments = assign_segments(scored, rules, default="Everyone else").to_dict()
    assert segments == {"A": "Everyone else", "B": "Recent", "C": "Whales",
                        "D": "Everyone else", "E": "Recent"}


def test_a_rule_on_a_missing_column_names_it(lines):
    scored = rfm_scores(rfm_table(order_table(lines), AS_OF))
    with pytest.raises(KeyError, match="margin"):
        assign_segments(scored, [SegmentRule("Profitable", {"margin": (0.3, 1)})])
