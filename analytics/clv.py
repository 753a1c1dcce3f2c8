"""Customer lifetime value: BG/NBD purchase counts and Gamma-Gamma order values.

Two "buy till you die" models fitted by maximum likelihood with numpy and scipy:

- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to
  the Pareto/NBD model", Marketing Science 24(2)): while alive a customer buys at a Poisson
  rate lambda ~ Gamma(r, alpha); after each repeat purchase they drop out with probability
  p ~ Beta(a, b).
- Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for customer
  base analysis", Journal of Marketing Research 42(4); Fader & Hardie 2013, "The Gamma-Gamma
  model of monetary value"): a customer's purchase values are Gamma(p, nu) with
  nu ~ Gamma(q, v) across customers.

Everything is vectorised: the likelihoods are closed form, so a million customers fit in
seconds. Time is rescaled internally (the BG/NBD is equivariant under a change of time unit:
only alpha scales), money likewise for the Gamma-Gamma, so the optimiser always sees numbers
of order one whatever unit the caller uses. When the data are too small or degenerate for a
fit, or no start converges, the fitters fall back to the heuristics documented on each class
and say so with a `ClvWarning`; they never raise on such data.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special
from sklearn.exceptions import NotFittedError

from .errors import DataError

__all__ = [
    "BetaGeoFitter",
    "ClvResult",
    "ClvWarning",
    "GammaGammaFitter",
    "clv_summary",
    "fit_clv",
    "predict_clv",
]

DateLike: TypeAlias = str | dt.date | dt.datetime | pd.Timestamp | np.datetime64

# Log-parameter bounds of the optimiser (internal, rescaled units). A parameter that ends
# on a bound means the data push the model to a limit (e.g. no evidence of dropout).
_LOG_BOUND = 12.0
# Above this many customers the starting points are screened on a subsample of this size.
_SCREEN_SIZE = 50_000
# The BG/NBD expectation divides by (a - 1); keep a this far from 1 (relative error ~1e-10).
_A_EPS = 1e-6


class ClvWarning(UserWarning):
    """CLV output is degraded (a model fell back to a heuristic, a parameter hit a bound) or
    input rows were ignored; the message says which and what to do."""


# --------------------------------------------------------------------------- summary


def clv_summary(
    orders: pd.DataFrame,
    as_of: DateLike | None = None,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
    time_unit_days: float = 1.0,
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value at `as_of`.

    The lifetimes convention: all orders of one calendar day are one purchase (amounts
    summed); `frequency` is the number of purchase days after the first one, `recency` the
    time from the first to the last purchase day, `T` from the first purchase day to the
    `as_of` day, and `monetary_value` the mean value of the repeat purchases (0 when
    `frequency` is 0). Times are in units of `time_unit_days` days. Orders dated after the
    `as_of` day are ignored (orders on that day count); `as_of=None` means the last order day.
    """
    _require_columns(orders, (customer_col, date_col, amount_col))
    if not time_unit_days > 0:
        raise DataError(f"time_unit_days must be positive, got {time_unit_days!r}.")
    amounts = pd.to_numeric(orders[amount_col], errors="coerce")
    frame = pd.DataFrame(
        {
            "customer": orders[customer_col],
            "day": _to_days(orders[date_col], date_col),
            "amount": amounts.fillna(0.0).astype(float),
        }
    ).reset_index(drop=True)
    usable = frame["customer"].notna() & frame["day"].notna()
    if not usable.all() or amounts.isna().any():
        warnings.warn(
            f"clv_summary ignored {int((~usable).sum())} rows without a customer id or date "
            f"and counted {int(amounts.isna().sum())} missing or non-numeric amounts as 0; "
            "clean the order log first to account for them.",
            ClvWarning,
            stacklevel=2,
        )
    frame = frame[usable]
    as_of_day = frame["day"].max() if as_of is None else _as_day(as_of)
    frame = frame[frame["day"] <= as_of_day]

    daily = frame.groupby(["customer", "day"], sort=True, as_index=False)["amount"].sum()
    per_customer = daily.groupby("customer", sort=True).agg(
        first_day=("day", "min"),
        last_day=("day", "max"),
        purchases=("day", "size"),
        total=("amount", "sum"),
        first_amount=("amount", "first"),
    )
    frequency = per_customer["purchases"] - 1
    unit = pd.Timedelta(days=time_unit_days)
    repeat_value = (per_customer["total"] - per_customer["first_amount"]) / frequency.where(
        frequency > 0
    )
    summary = pd.DataFrame(
        {
            "frequency": frequency.astype("int64"),
            "recency": (per_customer["last_day"] - per_customer["first_day"]) / unit,
            "T": (as_of_day - per_customer["first_day"]) / unit,
            "monetary_value": repeat_value.fillna(0.0).astype(float),
        },
        index=per_customer.index.rename(customer_col),
    )
    return summary


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"Order data has no column {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(map(str, frame.columns))}). Rename the column or pass "
            "customer_col=, date_col= or amount_col= to name it."
        )


def _to_days(values: pd.Series, column: str) -> pd.Series:
    try:
        dates = pd.to_datetime(values)
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"Column {column!r} holds values that are not dates ({exc}); clean or parse it first."
        ) from exc
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    return dates.dt.normalize().astype("datetime64[ns]")


def _as_day(value: DateLike) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


# --------------------------------------------------------------------------- helpers


def _float_array(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name} has missing or infinite values; drop or fill them first.")
    return array


def _check_rfm(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[np.ndarray, ...]:
    x = _float_array(frequency, "frequency")
    t_x = _float_array(recency, "recency")
    age = _float_array(T, "T")
    x, t_x, age = np.broadcast_arrays(x, t_x, age)
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise DataError("frequency must be a non-negative whole number of repeat purchases.")
    if np.any(t_x < 0) or np.any(t_x > age * (1 + 1e-9) + 1e-12):
        raise DataError(
            "recency must lie between 0 and T (time from first purchase to the end of the "
            "observation period); check the as_of date and the time unit."
        )
    return x, np.where(x > 0, np.minimum(t_x, age), 0.0), age


def _minimise(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]], starts: list[np.ndarray]
) -> tuple[optimize.OptimizeResult | None, bool]:
    """L-BFGS-B from each start on bounded log-parameters; the best finite result wins."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(starts[0])
    best: optimize.OptimizeResult | None = None
    converged = False
    for start in starts:
        with np.errstate(all="ignore"):
            try:
                result = optimize.minimize(
                    objective,
                    np.clip(start, -_LOG_BOUND + 1, _LOG_BOUND - 1),
                    jac=True,
                    method="L-BFGS-B",
                    bounds=bounds,
                    options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-8},
                )
            except (ValueError, FloatingPointError, OverflowError):
                continue
        if not np.isfinite(result.fun):
            continue
        # Line-search "abnormal" stops at a flat optimum are fine; judge by the gradient.
        projected = np.where(
            ((result.x <= -_LOG_BOUND + 1e-9) & (result.jac > 0))
            | ((result.x >= _LOG_BOUND - 1e-9) & (result.jac < 0)),
            0.0,
            result.jac,
        )
        ok = bool(result.success) or float(np.max(np.abs(projected))) < 1e-5
        if best is None or result.fun < best.fun - 1e-12:
            best, converged = result, ok
    return best, converged


def _multistart(
    data: Any,
    subsample: Callable[[np.ndarray], Any],
    starts: list[np.ndarray],
    penalizer: float,
) -> tuple[optimize.OptimizeResult | None, bool]:
    """Fit from every start; on large data, screen the starts on a fixed subsample first.

    `data` holds the sufficient statistics, with a `neg_mean_log_likelihood(*params)` method
    and a customer count `n`; `subsample(rows)` builds the same for those customers.
    """
    full = _penalised(data, penalizer)
    if data.n > _SCREEN_SIZE:
        rows = np.sort(np.random.default_rng(0).choice(int(data.n), _SCREEN_SIZE, replace=False))
        screened, _ = _minimise(_penalised(subsample(rows), penalizer), starts)
        if screened is not None:
            best, converged = _minimise(full, [screened.x])
            if converged:
                return best, converged
    return _minimise(full, starts)


def _penalised(data: Any, penalizer: float) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Mean negative log-likelihood plus penalizer * sum(params²), on log-parameters."""

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        value, grad = data.neg_mean_log_likelihood(*params)
        penalty = penalizer * float(np.sum(params**2))
        return value + penalty, (grad + 2 * penalizer * params) * params

    return objective


def _check_fitted(model: Any) -> None:
    if not hasattr(model, "method_"):
        raise NotFittedError(f"This {type(model).__name__} is not fitted yet; call fit() first.")


def _at_bound(log_params: np.ndarray, names: tuple[str, ...]) -> list[str]:
    return [n for n, v in zip(names, log_params, strict=True) if abs(v) >= _LOG_BOUND - 1e-6]


# --------------------------------------------------------------------------- BG/NBD


class BetaGeoFitter:
    """BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005).

    `fit(frequency, recency, T)` learns `r_`, `alpha_` (in the caller's time unit), `a_`, `b_`
    by maximum likelihood on log-parameters with bounds, from several deterministic starting
    points, in time rescaled so that the mean T is 1; `penalizer` adds
    `penalizer * (r² + alpha² + a² + b²)` (alpha in those rescaled units) to the mean negative
    log-likelihood per customer, like the `lifetimes` penalizer.

    Fallback (`method_ == "heuristic"`, with a `ClvWarning`): when there are fewer than
    `min_customers` customers, fewer than `min_repeat_customers` repeat buyers, or no start
    converges, the model becomes a Gamma-Poisson with no dropout: `r_ = 1` and `alpha_` set so
    that `r_ / alpha_` is the pooled repeat-purchase rate (with half a purchase added when
    nobody repeated), `a_ = b_ = nan`. Each customer's rate is then their own repeat rate
    shrunk toward the pooled one, `(x + 1) / (alpha + T)`, and `p_alive` is 1 for everyone.
    (When no time at all has been observed, every T = 0, the rate is taken as 0.)
    """

    param_names: tuple[str, ...] = ("r", "alpha", "a", "b")

    def __init__(
        self, penalizer: float = 0.0, min_customers: int = 20, min_repeat_customers: int = 5
    ) -> None:
        self.penalizer = penalizer
        self.min_customers = min_customers
        self.min_repeat_customers = min_repeat_customers

    # ---- fitting

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoFitter:
        x, t_x, age = (a.ravel() for a in _check_rfm(frequency, recency, T))
        self.n_customers_ = int(x.size)
        self.n_repeat_customers_ = int(np.count_nonzero(x))
        self.warnings_: list[str] = []
        self.converged_ = False
        self.log_likelihood_ = float("nan")
        problem = self._data_problem(age)
        if problem is None:
            problem = self._fit_mle(x, t_x, age)
        if problem is not None:
            self._fit_heuristic(x, age, problem)
        return self

    def _data_problem(self, age: np.ndarray) -> str | None:
        if self.n_customers_ < self.min_customers:
            return f"only {self.n_customers_} customers (need {self.min_customers})"
        if self.n_repeat_customers_ < self.min_repeat_customers:
            return (
                f"only {self.n_repeat_customers_} repeat buyers (need {self.min_repeat_customers})"
            )
        if not np.any(age > 0):
            return "every customer's first purchase is on the as_of day (T = 0)"
        return None

    def _fit_mle(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> str | None:
        scale = 1.0 / float(np.mean(age[age > 0]))
        t_x, age = t_x * scale, age * scale
        rate = max(float(np.sum(x)) / float(np.sum(age)), 1e-6)
        starts = [
            np.log([r, r / rate, a, b])
            for r, a, b in ((1.0, 1.0, 1.0), (0.5, 0.5, 2.0), (2.0, 1.0, 5.0), (0.25, 2.0, 2.0))
        ]
        data = _BgnbdData.build(x, t_x, age)
        best, converged = _multistart(
            data,
            lambda rows: _BgnbdData.build(x[rows], t_x[rows], age[rows]),
            starts,
            float(self.penalizer),
        )
        if best is None or not converged:
            return "the maximum-likelihood fit did not converge from any starting point"
        r, alpha, a, b = np.exp(best.x)
        self.r_, self.alpha_, self.a_, self.b_ = float(r), float(alpha / scale), float(a), float(b)
        self.method_ = "mle"
        self.converged_ = True
        # Back to the caller's time unit: each of the x purchase-time densities scales by s.
        mean_nll = data.neg_mean_log_likelihood(r, alpha, a, b)[0]
        self.log_likelihood_ = float(-mean_nll * x.size + np.sum(x) * math.log(scale))
        bound = _at_bound(best.x, self.param_names)
        if bound:
            self._warn(
                f"BG/NBD parameter(s) {', '.join(bound)} hit the optimiser's bound: the data "
                "push the model to a limit (for example no visible dropout); predictions are "
                "the limit's and remain usable, but treat the parameter values with care."
            )
        return None

    def _fit_heuristic(self, x: np.ndarray, age: np.ndarray, problem: str) -> None:
        purchases = max(float(np.sum(x)), 0.5)
        exposure = float(np.sum(age))
        # No time observed at all: no rate can be estimated; predict no purchases.
        self.r_, self.alpha_ = 1.0, exposure / purchases if exposure > 0 else math.inf
        self.a_ = self.b_ = float("nan")
        self.method_ = "heuristic"
        self.converged_ = False
        self._warn(
            f"BG/NBD not fitted: {problem}. Falling back to a Gamma-Poisson heuristic with no "
            "dropout (each customer's repeat rate shrunk toward the pooled rate; p_alive = 1). "
            "Collect more history or customers for a real fit."
        )

    def _warn(self, message: str) -> None:
        self.warnings_.append(message)
        warnings.warn(message, ClvWarning, stacklevel=4)

    # ---- prediction

    @property
    def params_(self) -> dict[str, float]:
        return {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Probability that a customer with this history has not dropped out by T."""
        x, t_x, age = _check_rfm(frequency, recency, T)
        return self._p_alive(x, t_x, age)

    def _p_alive(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
        _check_fitted(self)
        if self.method_ == "heuristic":
            return np.ones(np.shape(x))
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds_dead = (
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
            )
        return np.where(x > 0, special.expit(-log_odds_dead), 1.0)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Expected number of purchases in the next `t` periods, given the history (eq. 10)."""
        x, t_x, age = _check_rfm(frequency, recency, T)
        horizon = _float_array(t, "t")
        x, t_x, age, horizon = np.broadcast_arrays(x, t_x, age, horizon)
        _check_fitted(self)
        if self.method_ == "heuristic":
            return horizon * (self.r_ + x) / (self.alpha_ + age)
        return self._p_alive(x, t_x, age) * self._expected_if_alive(horizon, x, age)

    def _expected_if_alive(self, t: np.ndarray, x: np.ndarray, age: np.ndarray) -> np.ndarray:
        """E[purchases in (T, T+t] | alive at T, x]: eq. (10)'s numerator.

        With z = t / (alpha + T + t) and Euler's transformation of the paper's
        2F1(r+x, b+x; a+b+x-1; z), the hypergeometric's first two parameters no longer grow
        with x, which keeps it finite for heavy buyers:
        (a+b+x-1)/(a-1) * [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)].
        """
        r, alpha, b = self.r_, self.alpha_, self.b_
        a = self.a_ if abs(self.a_ - 1) > _A_EPS else 1 + math.copysign(_A_EPS, self.a_ - 1)
        z = t / (alpha + age + t)
        c = a + b + x - 1
        with np.errstate(all="ignore"):
            hyp = special.hyp2f1(a + b - 1 - r, a - 1, c, z)
            log_term = (a - 1) * np.log1p(-z)
            # expm1 keeps precision as a -> 1; the hypergeometric is negative only when
            # a + b + x < 1, where the plain product is as good.
            value = np.where(
                hyp > 0,
                -np.expm1(log_term + np.log(np.abs(hyp))),
                1.0 - np.exp(log_term) * hyp,
            ) * (c / (a - 1))
            bad = ~np.isfinite(value)
            if np.any(bad):
                value = np.where(bad, self._expected_if_alive_concentrated(t, x, age), value)
        return np.where(t > 0, np.maximum(value, 0.0), 0.0)

    def _expected_if_alive_concentrated(
        self, t: np.ndarray, x: np.ndarray, age: np.ndarray
    ) -> np.ndarray:
        # Where the hypergeometric overflows, a + b is huge and the posterior of the dropout
        # probability is concentrated at its mean; integrate lambda out exactly.
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        p = a / (a + b + x)
        return -np.expm1(-(r + x) * np.log1p(p * t / (alpha + age))) / p

    def p_no_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Probability of no purchase in the next `t` periods.

        P(dead) + P(alive) * E[exp(-lambda t)]: an alive customer can only drop out right
        after a purchase, so "no purchase in t" while alive is the Poisson zero, and given
        alive the posterior of lambda is Gamma(r + x, alpha + T), whose Laplace transform
        gives ((alpha + T) / (alpha + T + t)) ** (r + x).
        """
        x, t_x, age = _check_rfm(frequency, recency, T)
        horizon = _float_array(t, "t")
        x, t_x, age, horizon = np.broadcast_arrays(x, t_x, age, horizon)
        p_alive = self._p_alive(x, t_x, age)
        p_buy_if_alive = -np.expm1(-(self.r_ + x) * np.log1p(horizon / (self.alpha_ + age)))
        return 1.0 - p_alive * p_buy_if_alive


@dataclass(frozen=True)
class _BgnbdData:
    """BG/NBD sufficient statistics in internal time units, identical histories merged.

    Terms in x alone are summed over the distinct frequencies; customers without a repeat
    purchase only need T; repeat buyers need (x, t_x, T).
    """

    n: float
    x_values: np.ndarray
    x_weights: np.ndarray
    age0: np.ndarray
    weight0: np.ndarray
    x1: np.ndarray
    t_x1: np.ndarray
    age1: np.ndarray
    weight1: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> _BgnbdData:
        x_values, x_weights = np.unique(x, return_counts=True)
        repeat = x > 0
        age0, weight0 = np.unique(age[~repeat], return_counts=True)
        x1, t_x1, age1, weight1 = _merge_rows(x[repeat], t_x[repeat], age[repeat])
        return cls(
            n=float(x.size),
            x_values=x_values,
            x_weights=x_weights.astype(float),
            age0=age0,
            weight0=weight0.astype(float),
            x1=x1,
            t_x1=t_x1,
            age1=age1,
            weight1=weight1,
        )

    def neg_mean_log_likelihood(
        self, r: float, alpha: float, a: float, b: float
    ) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood per customer and its gradient in (r, alpha, a, b).

        log L = lnG(r+x) - lnG(r) + r ln(alpha) + lnB(a, b+x) - lnB(a, b) - (r+x) ln(alpha+T)
                + [x > 0] * log(1 + exp(D)),
        D = ln(a / (b+x-1)) + (r+x) ln((alpha+T) / (alpha+t_x)), the log odds of having dropped
        out after the last purchase; log(1 + exp(D)) is the log-sum-exp of the two terms.
        """
        xv, wx, n = self.x_values, self.x_weights, self.n
        ll = float(
            np.sum(
                wx
                * (
                    special.gammaln(r + xv)
                    - special.gammaln(r)
                    + special.betaln(a, b + xv)
                    - special.betaln(a, b)
                )
            )
        )
        d_r = float(np.sum(wx * (special.digamma(r + xv) - special.digamma(r))))
        psi_ab, psi_abx = special.digamma(a + b), special.digamma(a + b + xv)
        d_a = float(np.sum(wx * (psi_ab - psi_abx)))
        d_b = float(np.sum(wx * (special.digamma(b + xv) - special.digamma(b) + psi_ab - psi_abx)))
        ll += n * r * math.log(alpha)
        d_r += n * math.log(alpha)
        d_alpha = n * r / alpha

        # No repeat purchase: - r ln(alpha + T).
        w0 = self.weight0
        log_t0 = float(np.sum(w0 * np.log(alpha + self.age0)))
        ll -= r * log_t0
        d_r -= log_t0
        d_alpha -= r * float(np.sum(w0 / (alpha + self.age0)))

        # Repeat buyers: - (r+x) ln(alpha + T) + log(1 + exp(D)).
        x, w = self.x1, self.weight1
        k = r + x
        inv_age, inv_recency = 1.0 / (alpha + self.age1), 1.0 / (alpha + self.t_x1)
        log_age = np.log(alpha + self.age1)
        ratio = log_age + np.log(inv_recency)
        d = math.log(a) - np.log(b + x - 1) + k * ratio
        small = np.exp(-np.abs(d))
        ll += float(np.sum(w * (np.maximum(d, 0.0) + np.log1p(small) - k * log_age)))
        dead = w * np.where(d >= 0, 1.0, small) / (1.0 + small)  # w * expit(d)
        d_r += float(np.sum(dead * ratio - w * log_age))
        d_alpha += float(np.sum(dead * k * (inv_age - inv_recency) - w * k * inv_age))
        d_a += float(np.sum(dead)) / a
        d_b -= float(np.sum(dead / (b + x - 1)))
        grad = np.array([d_r, d_alpha, d_a, d_b])
        return -ll / n, -grad / n


def _merge_rows(*columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct rows of the columns and how many times each occurs (as float weights)."""
    order = np.lexsort(columns[::-1])
    ordered = [c[order] for c in columns]
    first = np.ones(order.size, dtype=bool)
    for column in ordered:
        first[1:] |= np.diff(column) != 0
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, order.size)).astype(float)
    return (*(c[starts] for c in ordered), counts)


# --------------------------------------------------------------------------- Gamma-Gamma


class GammaGammaFitter:
    """Gamma-Gamma model of the average purchase value (Fader, Hardie & Lee 2005).

    `fit(frequency, monetary_value)` uses the customers with frequency > 0 and a positive
    monetary value and learns `p_`, `q_`, `v_` (v in the caller's money unit; `v` is the
    paper's gamma) by maximum likelihood on bounded log-parameters from several deterministic
    starts, in internally rescaled money. The model assumes a customer's value does not depend
    on how often they buy; `frequency_value_correlation_` reports that correlation.

    `population_mean_value_` is p v / (q - 1), the expected value of a customer with no
    repeat purchase. Fallback (`method_ == "heuristic"`, with a `ClvWarning`): fewer than
    `min_customers` usable repeat buyers, no converged start, or q <= 1 (no finite mean): the
    expected value is the credibility average (x * m + m_pop) / (x + 1) of the customer's mean
    m and the pooled mean repeat-purchase value m_pop, and m_pop for frequency 0.
    """

    param_names: tuple[str, ...] = ("p", "q", "v")

    def __init__(self, penalizer: float = 0.0, min_customers: int = 10) -> None:
        self.penalizer = penalizer
        self.min_customers = min_customers

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaFitter:
        x = _float_array(frequency, "frequency").ravel()
        value = _float_array(monetary_value, "monetary_value").ravel()
        if x.shape != value.shape:
            raise DataError("frequency and monetary_value must have the same length.")
        usable = (x > 0) & (value > 0)
        x, value = x[usable], value[usable]
        self.n_customers_ = int(x.size)
        self.warnings_: list[str] = []
        self.converged_ = False
        self.log_likelihood_ = float("nan")
        total = float(np.sum(x))
        self.pooled_mean_value_ = float(np.sum(x * value) / total) if total > 0 else float("nan")
        self.frequency_value_correlation_ = (
            float(np.corrcoef(x, value)[0, 1])
            if x.size > 2 and np.ptp(x) > 0 and np.ptp(value) > 0
            else float("nan")
        )
        problem: str | None
        if x.size < self.min_customers:
            problem = (
                f"only {x.size} repeat buyers with a positive value (need {self.min_customers})"
            )
        else:
            problem = self._fit_mle(x, value)
        if problem is not None:
            self._fit_heuristic(problem)
        return self

    def _fit_mle(self, x: np.ndarray, value: np.ndarray) -> str | None:
        scale = 1.0 / float(np.mean(value))
        z = value * scale
        starts = [np.log([1.0, 1.0, 1.0])] + [
            np.log([p, q, (q - 1) / p])
            for p, q in ((1.0, 2.0), (5.0, 3.0), (10.0, 5.0), (0.5, 1.5))
        ]
        data = _GammaGammaData.build(x, z)
        best, converged = _multistart(
            data,
            lambda rows: _GammaGammaData.build(x[rows], z[rows]),
            starts,
            float(self.penalizer),
        )
        if best is None or not converged:
            return "the maximum-likelihood fit did not converge from any starting point"
        p, q, v = np.exp(best.x)
        if q <= 1:
            return f"the fitted q = {q:.3g} <= 1 gives no finite population mean value"
        self.p_, self.q_, self.v_ = float(p), float(q), float(v / scale)
        self.method_ = "mle"
        self.converged_ = True
        self.population_mean_value_ = self.p_ * self.v_ / (self.q_ - 1)
        # Back to the caller's money unit: each mean-value density scales by s.
        mean_nll = data.neg_mean_log_likelihood(p, q, v)[0]
        self.log_likelihood_ = float(-mean_nll * x.size + x.size * math.log(scale))
        bound = _at_bound(best.x, self.param_names)
        if bound:
            self._warn(
                f"Gamma-Gamma parameter(s) {', '.join(bound)} hit the optimiser's bound; "
                "expected values remain usable, the parameter values less so."
            )
        return None

    def _fit_heuristic(self, problem: str) -> None:
        self.p_ = self.q_ = self.v_ = float("nan")
        self.method_ = "heuristic"
        self.converged_ = False
        self.population_mean_value_ = self.pooled_mean_value_
        self._warn(
            f"Gamma-Gamma not fitted: {problem}. Falling back to a credibility average of each "
            "customer's mean repeat-purchase value and the pooled mean."
        )

    def _warn(self, message: str) -> None:
        self.warnings_.append(message)
        warnings.warn(message, ClvWarning, stacklevel=4)

    @property
    def params_(self) -> dict[str, float]:
        return {"p": self.p_, "q": self.q_, "v": self.v_}

    def expected_average_value(self, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
        """Expected value of a future purchase: E[Z | x, mean value] (population mean if x = 0)."""
        x = _float_array(frequency, "frequency")
        value = _float_array(monetary_value, "monetary_value")
        x, value = np.broadcast_arrays(x, value)
        _check_fitted(self)
        known = (x > 0) & (value > 0)
        pop = self.population_mean_value_
        if self.method_ == "heuristic":
            estimate = (x * value + pop) / (x + 1)
        else:
            p, q, v = self.p_, self.q_, self.v_
            estimate = p * (v + x * value) / (p * x + q - 1)
        return np.where(known, estimate, pop)


@dataclass(frozen=True)
class _GammaGammaData:
    """Gamma-Gamma sufficient statistics in internal money units."""

    n: float
    x: np.ndarray
    z: np.ndarray
    x_values: np.ndarray
    x_weights: np.ndarray
    sum_x_log_xz: float
    sum_log_z: float

    @classmethod
    def build(cls, x: np.ndarray, z: np.ndarray) -> _GammaGammaData:
        x_values, x_weights = np.unique(x, return_counts=True)
        return cls(
            n=float(x.size),
            x=x,
            z=z,
            x_values=x_values,
            x_weights=x_weights.astype(float),
            sum_x_log_xz=float(np.sum(x * np.log(x * z))),
            sum_log_z=float(np.sum(np.log(z))),
        )

    def neg_mean_log_likelihood(self, p: float, q: float, v: float) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood per customer and its gradient in (p, q, v).

        log L = lnG(px+q) - lnG(px) - lnG(q) + q ln v + px ln x + (px-1) ln z - (px+q) ln(v+xz),
        z the customer's mean value: the Gamma(px, nu x) density of z integrated over
        nu ~ Gamma(q, v). Terms in p x alone are summed over the distinct frequencies.
        """
        xv, wx, n, x = self.x_values, self.x_weights, self.n, self.x
        pxv = p * xv
        log_v_xz = np.log(v + x * self.z)
        psi = special.digamma(pxv + q)
        ll = (
            float(np.sum(wx * (special.gammaln(pxv + q) - special.gammaln(pxv))))
            - n * special.gammaln(q)
            + n * q * math.log(v)
            + p * self.sum_x_log_xz
            - self.sum_log_z
            - float(np.sum((p * x + q) * log_v_xz))
        )
        d_p = (
            float(np.sum(wx * xv * (psi - special.digamma(pxv))))
            + self.sum_x_log_xz
            - float(np.sum(x * log_v_xz))
        )
        d_q = (
            float(np.sum(wx * psi))
            - n * special.digamma(q)
            + n * math.log(v)
            - float(np.sum(log_v_xz))
        )
        d_v = n * q / v - float(np.sum((p * x + q) / (v + x * self.z)))
        return -ll / n, -np.array([d_p, d_q, d_v]) / n


# --------------------------------------------------------------------------- CLV


def predict_clv(
    summary: pd.DataFrame,
    bgf: BetaGeoFitter,
    ggf: GammaGammaFitter,
    horizon: float,
    *,
    margin: float = 1.0,
    discount_rate: float | None = None,
) -> pd.DataFrame:
    """Per-customer `p_alive`, `p_no_purchase`, `expected_orders`, `expected_average_value`
    and `predicted_clv` over the next `horizon` periods (the summary's time unit).

    `predicted_clv` = expected orders x expected average value x `margin`. With a
    `discount_rate` (per period of the summary's time unit) each period's expected orders are
    discounted at the period's end: sum_k (E[N(k)] - E[N(k-1)]) / (1 + d)^k.
    """
    _require_columns(summary, ("frequency", "recency", "T", "monetary_value"))
    x = summary["frequency"].to_numpy(dtype=float)
    t_x = summary["recency"].to_numpy(dtype=float)
    age = summary["T"].to_numpy(dtype=float)
    expected_orders = bgf.expected_purchases(horizon, x, t_x, age)
    value = ggf.expected_average_value(x, summary["monetary_value"].to_numpy(dtype=float))
    if discount_rate:
        discounted_orders = _discounted_orders(bgf, horizon, discount_rate, x, t_x, age)
    else:
        discounted_orders = expected_orders
    return pd.DataFrame(
        {
            "p_alive": bgf.p_alive(x, t_x, age),
            "p_no_purchase": bgf.p_no_purchase(horizon, x, t_x, age),
            "expected_orders": expected_orders,
            "expected_average_value": value,
            "predicted_clv": discounted_orders * value * margin,
        },
        index=summary.index,
    )


def _discounted_orders(
    bgf: BetaGeoFitter,
    horizon: float,
    rate: float,
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
) -> np.ndarray:
    steps = np.unique(np.append(np.arange(1.0, math.ceil(horizon)), horizon))
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for step in steps:  # one vectorised pass per period, not per customer
        current = bgf.expected_purchases(step, x, t_x, age)
        total += (current - previous) / (1.0 + rate) ** step
        previous = current
    return total


@dataclass
class ClvResult:
    """What `fit_clv` returns: the per-customer frame, the fitted models, diagnostics."""

    customers: pd.DataFrame
    bgf: BetaGeoFitter
    ggf: GammaGammaFitter
    as_of: pd.Timestamp
    time_unit_days: float
    horizon_days: float
    diagnostics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def fit_clv(
    orders: pd.DataFrame,
    as_of: DateLike | None = None,
    horizon_days: float = 90.0,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
    time_unit_days: float | None = None,
    penalizer: float = 0.0,
    margin: float = 1.0,
    annual_discount_rate: float | None = None,
) -> ClvResult:
    """Summarise orders at `as_of`, fit BG/NBD and Gamma-Gamma, predict `horizon_days` ahead.

    The time unit defaults to weeks (days when the history spans less than four weeks); the
    fitters rescale time internally anyway, so the unit only sets how `recency` and `T` read.
    Model warnings are re-emitted and also listed in `ClvResult.warnings`.
    """
    if not horizon_days > 0:
        raise DataError(f"horizon_days must be positive, got {horizon_days!r}.")
    _require_columns(orders, (customer_col, date_col, amount_col))
    if as_of is None:
        as_of = _to_days(orders[date_col], date_col).max()
    as_of_day = _as_day(as_of)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ClvWarning)
        summary_days = clv_summary(
            orders, as_of_day, customer_col=customer_col, date_col=date_col, amount_col=amount_col
        )
        if summary_days.empty:
            raise DataError(
                f"No orders on or before {as_of_day.date()}; choose a later as_of date."
            )
        if time_unit_days is None:
            time_unit_days = 7.0 if float(summary_days["T"].max()) >= 28 else 1.0
        summary = summary_days.assign(
            recency=summary_days["recency"] / time_unit_days,
            T=summary_days["T"] / time_unit_days,
        )
        bgf = BetaGeoFitter(penalizer=penalizer).fit(
            summary["frequency"], summary["recency"], summary["T"]
        )
        ggf = GammaGammaFitter(penalizer=penalizer).fit(
            summary["frequency"], summary["monetary_value"]
        )
    for caught_warning in caught:
        warnings.warn(caught_warning.message, caught_warning.category, stacklevel=2)
    messages = [str(w.message) for w in caught if issubclass(w.category, ClvWarning)]

    horizon = horizon_days / time_unit_days
    discount = None
    if annual_discount_rate:
        discount = (1.0 + annual_discount_rate) ** (time_unit_days / 365.25) - 1.0
    predictions = predict_clv(summary, bgf, ggf, horizon, margin=margin, discount_rate=discount)
    if not np.isfinite(ggf.population_mean_value_):
        # Nobody bought twice: value a future purchase at the mean purchase-day value.
        fallback = _mean_purchase_value(orders, as_of_day, customer_col, date_col, amount_col)
        predictions["expected_average_value"] = predictions["expected_average_value"].fillna(
            fallback
        )
        predictions["predicted_clv"] = (
            predictions["expected_orders"] * predictions["expected_average_value"] * margin
        )
    customers = summary.join(predictions)
    diagnostics = {
        "n_customers": bgf.n_customers_,
        "n_repeat_customers": bgf.n_repeat_customers_,
        "time_unit_days": time_unit_days,
        "bgnbd": {
            **bgf.params_,
            "method": bgf.method_,
            "converged": bgf.converged_,
            "log_likelihood": bgf.log_likelihood_,
        },
        "gamma_gamma": {
            **ggf.params_,
            "method": ggf.method_,
            "converged": ggf.converged_,
            "log_likelihood": ggf.log_likelihood_,
            "population_mean_value": ggf.population_mean_value_,
            "frequency_value_correlation": ggf.frequency_value_correlation_,
        },
        "fit_seconds": time.perf_counter() - started,
    }
    return ClvResult(
        customers=customers,
        bgf=bgf,
        ggf=ggf,
        as_of=as_of_day,
        time_unit_days=float(time_unit_days),
        horizon_days=float(horizon_days),
        diagnostics=diagnostics,
        warnings=messages,
    )


def _mean_purchase_value(
    orders: pd.DataFrame,
    as_of_day: pd.Timestamp,
    customer_col: str,
    date_col: str,
    amount_col: str,
) -> float:
    days = _to_days(orders[date_col], date_col)
    amounts = pd.to_numeric(orders[amount_col], errors="coerce")
    keep = (days <= as_of_day) & orders[customer_col].notna()
    daily = amounts[keep].groupby([orders[customer_col][keep], days[keep]]).sum()
    return float(daily.mean()) if len(daily) else 0.0
