import json

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from analytics import pipeline
from analytics.cleaning import clean_orders
from analytics.errors import DataError
from analytics.loading import load_orders
from analytics.outputs import write_outputs
from analytics.pipeline import analyze, analyze_file, restrict_to_as_of
from analytics.sample import SAMPLE_SHOP_PATH


def test_cleaning_report_adds_up(sample_analysis):
    report = sample_analysis.cleaning
    assert report.rows_in == report.rows_kept + sum(report.dropped.values())
    assert report.rows_kept == len(sample_analysis.lines)
    assert report.dropped["missing_customer"] > 0
    assert report.dropped["cancellation_or_return"] > 0


def test_every_customer_gets_a_segment_and_a_cluster(sample_analysis, sample_truth):
    customers = sample_analysis.customers
    assert set(customers.index) == set(sample_truth.index)
    assert customers["rfm_segment"].notna().all()
    assert customers["cluster"].notna().all()
    by_kind = sample_analysis.segments.groupby("kind")["customers"].sum()
    assert by_kind.to_dict() == {"cluster": len(customers), "rfm": len(customers)}


def test_clusters_recover_the_generators_customer_types(sample_analysis, sample_truth):
    joined = sample_analysis.customers.join(sample_truth, how="inner")
    ari = adjusted_rand_score(joined["customer_type"], joined["cluster"])
    assert ari > 0.35, ari
    # one-time buyers must not be mixed up with the loyal regulars
    one_time = joined.loc[joined["customer_type"] == "one_time", "cluster"].mode()[0]
    loyal = joined.loc[joined["customer_type"] == "loyal", "cluster"].mode()[0]
    assert one_time != loyal


def test_rows_after_as_of_are_ignored_and_counted(sample_analysis):
    lines = sample_analysis.lines
    future = lines.head(50).assign(order_date=pd.Timestamp("2030-01-01"), amount=1e6)
    again = analyze(pd.concat([lines, future], ignore_index=True), as_of=sample_analysis.as_of)
    assert again.cleaning.dropped["after_as_of"] == 50
    for name in ("customers", "segments", "cohorts", "monthly", "recommendations"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(sample_analysis, name))
    assert again.kpis == sample_analysis.kpis
    assert again.diagnostics["backtest"] == sample_analysis.diagnostics["backtest"]


def test_lines_dated_after_today_do_not_move_the_default_as_of(sample_analysis, monkeypatch):
    # a mistyped year on one line would make the analysis as of 2099, every customer lapsed
    monkeypatch.setattr(pipeline, "_today", lambda: pd.Timestamp("2026-03-01"))
    lines = sample_analysis.lines
    typo = lines.head(2).assign(order_date=pd.Timestamp("2099-03-01 10:00"))
    with pytest.warns(UserWarning, match=r"2 order lines are dated after today \(2026-03-01\), "
                                         r"up to 2099-03-01: the analysis is as of 2025-12-31"):
        kept, day, later = restrict_to_as_of(pd.concat([lines, typo], ignore_index=True), None)
    assert (day, later, len(kept)) == (sample_analysis.as_of, 2, len(lines))
    # a date asked for is taken as it is; so is a log dated wholly after today (a test shop)
    assert restrict_to_as_of(lines, "2030-01-01")[1] == pd.Timestamp("2030-01-01")
    monkeypatch.setattr(pipeline, "_today", lambda: pd.Timestamp("2020-01-01"))
    assert restrict_to_as_of(lines, None)[1] == sample_analysis.as_of
    # and the warning reaches the analysis, hence the report
    monkeypatch.setattr(pipeline, "_today", lambda: pd.Timestamp("2026-03-01"))
    analysis = analyze(pd.concat([lines, typo], ignore_index=True), run_backtest=False)
    assert analysis.as_of == sample_analysis.as_of
    assert any("dated after today" in w for w in analysis.warnings)


def test_as_of_in_the_past_uses_only_earlier_orders(sample_analysis):
    as_of = pd.Timestamp("2025-06-30")
    past = analyze(sample_analysis.lines, as_of=as_of, run_backtest=False)
    assert past.orders["order_date"].max() < as_of + pd.Timedelta(days=1)
    assert past.cleaning.dropped["after_as_of"] > 0
    assert past.customers["recency_days"].min() >= 0


def test_as_of_before_the_first_order_is_a_clear_error(sample_analysis):
    with pytest.raises(DataError, match="before the first order"):
        analyze(sample_analysis.lines, as_of="2001-01-01")
    with pytest.raises(DataError, match="YYYY-MM-DD"):
        analyze(sample_analysis.lines, as_of="last tuesday")


def test_minimal_customer_date_amount_file(tmp_path):
    loaded = load_orders(SAMPLE_SHOP_PATH)
    lines, _ = clean_orders(loaded.orders)
    minimal = pd.DataFrame({
        "client": lines["customer_id"],
        "date": lines["order_date"].dt.strftime("%d/%m/%Y %H:%M"),
        "revenue": lines["amount"],
    })
    path = tmp_path / "minimal.csv"
    minimal.to_csv(path, index=False)
    analysis = analyze_file(path)
    assert analysis.mapping == {"customer_id": "client", "order_date": "date",
                                "amount": "revenue"}
    assert analysis.customers["frequency"].sum() == len(analysis.orders)
    paths = write_outputs(analysis, tmp_path / "out")
    for name in ("customers", "segments", "cohorts", "summary", "report"):
        assert paths[name].exists(), name


def test_outputs_follow_the_contract(sample_analysis, tmp_path):
    paths = write_outputs(sample_analysis, tmp_path)
    customers = pd.read_csv(paths["customers"], dtype={"customer_id": str})
    assert list(customers.columns[:12]) == [
        "customer_id", "first_order", "last_order", "recency_days", "frequency", "monetary",
        "avg_order_value", "rfm_r", "rfm_f", "rfm_m", "rfm_segment", "cluster"]
    assert customers["customer_id"].str.len().eq(6).all()  # leading zeros kept
    summary = json.loads(paths["summary"].read_text())
    cleaning = summary["cleaning"]
    assert cleaning["rows_in"] == cleaning["rows_kept"] + sum(cleaning["dropped"].values())
    assert summary["as_of"] == "2025-12-31"
    report = paths["report"].read_text()
    assert "## RFM segments" in report and "Champions" in report
    for chart in ("chart_segments", "chart_cohorts", "chart_monthly"):
        assert paths[chart].stat().st_size > 10_000
    cohorts = pd.read_csv(paths["cohorts"])
    assert (cohorts.loc[cohorts["period"] == 0, "retention"] == 1).all()


def test_churn_ranks_the_generators_churned_customers_first(sample_analysis, sample_truth):
    joined = sample_analysis.customers.join(sample_truth, how="inner")
    auc = roc_auc_score(joined["churned"], joined["churn_probability"])
    assert auc > 0.93, auc
    assert auc > roc_auc_score(joined["churned"], joined["recency_days"])
    churned = joined.loc[joined["churned"], "churn_reasons"]
    assert (churned != "buying at their usual pace").mean() > 0.9


def test_every_customer_column_of_the_contract_is_filled(sample_analysis):
    customers = sample_analysis.customers
    for column in ("churn_probability", "p_alive", "expected_orders", "predicted_clv",
                   "revenue_at_risk"):
        assert customers[column].notna().all(), column
        assert (customers[column] >= 0).all(), column
    assert customers["churn_probability"].between(0, 1).all()
    assert customers["revenue_at_risk"].sum() == pytest.approx(
        (customers["churn_probability"] * customers["usual_horizon_revenue"]).sum())


def test_segment_table_adds_up_and_shows_the_change(sample_analysis):
    rfm = sample_analysis.segments.loc[sample_analysis.segments["kind"] == "rfm"]
    customers = sample_analysis.customers
    assert rfm["revenue_at_risk"].sum() == pytest.approx(customers["revenue_at_risk"].sum())
    assert rfm["customers"].sum() == len(customers)
    grown = rfm["customers"] - rfm["customers_prev"]
    assert (grown == rfm["customers_change"]).all()
    # 30 days earlier the shop had fewer customers
    assert rfm["customers_prev"].sum() < len(customers)


def test_recommendations_cover_every_customer(sample_analysis):
    recs = sample_analysis.recommendations
    assert set(recs["customer_id"]) == set(sample_analysis.customers.index)
    assert recs.groupby("customer_id")["rank"].max().eq(10).all()
    assert set(recs["source"]) <= {"similar", "buy_again", "popular"}
