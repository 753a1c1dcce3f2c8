"""Churn risk: P(no order in the ``horizon`` days after ``as_of``), with reasons in words.

The model learns from history only. Features (:func:`analytics.features.customer_features`)
are computed at past cut-offs ``as_of − horizon − k × step`` and labelled by whether the
customer ordered in the following ``horizon`` days, which all lie on or before ``as_of``.
Several snapshots are stacked (the step is a third of the horizon, shorter when the history
is short), so young and single-cohort shops still give enough rows, and the model sees
customers at many ages. The candidates (logistic regression, gradient boosting and their
blend) are compared on the most recent snapshot, trained only on snapshots whose labels end
before it; the winner is refitted on all snapshots, Platt-calibrated, and applied to the
features at ``as_of``. The snapshots teach who churns; how many churn in the coming horizon
can differ from their pooled rate (a season, a growing or shrinking shop), so the caller may
move the level of the probabilities to an estimate made at ``as_of`` itself
(:meth:`ChurnModel.match_level`; the analysis uses the BG/NBD fit's).

Shops too small or too short for that fall back, with a warning, to a :class:`Fallback`:
the analysis passes the BG/NBD probability of no order; the default is a documented
heuristic (:func:`heuristic_churn`): the chance of no order in the horizon for a customer
who orders at their own past rate, slowed down by how overdue they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from .features import DAY, ExtraFeatures, customer_features, integer_ids, on_or_before
from .schema import CUSTOMER_ID, ORDER_DATE

__all__ = [
    "ChurnModel",
    "Fallback",
    "churn_labels",
    "churn_reasons",
    "heuristic_churn",
    "snapshot_cutoffs",
]

MIN_HISTORY_DAYS = 60  # of orders before a training cut-off
SELECTION_MARGIN = 0.002  # smaller AUC differences on one validation snapshot are noise
MIN_COVERAGE = 0.05  # share of training rows where a feature must be known to be used
# Below this share of a large shop's customers, a class is kept whole in the training sample
RARE_CLASS_SHARE = 0.1


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


@dataclass(frozen=True)
class Fallback:
    """What scores churn when no model can be learned from the shop's history.

    ``name`` goes into the diagnostics (as the model used), ``description`` into the warning,
    and ``score(features)`` returns the probabilities.
    """

    name: str
    description: str
    score: Callable[[pd.DataFrame], pd.Series]


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.copysign(np.log1p(np.abs(x)), x)


def _clip_scaled(x: np.ndarray) -> np.ndarray:
    # A feature nearly constant in training (a BG/NBD p_alive at its bound) would otherwise
    # reach thousands of standard deviations at scoring and swamp the linear model.
    return np.clip(x, -5.0, 5.0)


class _MedianImputer(TransformerMixin, BaseEstimator):
    """``SimpleImputer(strategy="median", add_indicator=True)`` on columns that each have
    a known value, with the same output; its masked-array median took 0.2 s of every fit
    on 60,000 training rows, ``np.nanmedian`` takes a tenth of that."""

    def fit(self, x: Any, y: Any = None) -> _MedianImputer:
        values = _floats(x)
        missing = np.isnan(values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: NaN
            self.statistics_ = np.nanmedian(values, axis=0)
        self.indicator_ = np.flatnonzero(missing.any(axis=0))
        return self

    def transform(self, x: Any) -> np.ndarray:
        values = _floats(x)
        missing = np.isnan(values)
        filled = np.where(missing, self.statistics_, values)
        return np.hstack([filled, missing[:, self.indicator_].astype(float)])


def _floats(x: Any) -> np.ndarray:
    if isinstance(x, pd.DataFrame):
        return x.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(x, dtype="float64")


def _candidates(random_state: int) -> dict[str, Any]:
    """The base learners; ``blend`` averages the probabilities of the two."""
    return {
        "logistic_regression": make_pipeline(
            _MedianImputer(),
            FunctionTransformer(_signed_log), StandardScaler(), FunctionTransformer(_clip_scaled),
            LogisticRegression(C=0.1, solver="newton-cholesky", max_iter=200)),
        "gradient_boosting": HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.06, max_leaf_nodes=8, min_samples_leaf=100,
            max_bins=64, l2_regularization=1.0, random_state=random_state),
    }


BLEND = "blend"
BLEND_MEMBERS = ("logistic_regression", "gradient_boosting")


class _Blend:
    """Mean of the member models' probabilities."""

    def __init__(self, members: Sequence[Any]) -> None:
        self.members = list(members)

    def fit(self, x: pd.DataFrame, y: pd.Series) -> _Blend:
        for member in self.members:
            member.fit(x, y)
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return np.mean([m.predict_proba(x) for m in self.members], axis=0)


def _build(name: str, random_state: int) -> Any:
    models = _candidates(random_state)
    return _Blend([models[m] for m in BLEND_MEMBERS]) if name == BLEND else models[name]


def _varying_columns(x: pd.DataFrame) -> list[str]:
    """Numeric columns known for enough rows, that vary.

    Constant columns teach nothing and an all-missing one breaks the gradient-boosting
    binning. A column known for only a few training rows is dropped too: it is typically
    one that becomes known for everyone later (a single-cohort shop ageing past some
    threshold), and a weight learned on those few rows would then rerank everyone.
    """
    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
    return [c for c in numeric
            if x[c].notna().mean() >= MIN_COVERAGE and x[c].nunique(dropna=True) > 1]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _platt(raw: np.ndarray, y: pd.Series, weight: np.ndarray | None = None
           ) -> tuple[float, float]:
    """Slope and intercept mapping logit(raw score) to calibrated log-odds (rows weighted
    by ``weight``: a sampled class counts as the customers it stands for).

    The slope stays positive so calibration never reverses the model's ranking; when the
    scores carry no usable signal the map is flat at the base rate.
    """
    z, labels = _logit(raw)[:, None], np.asarray(y)
    fit = LogisticRegression(C=100.0).fit(z, labels, sample_weight=weight)
    if fit.coef_[0, 0] > 0:
        return float(fit.coef_[0, 0]), float(fit.intercept_[0])
    return 1e-6, float(_logit(np.array([np.average(labels, weights=weight)]))[0])


class Snapshot(NamedTuple):
    """A training cut-off's customer features, churn labels and row weights (how many
    customers of the cut-off each row stands for; 1 unless the shop was sampled)."""

    x: pd.DataFrame
    y: pd.Series
    weight: pd.Series


def _class_sample(labels: np.ndarray, budget: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows (sorted) of a sample of ``budget`` customers, and the weight of each row (None:
    all alike).

    A plain random sample, unless one class is rare (under ``RARE_CLASS_SHARE`` of the
    customers: the returning customers of a shop most of whose customers never come back,
    say). Then the rare class is kept whole up to half the budget, and the other class
    fills the rest: a random sample of such a shop left the model a few hundred returning
    customers to learn from. Each row then weighs its class's size over the rows taken
    from it, so that the calibration, fitted on weighted rows, gives the population's
    probabilities.
    """
    share = float(labels.mean()) if len(labels) else 0.0
    if min(share, 1.0 - share) >= RARE_CLASS_SHARE:
        return np.sort(rng.choice(len(labels), budget, replace=False)), None
    rows, weights = [], []
    for members in (np.flatnonzero(labels == c) for c in (0, 1)):
        take = min(len(members), max(budget // 2, budget - (len(labels) - len(members))))
        picked = rng.choice(members, take, replace=False) if take < len(members) else members
        rows.append(picked)
        weights.append(np.full(len(picked), len(members) / max(take, 1)))
    all_rows, all_weights = np.concatenate(rows), np.concatenate(weights)
    order = np.argsort(all_rows, kind="stable")
    return all_rows[order], all_weights[order]


def _weights(weight: pd.Series) -> np.ndarray | None:
    """The row weights for a fit, None when every row weighs 1 (an unsampled shop's
    fit stays exactly the unweighted one)."""
    values = weight.to_numpy(dtype=float)
    return None if (values == 1.0).all() else values


class ChurnModel:
    """Churn classifier trained on stacked past snapshots; see the module docstring.

    ``step_days`` (default a third of the horizon) spaces the training cut-offs; up to
    ``max_snapshots`` are stacked. Scores become probabilities by a Platt scaling fitted on
    all training snapshots (``calibrate_on="pooled"``) or on the most recent one as scored by
    the model-selection fit, which never saw its labels (``"latest"``: follows a drifting
    churn rate, but a seasonal shop pays for it).

    ``snapshot_cache`` (a dict) keeps each cut-off's training rows for another fit on the
    same order log: the backtest's fit, one horizon earlier, shares most of its cut-offs
    with the analysis's. A snapshot only reads orders up to its cut-off and labels up to a
    horizon later, both before either fit's date, so sharing it leaks nothing.

    ``fallback`` scores customers when the shop is too small or too short to learn from
    (default: :func:`heuristic_churn`).
    """

    def __init__(
        self,
        horizon_days: int = 90,
        max_snapshots: int = 12,
        step_days: int | None = None,
        candidates: Sequence[str] = (BLEND, "logistic_regression", "gradient_boosting"),
        min_customers: int = 300,
        min_per_class: int = 30,
        max_training_rows: int = 60_000,
        calibrate_on: str = "pooled",
        random_state: int = 0,
        snapshot_cache: dict[Any, Any] | None = None,
        fallback: Fallback | None = None,
    ) -> None:
        self.horizon_days = horizon_days
        self.max_snapshots = max_snapshots
        self.step_days = step_days
        self.candidates = candidates
        self.min_customers = min_customers
        self.min_per_class = min_per_class
        self.max_training_rows = max_training_rows
        self.calibrate_on = calibrate_on
        self.random_state = random_state
        self.snapshot_cache = snapshot_cache
        self.fallback = fallback or Fallback(
            "heuristic", "the rate-based heuristic",
            partial(heuristic_churn, horizon_days=horizon_days))

    def _default_step(self, first_order: pd.Timestamp) -> int:
        """A third of the horizon, shorter (down to a week) when the history is too short
        for ``max_snapshots`` cut-offs that far apart: a young or single-cohort shop then
        still stacks several snapshots instead of one or two."""
        usable = (self.as_of_ - first_order.normalize()).days - self.horizon_days \
            - MIN_HISTORY_DAYS
        step = usable // max(1, self.max_snapshots - 1)
        return int(min(max(step, 7), max(1, self.horizon_days // 3)))

    def _snapshots(self, orders: pd.DataFrame, lines: pd.DataFrame | None,
                   extra: ExtraFeatures | None) -> list[Snapshot]:
        """Features, labels and row weights at each cut-off; on a large shop a fixed random
        sample of the customers of each, so that all snapshots together keep to
        ``max_training_rows``, with the rarer class kept (see :func:`_class_sample`)."""
        per_snapshot = -(-self.max_training_rows // max(1, len(self.cutoffs_)))
        data = []
        self.snapshot_customers_: list[int] = []
        for cutoff in self.cutoffs_:
            key = (cutoff, self.horizon_days, per_snapshot, self.random_state)
            cached = None if self.snapshot_cache is None or extra is not None \
                else self.snapshot_cache.get(key)
            if cached is None:
                # Customers at the cut-off, in the order the features come in (sorted ids).
                # (ids are codes 0..n-1 here: counting them is a faster np.unique)
                known = orders.loc[orders[ORDER_DATE] < cutoff + DAY, CUSTOMER_ID]
                population = pd.Index(np.flatnonzero(np.bincount(known.to_numpy())))
                chosen, weight, labels = None, None, None
                if len(population) > per_snapshot:  # seeded by the date: same rows every fit
                    rng = np.random.default_rng([self.random_state, cutoff.toordinal()])
                    labels = churn_labels(orders, cutoff, self.horizon_days, population)
                    rows, weight = _class_sample(labels.to_numpy(), per_snapshot, rng)
                    chosen = population[rows]
                x = customer_features(orders, cutoff, self.horizon_days, lines, extra,
                                      customers=chosen if extra is None else None)
                if chosen is not None and extra is not None:
                    x = x.loc[chosen]
                y = churn_labels(orders, cutoff, self.horizon_days, x.index) \
                    if labels is None else pd.Series(labels.loc[x.index].to_numpy(),
                                                     index=x.index, name=labels.name)
                w = pd.Series(1.0 if weight is None else weight, index=x.index, name="weight")
                cached = (Snapshot(x, y, w), len(population))
                if self.snapshot_cache is not None and extra is None:
                    self.snapshot_cache[key] = cached
            self.snapshot_customers_.append(cached[1])
            data.append(cached[0])
        return data

    @staticmethod
    def _stack(snapshots: list[Snapshot]) -> Snapshot:
        return Snapshot(*(pd.concat([s[i] for s in snapshots]) for i in range(3)))

    def fit(self, orders: pd.DataFrame, as_of: pd.Timestamp,
            lines: pd.DataFrame | None = None, extra: ExtraFeatures | None = None) -> ChurnModel:
        """Learn from snapshots before ``as_of``; rows after ``as_of`` are never read."""
        if self.calibrate_on not in ("pooled", "latest"):
            raise ValueError(f"calibrate_on must be 'pooled' or 'latest', "
                             f"got {self.calibrate_on!r}")
        orders = on_or_before(orders, as_of)
        lines = None if lines is None else on_or_before(lines, as_of)
        orders, lines, _ = integer_ids(orders, lines)  # faster; same rows, same order
        self.as_of_ = as_of.normalize()
        first = orders["order_date"].min()
        step = self.step_days or self._default_step(first)
        self.cutoffs_ = snapshot_cutoffs(first, self.as_of_, self.horizon_days,
                                         self.max_snapshots, step, MIN_HISTORY_DAYS)
        self.fallback_: str | None = None
        self.validation_auc_: dict[str, float] = {}
        self.level_shift_ = 0.0
        snapshots = self._snapshots(orders, lines, extra)
        reason = self._too_small(snapshots)
        if reason:
            self.fallback_ = reason
            self.model_name_ = self.fallback.name
            warnings.warn(f"churn model: {reason}; using {self.fallback.description} instead",
                          stacklevel=2)
            return self
        pooled = self._stack(snapshots)
        self.features_ = _varying_columns(pooled.x)
        self.model_name_, validation = self._select(snapshots)
        x, y, weight = pooled.x[self.features_], pooled.y, _weights(pooled.weight)
        self.model_ = _build(self.model_name_, self.random_state).fit(x, y)
        if validation is None or self.calibrate_on != "latest":
            # Two parameters fitted on tens of thousands of rows: in-sample scores suffice.
            validation = (self.model_.predict_proba(x)[:, 1], y, weight)
        self.calibration_ = _platt(*validation)
        self.training_rows_ = len(x)
        self.base_rate_ = float(np.average(y, weights=weight))
        return self

    def _too_small(self, snapshots: list[Snapshot]) -> str | None:
        if not snapshots:
            return (f"less than one horizon ({self.horizon_days} days) of history before "
                    "as_of to learn from")
        y = pd.concat([s.y for s in snapshots])
        n_customers = self.snapshot_customers_[0]
        if n_customers < self.min_customers:
            return f"only {n_customers} customers at the last training cut-off " \
                   f"(needs {self.min_customers})"
        if not self._both_classes(y):
            return "too few churned or retained customers in the training snapshots"
        return None

    def _select(self, snapshots: list[Snapshot]
                ) -> tuple[str, tuple[np.ndarray, pd.Series, np.ndarray | None] | None]:
        """Pick the candidate with the best ROC AUC on the most recent snapshot; the first
        candidate (by default the blend, the safest on shops we measured) unless another
        beats it by more than ``SELECTION_MARGIN``.

        Candidates train on the snapshots whose label windows end on or before that
        snapshot's cut-off, so the comparison sees no label from the validation period.
        Returns the winner and its scores, labels and weights on that snapshot (None
        without such a split). A snapshot's weights are one per class, which leaves a ROC
        AUC as it is.
        """
        validation = snapshots[0]
        latest = self.cutoffs_[0] - pd.Timedelta(days=self.horizon_days)
        train = [s for s, c in zip(snapshots, self.cutoffs_, strict=True) if c <= latest]
        if not train or not self._both_classes(pd.concat([s.y for s in train]), validation.y):
            return self.candidates[0], None
        stacked = self._stack(train)
        columns = _varying_columns(stacked.x[self.features_])
        x_tr, x_val = stacked.x[columns], validation.x[columns]
        models = _candidates(self.random_state)
        needed = set(self.candidates) - {BLEND}
        if BLEND in self.candidates:
            needed |= set(BLEND_MEMBERS)
        scores = {name: models[name].fit(x_tr, stacked.y).predict_proba(x_val)[:, 1]
                  for name in sorted(needed)}
        if BLEND in self.candidates:
            scores[BLEND] = np.mean([scores[m] for m in BLEND_MEMBERS], axis=0)
        for name in self.candidates:
            self.validation_auc_[name] = round(float(roc_auc_score(validation.y, scores[name])),
                                               4)
        best = max(self.candidates, key=lambda name: self.validation_auc_[name])
        default = self.candidates[0]
        if self.validation_auc_[best] - self.validation_auc_[default] <= SELECTION_MARGIN:
            best = default
        return best, (scores[best], validation.y, _weights(validation.weight))

    def _both_classes(self, *labels: pd.Series) -> bool:
        return all(min(y.sum(), len(y) - y.sum()) >= self.min_per_class for y in labels)

    def _log_odds(self, features: pd.DataFrame) -> np.ndarray:
        raw = self.model_.predict_proba(features[self.features_])[:, 1]
        slope, intercept = self.calibration_
        return slope * _logit(raw) + intercept

    def match_level(self, features: pd.DataFrame, mean_probability: float) -> pd.Series:
        """Shift every customer's log-odds by one constant so that the mean churn
        probability over ``features`` (the customers at the scoring date) is
        ``mean_probability``, and return those probabilities; later predictions keep the
        shift (``level_shift_``).

        A prior-shift correction: the ranking, and how far apart customers are in log-odds,
        stay the model's; only the overall level follows an estimate made at the scoring
        date. A fallback, or a level outside (0, 1), is left as it is.
        """
        if self.fallback_ or not 0.0 < mean_probability < 1.0 or features.empty:
            return self.predict(features)
        z = self._log_odds(features)

        def gap(shift: float) -> float:
            return float(np.mean(expit(z + shift))) - mean_probability

        bound = float(np.max(np.abs(z))) + 40.0  # the mean is ~0 below -bound, ~1 above it
        self.level_shift_ = float(brentq(gap, -bound, bound, xtol=1e-6))
        return pd.Series(expit(z + self.level_shift_), index=features.index,
                         name="churn_probability")

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Churn probability per customer for features built at the scoring date."""
        if self.fallback_:
            return self.fallback.score(features).rename("churn_probability")
        proba = expit(self._log_odds(features) + self.level_shift_)
        return pd.Series(proba, index=features.index, name="churn_probability")


def _days(value: pd.Series) -> pd.Series:
    return value.round().astype("Int64").astype("string")


def _orders(count: pd.Series) -> pd.Series:
    """"1 order", "3 orders"."""
    n = count.astype("Int64")
    return n.astype("string") + pd.Series(np.where(n == 1, " order", " orders"),
                                          index=count.index, dtype="string")


def churn_reasons(features: pd.DataFrame, horizon_days: int, top: int = 3,
                  churn: pd.Series | None = None) -> pd.Series:
    """The main reasons for each customer's risk, in plain words, most severe first.

    Warning signs come first: overdue against their usual gap, a single order, fewer orders
    than in the horizon before, a long silence. Weaker signs explain a risk that those
    leave unexplained: all orders on one day, a usual gap longer than the horizon, only two
    or three orders. With ``churn`` (the probabilities) they are given only to customers
    more likely to churn than not, as a likely customer "buying at their usual pace" would
    otherwise read as a contradiction; a customer without any sign is "buying at their
    usual pace".
    """
    f = features
    ratio = f["overdue_ratio"]
    likely = pd.Series(True, index=f.index) if churn is None \
        else churn.reindex(f.index).ge(0.5)
    repeat = f["frequency"] > 1
    h = horizon_days
    # (severity, applies, words): the words are made only for the customers whose top
    # reasons include them, as making all seven for each of a million customers took 2 s
    candidates: list[tuple[pd.Series, pd.Series, Callable[[pd.DataFrame], pd.Series]]] = [
        (ratio.fillna(0), ratio >= 1.5,
         lambda g: "no order for " + _days(g["recency_days"]) + " days, "
         + g["overdue_ratio"].round(1).astype(str) + "× their usual gap of "
         + _days(g["mean_gap_days"]) + " days"),
        # a first order not yet followed by a second: most first-time buyers never return
        ((f["recency_days"] / h).clip(lower=0.2), (f["frequency"] == 1)
         & ((f["recency_days"] >= h / 3) | likely),
         lambda g: "one order only, " + _days(g["recency_days"]) + " days ago"),
        ((f["orders_prev_horizon"] - f["orders_last_horizon"]) / f["orders_prev_horizon"]
         .clip(lower=1),
         repeat & (f["orders_last_horizon"] < f["orders_prev_horizon"]),
         lambda g: _orders(g["orders_last_horizon"]) + f" in the last {h} days against "
         + g["orders_prev_horizon"].astype(str) + f" in the {h} before"),
        (0.5 * (f["recency_days"] > h), repeat & ratio.isna() & (f["recency_days"] > h),
         lambda g: "no order for " + _days(g["recency_days"]) + " days"),
        (pd.Series(0.2, index=f.index), likely & repeat & (f["purchase_days"] == 1),
         lambda g: "all " + _orders(g["frequency"]) + " on one day, "
         + _days(g["recency_days"]) + " days ago"),
        (pd.Series(0.25, index=f.index), likely & repeat & (f["mean_gap_days"] > h),
         lambda g: "orders about every " + _days(g["mean_gap_days"]) + " days, less often "
         f"than every {h} days"),
        (pd.Series(0.1, index=f.index), likely & f["frequency"].between(2, 3)
         & (f["purchase_days"] > 1), lambda g: "only " + _orders(g["frequency"]) + " so far"),
    ]
    severities = np.column_stack([np.where(m.fillna(False), s, -np.inf)
                                  for s, m, _ in candidates])
    order = np.argsort(-severities, axis=1)[:, :top]
    given = np.isfinite(np.take_along_axis(severities, order, axis=1))
    chosen = np.full(order.shape, "", dtype=object)
    for number, (_, _, words) in enumerate(candidates):
        cells = given & (order == number)
        who = np.flatnonzero(cells.any(axis=1))
        if len(who):
            text = words(f.iloc[who]).fillna("").to_numpy(dtype=object)
            row, slot = np.nonzero(cells)
            chosen[row, slot] = text[np.searchsorted(who, row)]
    parts = [pd.Series(chosen[:, i], index=f.index, dtype="string") for i in range(top)]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + ("; " + part).where(part != "", "")
    joined = joined.where(joined != "", "buying at their usual pace")
    return pd.Series(joined, index=f.index, name="churn_reasons", dtype="string")
