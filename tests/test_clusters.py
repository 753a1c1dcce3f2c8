import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

from analytics.clusters import BehaviourClusters, cluster_profile, silhouette_scores


def _planted(n_per_group: int = 150, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = [  # recency, frequency, order value, orders per 30 days
        (10, 25, 300, 1.5),   # frequent high spenders
        (200, 1, 30, 0.05),   # one-time low basket, lapsed
        (40, 4, 60, 0.8),     # a few orders, recently acquired
    ]
    frames, truth = [], []
    for label, (rec, freq, aov, rate) in enumerate(groups):
        jitter = rng.lognormal(0, 0.15, size=(n_per_group, 4))
        frames.append(pd.DataFrame({
            "recency_days": rec * jitter[:, 0],
            "frequency": np.maximum(1, np.round(freq * jitter[:, 1])),
            "avg_order_value": aov * jitter[:, 2],
            "orders_per_30d": rate * jitter[:, 3],
        }))
        truth += [label] * n_per_group
    frame = pd.concat(frames, ignore_index=True)
    frame["monetary"] = frame["frequency"] * frame["avg_order_value"]
    return frame, np.array(truth)


def test_recovers_planted_groups_and_picks_k():
    frame, truth = _planted()
    model = BehaviourClusters(k_min=2, k_max=6, random_state=0).fit(frame)
    labels = model.predict(frame)
    assert model.k_ == 3
    assert adjusted_rand_score(truth, labels) > 0.95
    assert max(model.silhouette_, key=model.silhouette_.get) == 3


def test_silhouettes_of_all_labellings_at_once_equal_sklearns_one_at_a_time():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(701, 3))
    x[:300] += 4.0  # one clear group, so the scores differ by labelling
    labellings = [
        (x[:, 0] > 2).astype(int),                    # the planted split
        rng.integers(0, 5, size=len(x)),              # noise
        np.where(np.arange(len(x)) == 7, 9, rng.integers(0, 3, size=len(x))),  # a singleton
        rng.choice([2, 40], size=len(x)),              # labels that are not 0..k-1
    ]
    expected = [silhouette_score(x, labels) for labels in labellings]
    # blocks of rows that do not divide the rows evenly, and a single block
    for chunk_rows in (64, 5000):
        assert silhouette_scores(x, labellings, chunk_rows=chunk_rows) == pytest.approx(
            expected, abs=1e-12)
    assert expected[0] > 0.4 > expected[1]


def test_clusters_are_numbered_by_spend_and_labelled_in_plain_words():
    frame, _ = _planted()
    model = BehaviourClusters(k_min=2, k_max=6).fit(frame)
    frame["cluster"] = model.predict(frame)
    medians = frame.groupby("cluster")["monetary"].median()
    assert medians.is_monotonic_decreasing
    assert model.labels_[0] == "frequent high-basket buyers, active"
    assert model.features_used_ == ["frequency", "orders_per_30d", "avg_order_value"]
    assert "one-time" in model.labels_[frame.loc[frame["frequency"] == 1, "cluster"].mode()[0]]
    assert len(set(model.labels_.values())) == model.k_
    profile = cluster_profile(frame, model.labels_)
    assert profile["customers"].sum() == len(frame)
    assert profile["revenue_share"].sum() == pytest.approx(1.0)


def test_deterministic_for_a_seed():
    frame, _ = _planted()
    first = BehaviourClusters(random_state=5).fit(frame).predict(frame)
    second = BehaviourClusters(random_state=5).fit(frame).predict(frame)
    pd.testing.assert_series_equal(first, second)


def test_tiny_shop_falls_back_to_one_cluster_with_a_warning():
    frame, _ = _planted(n_per_group=5)
    with pytest.warns(UserWarning, match="too few"):
        model = BehaviourClusters().fit(frame)
    assert model.k_ == 1
    assert set(model.predict(frame)) == {0}
