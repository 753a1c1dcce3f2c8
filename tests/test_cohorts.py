import numpy as np
import pandas as pd
import pytest

from analytics.cohorts import cohort_matrix, cohort_table, monthly_activity, retention_kpis


@pytest.fixture
def orders() -> pd.DataFrame:
    rows = [
        ("X", "x1", "2024-01-05", 10.0), ("X", "x2", "2024-02-10", 20.0),
        ("X", "x3", "2024-04-01", 30.0),
        ("Y", "y1", "2024-01-20", 40.0), ("Y", "y2", "2024-03-03", 50.0),
        ("Z", "z1", "2024-02-14", 60.0),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    return frame.assign(order_date=pd.to_datetime(frame["order_date"]))


def test_cohort_counts_and_rates(orders):
    cohorts = cohort_table(orders)
    jan = cohorts.loc[cohorts["cohort"] == "2024-01"].set_index("period")
    assert jan["customers"].to_dict() == {0: 2, 1: 1, 2: 1, 3: 1}
    assert jan["retention"].to_dict() == {0: 1.0, 1: 0.5, 2: 0.5, 3: 0.5}
    feb = cohorts.loc[cohorts["cohort"] == "2024-02"]
    assert feb[["period", "customers", "cohort_size"]].values.tolist() == [[0, 1, 1]]
    matrix = cohort_matrix(cohorts)
    assert list(matrix.index) == ["2024-01", "2024-02"]
    assert pd.isna(matrix.loc["2024-02", 1])


def test_monthly_activity(orders):
    monthly = monthly_activity(orders)
    assert list(monthly.index) == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert monthly["active_customers"].tolist() == [2, 2, 1, 1]
    assert monthly["new_customers"].tolist() == [2, 1, 0, 0]
    assert monthly["revenue"].tolist() == [50.0, 80.0, 50.0, 30.0]
    assert monthly.loc["2024-02", "avg_order_value"] == 40.0


def test_retention_kpis(orders):
    kpis = retention_kpis(orders, pd.Timestamp("2024-04-30"))
    assert kpis["customers"] == 3
    assert kpis["repeat_purchase_rate"] == pytest.approx(2 / 3)
    # X reordered after 36 days, Y after 43: neither within 30 days, both within 90.
    assert kpis["new_customer_repeat_rate_30d"] == 0.0
    assert kpis["new_customer_repeat_30d_base"] == 3
    assert kpis["new_customer_repeat_rate_90d"] == 1.0
    assert kpis["new_customer_repeat_90d_base"] == 2
    assert kpis["active_customers_90d"] == 3
    assert kpis["avg_order_value"] == pytest.approx(35.0)


def test_new_customer_repeat_rates_match_a_customer_by_customer_count():
    rng = np.random.default_rng(5)
    n = 3000  # unsorted, several orders on one timestamp, one-order customers
    frame = pd.DataFrame({
        "customer_id": rng.integers(0, 400, n).astype(str),
        "order_id": np.arange(n).astype(str),
        "order_date": pd.Timestamp("2024-01-01")
        + pd.to_timedelta(rng.integers(0, 120, n), unit="D"),
        "amount": 1.0,
    })
    as_of = pd.Timestamp("2024-04-30")
    kpis = retention_kpis(frame, as_of)
    for days in (30, 90):
        base = repeated = 0
        for _customer, dates in frame.groupby("customer_id")["order_date"]:
            dates = sorted(dates)
            if dates[0] <= as_of - pd.Timedelta(days=days):
                base += 1
                repeated += len(dates) > 1 and dates[1] - dates[0] <= pd.Timedelta(days=days)
        assert kpis[f"new_customer_repeat_{days}d_base"] == base
        assert kpis[f"new_customer_repeat_rate_{days}d"] == pytest.approx(repeated / base)


def test_kpis_of_no_orders_are_empty_not_an_error(orders):
    kpis = retention_kpis(orders.iloc[:0], pd.Timestamp("2024-04-30"))
    assert kpis["customers"] == 0 and kpis["new_customer_repeat_30d_base"] == 0
