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


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    """Every test gets its own workspace and no language-model endpoint from the shell."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path / "advisor-home"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ADVISOR_PROVIDER", "ADVISOR_DATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
