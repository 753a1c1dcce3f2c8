"""Behavioural clusters: K-means on log-scaled, standardised customer behaviour.

The features describe *how* a customer buys (orders, orders per month, order value, items
per order, share of orders with a coupon; whichever the data has), not *when* they last
bought: recency is what the RFM segments and the churn model are for. K is chosen
automatically between ``k_min`` and ``k_max`` by the mean silhouette score (computed on a
seeded sample of customers): the K with the highest score wins. Clusters are numbered by
median spend, highest first, and each gets a plain-words label built from its median
frequency, basket value, coupon use and recency relative to the whole shop.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.preprocessing import StandardScaler

__all__ = [
    "DEFAULT_CLUSTER_FEATURES",
    "BehaviourClusters",
    "cluster_profile",
    "silhouette_scores",
]

DEFAULT_CLUSTER_FEATURES: tuple[str, ...] = (
    "frequency",
    "orders_per_30d",
    "avg_order_value",
    "items_per_order",
    "coupon_order_share",
)


class BehaviourClusters:
    """K-means with automatic K; ``fit`` learns the scaling, the centres and the labels."""

    def __init__(
        self,
        k_min: int = 3,
        k_max: int = 8,
        features: Sequence[str] = DEFAULT_CLUSTER_FEATURES,
        random_state: int = 0,
        max_fit_samples: int = 20_000,
        silhouette_samples: int = 4_000,
        min_customers_per_cluster: int = 10,
    ) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.features = features
        self.random_state = random_state
        self.max_fit_samples = max_fit_samples
        self.silhouette_samples = silhouette_samples
        self.min_customers_per_cluster = min_customers_per_cluster

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[self.features_used_].to_numpy(dtype=float)
        return np.log1p(np.nan_to_num(np.clip(values, 0, None)))

    def fit(self, frame: pd.DataFrame) -> BehaviourClusters:
        """Fit on a customer feature frame (see :func:`analytics.features.customer_features`).

        Features the frame lacks (no quantity or coupon column in the data) are skipped.
        """
        rng = np.random.default_rng(self.random_state)
        self.features_used_ = [c for c in self.features if c in frame]
        if not self.features_used_:
            raise KeyError(f"none of the cluster features {list(self.features)} are in the "
                           f"frame; it has {list(frame.columns)}")
        x = self._matrix(frame)
        if len(x) > self.max_fit_samples:
            x = x[rng.choice(len(x), self.max_fit_samples, replace=False)]
        self.scaler_ = StandardScaler().fit(x)
        z = self.scaler_.transform(x)
        k_max = min(self.k_max, len(z) // self.min_customers_per_cluster)
        self.silhouette_ = {}
        if k_max < max(self.k_min, 2):
            warnings.warn(
                f"only {len(z)} customers: too few for {self.k_min}+ clusters of at least "
                f"{self.min_customers_per_cluster}; all customers are put in one cluster",
                stacklevel=2,
            )
            self.kmeans_ = KMeans(n_clusters=1, n_init=1, random_state=self.random_state).fit(z)
        else:
            self.kmeans_ = self._best_kmeans(z, range(max(self.k_min, 2), k_max + 1), rng)
        self.k_ = self.kmeans_.n_clusters
        self._order_clusters(frame)
        return self

    def _best_kmeans(self, z: np.ndarray, ks: range, rng: np.random.Generator) -> KMeans:
        sample = z
        if len(z) > self.silhouette_samples:
            sample = z[rng.choice(len(z), self.silhouette_samples, replace=False)]
        models, labellings = [], []
        for k in ks:
            model = KMeans(n_clusters=k, n_init=4, random_state=self.random_state).fit(z)
            labels = model.predict(sample)
            if len(np.unique(labels)) >= 2:
                models.append(model)
                labellings.append(labels)
        best = None
        for model, score in zip(models, silhouette_scores(sample, labellings), strict=True):
            self.silhouette_[model.n_clusters] = round(score, 4)
            if best is None or score > best[0]:
                best = (score, model)
        if best is None:
            return KMeans(n_clusters=1, n_init=1, random_state=self.random_state).fit(z)
        return best[1]

    def _order_clusters(self, frame: pd.DataFrame) -> None:
        raw = self.kmeans_.predict(self.scaler_.transform(self._matrix(frame)))
        spend = pd.Series(frame["monetary"].to_numpy(dtype=float)).groupby(raw).median()
        order = spend.reindex(range(self.k_)).fillna(-np.inf).sort_values(ascending=False)
        self.cluster_order_ = np.empty(self.k_, dtype=int)
        self.cluster_order_[order.index.to_numpy()] = np.arange(self.k_)
        self.labels_ = _plain_labels(frame, self.cluster_order_[raw])

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        """Cluster number of each customer (0 = highest median spend)."""
        raw = self.kmeans_.predict(self.scaler_.transform(self._matrix(frame)))
        return pd.Series(self.cluster_order_[raw], index=frame.index, name="cluster")


def silhouette_scores(x: np.ndarray, labellings: Sequence[np.ndarray],
                      chunk_rows: int = 1_000) -> list[float]:
    """The mean silhouette of each labelling of the rows of ``x`` (each with at least two
    labels), as :func:`sklearn.metrics.silhouette_score` computes it one labelling at a time.

    The pairwise distances, the costly part, are computed once for all labellings, a block
    of ``chunk_rows`` rows at a time; a block's distance sums to every cluster of every
    labelling come from one matrix product.
    """
    n = len(x)
    inverse, sizes, offsets = [], [], [0]
    for labels in labellings:
        _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
        inverse.append(codes)
        sizes.append(counts.astype(float))
        offsets.append(offsets[-1] + len(counts))
    members = np.zeros((n, offsets[-1]))
    for codes, offset in zip(inverse, offsets, strict=False):
        members[np.arange(n), offset + codes] = 1.0
    sums = np.empty((n, offsets[-1]))
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        distances = euclidean_distances(x[start:stop], x)
        distances[np.arange(stop - start), np.arange(start, stop)] = 0.0  # as sklearn does
        sums[start:stop] = distances @ members
    rows = np.arange(n)
    scores = []
    for codes, counts, offset in zip(inverse, sizes, offsets, strict=False):
        to_cluster = sums[:, offset:offset + len(counts)].copy()
        intra = to_cluster[rows, codes]
        to_cluster[rows, codes] = np.inf
        inter = (to_cluster / counts).min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            intra = intra / (counts[codes] - 1)
            silhouette = (inter - intra) / np.maximum(intra, inter)
        scores.append(float(np.mean(np.nan_to_num(silhouette))))  # 0 for one-member clusters
    return scores


def _level(value: float, low: float, high: float, words: tuple[str, str, str]) -> str:
    return words[0] if value <= low else words[2] if value > high else words[1]


def _plain_labels(frame: pd.DataFrame, clusters: np.ndarray) -> dict[int, str]:
    """A short description per cluster, relative to the whole shop's distribution."""
    medians = frame.groupby(clusters).median(numeric_only=True)
    aov_lo, aov_hi = frame["avg_order_value"].quantile([1 / 3, 2 / 3])
    rec_lo, rec_hi = frame.get("recency_days", pd.Series([0.0])).quantile([1 / 3, 2 / 3])
    freq_hi = max(frame["frequency"].quantile(0.75), 2.0)
    has_recency = "recency_days" in frame
    labels: dict[int, str] = {}
    for cluster, row in medians.iterrows():
        if row["frequency"] <= 1:
            often = "one-time"
        else:
            often = _level(row["frequency"], freq_hi - 1, freq_hi, ("occasional", "regular",
                                                                   "frequent"))
        basket = _level(row["avg_order_value"], aov_lo, aov_hi, ("low", "mid", "high"))
        coupons = "coupon-driven " if row.get("coupon_order_share", 0) >= 0.5 else ""
        label = f"{often} {basket}-basket {coupons}buyers"
        if has_recency:
            label += ", " + _level(row["recency_days"], rec_lo, rec_hi,
                                   ("active", "lapsing", "lapsed"))
        if label in labels.values():
            label = f"{label} (group {int(cluster)})"
        labels[int(cluster)] = label
    return labels


def cluster_profile(customers: pd.DataFrame, labels: dict[int, str]) -> pd.DataFrame:
    """Per cluster: label, size, share, revenue share and median behaviour."""
    g = customers.groupby("cluster")
    profile = g.agg(
        customers=("frequency", "size"),
        revenue=("monetary", "sum"),
        median_recency_days=("recency_days", "median"),
        median_frequency=("frequency", "median"),
        median_order_value=("avg_order_value", "median"),
        median_monetary=("monetary", "median"),
    )
    profile.insert(0, "label", profile.index.map(labels))
    profile["customer_share"] = profile["customers"] / profile["customers"].sum()
    profile["revenue_share"] = profile["revenue"] / profile["revenue"].sum()
    return profile
