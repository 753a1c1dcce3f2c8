"""Shared fixtures: the bundled sample shop analysed, and the playbook indexed, once per
test session."""

import time
import warnings

import pandas as pd
import pytest

from advisor.embeddings import LocalEmbedder
from advisor.knowledge import KnowledgeBase
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


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    embedder = LocalEmbedder()
    started = time.perf_counter()
    embedder.load()
    print(f"\nlocal model load: {time.perf_counter() - started:.2f}s")
    return embedder


@pytest.fixture(scope="session")
def playbook_kb(tmp_path_factory, local_embedder) -> KnowledgeBase:
    kb = KnowledgeBase(tmp_path_factory.mktemp("playbook"), local_embedder)
    started = time.perf_counter()
    assert kb.ensure_index() is True
    passages = kb._collection.count()
    print(f"\nindex build: {len(kb.documents())} docs, {passages} passages "
          f"in {time.perf_counter() - started:.2f}s")
    return kb
