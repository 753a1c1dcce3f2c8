"""Shared fixtures: the bundled sample shop, analysed once per test session."""

import warnings

import pandas as pd
import pytest

from analytics.pipeline import Analysis, analyze_file
from analytics.sample import SAMPLE_SHOP_PATH, load_sample_truth


@pytest.fixture(scope="session")
def sample_analysis() -> Analysis:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze_file(SAMPLE_SHOP_PATH)


@pytest.fixture(scope="session")
def sample_truth() -> pd.DataFrame:
    return load_sample_truth().set_index("customer_id")
