import numpy as np
import pandas as pd
import pytest

from analytics.backtest import (
    MIN_CLASS_FOR_INTERVAL,
    auc_difference,
    backtest,
    churn_margin,
    churn_metrics,
    describe_margin,
    losing_margin,
    top_decile_lift,
)
from analytics.cleaning import clean_orders
from analytics.rfm import order_table
from analytics.sample import generate_sample_shop
from analytics.scoring import score_customers

CUT = pd.Timestamp("2025-10-02")
SMALL_CUT = pd.Timestamp("2024-09-30")


@pytest.fixture(scope="module")
def small_shop() -> pd.DataFrame:
    orders, _ = generate_sample_shop(customers=1000, months=12, seed=11)
    return clean_orders(orders)[0]


def test_top_decile_lift_hand_computed():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 2)
    score = np.arange(20, 0, -1, dtype=float)  # the first two rows score highest
    assert top_decile_lift(y, score) == pytest.approx(1.0 / 0.2)
    metrics = churn_metrics(pd.Series(y), pd.Series(score), probability=False)
    assert np.isnan(metrics["brier"]) and 0 <= metrics["roc_auc"] <= 1


def test_backtest_models_see_nothing_after_the_cutoff(small_shop):
    lines, CUT = small_shop, SMALL_CUT
    before = score_customers(order_table(lines), lines, CUT, 90).predictions
    # rewrite the future: nobody orders after the cut-off, and a stranger buys a lot
    past = lines.loc[lines["order_date"] < CUT + pd.Timedelta(days=1)]
    stranger = past.head(3).assign(customer_id="999999", amount=1e6,
                                   order_date=CUT + pd.Timedelta(days=5))
    rewritten = pd.concat([past, stranger], ignore_index=True)
    after = score_customers(order_table(rewritten), rewritten, CUT, 90).predictions
    assert len(before) > 500
    pd.testing.assert_frame_equal(before, after)


def test_backtest_compares_each_model_with_its_baselines(sample_analysis):
    result = sample_analysis.diagnostics["backtest"]
    assert result["cutoff"] == "2025-10-02"
    churn = result["churn"]["metrics"]
    assert set(churn) == {"model", "recency", "bgnbd"}
    # the model must beat the better baseline on the sample shop
    assert churn["model"]["roc_auc"] > max(churn["recency"]["roc_auc"],
                                           churn["bgnbd"]["roc_auc"])
    clv = result["clv"]["metrics"]
    assert clv["model"]["spearman"] > clv["naive"]["spearman"]
    assert clv["model"]["mae"] < clv["naive"]["mae"]
    # ... by a margin whose 95 % confidence interval lies above zero
    margin = result["churn"]["margin"]
    best = max(("recency", "bgnbd"), key=lambda name: churn[name]["roc_auc"])
    assert margin["baseline"] == best
    assert margin["roc_auc_difference"] == pytest.approx(
        churn["model"]["roc_auc"] - churn[best]["roc_auc"], abs=2e-4)
    assert 0 < margin["ci95_low"] < margin["roc_auc_difference"] < margin["ci95_high"]
    # and its probabilities are better calibrated than the BG/NBD ones
    assert churn["model"]["brier"] < churn["bgnbd"]["brier"]
    recs = result["recommendations"]["metrics"]
    for baseline in ("popularity", "buy_again"):
        assert recs["model"]["hit_rate"] > recs[baseline]["hit_rate"]
        assert recs["model"]["recall"] > recs[baseline]["recall"]


def test_labels_come_from_after_the_cutoff(small_shop):
    lines = small_shop
    result = backtest(lines.loc[lines["order_date"] < SMALL_CUT + pd.Timedelta(days=1)],
                      SMALL_CUT + pd.Timedelta(days=90), 90)
    # with every later order removed, every customer "churned" in the backtest window
    assert result["churn"]["churn_rate"] == 1.0
    assert result["churn"]["metrics"]["model"]["roc_auc"] is None


def test_backtest_is_skipped_without_history_before_the_cutoff(sample_analysis):
    lines = sample_analysis.lines
    first = lines["order_date"].min().normalize()
    result = backtest(lines, first + pd.Timedelta(days=30), 90)
    assert "no order before" in result["skipped"]


def test_the_backtest_reuses_the_analysis_snapshots_without_changing_a_number():
    # 8,000 customers: more than a snapshot's share of the training rows, so rows are
    # sampled, and the sample must be the same in both fits for sharing to be exact.
    orders, _ = generate_sample_shop(customers=8000, months=24, seed=5)
    lines = clean_orders(orders)[0]
    day = lines["order_date"].max().normalize()
    cache: dict = {}
    score_customers(order_table(lines), lines, day, 90, snapshot_cache=cache)
    analysis_keys = set(cache)
    shared = backtest(lines, day, 90, snapshot_cache=cache)
    assert shared == backtest(lines, day, 90)  # reusing the rows changes no metric

    cut = day - pd.Timedelta(days=90)
    backtest_cutoffs = set(pd.to_datetime(score_customers(order_table(lines), lines, cut, 90)
                                          .diagnostics["churn"]["training_cutoffs"]))
    reused = backtest_cutoffs & {key[0] for key in analysis_keys}
    assert len(reused) >= len(backtest_cutoffs) // 2  # most cut-offs were shared ...
    assert len(set(cache) - analysis_keys) == len(backtest_cutoffs - reused)  # ... not rebuilt


def test_auc_difference_matches_sklearn_and_a_bootstrap():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.random(3000) < 0.4
    latent = rng.normal(size=y.size) + y
    a = latent + rng.normal(scale=0.8, size=y.size)
    b = np.round(latent + rng.normal(scale=2.5, size=y.size), 1)  # worse, with ties
    result = auc_difference(y, a, b)
    assert result["roc_auc_difference"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    boot = []
    for _ in range(300):
        i = rng.integers(0, y.size, y.size)
        boot.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]))
    half_width = (result["ci95_high"] - result["ci95_low"]) / 2
    assert half_width / 1.96 == pytest.approx(np.std(boot), rel=0.15)
    assert result["ci95_low"] < result["roc_auc_difference"] < result["ci95_high"]
    assert result["p_value"] < 0.05
    same = auc_difference(y, a, a)
    assert same["roc_auc_difference"] == 0 and same["ci95_low"] == same["ci95_high"] == 0
    assert same["p_value"] == 1.0


def test_a_small_shop_scores_churn_with_bgnbd_and_says_so():
    orders, _ = generate_sample_shop(customers=150, months=12, seed=3)
    lines = clean_orders(orders)[0]
    day = lines["order_date"].max().normalize()
    with pytest.warns(UserWarning, match="BG/NBD probability of no order"):
        scores = score_customers(order_table(lines), lines, day, 90)
    assert scores.diagnostics["churn"]["model"] == "bgnbd"
    assert "customers" in scores.diagnostics["churn"]["fallback_reason"]
    pd.testing.assert_series_equal(scores.predictions["churn_probability"],
                                   scores.features["bgnbd_p_no_purchase"],
                                   check_names=False)
    # the segment trend rescores another day's features with the same fallback
    earlier = scores.features.drop(columns=[c for c in scores.features if "bgnbd" in c])
    rescored = scores.rescore(earlier)["churn_probability"]
    assert rescored.to_numpy() == pytest.approx(
        scores.features["bgnbd_p_no_purchase"].to_numpy())


def test_the_churn_level_follows_the_bgnbd_estimate_at_the_scoring_date(small_shop):
    scores = score_customers(order_table(small_shop), small_shop, SMALL_CUT, 90)
    churn = scores.predictions["churn_probability"]
    assert scores.diagnostics["churn"]["model"] not in ("bgnbd", "heuristic")
    assert scores.diagnostics["churn"]["level_shift"] != 0
    assert churn.mean() == pytest.approx(scores.features["bgnbd_p_no_purchase"].mean(),
                                         abs=1e-5)


def test_a_churn_model_that_loses_its_backtest_is_flagged_in_the_analysis(
    small_shop, monkeypatch
):
    from analytics import pipeline
    from analytics.backtest import losing_margin

    assert losing_margin({"churn": {"margin": None}}) is None
    reaching_zero = {"baseline": "recency", "roc_auc_difference": -0.004, "ci95_low": -0.009,
                     "ci95_high": 0.001}  # no evidence either way
    assert losing_margin({"churn": {"margin": reaching_zero}}) is None
    assert "rank customers by recency_days" in losing_margin(
        {"churn": {"margin": {**reaching_zero, "ci95_high": -0.0001}}})
    real = backtest

    def lost(*args, **kwargs):
        result = real(*args, **kwargs)
        result["churn"]["margin"].update(roc_auc_difference=-0.0061, ci95_low=-0.0105,
                                         ci95_high=-0.0016, baseline="bgnbd")
        return result

    monkeypatch.setattr(pipeline, "backtest", lost)
    with pytest.warns(UserWarning, match="churn model ranked customers worse"):
        analysis = pipeline.analyze(small_shop)
    [warning] = [w for w in analysis.warnings if "backtest" in w]
    assert "worse than the bgnbd baseline (ROC AUC -0.0061, 95 % CI -0.0105 to -0.0016)" \
        in warning and "rank customers by expected_orders" in warning
    # the shop's own backtest, which the model wins: no warning
    monkeypatch.setattr(pipeline, "backtest", real)
    assert not [w for w in pipeline.analyze(small_shop).warnings if "backtest" in w]


def _margin_of(churned: int, customers: int) -> dict:
    """The margin of a model that ranks the churned customers last, against recency, which
    ranks them first, among ``customers`` of whom ``churned`` churned."""
    rng = np.random.default_rng(churned)
    y = pd.Series(np.r_[np.ones(churned, int), np.zeros(customers - churned, int)])
    recency = pd.Series(np.where(y == 1, 200.0, 20.0) + rng.normal(0, 5, len(y)))
    scored = {"model": 1 / recency, "recency": recency, "bgnbd": 1 / recency}
    metrics = {name: churn_metrics(y, score, probability=name != "recency")
               for name, score in scored.items()}
    return churn_margin(y, scored, metrics)


def test_a_backtest_with_few_churners_has_no_interval_and_raises_no_alarm():
    # 2 churners of 40 customers, the shape of a small B2B shop's backtest: DeLong's normal
    # approximation gave "-0.46 (95 % CI -0.63 to -0.29)" there, an alarm it cannot support
    few = _margin_of(churned=2, customers=40)
    assert few["roc_auc_difference"] == pytest.approx(-1.0, abs=0.01)
    assert few["ci95_low"] is None and few["ci95_high"] is None and few["p_value"] is None
    assert few["too_few"].startswith("only 2 churned customers")
    assert losing_margin({"churn": {"margin": few}}) is None
    sentence = describe_margin({"model_used": "bgnbd", "margin": few})
    assert "ROC AUC -1.0000 against the better baseline, recency; only 2 churned" in sentence
    assert "may be chance" in sentence and "CI" not in sentence
    # as many retained customers as that is as few
    assert _margin_of(churned=38, customers=40)["too_few"].startswith("only 2 retained")
    # from MIN_CLASS_FOR_INTERVAL of each on, the interval is there and a loss is flagged
    enough = _margin_of(churned=MIN_CLASS_FOR_INTERVAL, customers=40)
    assert "too_few" not in enough and enough["ci95_high"] < 0
    assert "ranked customers worse" in losing_margin({"churn": {"margin": enough}})
