"""A/B sample sizes, hold-out assignment and the uplift test, against hand-computed numbers."""

import math

import numpy as np
import pandas as pd
import pytest

from analytics.errors import DataError
from analytics.experiments import (
    HOLDOUT,
    TREATMENT,
    assign_holdout,
    holdout_size,
    minimum_detectable_uplift,
    sample_size_two_proportions,
    uplift_test,
)

Z_975 = 1.959963984540054  # standard normal quantiles, from tables
Z_95 = 1.6448536269514722
Z_80 = 0.8416212335729143


# --- sample size -------------------------------------------------------------------------


def test_sample_size_pooled_ten_to_twelve_percent() -> None:
    # (z_a·√(2·0.11·0.89) + z_b·√(0.1·0.9 + 0.12·0.88))² / 0.02² = 3840.85 -> 3841
    expected = (Z_975 * math.sqrt(2 * 0.11 * 0.89) + Z_80 * math.sqrt(0.09 + 0.1056)) ** 2
    assert expected / 0.02**2 == pytest.approx(3840.85, abs=0.01)
    size = sample_size_two_proportions(0.10, 0.02)
    assert (size.n_treatment, size.n_control, size.total) == (3841, 3841, 7682)
    assert size.p_treatment == pytest.approx(0.12)
    assert size.variance == "pooled"


def test_sample_size_unpooled_ten_to_twelve_percent() -> None:
    # (z_a + z_b)² (0.1·0.9 + 0.12·0.88) / 0.02² = 7.8489 · 0.1956 / 0.0004 = 3838.10 -> 3839
    size = sample_size_two_proportions(0.10, 0.02, variance="unpooled")
    assert (size.n_treatment, size.n_control) == (3839, 3839)


def test_sample_size_one_sided_needs_fewer() -> None:
    # (1.6449 + 0.8416)² · 0.1956 / 0.0004 = 3023.3 -> 3024
    size = sample_size_two_proportions(0.10, 0.02, two_sided=False, variance="unpooled")
    assert size.n_control == math.ceil((Z_95 + Z_80) ** 2 * 0.1956 / 0.0004) == 3024


def test_sample_size_unequal_groups() -> None:
    # k = 2: n_c = (z_a + z_b)² (0.09 + 0.1056 / 2) / 0.0004 = 7.8489 · 0.1428 / 0.0004
    #   = 2802.05 -> 2803, n_t = 2 · 2802.05 = 5604.1 -> 5605
    size = sample_size_two_proportions(0.10, 0.02, ratio=2.0, variance="unpooled")
    assert (size.n_control, size.n_treatment) == (2803, 5605)


def test_sample_size_symmetric_in_direction_of_uplift() -> None:
    up = sample_size_two_proportions(0.10, 0.02, variance="unpooled")
    down = sample_size_two_proportions(0.12, -0.02, variance="unpooled")
    assert up.n_control == down.n_control


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"p_control": 0.0, "uplift": 0.02}, "p_control"),
        ({"p_control": 1.2, "uplift": 0.02}, "p_control"),
        ({"p_control": 0.1, "uplift": 0.0}, "uplift"),
        ({"p_control": 0.1, "uplift": 2.0}, "uplift"),
        ({"p_control": 0.1, "uplift": 0.02, "alpha": 0.0}, "alpha"),
        ({"p_control": 0.1, "uplift": 0.02, "power": 1.0}, "power"),
        ({"p_control": 0.1, "uplift": 0.02, "ratio": 0.0}, "ratio"),
        ({"p_control": 0.1, "uplift": 0.02, "variance": "welch"}, "variance"),
    ],
)
def test_sample_size_rejects_bad_arguments_by_name(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        sample_size_two_proportions(**kwargs)


def test_percentage_points_given_as_whole_numbers_get_a_hint() -> None:
    with pytest.raises(ValueError, match=r"0\.02"):
        sample_size_two_proportions(0.10, 2)


def test_minimum_detectable_uplift_inverts_sample_size() -> None:
    assert minimum_detectable_uplift(0.10, 3841, 3841) == pytest.approx(0.02, abs=1e-4)
    assert minimum_detectable_uplift(0.10, 3839, 3839, variance="unpooled") == pytest.approx(
        0.02, abs=1e-4
    )


def test_minimum_detectable_uplift_shrinks_with_more_customers() -> None:
    small = minimum_detectable_uplift(0.10, 1000, 1000)
    large = minimum_detectable_uplift(0.10, 10_000, 10_000)
    assert large < small


def test_minimum_detectable_uplift_too_small_groups_is_nan() -> None:
    assert math.isnan(minimum_detectable_uplift(0.9, 1, 1))


# --- uplift test -------------------------------------------------------------------------


def test_uplift_test_hand_computed() -> None:
    # 120/1000 vs 100/1000: pooled 0.11, se = √(0.11·0.89·2/1000) = 0.013993, z = 1.4293
    result = uplift_test(120, 1000, 100, 1000)
    assert result.rate_treatment == pytest.approx(0.12)
    assert result.rate_control == pytest.approx(0.10)
    assert result.absolute_uplift == pytest.approx(0.02)
    assert result.relative_uplift == pytest.approx(0.20)
    assert result.z == pytest.approx(0.02 / math.sqrt(0.11 * 0.89 * 0.002))
    assert result.p_value == pytest.approx(0.1529, abs=1e-4)
    assert result.significant is False
    # Wilson intervals 0.1013-0.1416 and 0.0829-0.1202, combined by Newcombe's method 10
    assert (result.ci_low, result.ci_high) == pytest.approx((-0.00749, 0.04755), abs=1e-5)


@pytest.mark.parametrize(
    ("counts", "interval"),
    [  # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0000)),
    ],
)
def test_confidence_interval_matches_newcombe_table(counts: tuple, interval: tuple) -> None:
    result = uplift_test(*counts)
    assert (result.ci_low, result.ci_high) == pytest.approx(interval, abs=1e-4)


def test_uplift_test_significant_difference() -> None:
    result = uplift_test(150, 1000, 100, 1000)
    assert result.significant is True
    assert result.p_value < 0.05
    assert result.ci_low > 0


def test_zero_conversions_in_both_groups() -> None:
    result = uplift_test(0, 500, 0, 500)
    assert result.absolute_uplift == 0.0
    assert math.isnan(result.relative_uplift)
    assert (result.z, result.p_value, result.significant) == (0.0, 1.0, False)
    assert result.ci_low < 0 < result.ci_high


def test_zero_control_conversions_has_no_relative_uplift() -> None:
    result = uplift_test(5, 50, 0, 50)
    assert math.isnan(result.relative_uplift)
    assert result.absolute_uplift == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((0, 0, 10, 100), "treated_n"),
        ((10, 100, 0, 0), "control_n"),
        ((11, 10, 1, 10), "treated_conversions"),
        ((-1, 10, 1, 10), "treated_conversions"),
        ((1, 10, 1.5, 10), "control_conversions"),
    ],
)
def test_uplift_test_rejects_bad_counts_by_name(args: tuple, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        uplift_test(*args)


# --- hold-out assignment -----------------------------------------------------------------


def test_holdout_exact_count_and_labels() -> None:
    ids = [f"c{i}" for i in range(101)]
    groups = assign_holdout(ids, 0.2)
    assert list(groups.columns) == ["customer_id", "group"]
    assert groups["customer_id"].tolist() == ids
    assert (groups["group"] == HOLDOUT).sum() == 20  # round(20.2)
    assert set(groups["group"]) == {HOLDOUT, TREATMENT}


def test_holdout_is_deterministic_for_a_seed_and_ignores_input_order() -> None:
    ids = [f"c{i}" for i in range(50)]
    first = assign_holdout(ids, 0.3, seed=7).set_index("customer_id")["group"]
    again = assign_holdout(list(reversed(ids)), 0.3, seed=7).set_index("customer_id")["group"]
    other = assign_holdout(ids, 0.3, seed=8).set_index("customer_id")["group"]
    pd.testing.assert_series_equal(first, again.loc[first.index])
    assert not first.equals(other)


def test_holdout_keys_follow_the_ids_in_pythons_sorted_order() -> None:
    # a plan's split must not depend on how the ids are sorted: the k-th id in Python's
    # order of the characters gets the k-th random key, whatever the alphabet
    ids = ["b", "a", "B", "10", "9", "Z", "é", "e", "ä", "z", "日本", "😀", "Ω", " x", "q",
           *(f"c{i}" for i in range(40))]
    keys = dict(zip(sorted(ids), np.random.default_rng(5).random(len(ids)), strict=True))
    quota = int(holdout_size(len(ids), 0.3))
    expected = {c: HOLDOUT if rank < quota else TREATMENT
                for rank, c in enumerate(sorted(ids, key=keys.__getitem__))}
    got = assign_holdout(ids, 0.3, seed=5).set_index("customer_id")["group"]
    assert got.to_dict() == expected
    # ids passed as an Index or a Series (whatever its index) split the same, in input order
    as_list = assign_holdout(ids, 0.3, seed=5)
    for given in (pd.Index(ids), pd.Series(ids, index=range(len(ids), 0, -1))):
        pd.testing.assert_frame_equal(assign_holdout(given, 0.3, seed=5), as_list)


def test_holdout_stratified_splits_every_stratum_in_the_same_share() -> None:
    customers = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(30)],
            "segment": ["Champions"] * 10 + ["At Risk"] * 15 + ["Lost"] * 5,
        }
    )
    groups = assign_holdout(customers, 0.2, seed=3, stratify_by="segment")
    assert list(groups.columns) == ["customer_id", "group", "segment"]
    held = groups[groups["group"] == HOLDOUT].groupby("segment").size()
    assert held.to_dict() == {"At Risk": 3, "Champions": 2, "Lost": 1}


def test_holdout_rounds_halves_up() -> None:
    groups = assign_holdout(["a", "b", "c", "d", "e"], 0.5)
    assert (groups["group"] == HOLDOUT).sum() == 3


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1, 1.5])
def test_holdout_share_must_be_between_zero_and_one(share: float) -> None:
    with pytest.raises(ValueError, match="holdout_share"):
        assign_holdout(["a", "b"], share)


def test_holdout_rejects_duplicates_and_missing_strata_column() -> None:
    with pytest.raises(DataError, match="duplicated"):
        assign_holdout(["a", "a", "b"], 0.5)
    with pytest.raises(DataError, match="segment"):
        assign_holdout(pd.DataFrame({"customer_id": ["a"]}), 0.5, stratify_by="segment")
    with pytest.raises(DataError, match="segment"):
        assign_holdout(["a", "b"], 0.5, stratify_by="segment")


@pytest.mark.parametrize("n", [25, 35, 5, 400])
def test_holdout_size_is_what_assign_holdout_holds_out(n):
    customers = pd.Series([f"c{i:03d}" for i in range(n)])
    held = (assign_holdout(customers, 0.1, seed=1)["group"] == "holdout").sum()
    assert holdout_size(n, 0.1) == held == math.floor(n * 0.1 + 0.5)  # 25 -> 3, not round()'s 2
