import numpy as np
import pandas as pd
import pytest

from analytics.campaigns import (
    DEFAULT_PLAYS,
    Constraints,
    UnknownSegmentError,
    plan_campaign,
)


@pytest.fixture
def customers() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 2500
    frame = pd.DataFrame({
        "rfm_segment": np.where(np.arange(n) < 2000, "At Risk", "Champions"),
        "avg_order_value": 100.0,
        "predicted_clv": 200.0,
        "churn_probability": np.where(np.arange(n) < 2000, 0.8, 0.2),
        "usual_horizon_revenue": 150.0,
        "recency_days": np.where(np.arange(n) < 2000, 200, 10),
        "mean_gap_days": 60.0,
        "revenue_at_risk": rng.uniform(0, 300, n),
    }, index=pd.Index([f"{i:05d}" for i in range(n)], name="customer_id"))
    return frame


def test_discount_stays_within_the_cap_and_says_why(customers):
    plan = plan_campaign(customers, "At Risk", constraints=Constraints(discount_cap=0.10))
    assert plan.discount == 0.10
    assert "your discount cap" in plan.discount_rationale
    loose = plan_campaign(customers, "At Risk")
    assert loose.discount == 0.15 and "usual offer" in loose.discount_rationale


def test_discount_is_bounded_by_margin_and_predicted_value(customers):
    thin = plan_campaign(customers, "At Risk", constraints=Constraints(margin=0.10))
    assert thin.discount == 0.05
    cheap = customers.assign(predicted_clv=20.0)  # 30% of 20 per order of 100 = 6%
    assert plan_campaign(cheap, "At Risk").discount == 0.06


def test_budget_keeps_the_customers_with_most_revenue_at_risk(customers):
    plan = plan_campaign(customers, "At Risk", constraints=Constraints(budget=1000))
    # cost per targeted customer: 15% redemption × 100 order value × 15% discount = 2.25
    assert plan.expected_cost <= 1000 + 1e-6
    assert plan.audience_size < 2000 and "budget" in plan.warnings[0]
    kept = plan.audience["revenue_at_risk"].min()
    dropped = customers.loc[~customers.index.isin(plan.audience.index)]
    assert kept >= dropped.loc[dropped["rfm_segment"] == "At Risk", "revenue_at_risk"].max()


def test_control_group_is_sized_for_the_test_when_the_segment_allows(customers):
    plan = plan_campaign(customers, "At Risk")
    assert plan.holdout_size >= plan.required_per_group
    assert plan.treatment_size + plan.holdout_size == plan.audience_size == 2000
    assert set(plan.audience["group"]) == {"holdout", "treatment"}
    small = plan_campaign(customers, "Champions")  # 500 customers: too few for full power
    assert small.holdout_size == 50
    assert "directional" in small.warnings[0]


def test_timing_follows_the_usual_repurchase_gap(customers):
    assert plan_campaign(customers, "Champions").send_within_days == 50  # gap 60, recency 10
    assert plan_campaign(customers, "At Risk").send_within_days == 7  # already overdue


def test_unknown_segment_lists_the_valid_ones(customers):
    with pytest.raises(UnknownSegmentError, match="At Risk, Champions"):
        plan_campaign(customers, "Whales")


def test_bad_constraints_are_rejected():
    with pytest.raises(ValueError, match="discount_cap"):
        Constraints(discount_cap=10)


def test_an_audience_by_days_without_an_order_spans_segments_with_their_uplift(customers):
    # 300 Champions have not ordered for 120 days either: they join the 2,000 At Risk
    lapsed = customers.assign(recency_days=np.where(np.arange(len(customers)) < 2300,
                                                    customers["recency_days"].clip(lower=120),
                                                    10))
    plan = plan_campaign(lapsed, inactive_days=120)
    who = lapsed.index[lapsed["recency_days"] >= 120]
    assert sorted(plan.audience.index) == sorted(who) and plan.audience_size == 2300
    assert plan.segment == "No order for 120+ days"
    assert plan.audience_definition == "customers with no order for 120 days or more"
    assert plan.tactic == "win-back" and plan.offer == "win-back coupon"
    # the uplift aimed for is what the members' own segments' plays aim for, on average
    expected = (2000 * DEFAULT_PLAYS["At Risk"].expected_uplift
                + 300 * DEFAULT_PLAYS["Champions"].expected_uplift) / 2300
    assert plan.target_retention - plan.baseline_retention == pytest.approx(expected, abs=1e-3)
    assert "the usual win-back offer 15%" in plan.discount_rationale
    # with a segment, only its customers that long without an order, on its own play
    narrowed = plan_campaign(lapsed, "Champions", inactive_days=120)
    assert narrowed.audience_size == 300 and narrowed.tactic == "vip-care"
    assert narrowed.segment == "Champions, no order for 120+ days"
    assert "the segment's usual offer" in narrowed.discount_rationale


def test_an_audience_by_days_says_what_to_change_when_it_cannot_be_planned(customers):
    with pytest.raises(ValueError, match=r"the longest is 200 days\); choose fewer days"):
        plan_campaign(customers, inactive_days=365)
    with pytest.raises(ValueError, match="whole number of days of 1 or more"):
        plan_campaign(customers, inactive_days=0)
    with pytest.raises(ValueError, match="choose a segment, or a number of days without an order"):
        plan_campaign(customers)


def test_one_time_buyers_get_the_second_order_play_with_their_segments_uplift(customers):
    # every fifth customer has a single order: 400 At Risk and 100 Champions
    once = customers.assign(frequency=np.where(np.arange(len(customers)) % 5 == 0, 1, 3))
    plan = plan_campaign(once, one_order_only=True)
    assert plan.audience_size == 500 and (plan.audience["frequency"] == 1).all()
    assert plan.segment == "One-time buyers" and plan.tactic == "onboarding"
    assert plan.offer == "second-order coupon"
    assert "the usual second-order offer 10%" in plan.discount_rationale
    expected = (400 * DEFAULT_PLAYS["At Risk"].expected_uplift
                + 100 * DEFAULT_PLAYS["Champions"].expected_uplift) / 500
    assert plan.target_retention - plan.baseline_retention == pytest.approx(expected, abs=1e-3)
    # and those of them without an order for so long, in one segment
    both = plan_campaign(once, "At Risk", one_order_only=True, inactive_days=150)
    assert both.audience_size == 400 and both.tactic == "win-back"
    assert both.segment == "At Risk, one-time buyers, no order for 150+ days"
    assert both.audience_definition == ("customers with one order only and no order for 150 "
                                        "days or more in the RFM segment 'At Risk'")
    # one-time buyers gone quiet for so long, whatever their segment: won back
    lapsed = plan_campaign(once, one_order_only=True, inactive_days=150)
    assert lapsed.audience_size == 400 and lapsed.tactic == "win-back"
    assert lapsed.segment == "One-time buyers, no order for 150+ days"
    with pytest.raises(ValueError, match="no one-time buyer in the RFM segment 'Champions' "
                                         r"has gone 150 days without an order \(the longest "
                                         r"is 10 days\); choose fewer days"):
        plan_campaign(once, "Champions", one_order_only=True, inactive_days=150)
    with pytest.raises(ValueError, match="all have ordered more than once"):
        plan_campaign(once.assign(frequency=2), one_order_only=True)


def test_a_place_names_the_plan_and_its_audience(customers):
    plan = plan_campaign(customers.iloc[:300], "At Risk", place="Germany")
    assert plan.segment == "At Risk, Germany" and plan.audience_size == 300
    assert plan.audience_definition == "customers in the RFM segment 'At Risk', from Germany"


def test_a_product_bought_names_the_plan_and_its_audience(customers):
    plan = plan_campaign(customers.iloc[:300], "At Risk", bought="P0307", place="Germany")
    assert plan.segment == "At Risk, bought P0307, Germany"
    assert plan.audience_definition == ("customers in the RFM segment 'At Risk', who bought "
                                         "P0307, from Germany")


def test_a_cross_sell_needs_no_segment_and_aims_for_its_members_uplift(customers):
    plan = plan_campaign(customers, cross_sell="P0311", bought="P0307")
    assert plan.segment == "Cross-sell P0311 to buyers of P0307"
    assert plan.audience_definition == "customers who bought P0307 and not P0311"
    assert (plan.tactic, plan.offer) == ("cross-sell", "cross-sell offer on P0311")
    assert plan.audience_size == len(customers)
    at_risk = (customers["rfm_segment"] == "At Risk").mean()
    uplift = at_risk * DEFAULT_PLAYS["At Risk"].expected_uplift \
        + (1 - at_risk) * DEFAULT_PLAYS["Champions"].expected_uplift
    assert plan.target_retention - plan.baseline_retention == pytest.approx(uplift, abs=1e-3)
    champions = plan_campaign(customers, "Champions", cross_sell="P0311")
    assert champions.segment == "Cross-sell P0311, Champions"
    assert champions.audience_definition == ("customers in the RFM segment 'Champions', who "
                                             "have not bought P0311")
    with pytest.raises(ValueError, match="has bought P0311 already: there is no one"):
        plan_campaign(customers.iloc[:0], cross_sell="P0311")


def test_a_spend_floor_narrows_the_audience_and_names_it(customers):
    spend = customers.assign(monetary=np.arange(len(customers), dtype=float))
    plan = plan_campaign(spend, "At Risk", min_spend=1500)
    at_risk = spend.loc[spend["rfm_segment"] == "At Risk"]
    assert plan.audience_size == int((at_risk["monetary"] >= 1500).sum()) == 500
    assert set(plan.audience.index) == set(at_risk.index[at_risk["monetary"] >= 1500])
    assert plan.segment == "At Risk, spent 1,500+"
    assert plan.audience_definition == \
        "customers in the RFM segment 'At Risk' who spent 1,500 or more to date"
    lapsed = plan_campaign(spend, inactive_days=100, min_spend=99.5, place="France")
    assert lapsed.segment == "No order for 100+ days, spent 99.50+, France"
    assert lapsed.audience_size == int(((spend["recency_days"] >= 100)
                                        & (spend["monetary"] >= 99.5)).sum())
    assert lapsed.audience_definition.endswith("who spent 99.50 or more to date, from France")
    with pytest.raises(ValueError, match=r"no customer in the RFM segment 'At Risk' has spent "
                                         r"5,000 or more \(the most is 1,999.00\); choose a "
                                         "lower amount"):
        plan_campaign(spend, "At Risk", min_spend=5000)
    with pytest.raises(ValueError, match="min_spend must be an amount above 0, got -5"):
        plan_campaign(spend, "At Risk", min_spend=-5)
    # a spend narrows an audience; alone it chooses none
    with pytest.raises(ValueError, match=r"choose a segment, .* \(a spend narrows one\)"):
        plan_campaign(spend, min_spend=100)
