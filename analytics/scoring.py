"""Fit the predictive models at one date and score every customer known by then.

The same function serves the analysis at ``as_of`` and the backtest one horizon earlier, so
what the backtest measures is exactly what the analysis does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from .churn import ChurnModel, Fallback, churn_reasons
from .clv import BetaGeoFitter, ClvResult, fit_clv
from .features import customer_features, on_or_before

__all__ = ["BGNBD_FEATURES", "BgnbdNoOrder", "Scores", "revenue_at_risk", "score_customers"]

BGNBD_FEATURES = {"p_alive": "bgnbd_p_alive", "p_no_purchase": "bgnbd_p_no_purchase",
                  "expected_orders": "bgnbd_expected_orders"}


@dataclass
class Scores:
    """Per-customer features and predictions at one date, plus model diagnostics."""

    features: pd.DataFrame
    predictions: pd.DataFrame
    model: ChurnModel
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def rescore(self, features: pd.DataFrame) -> pd.DataFrame:
        """Churn and revenue at risk for features of another (earlier) day, same model."""
        with threadpool_limits(limits=1, user_api="openmp"):
            churn = self.model.predict(features)
        return revenue_at_risk(churn, features, self.model.horizon_days).assign(
            churn_probability=churn)


@dataclass(frozen=True)
class BgnbdNoOrder:
    """A fitted BG/NBD's probability of no order in the horizon, from customer features of
    any day (the same repeat days, recency and age as :func:`analytics.clv.clv_summary`)."""

    bgf: BetaGeoFitter
    horizon_days: float
    time_unit_days: float

    def __call__(self, features: pd.DataFrame) -> pd.Series:
        unit = self.time_unit_days
        age = features["tenure_days"].to_numpy(dtype=float)
        span = age - features["recency_days"].to_numpy(dtype=float)
        p = self.bgf.p_no_purchase(self.horizon_days / unit,
                                   features["purchase_days"].to_numpy(dtype=float) - 1.0,
                                   span / unit, age / unit)
        return pd.Series(p, index=features.index, name="churn_probability")


def _bgnbd_columns(result: ClvResult) -> pd.DataFrame:
    return result.customers[list(BGNBD_FEATURES)].rename(columns=BGNBD_FEATURES)


def revenue_at_risk(churn_probability: pd.Series, features: pd.DataFrame,
                    horizon_days: int) -> pd.DataFrame:
    """Usual revenue per horizon, and the part of it at risk (× churn probability).

    Usual revenue = the customer's revenue per day since their first order, counting at
    least one horizon of tenure (so a brand-new customer's first order is not annualised),
    times the horizon.
    """
    tenure = features["tenure_days"].clip(lower=horizon_days)
    usual = features["monetary"] / tenure * horizon_days
    return pd.DataFrame({"usual_horizon_revenue": usual,
                         "revenue_at_risk": churn_probability * usual})


def score_customers(
    orders: pd.DataFrame,
    lines: pd.DataFrame | None,
    as_of: pd.Timestamp,
    horizon_days: int,
    random_state: int = 0,
    features: pd.DataFrame | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    snapshot_cache: dict[Any, Any] | None = None,
) -> Scores:
    """Fit CLV and churn on rows up to ``as_of`` and score each customer at ``as_of``.

    ``features`` are the customer features at ``as_of`` when the caller has them already.
    ``progress(stage)`` is called with "clv", then "churn", as each model starts.
    ``snapshot_cache`` is shared with another fit on the same log (see ``ChurnModel``).
    """
    step = progress or (lambda _stage: None)
    step("clv")
    day = pd.Timestamp(as_of).normalize()
    orders = on_or_before(orders, day)
    lines = None if lines is None else on_or_before(lines, day)
    clv = fit_clv(orders, day, horizon_days)
    step("churn")
    fallback = None
    if clv.bgf.converged_:
        fallback = Fallback("bgnbd", "the BG/NBD probability of no order",
                            BgnbdNoOrder(clv.bgf, horizon_days, clv.time_unit_days))
    model = ChurnModel(horizon_days=horizon_days, random_state=random_state,
                       snapshot_cache=snapshot_cache, fallback=fallback)
    # One OpenMP thread: gradient boosting's parallel loops spin-wait, and on a machine
    # where other processes compete for the cores a 3-second fit was seen to take minutes.
    # BG/NBD outputs are not model features: as features they changed the backtest AUC by
    # ±0.003 and cost one BG/NBD fit per training snapshot; they stay a baseline.
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(orders, day, lines)
    if features is None:
        features = customer_features(orders, day, horizon_days, lines)
    features = features.join(_bgnbd_columns(clv))
    with threadpool_limits(limits=1, user_api="openmp"):
        if clv.bgf.converged_:
            # The snapshots' pooled churn rate is the past's; BG/NBD, fitted at as_of on the
            # whole history, estimates this horizon's. Matching it lowered the backtest Brier
            # score on every shop measured (README, "Churn") and leaves the ranking as is.
            churn = model.match_level(features, float(features["bgnbd_p_no_purchase"].mean()))
        else:
            churn = model.predict(features)
    predictions = clv.customers[["p_alive", "expected_orders", "predicted_clv"]].reindex(
        features.index)
    predictions.insert(0, "churn_probability", churn)
    predictions = predictions.join(revenue_at_risk(churn, features, horizon_days))
    predictions["churn_reasons"] = churn_reasons(features, horizon_days, churn=churn)
    diagnostics = {
        "churn": {
            "model": model.model_name_,
            "fallback_reason": model.fallback_,
            "level_shift": round(model.level_shift_, 4),
            "training_cutoffs": [c.date().isoformat() for c in model.cutoffs_],
            "validation_auc": model.validation_auc_,
        },
        "clv": clv.diagnostics,
    }
    return Scores(features=features, predictions=predictions, model=model,
                  diagnostics=diagnostics)
