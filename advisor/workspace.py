"""Everything a session of the advisor needs, built from settings: the analysis of the
shop's data, the playbook knowledge base and the plan store under ``ADVISOR_HOME``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from analytics.pipeline import Analysis, analyze_file
from analytics.sample import SAMPLE_SHOP_PATH

from .embeddings import make_embedder
from .knowledge import KnowledgeBase
from .settings import Settings
from .storage import PlanStore
from .tools import AdvisorContext

__all__ = ["build_context", "knowledge_base", "load_analysis"]


def load_analysis(settings: Settings, data: Path | None = None, **options: object) -> Analysis:
    """Analyse ``data`` (default: ``ADVISOR_DATA``, else the bundled sample shop)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kept in analysis.warnings
        return analyze_file(data or settings.data or SAMPLE_SHOP_PATH,
                            horizon_days=settings.horizon_days, **options)


def knowledge_base(settings: Settings) -> KnowledgeBase:
    """The playbook index under ``ADVISOR_HOME``, built on first use."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    embedder = make_embedder(settings.embeddings, api_key=settings.api_key or None,
                             base_url=settings.base_url or None)
    kb = KnowledgeBase(settings.home, embedder)
    kb.ensure_index()
    return kb


def build_context(settings: Settings, data: Path | None = None,
                  analysis: Analysis | None = None) -> AdvisorContext:
    """Analysis, knowledge base and plan store for one shop."""
    settings.home.mkdir(parents=True, exist_ok=True)
    return AdvisorContext(
        analysis=analysis or load_analysis(settings, data),
        knowledge=knowledge_base(settings),
        store=PlanStore(settings.home),
    )
