"""The synthetic sample shop: determinism, ground truth, designed behaviour, dirt, files."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from analytics.errors import DataError
from analytics.sample import (
    DEFAULT_CUSTOMER_TYPES,
    SAMPLE_SHOP_PATH,
    SAMPLE_TRUTH_PATH,
    generate_sample_shop,
    load_sample_truth,
    write_sample_shop,
)
from analytics.schema import (
    AMOUNT,
    CANONICAL_COLUMNS,
    CATEGORY,
    COUPON_CODE,
    CUSTOMER_ID,
    DISCOUNT,
    ORDER_DATE,
    ORDER_ID,
    PRODUCT_ID,
    QUANTITY,
    STATUS,
    UNIT_PRICE,
)

START = pd.Timestamp("2024-01-01")
MONTHS = 18
END = START + pd.DateOffset(months=MONTHS)
STRING_COLUMNS = {ORDER_ID: str, CUSTOMER_ID: str, PRODUCT_ID: str, COUPON_CODE: str}


@pytest.fixture(scope="module")
def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_sample_shop(customers=800, months=MONTHS, seed=11, start="2024-01-01")


@pytest.fixture(scope="module")
def orders(shop):
    return shop[0]


@pytest.fixture(scope="module")
def truth(shop):
    return shop[1]


def is_return(orders: pd.DataFrame) -> pd.Series:
    return orders[ORDER_ID].str.startswith("C")


def sales(orders: pd.DataFrame) -> pd.DataFrame:
    """Registered customers' purchase lines, without returns and duplicate rows."""
    keep = ~is_return(orders) & orders[CUSTOMER_ID].notna()
    return orders[keep].drop_duplicates()


@pytest.fixture(scope="module")
def per_customer(orders, truth) -> pd.DataFrame:
    """Truth joined with each customer's orders, order value, coupon use and active months."""
    lines = sales(orders)
    by_order = lines.groupby(ORDER_ID).agg(
        customer=(CUSTOMER_ID, "first"),
        when=(ORDER_DATE, "first"),
        value=(AMOUNT, "sum"),
        coupon=(COUPON_CODE, lambda codes: codes.notna().any()),
    )
    stats = by_order.groupby("customer").agg(
        orders=("when", "size"), aov=("value", "mean"), coupon_share=("coupon", "mean")
    )
    table = truth.set_index(CUSTOMER_ID).join(stats)
    alive_until = table["churn_date"].fillna(END).clip(upper=END)
    table["active_months"] = (alive_until - table["acquired_at"]).dt.days / 30.44
    return table


def test_same_seed_gives_identical_frames_and_another_seed_differs(shop):
    again = generate_sample_shop(customers=800, months=MONTHS, seed=11, start="2024-01-01")
    assert_frame_equal(shop[0], again[0])
    assert_frame_equal(shop[1], again[1])
    other_orders, other_truth = generate_sample_shop(customers=800, months=MONTHS, seed=12)
    assert not shop[0].equals(other_orders)
    assert not shop[1].equals(other_truth)


def test_orders_have_canonical_columns_and_string_ids(orders):
    # every field but a status: returns are lines of their own, as in the UCI exports
    assert set(orders.columns) == set(CANONICAL_COLUMNS) - {STATUS}
    ids = orders[CUSTOMER_ID].dropna()
    assert ids.str.fullmatch(r"\d{6}").all()
    assert ids.str.startswith("0").all()  # 800 customers: every id has leading zeros
    assert orders.loc[~is_return(orders), ORDER_ID].str.fullmatch(r"\d{6,}").all()
    assert orders[PRODUCT_ID].str.fullmatch(r"P\d{4}").all()
    assert pd.api.types.is_integer_dtype(orders[QUANTITY])
    assert pd.api.types.is_datetime64_any_dtype(orders[ORDER_DATE])
    assert (orders[ORDER_DATE].dt.hour > 0).any()  # a time of day, not just dates


def test_orders_are_sorted_by_date_within_the_period(orders):
    assert orders[ORDER_DATE].is_monotonic_increasing
    assert orders[ORDER_DATE].min() >= START
    assert orders[ORDER_DATE].max() < END


def test_lines_of_an_order_share_customer_and_time(orders):
    per_order = orders.groupby(ORDER_ID).agg(
        customers=(CUSTOMER_ID, lambda ids: ids.nunique(dropna=False)),
        times=(ORDER_DATE, "nunique"),
    )
    assert (per_order["customers"] == 1).all()
    assert (per_order["times"] == 1).all()
    assert (orders.groupby(ORDER_ID).size() > 1).mean() > 0.3  # baskets, not single lines


def test_no_order_of_a_churned_customer_after_its_churn_date(orders, truth):
    joined = orders.merge(truth, on=CUSTOMER_ID, validate="many_to_one")
    churned = joined[joined["churned"]]
    assert len(churned) > 0
    assert (churned[ORDER_DATE] <= churned["churn_date"]).all()
    assert truth.loc[truth["churned"], "churn_date"].lt(END).all()
    assert truth.loc[~truth["churned"], "churn_date"].isna().all()


def test_some_customers_churn_and_some_are_still_alive(truth):
    assert 0.2 < truth["churned"].mean() < 0.9


def test_first_order_is_acquired_at(orders, truth):
    first = orders.dropna(subset=[CUSTOMER_ID]).groupby(CUSTOMER_ID)[ORDER_DATE].min()
    acquired = truth.set_index(CUSTOMER_ID)["acquired_at"]
    pd.testing.assert_series_equal(first.sort_index(), acquired.sort_index(), check_names=False)


def test_truth_and_orders_cover_the_same_customers(orders, truth):
    assert truth[CUSTOMER_ID].is_unique
    assert len(truth) == 800
    assert set(orders[CUSTOMER_ID].dropna()) == set(truth[CUSTOMER_ID])


def test_new_customers_arrive_every_month_and_more_later(truth):
    cohorts = truth["acquired_at"].dt.to_period("M").value_counts()
    assert len(cohorts) == MONTHS
    first_half = truth["acquired_at"] < START + pd.DateOffset(months=MONTHS // 2)
    assert (~first_half).sum() > 1.2 * first_half.sum()


def test_demand_peaks_in_november_and_december(orders):
    when = sales(orders).drop_duplicates(ORDER_ID)[ORDER_DATE]
    peak = when.between("2024-11-01", "2024-12-31 23:59:59").sum()
    after = when.between("2025-01-01", "2025-02-28 23:59:59").sum()
    assert peak > 1.15 * after  # despite more customers in 2025


def test_loyal_customers_buy_far_more_often_than_one_time_buyers(per_customer):
    by_type = per_customer.groupby("customer_type")
    assert (by_type.get_group("one_time")["orders"] == 1).all()
    loyal = by_type.get_group("loyal")
    loyal_rate = (loyal["orders"] / loyal["active_months"].clip(lower=1)).mean()
    occasional = by_type.get_group("occasional")
    occasional_rate = (occasional["orders"] / occasional["active_months"].clip(lower=1)).mean()
    assert loyal_rate > 1.5
    assert loyal_rate > 2.5 * occasional_rate


def test_big_spenders_place_large_orders_and_bargain_hunters_use_coupons(per_customer):
    aov = per_customer.groupby("customer_type")["aov"].mean()
    assert aov["big_spender"] > 3 * aov.drop("big_spender").max()
    assert aov["bargain_hunter"] < aov["occasional"]
    coupons = per_customer.groupby("customer_type")["coupon_share"].mean()
    assert coupons["bargain_hunter"] > 0.5
    assert coupons["bargain_hunter"] > 2 * coupons.drop(["bargain_hunter", "one_time"]).max()


def test_loyal_customers_order_at_more_regular_intervals(orders, truth):
    lines = sales(orders).drop_duplicates(ORDER_ID)
    gaps = lines.groupby(CUSTOMER_ID)[ORDER_DATE].diff().dt.total_seconds()
    spread = gaps.groupby(lines[CUSTOMER_ID]).agg(["mean", "std", "count"])
    spread = spread[spread["count"] >= 4].join(truth.set_index(CUSTOMER_ID)["customer_type"])
    variation = (spread["std"] / spread["mean"]).groupby(spread["customer_type"]).median()
    assert variation["loyal"] < 0.8 * variation["occasional"]


def test_customers_stick_to_their_categories_and_rebuy_favourites(orders):
    lines = sales(orders)
    counts = lines.groupby([CUSTOMER_ID, CATEGORY]).size()
    totals = counts.groupby(level=0).sum()
    top_share = (counts.groupby(level=0).max() / totals)[totals >= 8]
    overall_top = lines[CATEGORY].value_counts(normalize=True).iloc[0]
    assert top_share.mean() > overall_top + 0.2
    bought = lines.groupby([CUSTOMER_ID, PRODUCT_ID])[ORDER_ID].nunique()
    rebuys = bought.groupby(level=0).max()
    many_orders = lines.groupby(CUSTOMER_ID)[ORDER_ID].nunique() >= 6
    assert (rebuys[many_orders] >= 3).mean() > 0.5


def test_kmeans_on_log_rfm_recovers_the_types(per_customer, orders):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    last = sales(orders).groupby(CUSTOMER_ID)[ORDER_DATE].max()
    recency = (END - last).dt.days + 1
    monetary = sales(orders).groupby(CUSTOMER_ID)[AMOUNT].sum().clip(lower=1)
    features = pd.concat([recency, per_customer["orders"], monetary], axis=1).dropna()
    scaled = StandardScaler().fit_transform(np.log(features.to_numpy(dtype=float)))
    labels = KMeans(n_clusters=5, n_init=10, random_state=0).fit_predict(scaled)
    types = per_customer.loc[features.index, "customer_type"]
    assert adjusted_rand_score(types, labels) > 0.18


def test_dirt_comes_in_about_the_stated_proportions(orders):
    returns = is_return(orders).mean()
    guests = orders[CUSTOMER_ID].isna().mean()
    duplicates = orders.duplicated().mean()
    assert 0.006 < returns < 0.014
    assert 0.006 < guests < 0.014
    assert 0.001 < duplicates < 0.003
    assert (orders.loc[is_return(orders), QUANTITY] < 0).all()
    assert (orders.loc[~is_return(orders), QUANTITY] > 0).all()
    assert orders.loc[is_return(orders), CUSTOMER_ID].notna().all()


def test_returns_reference_an_earlier_purchase_of_the_customer(orders):
    returned = orders[is_return(orders)].drop_duplicates().assign(
        original=lambda frame: frame[ORDER_ID].str.removeprefix("C")
    )
    bought = sales(orders)
    matched = returned.merge(
        bought,
        left_on=["original", CUSTOMER_ID, PRODUCT_ID],
        right_on=[ORDER_ID, CUSTOMER_ID, PRODUCT_ID],
        suffixes=("", "_sale"),
        validate="many_to_one",
    )
    assert len(matched) == len(returned)
    assert (matched[ORDER_DATE] > matched[f"{ORDER_DATE}_sale"]).all()
    assert (-matched[QUANTITY] <= matched[f"{QUANTITY}_sale"]).all()


def test_amount_is_quantity_times_price_minus_discount(orders):
    expected = orders[QUANTITY] * orders[UNIT_PRICE] - orders[DISCOUNT]
    assert np.allclose(orders[AMOUNT], expected.round(2), atol=0.005)
    assert (orders[UNIT_PRICE] > 0).all()
    with_coupon = orders[COUPON_CODE].notna()
    assert (orders.loc[~with_coupon, DISCOUNT] == 0).all()
    assert (orders.loc[with_coupon & ~is_return(orders), DISCOUNT] > 0).all()
    assert 0.05 < with_coupon.mean() < 0.5


def test_welcome_coupons_appear_on_first_orders_only(orders, truth):
    welcome = orders[orders[COUPON_CODE] == "WELCOME10"].dropna(subset=[CUSTOMER_ID])
    acquired = welcome[CUSTOMER_ID].map(truth.set_index(CUSTOMER_ID)["acquired_at"])
    assert len(welcome) > 0
    assert (welcome.loc[~is_return(welcome), ORDER_DATE] == acquired[~is_return(welcome)]).all()


def test_custom_customer_types_replace_the_defaults():
    loyal = dataclasses.replace(DEFAULT_CUSTOMER_TYPES[0], share=1.0)
    _, truth = generate_sample_shop(customers=50, months=6, customer_types=[loyal])
    assert set(truth["customer_type"]) == {loyal.name}


@pytest.mark.parametrize(
    ("customers", "months", "start"),
    [(0, 12, "2024-01-01"), (-5, 12, "2024-01-01"), (10, 0, "2024-01-01"), (10, 12, "soon")],
)
def test_bad_parameters_raise_data_error(customers, months, start):
    with pytest.raises(DataError):
        generate_sample_shop(customers=customers, months=months, start=start)


@pytest.mark.parametrize("name", ["shop.csv", "shop.csv.gz", "shop.parquet"])
def test_write_sample_shop_round_trips_and_keeps_leading_zeros(tmp_path, name):
    orders_path, truth_path = write_sample_shop(tmp_path / "out" / name, customers=300, months=6)
    expected_orders, expected_truth = generate_sample_shop(customers=300, months=6)
    suffix = ".csv.gz" if name.endswith(".gz") else ".csv"
    assert truth_path == tmp_path / "out" / f"shop_truth{suffix}"
    if name.endswith(".parquet"):
        loaded = pd.read_parquet(orders_path)
    else:
        loaded = pd.read_csv(orders_path, dtype=STRING_COLUMNS, parse_dates=[ORDER_DATE])
    assert loaded[CUSTOMER_ID].dropna().str.startswith("0").all()
    assert_frame_equal(loaded, expected_orders, check_dtype=False)
    assert_frame_equal(load_sample_truth(truth_path), expected_truth, check_dtype=False)


def test_write_sample_shop_rejects_other_extensions(tmp_path):
    with pytest.raises(DataError, match=r"\.csv, \.csv\.gz or \.parquet"):
        write_sample_shop(tmp_path / "shop.xlsx", customers=10)
    with pytest.raises(DataError):
        write_sample_shop(tmp_path / "shop.csv", customers=0)
    assert list(tmp_path.iterdir()) == []


def test_shipped_sample_matches_the_generator_defaults():
    assert SAMPLE_SHOP_PATH.name == "sample_shop.csv.gz"
    assert SAMPLE_TRUTH_PATH.name == "sample_shop_truth.csv.gz"
    shipped = pd.read_csv(SAMPLE_SHOP_PATH, dtype=STRING_COLUMNS, parse_dates=[ORDER_DATE])
    truth = load_sample_truth()
    assert len(truth) == 5000
    assert shipped[CUSTOMER_ID].nunique() == 5000
    expected_orders, expected_truth = generate_sample_shop()
    message = "shipped sample is stale: regenerate it with `python -m analytics.sample`"
    assert shipped.shape == expected_orders.shape, message
    assert_frame_equal(shipped, expected_orders, check_dtype=False, obj=message)
    assert_frame_equal(truth, expected_truth, check_dtype=False, obj=message)
