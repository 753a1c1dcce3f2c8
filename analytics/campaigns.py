"""Campaign plan skeletons: who to target in a segment (or among the customers who have not
ordered for so many days, or only once), with which offer, when, and how to measure it.
Everything here is numbers from the analysis; the advisor adds words and playbook citations
on top.

The rules are data (:data:`DEFAULT_PLAYS`, :class:`Constraints`): a play per segment says
the goal, the offer and its usual depth and channel; the depth is then bounded by the
caller's discount cap, by the margin, and by the audience's predicted value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .errors import RetentionError
from .experiments import assign_holdout, sample_size_two_proportions

__all__ = [
    "CROSS_SELL_PLAY",
    "DEFAULT_PLAYS",
    "LAPSED_PLAY",
    "ONE_TIME_PLAY",
    "CampaignPlan",
    "Constraints",
    "Play",
    "UnknownSegmentError",
    "amount_text",
    "audience_label",
    "plan_campaign",
]


class UnknownSegmentError(RetentionError):
    """The segment named does not exist; the message lists the valid ones."""


@dataclass(frozen=True)
class Play:
    """The default campaign for a segment."""

    goal: str
    offer: str
    depth: float  # share of the order value, before bounds
    channel: str
    tactic: str   # playbook tactic to cite
    expected_uplift: float  # absolute retention uplift the campaign aims for
    usual: str = "the segment's usual offer"  # what its depth is called in a rationale


DEFAULT_PLAYS: Mapping[str, Play] = {
    "Champions": Play("keep the best customers engaged and buying", "VIP early access and a "
                      "loyalty reward", 0.05, "email", "vip-care", 0.03),
    "Loyal Customers": Play("raise order frequency and move them up a tier", "loyalty points "
                            "multiplier", 0.05, "email", "loyalty-points", 0.04),
    "Potential Loyalists": Play("turn recent repeat buyers into regulars", "frequent-buyer "
                                "reward on the next order", 0.08, "email", "repeat-purchase", 0.05),
    "New Customers": Play("win the second order", "second-order coupon", 0.10, "email",
                          "onboarding", 0.05),
    "Promising": Play("win the second order before interest fades", "second-order coupon",
                      0.10, "email", "onboarding", 0.05),
    "Need Attention": Play("bring slipping customers back to their usual rhythm",
                           "personalised recommendations with a limited-time offer", 0.10,
                           "email", "personalised-recommendations", 0.05),
    "About To Sleep": Play("reactivate before they lapse", "threshold discount (spend more, "
                           "save more)", 0.12, "email", "threshold-discount", 0.05),
    "At Risk": Play("win back valuable customers who are drifting away", "win-back coupon",
                    0.15, "email", "win-back", 0.06),
    "Cannot Lose Them": Play("rescue former top customers personally", "personal win-back "
                             "offer with VIP care", 0.20, "email", "at-risk-rescue", 0.06),
    "Hibernating": Play("reactivate cheaply or let go", "win-back coupon", 0.15, "email",
                        "win-back", 0.03),
    "Lost": Play("a last reactivation attempt before sunsetting", "last-chance win-back "
                 "coupon", 0.20, "email", "win-back", 0.02),
}
_FALLBACK_PLAY = Play("retain the segment", "personalised offer", 0.10, "email", "retention",
                      0.04)
#: The plays for an audience chosen by how long it has gone without an order ("no order for
#: 90 days") or by a single order, whichever segments it spans; the uplift they aim for is
#: their members' segments' (see :func:`plan_campaign`).
LAPSED_PLAY = Play("win back customers who stopped ordering", "win-back coupon", 0.15, "email",
                   "win-back", 0.0, "the usual win-back offer")
ONE_TIME_PLAY = Play("win the second order", "second-order coupon", 0.10, "email",
                     "onboarding", 0.0, "the usual second-order offer")
#: The play for a cross-sell: customers who have not bought a product are offered it (the
#: buyers of another that goes with it, typically); its uplift is its members' segments'.
CROSS_SELL_PLAY = Play("sell the product that goes with what they bought", "cross-sell offer",
                       0.10, "email", "cross-sell", 0.0, "the usual cross-sell offer")


@dataclass(frozen=True)
class Constraints:
    """What the marketer allows. Shares are fractions (0.10 = 10 %)."""

    discount_cap: float | None = None
    budget: float | None = None
    channel: str | None = None
    margin: float = 0.40
    max_share_of_margin: float = 0.5
    max_share_of_clv: float = 0.3
    redemption_rate: float = 0.15
    holdout_share: float = 0.10
    alpha: float = 0.05
    power: float = 0.8

    def __post_init__(self) -> None:
        for name in ("discount_cap", "margin", "holdout_share", "redemption_rate"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} must be a share between 0 and 1, got {value}")
        if self.budget is not None and self.budget <= 0:
            raise ValueError(f"budget must be positive, got {self.budget}")


@dataclass
class CampaignPlan:
    """A campaign skeleton with every number the plan rests on."""

    segment: str
    goal: str
    tactic: str
    audience_definition: str
    audience_size: int
    treatment_size: int
    holdout_size: int
    offer: str
    discount: float
    discount_rationale: str
    channel: str
    send_within_days: int
    timing_rationale: str
    baseline_retention: float
    target_retention: float
    required_per_group: int
    audience_avg_order_value: float
    audience_predicted_clv: float
    audience_revenue_at_risk: float
    expected_redemptions: float
    expected_cost: float
    expected_incremental_revenue: float
    horizon_days: int
    warnings: list[str] = field(default_factory=list)
    audience: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the audience list, JSON-ready."""
        data = asdict(self)
        data.pop("audience")
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in data.items()}


def _bounded_discount(play: Play, constraints: Constraints, aov: float,
                      clv: float) -> tuple[float, str]:
    bounds = {play.usual: play.depth,
              "half the gross margin": constraints.margin * constraints.max_share_of_margin}
    if constraints.discount_cap is not None:
        bounds["your discount cap"] = constraints.discount_cap
    if aov > 0 and clv > 0:
        bounds["30% of predicted CLV per order"] = constraints.max_share_of_clv * clv / aov
    binding = min(bounds, key=bounds.get)
    depth = float(np.floor(max(bounds[binding], 0.0) * 100) / 100)
    rationale = (f"{depth:.0%}, set by {binding} ("
                 + ", ".join(f"{name} {value:.0%}" for name, value in bounds.items()) + ")")
    return depth, rationale


def _timing(audience: pd.DataFrame, horizon_days: int) -> tuple[int, str]:
    gap = audience["mean_gap_days"].median() if "mean_gap_days" in audience else np.nan
    recency = float(audience["recency_days"].median())
    if np.isfinite(gap) and gap > recency:
        days = max(3, int(gap - recency))
        return days, (f"their median gap between orders is {gap:.0f} days and they last "
                      f"ordered {recency:.0f} days ago (median): reach them within {days} days")
    days = 7
    if np.isfinite(gap):
        why = (f"they are already past their usual gap of {gap:.0f} days (median recency "
               f"{recency:.0f} days): send within a week")
    else:
        why = (f"most have a single order, {recency:.0f} days ago (median): send within a "
               "week")
    return min(days, horizon_days), why


def amount_text(value: float) -> str:
    """A sum of money as a plan names it: 500, 1,250, 99.50."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def audience_label(segment: str | None = None, inactive_days: int | None = None,
                   one_order_only: bool = False, min_spend: float | None = None) -> str:
    """The name of a plan's audience: the segment's, or what chose it: "No order for 90+
    days", "One-time buyers", "At Risk, one-time buyers, no order for 120+ days", "No order
    for 90+ days, spent 500+"."""
    parts = [segment or "", "one-time buyers" if one_order_only else "",
             f"no order for {inactive_days}+ days" if inactive_days else "",
             f"spent {amount_text(min_spend)}+" if min_spend else ""]
    label = ", ".join(p for p in parts if p)
    return label[:1].upper() + label[1:]


def _members_uplift(segments: pd.Series, plays: Mapping[str, Play]) -> float:
    """The uplift a mix of segments' customers aims for: their own plays', member-weighted."""
    names = segments.astype(str)
    return float(names.map({name: plays.get(name, _FALLBACK_PLAY).expected_uplift
                            for name in names.unique()}).mean())


def _audience(customers: pd.DataFrame, segment: str | None, inactive_days: int | None,
              one_order_only: bool, plays: Mapping[str, Play], segment_column: str,
              min_spend: float | None = None, anyone: bool = False
              ) -> tuple[pd.DataFrame, Play, str, str]:
    """The customers a plan targets, its play, its name and its definition in words
    (``anyone``: all of ``customers`` when nothing else chooses them)."""
    names = sorted(customers[segment_column].astype(str).unique())
    if segment is None and inactive_days is None and not one_order_only and not anyone:
        raise ValueError("choose a segment, or a number of days without an order "
                         "(inactive_days) or one-time buyers (one_order_only), for the "
                         f"campaign's audience{' (a spend narrows one)' if min_spend else ''}; "
                         f"segments: {', '.join(names)}")
    if segment is not None and segment not in names:
        raise UnknownSegmentError(f"no segment {segment!r}; choose one of {', '.join(names)}")
    audience = customers if segment is None \
        else customers.loc[customers[segment_column].astype(str) == segment]
    scope = f" in the RFM segment {segment!r}" if segment else ""
    spent = ""
    if min_spend is not None:
        if not np.isfinite(min_spend) or min_spend <= 0:
            raise ValueError(f"min_spend must be an amount above 0, got {min_spend}")
        most = float(audience["monetary"].max())
        audience = audience.loc[audience["monetary"] >= min_spend]
        spent = f" who spent {amount_text(min_spend)} or more to date"
        if audience.empty:
            raise ValueError(f"no customer{scope} has spent {amount_text(min_spend)} or more (the "
                             f"most is {most:,.2f}); choose a lower amount")
    if inactive_days is None and not one_order_only:
        return (audience.copy(), plays.get(str(segment), _FALLBACK_PLAY),
                audience_label(segment, min_spend=min_spend), f"customers{scope}{spent}")
    chosen, words = audience, []
    if one_order_only:
        chosen = chosen.loc[chosen["frequency"] == 1]
        words.append("one order only")
        if chosen.empty:
            raise ValueError(f"no customer{scope}{spent} has a single order: all have "
                             "ordered more than once; leave out one-time buyers")
    if inactive_days is not None:
        if inactive_days < 1 or inactive_days != int(inactive_days):
            raise ValueError(f"inactive_days must be a whole number of days of 1 or more, "
                             f"got {inactive_days}")
        inactive_days = int(inactive_days)
        longest = float(chosen["recency_days"].max())
        chosen = chosen.loc[chosen["recency_days"] >= inactive_days]
        words.append(f"no order for {inactive_days} days or more")
        if chosen.empty:
            who = "one-time buyer" if one_order_only else "customer"
            raise ValueError(f"no {who}{scope}{spent} has gone {inactive_days} days without "
                             f"an order (the longest is {longest:.0f} days); choose fewer "
                             "days")
    if segment is not None:
        play = plays.get(segment, _FALLBACK_PLAY)
    else:  # a mix of segments: expect what their own plays expect, member-weighted
        uplift = _members_uplift(chosen[segment_column], plays)
        # one-time buyers gone quiet are won back, not welcomed: "we hope you are enjoying
        # your first order" reads wrong a year after it
        play = replace(ONE_TIME_PLAY if one_order_only and inactive_days is None
                       else LAPSED_PLAY, expected_uplift=round(float(uplift), 3))
    return (chosen.copy(), play, audience_label(segment, inactive_days, one_order_only,
                                                min_spend),
            f"customers with {' and '.join(words)}{scope}{spent}")


def plan_campaign(
    customers: pd.DataFrame,
    segment: str | None = None,
    *,
    inactive_days: int | None = None,
    one_order_only: bool = False,
    min_spend: float | None = None,
    place: str | None = None,
    bought: str | None = None,
    cross_sell: str | None = None,
    horizon_days: int = 90,
    constraints: Constraints | None = None,
    plays: Mapping[str, Play] = DEFAULT_PLAYS,
    segment_column: str = "rfm_segment",
    seed: int = 0,
) -> CampaignPlan:
    """A plan for every customer of ``segment`` in the analysis' customers frame, or for
    those with no order for ``inactive_days`` or more, or with one order only
    (``one_order_only``): of ``segment`` if one is given, else of every segment; with
    ``min_spend``, only those who spent that much or more to date (``monetary``).

    An audience that spans segments gets the win-back play (:data:`LAPSED_PLAY`), or the
    second-order play for one-time buyers not chosen by days (:data:`ONE_TIME_PLAY`), aiming
    for the uplift its members' own segments' plays aim for on average; with a segment, it
    keeps the segment's play. The plan is named by :func:`audience_label` ("No order for 90+
    days"). ``place`` names where ``customers`` were taken from (a country), for the plan's
    name and audience definition ("At Risk, Germany"); ``bought`` names the product they
    were chosen for having bought ("At Risk, bought P0307"). ``cross_sell`` names a product
    that ``customers`` have not bought (the caller chose them so): the plan offers it
    (:data:`CROSS_SELL_PLAY`; no segment, days or one-time buyers needed), and is named
    "Cross-sell P0311 to buyers of P0307".
    """
    constraints = constraints or Constraints()
    audience, play, segment, definition = _audience(customers, segment, inactive_days,
                                                    one_order_only, plays, segment_column,
                                                    min_spend, anyone=cross_sell is not None)
    if cross_sell:
        if audience.empty:
            raise ValueError(f"every customer chosen has bought {cross_sell} already: there "
                             "is no one to cross-sell it to; choose another product")
        uplift = _members_uplift(audience[segment_column], plays)
        play = replace(CROSS_SELL_PLAY, offer=f"cross-sell offer on {cross_sell}",
                       expected_uplift=round(float(uplift), 3))
        name = f"Cross-sell {cross_sell}" + (f" to buyers of {bought}" if bought else "")
        segment = ", ".join(p for p in (name, segment) if p)
        definition += ("" if definition == "customers" else ",") + (
            f" who bought {bought} and not {cross_sell}" if bought
            else f" who have not bought {cross_sell}")
    elif bought:
        segment, definition = f"{segment}, bought {bought}", f"{definition}, who bought {bought}"
    if place:
        segment, definition = f"{segment}, {place}", f"{definition}, from {place}"
    audience = audience.sort_values("revenue_at_risk", ascending=False)
    aov = float(audience["avg_order_value"].mean())
    clv = float(audience["predicted_clv"].mean())
    discount, why_discount = _bounded_discount(play, constraints, aov, clv)
    plan_warnings: list[str] = []
    within_budget = ""
    redeem = constraints.redemption_rate
    cost_per_customer = redeem * aov * discount
    if constraints.budget is not None and cost_per_customer > 0:
        affordable = int(constraints.budget / cost_per_customer / (1 - constraints.holdout_share))
        if affordable < len(audience):
            plan_warnings.append(
                f"the budget of {constraints.budget:,.0f} covers {affordable:,} of "
                f"{len(audience):,} customers; the plan keeps those with the most revenue at "
                "risk")
            audience = audience.head(affordable)
            within_budget = ", the ones with the most revenue at risk that the budget covers"
    if audience.empty:
        raise ValueError(f"the budget of {constraints.budget:,.0f} does not cover a single "
                         f"customer of {segment!r}; raise it or lower the discount")
    baseline = float(1 - audience["churn_probability"].mean())
    target = min(0.99, baseline + play.expected_uplift)
    size = sample_size_two_proportions(max(0.01, min(baseline, 0.98)), target - baseline,
                                       alpha=constraints.alpha, power=constraints.power)
    share = constraints.holdout_share
    if 2 * size.n_control <= len(audience):  # a test with enough power fits: use it
        share = max(share, size.n_control / len(audience))
    groups = assign_holdout(audience.index.astype(str), share, seed=seed)
    audience = audience.assign(group=groups["group"].array)  # in the audience's order
    treated = int((audience["group"] != "holdout").sum())
    holdout = len(audience) - treated
    if holdout < size.n_control:
        plan_warnings.append(
            f"to detect a {play.expected_uplift:.0%} uplift the test needs {size.n_control:,} "
            f"customers per group but the holdout has {holdout:,}: treat the result as "
            "directional, or run the campaign longer or on more segments")
    days, why_timing = _timing(audience, horizon_days)
    expected_cost = treated * cost_per_customer
    incremental = treated * (target - baseline) * float(audience["usual_horizon_revenue"].mean())
    return CampaignPlan(
        segment=segment,
        goal=play.goal,
        tactic=play.tactic,
        audience_definition=f"{definition}{within_budget}",
        audience_size=len(audience),
        treatment_size=treated,
        holdout_size=holdout,
        offer=play.offer,
        discount=discount,
        discount_rationale=why_discount,
        channel=constraints.channel or play.channel,
        send_within_days=days,
        timing_rationale=why_timing,
        baseline_retention=baseline,
        target_retention=target,
        required_per_group=size.n_control,
        audience_avg_order_value=aov,
        audience_predicted_clv=clv,
        audience_revenue_at_risk=float(audience["revenue_at_risk"].sum()),
        expected_redemptions=treated * redeem,
        expected_cost=expected_cost,
        expected_incremental_revenue=incremental,
        horizon_days=horizon_days,
        warnings=plan_warnings,
        audience=audience,
    )
