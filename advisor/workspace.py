"""Everything a session of the advisor needs, built from settings: the analysis of the
shop's data, the playbook knowledge base and the plan store under ``ADVISOR_HOME``."""

from __future__ import annotations

import contextlib
import os
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import analytics
from analytics.cache import file_digest, least_recently_used, leftovers
from analytics.outputs import write_atomic
from analytics.pipeline import Analysis, analyze_file
from analytics.sample import SAMPLE_SHOP_PATH

from .embeddings import Embedder, make_embedder
from .knowledge import KnowledgeBase
from .settings import Settings
from .storage import PlanStore
from .tools import AdvisorContext

__all__ = ["KEEP_ANALYSES", "build_context", "knowledge_base", "load_analysis"]

KEEP_ANALYSES = 8  # cached analyses kept on disk, the most recently used


def _cache_key(path: Path, horizon_days: int, options: dict[str, object]) -> str:
    """Content and name of the data file (the analysis's source and notes name it), the
    analytics code, and the options."""
    digest = file_digest(path)
    for source in sorted(Path(analytics.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    normal = sorted((k, sorted(v.items()) if isinstance(v, dict) else v)
                    for k, v in options.items() if v is not None)
    digest.update(repr((path.name, horizon_days, normal)).encode())
    return digest.hexdigest()[:32]


def load_analysis(settings: Settings, data: Path | None = None,
                  progress: Callable[[str], None] | None = None, **options: object) -> Analysis:
    """Analyse ``data`` (default: ``ADVISOR_DATA``, else the bundled sample shop).

    The analysis is cached under ``ADVISOR_HOME/cache``, keyed by the file's content and
    name, the analytics code and the options (``mapping``, ``sheet``, ...), so asking again
    about the same data is instant; so are the file's cleaned lines (:mod:`analytics.cache`), which
    another analysis of it (another horizon, newer models) reuses. ``progress(stage)`` is
    called at each stage of a fresh analysis.
    """
    path = Path(data or settings.data or SAMPLE_SHOP_PATH)
    if not path.is_file():  # let the loader raise its clear message
        return analyze_file(path, horizon_days=settings.horizon_days, **options)
    key = _cache_key(path, settings.horizon_days, options)
    folder = settings.home / "cache"
    cache = folder / f"analysis-{key}.pickle"
    if cache.is_file():
        try:
            with cache.open("rb") as handle:
                analysis = pickle.load(handle)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            cache.unlink(missing_ok=True)  # our own cache file, unreadable: recompute
        else:
            with contextlib.suppress(OSError):
                os.utime(cache)  # most recently used
            return analysis
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kept in analysis.warnings
        analysis = analyze_file(path, horizon_days=settings.horizon_days, progress=progress,
                                cache_dir=folder, **options)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(cache, lambda handle: pickle.dump(analysis, handle,
                                                       protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:  # a full or read-only disk: the analysis is still the answer
        return analysis
    # the least recently used, and temporary files of writes that were killed
    for stale in least_recently_used(folder, "analysis-*.pickle", KEEP_ANALYSES) \
            + leftovers(folder, ".analysis-*.pickle.*"):
        stale.unlink(missing_ok=True)
    return analysis


def embedder_for(settings: Settings) -> Embedder:
    """The embedder the settings name (``ADVISOR_EMBEDDINGS``, ``ADVISOR_EMBEDDING_MODEL``)."""
    return make_embedder(settings.embeddings, api_key=settings.api_key or None,
                         base_url=settings.base_url or None, model=settings.embedding_model)


def knowledge_base(settings: Settings) -> KnowledgeBase:
    """The playbook index under ``ADVISOR_HOME``, built on first use."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    kb = KnowledgeBase(settings.home, embedder_for(settings))
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
