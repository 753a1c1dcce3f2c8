"""Deterministic retention analytics: no language model, no UI, no global state.

The usual entry point is :func:`analyze_file` (or :func:`analyze` on a cleaned frame), which
returns an :class:`Analysis`; :func:`write_outputs` writes it to a folder.
"""

from .backtest import backtest
from .baskets import Baskets
from .campaigns import DEFAULT_PLAYS, CampaignPlan, Constraints, Play, plan_campaign
from .churn import ChurnModel, churn_reasons, heuristic_churn
from .cleaning import CleaningReport, clean_orders
from .clusters import DEFAULT_CLUSTER_FEATURES, BehaviourClusters, cluster_profile
from .clv import BetaGeoFitter, ClvResult, GammaGammaFitter, clv_summary, fit_clv, predict_clv
from .cohorts import cohort_matrix, cohort_table, monthly_activity, retention_kpis
from .errors import DataError, RetentionError
from .experiments import (
    assign_holdout,
    minimum_detectable_uplift,
    sample_size_two_proportions,
    uplift_test,
)
from .features import customer_features
from .loading import LoadResult, detect_mapping, load_orders, map_orders, read_table
from .outputs import write_outputs
from .pipeline import Analysis, analyze, analyze_file, load_and_clean
from .recommend import (
    BuyAgainRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    evaluate_recommenders,
)
from .rfm import (
    DEFAULT_SEGMENT_RULES,
    SEGMENT_DESCRIPTIONS,
    SegmentRule,
    assign_segments,
    order_table,
    quintile_scores,
    rfm_scores,
    rfm_table,
)
from .sample import SAMPLE_SHOP_PATH, generate_sample_shop, load_sample_truth, write_sample_shop
from .scoring import score_customers
from .segments import segment_table

__all__ = [
    "DEFAULT_CLUSTER_FEATURES",
    "DEFAULT_PLAYS",
    "DEFAULT_SEGMENT_RULES",
    "SAMPLE_SHOP_PATH",
    "SEGMENT_DESCRIPTIONS",
    "Analysis",
    "Baskets",
    "BehaviourClusters",
    "BetaGeoFitter",
    "BuyAgainRecommender",
    "CampaignPlan",
    "ChurnModel",
    "CleaningReport",
    "ClvResult",
    "Constraints",
    "DataError",
    "GammaGammaFitter",
    "ItemKNNRecommender",
    "LoadResult",
    "Play",
    "PopularityRecommender",
    "RetentionError",
    "SegmentRule",
    "analyze",
    "analyze_file",
    "assign_holdout",
    "assign_segments",
    "backtest",
    "churn_reasons",
    "clean_orders",
    "cluster_profile",
    "clv_summary",
    "cohort_matrix",
    "cohort_table",
    "customer_features",
    "detect_mapping",
    "evaluate_recommenders",
    "fit_clv",
    "generate_sample_shop",
    "heuristic_churn",
    "load_and_clean",
    "load_orders",
    "load_sample_truth",
    "map_orders",
    "minimum_detectable_uplift",
    "monthly_activity",
    "order_table",
    "plan_campaign",
    "predict_clv",
    "quintile_scores",
    "read_table",
    "retention_kpis",
    "rfm_scores",
    "rfm_table",
    "sample_size_two_proportions",
    "score_customers",
    "segment_table",
    "uplift_test",
    "write_outputs",
    "write_sample_shop",
]
