"""BG/NBD and Gamma-Gamma: published CDNOW results, hand-computed frames, simulations."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats
from sklearn.exceptions import NotFittedError

from analytics import clv
from analytics.clv import (
    BetaGeoFitter,
    ClvWarning,
    GammaGammaFitter,
    _BgnbdData,
    _GammaGammaData,
    clv_summary,
    fit_clv,
    predict_clv,
)
from analytics.errors import DataError

DATA = Path(__file__).parent / "data"
# Fader, Hardie & Lee (2005a), Table/Section 5: BG/NBD on the 2,357 CDNOW sample customers,
# 39-week calibration period; log-likelihood -9582.4.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Fader & Hardie (2013), "The Gamma-Gamma model of monetary value": 946 repeat buyers.
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
CALIBRATION_END = "1997-09-30"  # end of week 39 from 1997-01-01


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv", index_col="ID")


@pytest.fixture(scope="module")
def cdnow_transactions() -> pd.DataFrame:
    frame = pd.read_csv(
        DATA / "CDNOW_sample.txt.gz",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"master_id": str, "customer_id": "int64", "date": str},
    )
    return frame.assign(order_date=pd.to_datetime(frame["date"], format="%Y%m%d"))


@pytest.fixture(scope="module")
def cdnow_bgf(cdnow: pd.DataFrame) -> BetaGeoFitter:
    return BetaGeoFitter().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])


def bgf_with(r: float, alpha: float, a: float, b: float) -> BetaGeoFitter:
    model = BetaGeoFitter()
    model.r_, model.alpha_, model.a_, model.b_ = r, alpha, a, b
    model.method_ = "mle"
    return model


def simulate_bgnbd(
    rng: np.random.Generator,
    params: dict[str, float],
    T: np.ndarray,
    t_future: float,
) -> pd.DataFrame:
    """BG/NBD customers observed for T, then for t_future more: x, t_x, T and future count."""
    n = T.size
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    horizon = T + t_future
    events = rng.poisson(lam * horizon)
    # Drop out after the k-th repeat purchase, k ~ Geometric(p); Poisson event times given
    # their number are uniform, so the first min(events, k) sorted uniforms are the purchases.
    lasting = np.minimum(events, rng.geometric(p))
    owner = np.repeat(np.arange(n), events)
    times = rng.uniform(0.0, horizon[owner])
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    starts = np.concatenate([[0], np.cumsum(events)[:-1]])
    rank = np.arange(owner.size) - starts[owner]
    kept = rank < lasting[owner]
    past = kept & (times <= T[owner])
    x = np.bincount(owner[past], minlength=n)
    t_x = np.zeros(n)
    np.maximum.at(t_x, owner[past], times[past])
    future = np.bincount(owner[kept & ~past], minlength=n)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T, "future": future})


# --------------------------------------------------------------------------- clv_summary


@pytest.fixture
def orders() -> pd.DataFrame:
    rows = [
        ("A", "2024-01-01 09:00", 10.0),
        ("A", "2024-01-01 17:00", 5.0),  # same day: one purchase of 15
        ("A", "2024-01-08 10:00", 20.0),
        ("A", "2024-01-15 10:00", 40.0),
        ("B", "2024-01-10 10:00", 7.0),
        ("C", "2024-01-20 10:00", 3.0),
        ("C", "2024-01-29 23:59", 9.0),  # on the as_of day: counted
        ("C", "2024-01-30 00:01", 100.0),  # after as_of: ignored
        ("D", "2024-02-01 10:00", 50.0),  # first order after as_of: no row
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    return frame.assign(order_date=pd.to_datetime(frame["order_date"]))


def test_summary_hand_computed(orders: pd.DataFrame) -> None:
    summary = clv_summary(orders, "2024-01-29")
    expected = pd.DataFrame(
        {
            "frequency": [2, 0, 1],
            "recency": [14.0, 0.0, 9.0],
            "T": [28.0, 19.0, 9.0],
            "monetary_value": [30.0, 0.0, 9.0],
        },
        index=pd.Index(["A", "B", "C"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(summary, expected)


def test_summary_warns_about_rows_it_cannot_use(orders: pd.DataFrame) -> None:
    broken = pd.concat(
        [
            orders,
            pd.DataFrame(
                {
                    "customer_id": [None, "B"],
                    "order_date": [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-12")],
                    "amount": [5.0, None],
                }
            ),
        ]
    )
    with pytest.warns(ClvWarning, match="ignored 1 rows without a customer id or date"):
        summary = clv_summary(broken, "2024-01-29")
    assert summary.loc["B", "frequency"] == 1 and summary.loc["B", "monetary_value"] == 0.0


def test_summary_time_unit_and_column_names(orders: pd.DataFrame) -> None:
    renamed = orders.rename(columns={"customer_id": "who", "order_date": "when", "amount": "v"})
    weeks = clv_summary(
        renamed,
        "2024-01-29",
        customer_col="who",
        date_col="when",
        amount_col="v",
        time_unit_days=7,
    )
    assert weeks.index.name == "who"
    assert weeks.loc["A", "recency"] == pytest.approx(2.0)
    assert weeks.loc["A", "T"] == pytest.approx(4.0)
    assert weeks["frequency"].tolist() == [2, 0, 1]


def test_summary_names_a_missing_column(orders: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="'amount'"):
        clv_summary(orders.drop(columns="amount"), "2024-01-29")


def test_summary_reproduces_the_cdnow_calibration_summary(
    cdnow_transactions: pd.DataFrame, cdnow: pd.DataFrame
) -> None:
    # The sample has 223 same-day repeat rows; collapsing them gives the published x.
    summary = clv_summary(cdnow_transactions, CALIBRATION_END, time_unit_days=7)
    assert len(summary) == len(cdnow) == 2357
    summary = summary.loc[cdnow.index]
    np.testing.assert_array_equal(summary["frequency"], cdnow["x"])
    np.testing.assert_allclose(summary["recency"], cdnow["t_x"], atol=0.0051)
    np.testing.assert_allclose(summary["T"], cdnow["T"], atol=0.0051)
    np.testing.assert_allclose(summary["monetary_value"], cdnow["zbar"], atol=0.0051)


def test_master_file_is_the_documented_cdnow_master(tmp_path: Path) -> None:
    master = pd.read_csv(DATA / "CDNOW_master.txt.gz", sep=r"\s+")
    assert list(master.columns) == ["customer_id", "date", "number_of_cds", "dollar_value"]
    assert len(master) == 69659
    assert master["customer_id"].nunique() == 23570


# --------------------------------------------------------------------------- BG/NBD


def test_bgnbd_reproduces_the_published_cdnow_parameters(cdnow_bgf: BetaGeoFitter) -> None:
    assert cdnow_bgf.converged_ and cdnow_bgf.method_ == "mle"
    for name, published in PUBLISHED_BGNBD.items():
        assert cdnow_bgf.params_[name] == pytest.approx(published, rel=0.02), name
    assert cdnow_bgf.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)
    assert cdnow_bgf.warnings_ == []


def test_conditional_expectation_matches_the_published_worked_example(
    cdnow_bgf: BetaGeoFitter,
) -> None:
    # Customer 1 of the CDNOW sample (x=2, t_x=30.43, T=38.86): 1.226 purchases expected in
    # the next 39 weeks, the value of Fader & Hardie's BG/NBD spreadsheet (note 004).
    published = bgf_with(**PUBLISHED_BGNBD)
    assert float(published.expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(
        1.226, abs=0.001
    )
    assert float(cdnow_bgf.expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(
        1.226, abs=0.002
    )


def test_p_alive_is_the_closed_form_of_hardie_note_021() -> None:
    r, alpha, a, b = PUBLISHED_BGNBD.values()
    x, t_x, T = np.array([0, 1, 2, 10]), np.array([0.0, 5.0, 30.43, 20.0]), 38.86
    odds = a / (b + np.maximum(x, 1) - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    expected = np.where(x > 0, 1 / (1 + odds), 1.0)
    np.testing.assert_allclose(bgf_with(r, alpha, a, b).p_alive(x, t_x, T), expected)


@pytest.mark.parametrize(
    ("params", "x", "t_x", "T", "t"),
    [
        ((0.243, 4.414, 0.793, 2.426), 2, 30.43, 38.86, 39.0),
        ((0.243, 4.414, 0.793, 2.426), 0, 0.0, 20.0, 10.0),
        ((2.0, 3.0, 1.8, 0.6), 1, 4.0, 12.0, 52.0),
        ((0.6, 1.0, 0.3, 0.4), 0, 0.0, 5.0, 30.0),  # a + b < 1: hypergeometric with c < 0
        ((0.5, 10.0, 0.9, 3.0), 400, 300.0, 310.0, 100.0),  # heavy buyer
    ],
)
def test_expected_purchases_equals_the_integral_over_the_dropout_probability(
    params: tuple[float, ...], x: int, t_x: float, T: float, t: float
) -> None:
    # Alive at T, lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x): an alive customer buys
    # (1 - exp(-lambda p t)) / p times in t. Integrate p numerically, lambda exactly.
    r, alpha, a, b = params
    model = bgf_with(*params)

    def integrand(p: float) -> float:
        bought = -np.expm1(-(r + x) * np.log1p(p * t / (alpha + T))) / p
        return bought * stats.beta.pdf(p, a, b + x)

    if_alive = integrate.quad(integrand, 0, 1, limit=200, epsabs=1e-12, epsrel=1e-10)[0]
    expected = float(model.p_alive(x, t_x, T)) * if_alive
    assert float(model.expected_purchases(t, x, t_x, T)) == pytest.approx(expected, rel=1e-6)


def test_huge_frequencies_and_near_degenerate_parameters_stay_finite() -> None:
    x = np.array([0, 1, 50, 5_000, 100_000])
    t_x = np.array([0.0, 1.0, 300.0, 364.0, 365.0])
    for params in [(0.5, 10.0, 0.9, 3.0), (3.0, 1.0, 1.0, 2.0), (1.0, 5.0, 1e5, 3e5)]:
        model = bgf_with(*params)
        expected = model.expected_purchases(90.0, x, t_x, 365.0)
        assert np.all(np.isfinite(expected)) and np.all(expected >= 0), params
        p_alive = model.p_alive(x, t_x, 365.0)
        assert np.all((p_alive >= 0) & (p_alive <= 1))
        p_none = model.p_no_purchase(90.0, x, t_x, 365.0)
        assert np.all((p_none >= 0) & (p_none <= 1))


def test_predictions_match_a_monte_carlo_simulation() -> None:
    rng = np.random.default_rng(20050401)
    T = rng.uniform(10.0, 39.0, 200_000)
    sim = simulate_bgnbd(rng, PUBLISHED_BGNBD, T, t_future=26.0)
    model = bgf_with(**PUBLISHED_BGNBD)
    p_none = model.p_no_purchase(26.0, sim["frequency"], sim["recency"], sim["T"])
    expected = model.expected_purchases(26.0, sim["frequency"], sim["recency"], sim["T"])
    # The predictions are conditional expectations given (x, t_x, T), so they average to the
    # simulated outcomes within any group defined by the history, here by frequency.
    groups = pd.cut(sim["frequency"], [-1, 0, 1, 2, 4, 8, np.inf])
    for _, rows in sim.groupby(groups, observed=True).groups.items():
        none = (sim.loc[rows, "future"] == 0).to_numpy()
        se = np.sqrt(none.mean() * (1 - none.mean()) / none.size)
        assert p_none[rows].mean() == pytest.approx(none.mean(), abs=4 * se + 1e-3)
        future = sim.loc[rows, "future"].to_numpy()
        se = future.std() / np.sqrt(future.size)
        assert expected[rows].mean() == pytest.approx(future.mean(), abs=4 * se + 1e-3)


def test_fit_recovers_simulated_parameters_in_any_time_unit() -> None:
    rng = np.random.default_rng(7)
    truth = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 3.0}  # alpha in days
    sim = simulate_bgnbd(rng, truth, rng.uniform(60.0, 365.0, 20_000), t_future=0.0)
    days = BetaGeoFitter().fit(sim["frequency"], sim["recency"], sim["T"])
    weeks = BetaGeoFitter().fit(sim["frequency"], sim["recency"] / 7, sim["T"] / 7)
    assert days.converged_ and weeks.converged_
    for name in ("r", "a", "b"):
        assert days.params_[name] == pytest.approx(weeks.params_[name], rel=1e-4)
    assert days.alpha_ == pytest.approx(7 * weeks.alpha_, rel=1e-4)
    assert days.r_ == pytest.approx(truth["r"], rel=0.1)
    assert days.alpha_ == pytest.approx(truth["alpha"], rel=0.1)
    assert days.a_ == pytest.approx(truth["a"], rel=0.25)
    assert days.b_ == pytest.approx(truth["b"], rel=0.25)


def test_likelihood_gradient_is_exact(cdnow: pd.DataFrame) -> None:
    data = _BgnbdData.build(
        cdnow["x"].to_numpy(float), cdnow["t_x"].to_numpy() / 30, cdnow["T"].to_numpy() / 30
    )

    def value(log_params: np.ndarray) -> float:
        return data.neg_mean_log_likelihood(*np.exp(log_params))[0]

    def gradient(log_params: np.ndarray) -> np.ndarray:
        params = np.exp(log_params)
        return data.neg_mean_log_likelihood(*params)[1] * params

    for point in ([0.0, 0.0, 0.0, 0.0], [-1.4, -1.9, -0.2, 0.9], [1.0, 2.0, 2.0, -1.0]):
        assert optimize.check_grad(value, gradient, np.array(point)) < 1e-5


def test_penalizer_shrinks_the_parameters(cdnow: pd.DataFrame, cdnow_bgf) -> None:
    penalised = BetaGeoFitter(penalizer=0.1).fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert penalised.converged_
    assert penalised.log_likelihood_ < cdnow_bgf.log_likelihood_
    assert penalised.b_ < cdnow_bgf.b_


def test_invalid_histories_are_rejected_with_a_clear_error() -> None:
    with pytest.raises(DataError, match="recency must lie between 0 and T"):
        BetaGeoFitter().fit([1, 2], [5.0, 12.0], [10.0, 10.0])
    with pytest.raises(DataError, match="non-negative whole number"):
        BetaGeoFitter().fit([1.5], [1.0], [2.0])


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "reason"),
    [
        ([0] * 50, [0.0] * 50, [10.0] * 50, "repeat buyers"),
        ([1, 0, 2], [3.0, 0.0, 4.0], [5.0, 5.0, 5.0], "only 3 customers"),
    ],
)
def test_degenerate_data_falls_back_with_a_warning(
    frequency: list[int], recency: list[float], T: list[float], reason: str
) -> None:
    with pytest.warns(ClvWarning, match=reason):
        model = BetaGeoFitter().fit(frequency, recency, T)
    assert model.method_ == "heuristic" and not model.converged_
    expected = model.expected_purchases(10.0, frequency, recency, T)
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    np.testing.assert_array_equal(model.p_alive(frequency, recency, T), 1.0)
    p_none = model.p_no_purchase(10.0, frequency, recency, T)
    assert np.all((p_none > 0) & (p_none < 1))


# --------------------------------------------------------------------------- Gamma-Gamma


def test_gamma_gamma_reproduces_the_published_cdnow_parameters(cdnow: pd.DataFrame) -> None:
    ggf = GammaGammaFitter().fit(cdnow["x"], cdnow["zbar"])
    assert ggf.converged_ and ggf.n_customers_ == 946
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert ggf.params_[name] == pytest.approx(published, rel=0.02), name
    # Customer 1 (x=2, mean 22.35) shrinks toward the population mean p v / (q - 1) = 35.2.
    assert ggf.population_mean_value_ == pytest.approx(6.25 * 15.44 / 2.74, rel=0.02)
    p, q, v = ggf.p_, ggf.q_, ggf.v_
    value = ggf.expected_average_value([2, 0], [22.35, 0.0])
    np.testing.assert_allclose(
        value, [p * (v + 2 * 22.35) / (2 * p + q - 1), ggf.population_mean_value_]
    )


def test_gamma_gamma_with_few_repeat_buyers_falls_back() -> None:
    with pytest.warns(ClvWarning, match="Gamma-Gamma not fitted"):
        ggf = GammaGammaFitter().fit([0, 1, 3], [0.0, 10.0, 30.0])
    assert ggf.method_ == "heuristic"
    assert ggf.population_mean_value_ == pytest.approx((10 + 90) / 4)
    np.testing.assert_allclose(
        ggf.expected_average_value([0, 3], [0.0, 30.0]), [25.0, (90 + 25) / 4]
    )


# --------------------------------------------------------------------------- CLV


def test_predict_clv_multiplies_orders_value_and_margin(cdnow: pd.DataFrame, cdnow_bgf) -> None:
    summary = cdnow.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})
    ggf = GammaGammaFitter().fit(summary["frequency"], summary["monetary_value"])
    clv = predict_clv(summary, cdnow_bgf, ggf, horizon=39.0, margin=0.3)
    assert list(clv.columns) == [
        "p_alive",
        "p_no_purchase",
        "expected_orders",
        "expected_average_value",
        "predicted_clv",
    ]
    np.testing.assert_allclose(
        clv["predicted_clv"], clv["expected_orders"] * clv["expected_average_value"] * 0.3
    )
    assert clv.loc[1, "expected_orders"] == pytest.approx(1.226, abs=0.002)
    discounted = predict_clv(summary, cdnow_bgf, ggf, horizon=39.0, discount_rate=0.01)
    undiscounted = clv["predicted_clv"] / 0.3
    assert (discounted["predicted_clv"] <= undiscounted + 1e-12).all()
    assert (discounted["predicted_clv"] >= undiscounted / 1.01**39 - 1e-12).all()


def test_fit_clv_on_cdnow_transactions(cdnow_transactions: pd.DataFrame) -> None:
    result = fit_clv(cdnow_transactions, CALIBRATION_END, horizon_days=39 * 7)
    assert result.time_unit_days == 7
    assert result.warnings == []
    bgnbd = result.diagnostics["bgnbd"]
    assert bgnbd["converged"] and result.diagnostics["gamma_gamma"]["converged"]
    for name, published in PUBLISHED_BGNBD.items():
        assert bgnbd[name] == pytest.approx(published, rel=0.02), name
    customers = result.customers
    assert len(customers) == 2357
    assert {
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "p_alive",
        "expected_orders",
        "predicted_clv",
    } <= set(customers.columns)
    assert customers.loc[1, "expected_orders"] == pytest.approx(1.226, abs=0.002)
    assert customers["predicted_clv"].notna().all() and (customers["predicted_clv"] >= 0).all()


def test_fit_clv_never_crashes_on_a_handful_of_orders(orders: pd.DataFrame) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_clv(orders, "2024-01-29", horizon_days=30)
    assert any(issubclass(w.category, ClvWarning) for w in caught)
    assert result.diagnostics["bgnbd"]["method"] == "heuristic"
    assert len(result.warnings) == 2
    customers = result.customers
    assert customers["predicted_clv"].notna().all()
    assert (customers["p_no_purchase"].between(0, 1)).all()


def test_gamma_gamma_likelihood_gradient_is_exact(cdnow: pd.DataFrame) -> None:
    repeat = cdnow[cdnow["x"] > 0]
    data = _GammaGammaData.build(
        repeat["x"].to_numpy(float), repeat["zbar"].to_numpy() / repeat["zbar"].mean()
    )

    def value(log_params: np.ndarray) -> float:
        return data.neg_mean_log_likelihood(*np.exp(log_params))[0]

    def gradient(log_params: np.ndarray) -> np.ndarray:
        params = np.exp(log_params)
        return data.neg_mean_log_likelihood(*params)[1] * params

    for point in ([0.0, 0.0, 0.0], [1.8, 1.3, -1.0], [-1.0, 3.0, 2.0]):
        assert optimize.check_grad(value, gradient, np.array(point)) < 1e-5


def test_screening_starts_on_a_subsample_gives_the_full_fit(
    cdnow: pd.DataFrame, cdnow_bgf: BetaGeoFitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large data screen the starting points on a subsample, then polish on everything.
    monkeypatch.setattr(clv, "_SCREEN_SIZE", 500)
    screened = BetaGeoFitter().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    for name, value in cdnow_bgf.params_.items():
        assert screened.params_[name] == pytest.approx(value, rel=1e-4), name
    ggf = GammaGammaFitter().fit(cdnow["x"], cdnow["zbar"])
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert ggf.params_[name] == pytest.approx(published, rel=0.02), name


def test_fit_clv_without_repeat_buyers_values_purchases_at_the_mean_order(
    orders: pd.DataFrame,
) -> None:
    first_orders = orders.drop_duplicates("customer_id")
    with pytest.warns(ClvWarning):
        result = fit_clv(first_orders, "2024-01-29", horizon_days=30)
    customers = result.customers
    assert (customers["frequency"] == 0).all()
    # Mean purchase-day value among A (10), B (7), C (3); D bought after as_of.
    np.testing.assert_allclose(customers["expected_average_value"], 20 / 3)
    assert np.isfinite(customers["predicted_clv"]).all()


def test_fit_clv_when_every_order_is_on_the_as_of_day() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "b", "b"],
            "order_date": pd.to_datetime(["2024-05-01 09:00"] * 2 + ["2024-05-01 18:00"]),
            "amount": [1.0, 2.0, 3.0],
        }
    )
    with pytest.warns(ClvWarning):
        result = fit_clv(orders, "2024-05-01", horizon_days=30)
    customers = result.customers
    assert customers["frequency"].tolist() == [0, 0]
    np.testing.assert_array_equal(customers["expected_orders"], 0.0)
    assert customers["predicted_clv"].notna().all()


def test_unfitted_models_say_so() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        BetaGeoFitter().p_alive([1], [1.0], [2.0])
    with pytest.raises(NotFittedError, match="call fit"):
        GammaGammaFitter().expected_average_value([1], [10.0])
