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
    reasons = churn_reasons(f, 90, churn=pd.Series({"R": 0.9, "S": 0.8, "T": 0.1}))
    assert reasons["R"].startswith("no order for 130 days, 3.5× their usual gap of 37 days")
    assert reasons["S"] == "one order only, 121 days ago"
    assert reasons["T"] == "buying at their usual pace"


def test_a_likely_churner_on_pace_gets_the_weaker_signs_not_usual_pace():
    orders = _orders([
        ("DAY", "2024-06-10", 20), ("DAY", "2024-06-10", 30),        # two orders, one day
        ("SLOW", "2023-07-01", 50), ("SLOW", "2023-12-01", 50),
        ("SLOW", "2024-05-01", 50),                                  # every 152.5 days
        ("NEW", "2024-06-20", 40),                                   # first order 10 days ago
        ("FEW", "2024-05-01", 20), ("FEW", "2024-06-01", 20),
        ("FEW", "2024-06-20", 20),                                   # three orders, on pace
    ])
    f = customer_features(orders, CUTOFF, 90)
    likely = churn_reasons(f, 90, churn=pd.Series(0.7, index=f.index))
    assert likely["DAY"] == "all 2 orders on one day, 20 days ago"
    assert likely["SLOW"] == ("orders about every 152 days, less often than every 90 days; "
                              "only 3 orders so far")
    assert likely["NEW"] == "one order only, 10 days ago"
    assert likely["FEW"] == "only 3 orders so far"
    unlikely = churn_reasons(f, 90, churn=pd.Series(0.2, index=f.index))
    assert (unlikely == "buying at their usual pace").all()
    # without probabilities every sign is given
    pd.testing.assert_series_equal(churn_reasons(f, 90), likely)


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


# --------------------------------------------------------------------------- added features


def test_trend_features_hand_computed(orders):
    f = customer_features(orders, CUTOFF, 90)
    r, t = f.loc["R"], f.loc["T"]
    assert r["purchase_days"] == 4 and f.loc["S", "purchase_days"] == 1
    assert r["last_gap_days"] == 30 and r["last_gap_ratio"] == pytest.approx(30 / (110 / 3))
    assert r["overdue_days"] == pytest.approx(130 - 110 / 3)
    assert r["recency_share"] == pytest.approx(130 / 240)  # first order 240 days back
    assert r["spend_trend"] == -1.0  # 100 spent in the 90 days before the last 90, 0 since
    assert t["spend_trend"] == 1.0 and f.loc["S", "spend_trend"] == -1.0
    # the last 30 days are 2024-06-01 .. 2024-06-30 and the last 90 start on 2024-04-02
    assert t["orders_last_third"] == 2 and t["orders_last_horizon"] == 2
    assert t["last_order_value_ratio"] == pytest.approx(30 / 25)
    assert f["recency_days_pct"].to_dict() == pytest.approx({"R": 1.0, "S": 2 / 3, "T": 1 / 3})


def test_extra_features_see_only_the_past_and_are_ranked(orders):
    seen = []

    def extra(past, day):
        seen.append((past["order_date"].max(), day))
        return pd.DataFrame({"score": [0.2, 0.9]}, index=pd.Index(["R", "T"], name="customer_id"))

    f = customer_features(orders, CUTOFF, 90, extra=extra)
    assert seen == [(pd.Timestamp("2024-06-29"), CUTOFF)]
    assert f.loc["R", "score"] == 0.2 and np.isnan(f.loc["S", "score"])
    assert f.loc["R", "score_pct"] == 0.5 and f.loc["T", "score_pct"] == 1.0


# --------------------------------------------------------------------------- planted shop


def _paced_shop(n: int = 500, seed: int = 1) -> pd.DataFrame:
    """Fast buyers (every ~10 days) and slow ones (every ~60 days), each stopping for good at
    a random date. Recency alone confuses a slow buyer between orders with a fast one who
    stopped; a model that knows the customer's own pace does not."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01")
    rows = []
    for i in range(n):
        gap = 10 if i % 2 else 60
        stop = rng.uniform(300, 700)  # many stop shortly before or after the scoring date
        day = rng.uniform(0, 120)
        while day < stop:
            rows.append((f"c{i}", start + pd.Timedelta(days=int(day)), 20.0))
            day += gap * rng.uniform(0.7, 1.3)
    return _orders(rows)


PACED_AS_OF = pd.Timestamp("2024-06-30")


@pytest.fixture(scope="module")
def paced() -> pd.DataFrame:
    return _paced_shop()


@pytest.fixture(scope="module")
def paced_model(paced) -> ChurnModel:
    return ChurnModel(horizon_days=60).fit(paced, PACED_AS_OF)


def _backtest_auc(model, orders, as_of, horizon, extra=None):
    from sklearn.metrics import roc_auc_score

    f = customer_features(orders, as_of, horizon, extra=extra)
    y = churn_labels(orders, as_of, horizon, f.index)
    return roc_auc_score(y, model.predict(f)), roc_auc_score(y, f["recency_days"])


def test_model_learns_each_customers_own_pace(paced, paced_model):
    # scored at as_of against the following 60 days, labels the fit never saw
    auc, recency_auc = _backtest_auc(paced_model, paced, PACED_AS_OF, 60)
    assert paced_model.fallback_ is None and auc > 0.9 and auc > recency_auc + 0.03
    assert len(paced_model.cutoffs_) == 12
    assert paced_model.model_name_ in paced_model.validation_auc_


def test_nothing_after_as_of_is_read(paced, paced_model):
    future = _orders([("c1", "2024-07-01", 999.0), ("c2", "2024-08-15", 5.0),
                      ("NEW", "2024-07-02", 50.0)])
    grown = pd.concat([paced, future], ignore_index=True)
    calls = []

    def extra(past, day):
        calls.append(past["order_date"].max() <= day + pd.Timedelta(days=1))
        return pd.DataFrame({"n": past.groupby("customer_id").size()})

    refit = ChurnModel(horizon_days=60).fit(grown, PACED_AS_OF)
    for name in ("cutoffs_", "features_", "model_name_", "validation_auc_", "calibration_",
                 "training_rows_", "base_rate_"):
        assert getattr(refit, name) == getattr(paced_model, name), name
    f, f_grown = (customer_features(o, PACED_AS_OF, 60) for o in (paced, grown))
    pd.testing.assert_series_equal(paced_model.predict(f), refit.predict(f_grown))
    with_extra = [ChurnModel(horizon_days=60).fit(o, PACED_AS_OF, extra=extra)
                  for o in (paced, grown)]
    assert all(calls) and with_extra[0].calibration_ == with_extra[1].calibration_


def test_a_shifted_extra_feature_does_not_derail_the_model(paced):
    """BG/NBD refitted per snapshot can pin P(alive) at 1 in every training snapshot and
    spread it at the scoring date; the linear model once ranked on that and fell to 0.35."""

    def extra(past, day):
        recency = (day - past.groupby("customer_id")["order_date"].max()).dt.days
        if day < PACED_AS_OF:  # training cut-offs: 1 minus a hair
            p_alive = 1 - 1e-9 * recency.rank(pct=True)
        else:  # scoring: spread out, and backwards
            p_alive = 0.3 + 0.7 * recency.rank(pct=True)
        return pd.DataFrame({"p_alive": p_alive})

    model = ChurnModel(horizon_days=60, candidates=("logistic_regression",)).fit(
        paced, PACED_AS_OF, extra=extra)
    auc, _ = _backtest_auc(model, paced, PACED_AS_OF, 60, extra=extra)
    assert auc > 0.9


def test_sparse_and_empty_columns_are_left_out(paced):
    def extra(past, day):
        ids = past["customer_id"].unique()
        sparse = pd.Series(np.nan, index=ids)
        sparse.iloc[:3] = [1.0, 2.0, 3.0]
        return pd.DataFrame({"sparse": sparse, "empty": np.nan}, index=ids)

    model = ChurnModel(horizon_days=60, max_snapshots=4).fit(paced, PACED_AS_OF, extra=extra)
    assert model.fallback_ is None
    assert not {"sparse", "empty", "sparse_pct", "empty_pct"} & set(model.features_)


def test_short_single_cohort_history_stacks_weekly_snapshots():
    shop = _paced_shop(400)
    shop = shop.loc[shop["order_date"] >= "2023-01-01"]  # one cohort: first orders in Q1 2023
    as_of = pd.Timestamp("2023-01-01") + pd.Timedelta(days=60 + 60 + 50)
    model = ChurnModel(horizon_days=60).fit(shop, as_of)
    assert model.fallback_ is None and len(model.cutoffs_) >= 7
    gaps = {(a - b).days for a, b in zip(model.cutoffs_, model.cutoffs_[1:], strict=False)}
    assert gaps == {7}
    assert model.model_name_ == "blend" and model.validation_auc_ == {}  # no honest split
    with pytest.warns(UserWarning, match="less than one horizon"):
        too_short = ChurnModel(horizon_days=60).fit(shop, pd.Timestamp("2023-03-15"))
    assert too_short.fallback_


def test_probabilities_are_calibrated_and_the_model_pickles(paced, paced_model):
    import pickle

    f = customer_features(paced, paced_model.cutoffs_[0], 60)
    y = churn_labels(paced, paced_model.cutoffs_[0], 60, f.index)
    p = paced_model.predict(f)
    assert abs(p.mean() - y.mean()) < 0.05 and ((p > 0) & (p < 1)).all()
    restored = pickle.loads(pickle.dumps(paced_model))
    pd.testing.assert_series_equal(restored.predict(f), p)


def test_large_shops_are_sampled_to_the_row_cap(paced):
    model = ChurnModel(horizon_days=60, max_training_rows=1200).fit(paced, PACED_AS_OF)
    assert model.fallback_ is None and model.training_rows_ <= 1200
    assert len(model.cutoffs_) == 12  # every snapshot still contributes
    auc, recency_auc = _backtest_auc(model, paced, PACED_AS_OF, 60)
    assert auc > recency_auc


def test_a_samples_rarer_class_is_kept_and_weighted_back_to_the_population():
    from analytics.churn import _class_sample

    labels = np.r_[np.zeros(40, dtype=int), np.ones(9960, dtype=int)]  # 40 retained
    np.random.default_rng(0).shuffle(labels)
    rows, weights = _class_sample(labels, 1000, np.random.default_rng(1))
    assert len(rows) == 1000 and (np.diff(rows) > 0).all()  # distinct rows, in order
    taken = labels[rows]
    assert (taken == 0).sum() == 40  # every retained customer, where a random 1,000 has ~4
    assert weights[taken == 0].sum() == pytest.approx(40)
    assert weights[taken == 1].sum() == pytest.approx(9960)  # the weights restore the mix
    again, _ = _class_sample(labels, 1000, np.random.default_rng(1))
    assert (again == rows).all()
    # no class rare: the plain random sample it always was, unweighted
    common = np.r_[np.zeros(1500, dtype=int), np.ones(8500, dtype=int)]
    plain, none = _class_sample(common, 1000, np.random.default_rng(1))
    assert none is None
    assert (plain == np.sort(np.random.default_rng(1).choice(10000, 1000, replace=False))).all()


def _rarely_returning_shop(n: int = 6000, seed: int = 2) -> pd.DataFrame:
    """Most customers order once; 4 % come back every month or so (a marketplace)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01")
    first = rng.uniform(0, 540, n)
    rows = [(f"c{i}", start + pd.Timedelta(days=float(d)), 30.0) for i, d in enumerate(first)]
    for i in np.flatnonzero(rng.random(n) < 0.04):
        day = first[i] + rng.uniform(20, 40)
        while day < 600:
            rows.append((f"c{i}", start + pd.Timedelta(days=float(day)), 30.0))
            day += rng.uniform(20, 40)
    return _orders(rows)


def test_a_shop_where_few_customers_return_is_learned_and_calibrated():
    shop = _rarely_returning_shop()
    as_of = pd.Timestamp("2023-01-01") + pd.Timedelta(days=540)
    # 100 rows per snapshot: at random, 2 or 3 of them would be returning customers
    model = ChurnModel(horizon_days=60, max_training_rows=1200).fit(shop, as_of)
    assert model.fallback_ is None and model.training_rows_ <= 1200
    # the latest snapshot has enough returning customers to compare the candidates on
    assert set(model.validation_auc_) == {"blend", "logistic_regression", "gradient_boosting"}
    auc, recency_auc = _backtest_auc(model, shop, as_of, 60)
    assert auc > 0.9 and auc >= recency_auc - 0.01
    f = customer_features(shop, as_of, 60)
    churned = churn_labels(shop, as_of, 60, f.index)
    assert model.predict(f).mean() == pytest.approx(churned.mean(), abs=0.02)
    assert model.base_rate_ == pytest.approx(churned.mean(), abs=0.02)


def test_calibration_on_the_latest_snapshot_is_an_option(paced):
    model = ChurnModel(horizon_days=60, calibrate_on="latest").fit(paced, PACED_AS_OF)
    assert model.calibration_[0] > 0 and model.validation_auc_
    with pytest.raises(ValueError, match="calibrate_on"):
        ChurnModel(calibrate_on="isotonic").fit(paced, PACED_AS_OF)


def test_features_of_a_subset_equal_the_full_rows_with_population_percentiles():
    from analytics.cleaning import clean_orders
    from analytics.features import integer_ids
    from analytics.rfm import order_table
    from analytics.sample import generate_sample_shop

    lines = clean_orders(generate_sample_shop(customers=1500, months=12, seed=4)[0])[0]
    cutoff = lines["order_date"].max().normalize() - pd.Timedelta(days=60)
    for orders, items in (integer_ids(order_table(lines), lines)[:2],
                          (order_table(lines), lines)):  # integer and text ids
        full = customer_features(orders, cutoff, 90, items)
        chosen = full.index[::7]
        subset = customer_features(orders, cutoff, 90, items, customers=chosen)
        pd.testing.assert_frame_equal(subset, full.loc[chosen], check_dtype=False)
        assert subset["frequency_pct"].min() < 0.5 < subset["frequency_pct"].max()


def test_percentiles_among_the_population_are_pandas_ranks_exactly():
    from analytics.features import percentiles_among

    rng = np.random.default_rng(5)
    days = pd.Series(rng.integers(0, 40, 3000))  # many ties
    gaps = pd.Series(rng.lognormal(size=3000)).where(rng.random(3000) > 0.3)  # missing
    gaps.iloc[:3] = np.inf
    for population in (days, gaps, pd.Series([7.0]), pd.Series([np.nan, 2.0, 2.0])):
        expected = population.rank(pct=True).to_numpy()
        rows = rng.choice(len(population), min(len(population), 400), replace=False)
        got = percentiles_among(population.iloc[rows], population)
        assert np.array_equal(got, expected[rows], equal_nan=True)  # not approximately
    assert np.isnan(percentiles_among(pd.Series([1.0]), pd.Series([np.nan]))).all()


def test_count_distinct_is_a_grouped_nunique():
    from analytics.features import count_distinct

    rng = np.random.default_rng(2)
    keys = pd.Series(rng.choice(["b", "a", "c", "d", None], 500), name="customer_id")
    values = pd.Series(rng.choice([1.0, 2.0, 7.0, np.nan], 500)).where(keys != "d")
    expected = values.groupby(keys).nunique()
    pd.testing.assert_series_equal(count_distinct(keys, values), expected, check_names=False)
    assert count_distinct(keys, values)["d"] == 0  # only missing values
    assert count_distinct(keys.iloc[:0], values.iloc[:0]).empty
    # integer codes (customers, days) are binned as they are, with gaps in the keys
    codes = pd.Series(rng.choice([0, 3, 4, 9], 500), name="customer_id")
    days = rng.integers(0, 40, 500)
    pd.testing.assert_series_equal(count_distinct(codes, days),
                                   pd.Series(days).groupby(codes).nunique(), check_names=False)


def test_features_from_coded_lines_equal_those_from_text():
    from analytics.cleaning import clean_orders
    from analytics.features import feature_lines
    from analytics.rfm import order_table
    from analytics.sample import generate_sample_shop

    lines = clean_orders(generate_sample_shop(customers=800, months=12, seed=6)[0])[0]
    rng = np.random.default_rng(0)
    odd = rng.random(len(lines))  # empty and missing codes and products, numeric discounts
    lines = lines.assign(
        coupon_code=lines["coupon_code"].mask(odd < 0.1, "").mask(odd > 0.95, None),
        product_id=lines["product_id"].mask(odd > 0.97, None),
        discount=np.where(odd < 0.05, 2.5, 0.0))
    cutoff = lines["order_date"].max().normalize() - pd.Timedelta(days=30)
    coded = feature_lines(lines)
    assert all(pd.api.types.is_numeric_dtype(coded[c]) for c in coded.columns
               if c not in ("customer_id", "order_date"))
    text = customer_features(order_table(lines), cutoff, 90, lines)
    assert text["coupon_order_share"].between(0.01, 0.99).any()
    pd.testing.assert_frame_equal(customer_features(order_table(lines), cutoff, 90, coded),
                                  text)


def test_matching_a_level_moves_the_mean_and_keeps_the_ranking(paced):
    import copy

    model = ChurnModel(horizon_days=60).fit(paced, PACED_AS_OF)
    f = customer_features(paced, PACED_AS_OF, 60)
    before = model.predict(f)
    target = float(before.mean()) + 0.1
    shifted = copy.deepcopy(model)
    after = shifted.match_level(f, target)
    pd.testing.assert_series_equal(shifted.predict(f), after)
    assert shifted.level_shift_ > 0 and after.mean() == pytest.approx(target, abs=1e-5)
    assert (after.rank() == before.rank()).all() and (after > before).all()
    # later predictions (another day's features) keep the shift
    earlier = customer_features(paced, PACED_AS_OF - pd.Timedelta(days=60), 60)
    assert (shifted.predict(earlier) > model.predict(earlier)).all()


def test_a_fallback_is_used_as_given_and_ignores_level_matching(orders):
    from analytics.churn import Fallback

    def everyone_half(features):
        return pd.Series(0.5, index=features.index)

    given = Fallback("constant", "a constant half", everyone_half)
    with pytest.warns(UserWarning, match="using a constant half instead"):
        model = ChurnModel(horizon_days=90, fallback=given).fit(orders, CUTOFF)
    f = customer_features(orders, CUTOFF, 90)
    assert model.model_name_ == "constant"
    assert (model.match_level(f, 0.9) == 0.5).all() and model.level_shift_ == 0.0
    assert model.predict(f).name == "churn_probability"


def test_the_median_imputer_gives_what_sklearns_gives():
    from sklearn.impute import SimpleImputer

    from analytics.churn import _MedianImputer

    rng = np.random.default_rng(0)
    train = rng.normal(size=(1_001, 5))
    train[rng.random(train.shape) < 0.3] = np.nan
    train[:, 2] = rng.normal(size=len(train))  # never missing: no indicator column
    frame = pd.DataFrame(train, columns=list("abcde")).astype({"d": "Float64"})
    new = rng.normal(size=(40, 5))
    new[rng.random(new.shape) < 0.5] = np.nan
    theirs = SimpleImputer(strategy="median", add_indicator=True).fit(frame)
    ours = _MedianImputer().fit(frame)
    for x in (frame, pd.DataFrame(new, columns=list("abcde"))):
        np.testing.assert_array_equal(ours.transform(x), theirs.transform(x))
