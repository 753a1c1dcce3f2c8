"""Churn risk: P(no order in the ``horizon`` days after ``as_of``), with reasons in words.

The model learns from history only. Features are computed at past cut-offs
``as_of − k × horizon`` (k = 1, 2, …; several snapshots are stacked so that short histories
and single-cohort shops still give enough rows) and labelled by whether the customer ordered
in the following ``horizon`` days, which all lie on or before ``as_of``. The candidates
(logistic regression and gradient boosting) are compared on the most recent snapshot, the
winner is refitted on all snapshots, calibrated, and applied to the features at ``as_of``.

Shops too small or too short for that fall back, with a warning, to a documented heuristic
(:func:`heuristic_churn`): the chance of no order in the horizon for a customer who orders at
their own past rate, slowed down by how overdue they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from .features import DAY, ExtraFeatures, customer_features, on_or_before
from .schema import CUSTOMER_ID

__all__ = [
    "ChurnModel",
    "churn_labels",
    "churn_reasons",
    "heuristic_churn",
    "snapshot_cutoffs",
]

def churn_labels(orders: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int,
                 customers: pd.Index) -> pd.Series:
    """1 where a customer placed no order in the ``horizon_days`` after ``cutoff``, else 0."""
    start = cutoff.normalize() + DAY
    window = orders["order_date"].between(start, start + pd.Timedelta(days=horizon_days),
                                          inclusive="left")
    active = pd.Index(orders.loc[window, CUSTOMER_ID].unique())
    return pd.Series((~customers.isin(active)).astype(int), index=customers, name="churned")


def snapshot_cutoffs(first_order: pd.Timestamp, as_of: pd.Timestamp, horizon_days: int,
                     max_snapshots: int = 4, step_days: int | None = None,
                     min_history_days: int = 60) -> list[pd.Timestamp]:
    """Training cut-offs ``as_of − horizon − k × step`` that leave some history before them.

    The most recent cut-off is one horizon back, so its labels end at ``as_of``.
    """
    step = pd.Timedelta(days=step_days or horizon_days)
    cutoffs = []
    for k in range(max_snapshots):
        cutoff = as_of.normalize() - pd.Timedelta(days=horizon_days) - k * step
        if cutoff - first_order.normalize() < pd.Timedelta(days=min_history_days):
            break
        cutoffs.append(cutoff)
    return cutoffs


def heuristic_churn(features: pd.DataFrame, horizon_days: int) -> pd.Series:
    """P(no order in the horizon) for a customer ordering at their own past rate.

    The rate is orders per day over the customer's tenure (at least 30 days). Customers
    already overdue (recency beyond twice their usual gap, or beyond the horizon for
    one-time buyers) have the rate shrunk by how overdue they are.
    """
    rate = features["frequency"] / features["tenure_days"].clip(lower=30)
    usual = features["mean_gap_days"].fillna(float(horizon_days))
    overdue = (features["recency_days"] / (2 * usual)).clip(lower=1.0)
    return pd.Series(np.exp(-rate * horizon_days / overdue), index=features.index,
                     name="churn_probability")


def _candidates(random_state: int) -> dict[str, Any]:
    log_features = FunctionTransformer(lambda x: np.sign(x) * np.log1p(np.abs(x)))
    return {
        "logistic_regression": make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True), log_features,
            StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
        "gradient_boosting": HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.06, max_leaf_nodes=15, min_samples_leaf=40,
            l2_regularization=1.0, random_state=random_state),
    }


class ChurnModel:
    """Churn classifier trained on stacked past snapshots; see the module docstring."""

    def __init__(
        self,
        horizon_days: int = 90,
        max_snapshots: int = 4,
        step_days: int | None = None,
        candidates: Sequence[str] = ("logistic_regression", "gradient_boosting"),
        min_customers: int = 300,
        min_per_class: int = 30,
        max_training_rows: int = 200_000,
        random_state: int = 0,
    ) -> None:
        self.horizon_days = horizon_days
        self.max_snapshots = max_snapshots
        self.step_days = step_days
        self.candidates = candidates
        self.min_customers = min_customers
        self.min_per_class = min_per_class
        self.max_training_rows = max_training_rows
        self.random_state = random_state

    def _snapshots(self, orders: pd.DataFrame, lines: pd.DataFrame | None,
                   extra: ExtraFeatures | None) -> list[tuple[pd.DataFrame, pd.Series]]:
        data = []
        for cutoff in self.cutoffs_:
            x = customer_features(orders, cutoff, self.horizon_days, lines, extra)
            y = churn_labels(orders, cutoff, self.horizon_days, x.index)
            data.append((x, y))
        return data

    def _sample(self, x: pd.DataFrame, y: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
        if len(x) <= self.max_training_rows:
            return x, y
        rng = np.random.default_rng(self.random_state)
        keep = np.sort(rng.choice(len(x), self.max_training_rows, replace=False))
        return x.iloc[keep], y.iloc[keep]

    def fit(self, orders: pd.DataFrame, as_of: pd.Timestamp,
            lines: pd.DataFrame | None = None, extra: ExtraFeatures | None = None) -> ChurnModel:
        """Learn from snapshots before ``as_of``; rows after ``as_of`` are never read."""
        orders = on_or_before(orders, as_of)
        lines = None if lines is None else on_or_before(lines, as_of)
        self.as_of_ = as_of.normalize()
        self.cutoffs_ = snapshot_cutoffs(orders["order_date"].min(), self.as_of_,
                                         self.horizon_days, self.max_snapshots,
                                         self.step_days)
        self.fallback_: str | None = None
        self.validation_auc_: dict[str, float] = {}
        snapshots = self._snapshots(orders, lines, extra)
        reason = self._too_small(snapshots)
        if reason:
            self.fallback_ = reason
            warnings.warn(f"churn model: {reason}; using the rate-based heuristic instead",
                          stacklevel=2)
            return self
        self.features_ = list(snapshots[0][0].columns)
        self.model_name_ = self._select(snapshots)
        x = pd.concat([s[0] for s in snapshots])[self.features_]
        y = pd.concat([s[1] for s in snapshots])
        x, y = self._sample(x, y)
        base = _candidates(self.random_state)[self.model_name_]
        method = "isotonic" if min(y.sum(), len(y) - y.sum()) >= 1000 else "sigmoid"
        self.model_ = CalibratedClassifierCV(base, method=method, cv=3).fit(x, y)
        self.training_rows_ = len(x)
        self.base_rate_ = float(y.mean())
        return self

    def _too_small(self, snapshots: list[tuple[pd.DataFrame, pd.Series]]) -> str | None:
        if not snapshots:
            return (f"less than one horizon ({self.horizon_days} days) of history before "
                    "as_of to learn from")
        y = pd.concat([s[1] for s in snapshots])
        n_customers = len(snapshots[0][1])
        if n_customers < self.min_customers:
            return f"only {n_customers} customers at the last training cut-off " \
                   f"(needs {self.min_customers})"
        if min(y.sum(), len(y) - y.sum()) < self.min_per_class:
            return "too few churned or retained customers in the training snapshots"
        return None

    def _select(self, snapshots: list[tuple[pd.DataFrame, pd.Series]]) -> str:
        """Pick the candidate with the best ROC AUC on the most recent snapshot.

        Candidates train on the snapshots whose label windows end before that snapshot's
        cut-off, so the comparison sees no label from the validation period.
        """
        x_val, y_val = snapshots[0]
        latest = self.cutoffs_[0] - pd.Timedelta(days=self.horizon_days)
        train = [s for s, c in zip(snapshots, self.cutoffs_, strict=True) if c <= latest]
        if len(self.candidates) == 1 or not train:  # nothing to compare on: the simplest
            return self.candidates[0]
        x_tr = pd.concat([s[0] for s in train])[self.features_]
        x_tr, y_tr = self._sample(x_tr, pd.concat([s[1] for s in train]))
        models = _candidates(self.random_state)
        for name in self.candidates:
            model = models[name].fit(x_tr, y_tr)
            score = model.predict_proba(x_val[self.features_])[:, 1]
            self.validation_auc_[name] = round(float(roc_auc_score(y_val, score)), 4)
        return max(self.validation_auc_, key=self.validation_auc_.get)

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Churn probability per customer for features built at the scoring date."""
        if self.fallback_:
            return heuristic_churn(features, self.horizon_days)
        proba = self.model_.predict_proba(features[self.features_])[:, 1]
        return pd.Series(proba, index=features.index, name="churn_probability")


def _days(value: pd.Series) -> pd.Series:
    return value.round().astype("Int64").astype("string")


def churn_reasons(features: pd.DataFrame, horizon_days: int, top: int = 3) -> pd.Series:
    """The main reasons for each customer's risk, in plain words, most severe first."""
    f = features
    ratio = f["overdue_ratio"]
    candidates = [
        (ratio.fillna(0), ratio >= 1.5,
         "no order for " + _days(f["recency_days"]) + " days, " + ratio.round(1).astype(str)
         + "× their usual gap of " + _days(f["mean_gap_days"]) + " days"),
        (f["recency_days"] / horizon_days, (f["frequency"] == 1)
         & (f["recency_days"] >= horizon_days / 3),
         "one order only, " + _days(f["recency_days"]) + " days ago"),
        ((f["orders_prev_horizon"] - f["orders_last_horizon"]) / f["orders_prev_horizon"]
         .clip(lower=1),
         (f["frequency"] > 1) & (f["orders_last_horizon"] < f["orders_prev_horizon"]),
         f["orders_last_horizon"].astype(str) + f" orders in the last {horizon_days} days "
         f"against " + f["orders_prev_horizon"].astype(str) + f" in the {horizon_days} before"),
        (0.5 * (f["recency_days"] > horizon_days), (f["frequency"] > 1)
         & ratio.isna() & (f["recency_days"] > horizon_days),
         "no order for " + _days(f["recency_days"]) + " days"),
    ]
    severities = np.column_stack([np.where(m.fillna(False), s, -np.inf)
                                  for s, m, _ in candidates])
    texts = np.column_stack([t.fillna("").to_numpy(dtype=object) for _, _, t in candidates])
    order = np.argsort(-severities, axis=1)[:, :top]
    rows = np.arange(len(f))[:, None]
    chosen = np.where(np.isfinite(severities[rows, order]), texts[rows, order], "")
    parts = [pd.Series(chosen[:, i], index=f.index, dtype="string") for i in range(top)]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + ("; " + part).where(part != "", "")
    joined = joined.where(joined != "", "buying at their usual pace")
    return pd.Series(joined, index=f.index, name="churn_reasons", dtype="string")
