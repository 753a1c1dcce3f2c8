"""Deterministic retention analytics: loading, cleaning, RFM, clusters, cohorts."""
