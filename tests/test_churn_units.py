import numpy as np
import pandas as pd
import pytest

from analytics.churn import (
    ChurnModel,
    churn_labels,
    churn_reasons,
    heuristic_churn,
    snapshot_cutoffs,
)
from analytics.features import customer_features

CUTOFF = pd.Timestamp("2024-06-30")


def _orders(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    return frame.assign(order_date=pd.to_datetime(frame["order_date"]))


@pytest.fixture
def orders() -> pd.DataFrame:
    return _orders([
        # R: every 40 days, last on 2024-02-21 -> 130 days overdue = 3.2x the usual gap
        ("R", "2023-11-03", 50), ("R", "2023-12-13", 50), ("R", "2024-01-22", 50),
        ("R", "2024-02-21", 50),
        ("S", "2024-03-01", 80),                         # one order, 121 days ago
        ("T", "2024-06-01", 20), ("T", "2024-06-29", 30),  # active
        ("T", "2024-07-15", 30),                         # after the cut-off
        ("R", "2024-10-20", 70),                         # after the horizon
    ])


def test_features_use_only_rows_up_to_the_cutoff(orders):
    f = customer_features(orders, CUTOFF, 90)
    assert f.loc["T", "frequency"] == 2 and f.loc["T", "recency_days"] == 1
    assert f.loc["R", "mean_gap_days"] == pytest.approx((40 + 40 + 30) / 3)
    assert f.loc["R", "recency_days"] == 130
    future = _orders([("T", "2024-07-02", 999), ("NEW", "2024-07-03", 5)])
    later = customer_features(pd.concat([orders, future], ignore_index=True), CUTOFF, 90)
    pd.testing.assert_frame_equal(f, later)


def test_labels_look_at_the_horizon_after_the_cutoff(orders):
    f = customer_features(orders, CUTOFF, 90)
    y = churn_labels(orders, CUTOFF, 90, f.index)
    assert y.to_dict() == {"R": 1, "S": 1, "T": 0}
    assert churn_labels(orders, CUTOFF, 120, f.index)["R"] == 0


def test_snapshot_cutoffs_step_back_one_horizon_and_keep_history():
    cutoffs = snapshot_cutoffs(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-12-31"), 90)
    assert [c.date().isoformat() for c in cutoffs] == ["2024-10-02", "2024-07-04",
                                                       "2024-04-05"]
    assert snapshot_cutoffs(pd.Timestamp("2024-10-01"), pd.Timestamp("2024-12-31"), 90) == []


def test_reasons_in_plain_words(orders):
    f = customer_features(orders, CUTOFF, 90)
    reasons = churn_reasons(f, 90)
    assert reasons["R"].startswith("no order for 130 days, 3.5× their usual gap of 37 days")
    assert reasons["S"] == "one order only, 121 days ago"
    assert reasons["T"] == "buying at their usual pace"


def test_heuristic_ranks_overdue_customers_higher(orders):
    f = customer_features(orders, CUTOFF, 90)
    p = heuristic_churn(f, 90)
    assert ((p > 0) & (p < 1)).all()
    assert p["T"] < p["R"] and p["T"] < p["S"]


def test_small_shop_falls_back_to_the_heuristic_with_a_warning(orders):
    with pytest.warns(UserWarning, match="heuristic"):
        model = ChurnModel(horizon_days=90).fit(orders, CUTOFF)
    assert model.fallback_
    f = customer_features(orders, CUTOFF, 90)
    pd.testing.assert_series_equal(model.predict(f), heuristic_churn(f, 90))


def test_model_learns_a_planted_pattern():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(600):
        loyal = i % 2 == 0
        start = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(rng.integers(0, 60)))
        gap = 20 if loyal else 45
        stop = pd.Timestamp("2025-01-01") if loyal else start + pd.Timedelta(
            days=int(rng.integers(60, 500)))
        day = start
        while day < stop:
            rows.append((f"c{i}", day, 10.0))
            day += pd.Timedelta(days=int(rng.poisson(gap)) + 1)
    orders = _orders(rows)
    as_of = pd.Timestamp("2024-03-31")
    model = ChurnModel(horizon_days=60).fit(orders, as_of)
    assert model.fallback_ is None and len(model.cutoffs_) >= 2
    f = customer_features(orders, as_of, 60)
    y = churn_labels(orders, as_of, 60, f.index)
    p = model.predict(f)
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(y, p) > 0.9
