"""The retention playbook as a searchable knowledge base, for grounded and cited advice.

The playbook is a folder of Markdown files (``prompts/playbook/*.md``), each with YAML front
matter (``title``, ``tactic``, ``segments``, ``channels``, ``summary``) and ``##`` sections.
:func:`load_playbook` cuts it into passages, one per section (long sections at paragraph
boundaries), each carrying its title and heading so it retrieves and reads well alone.

:class:`KnowledgeBase` keeps the passages' vectors in a persistent Chroma collection under
``home/knowledge``. The collection is named after a fingerprint of the playbook files, the
chunking version and the embedder, so it is rebuilt only when one of them changes. A build
happens under a file lock into a temporary collection that is renamed when complete, so two
processes sharing a home never see, or both write, a half-built index.

The bundled playbook's vectors for the local model ship beside it
(``prompts/playbook_vectors.npz``, keyed by each passage's text): a first build then embeds
only passages that are not among them (a playbook edited or added to). After editing the
bundled playbook, ``python -m advisor.knowledge`` writes that file again.

Heavy libraries (chromadb, sentence-transformers, torch) are imported on first use.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics.errors import RetentionError

from .embeddings import Embedder, LocalEmbedder

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = [
    "KnowledgeBase",
    "KnowledgeError",
    "Passage",
    "PlaybookEntry",
    "PlaybookError",
    "lexical_terms",
    "load_playbook",
    "playbook_entries",
    "playbook_folder",
]

MAX_PASSAGE_CHARS = 1200
# Bump when passage text or metadata changes shape, so existing indexes are rebuilt.
CHUNKING_VERSION = "1"
REQUIRED_FIELDS = ("title", "tactic", "segments", "summary")
LIST_FIELDS = ("segments", "channels")
COLLECTION_PREFIX = "playbook-"
LIST_SEPARATOR = ", "


class KnowledgeError(RetentionError):
    """The knowledge base cannot be built or searched; the message says why."""


class PlaybookError(KnowledgeError):
    """A playbook folder or file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class Passage:
    """A search hit: a playbook passage with where it comes from, for citation."""

    text: str
    source: str
    title: str
    section: str
    score: float
    tactic: str
    segments: tuple[str, ...]
    channels: tuple[str, ...] = ()

    @property
    def citation(self) -> str:
        return f"{self.title} — {self.section} ({self.source})"


@dataclass(frozen=True)
class PlaybookEntry:
    """One playbook document, as listed to a user."""

    source: str
    title: str
    tactic: str
    segments: tuple[str, ...]
    channels: tuple[str, ...]
    summary: str


# ---------------------------------------------------------------------------------------------
# Reading and chunking the playbook


def playbook_folder() -> Traversable:
    """The playbook shipped with the package (works from an installed wheel too)."""
    return files("prompts") / "playbook"


def _as_folder(folder: str | Path | Traversable | None) -> Traversable:
    if folder is None:
        return playbook_folder()
    return Path(folder) if isinstance(folder, str) else folder


def _read_files(folder: str | Path | Traversable | None) -> list[tuple[str, bytes]]:
    """``(file name, content)`` of every ``*.md`` file, sorted by name."""
    root = _as_folder(folder)
    if not root.is_dir():
        raise PlaybookError(f"Playbook folder {root} does not exist.")
    found = sorted(
        (item.name, item.read_bytes())
        for item in root.iterdir()
        if item.name.endswith(".md") and item.is_file()
    )
    if not found:
        raise PlaybookError(
            f"Playbook folder {root} holds no documents: add Markdown files (*.md) with "
            "front matter (title, tactic, segments, channels, summary)."
        )
    return found


def _decode(source: str, content: bytes) -> str:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlaybookError(f"{source}: not UTF-8 text ({exc}); save it as UTF-8.") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    """Split a document into its validated front matter and its Markdown body."""
    import yaml

    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise PlaybookError(
            f"{source}: no front matter. The file must start with a '---' line, then "
            f"{', '.join(REQUIRED_FIELDS)} and channels as YAML, then a closing '---' line."
        )
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "..."))
    except StopIteration:
        raise PlaybookError(f"{source}: the front matter has no closing '---' line.") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{source}: the front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise PlaybookError(f"{source}: the front matter must be 'key: value' lines.")
    return _check_fields(meta, source), "\n".join(lines[end + 1 :])


def _check_fields(meta: dict[str, Any], source: str) -> dict[str, Any]:
    missing = [name for name in REQUIRED_FIELDS if not meta.get(name)]
    if missing:
        raise PlaybookError(f"{source}: the front matter lacks {', '.join(missing)}.")
    checked = dict(meta)
    for name in ("title", "tactic", "summary"):
        if not isinstance(meta[name], str):
            raise PlaybookError(f"{source}: front matter '{name}' must be text.")
        checked[name] = " ".join(meta[name].split())
    for name in LIST_FIELDS:
        value = meta.get(name) or []
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise PlaybookError(
                f"{source}: front matter '{name}' must be a list of names, "
                f"like {name}: [At Risk, Hibernating]."
            )
        checked[name] = tuple(v.strip() for v in value)
    return checked


def split_sections(body: str) -> list[tuple[str, str]]:
    """``(heading, text)`` per ``##`` section; text before the first one is "Overview"."""
    sections: list[tuple[str, list[str]]] = [("Overview", [])]
    in_code = False
    for line in body.split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        if not in_code and re.match(r"##(?!#)\s*\S", line):
            sections.append((line[2:].strip(), []))
        elif not in_code and not sections[-1][1] and re.match(r"#(?!#)\s", line):
            continue  # a leading "# Title" repeats the front matter title
        else:
            sections[-1][1].append(line)
    return [(heading, "\n".join(lines).strip()) for heading, lines in sections]


# Boundaries to cut a long section at, coarsest first, each with the text that rejoins it.
_BOUNDARIES = ((r"\n\s*\n", "\n\n"), (r"\n", "\n"), (r"(?<=[.!?。！？])\s*", " "))


def split_long(text: str, max_chars: int = MAX_PASSAGE_CHARS) -> list[str]:
    """Cut text at paragraph (then line, then sentence) boundaries into pieces of at most
    about ``max_chars``; a single sentence longer than that stays whole."""
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    units, joiner = _units(text)
    if len(units) == 1:
        return units
    pieces: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current}{joiner}{unit}" if current else unit
        if current and len(candidate) > max_chars:
            pieces.append(current)
            candidate = unit
        current = candidate
    pieces.append(current)
    return [part for piece in pieces for part in split_long(piece, max_chars)]


def _units(text: str) -> tuple[list[str], str]:
    """The text cut at its coarsest boundary kind that occurs, and that boundary's joiner."""
    for pattern, joiner in _BOUNDARIES:
        units = [u.strip() for u in re.split(pattern, text) if u.strip()]
        if len(units) > 1:
            return units, joiner
    return [text], ""


def _passages(meta: dict[str, Any], body: str, source: str) -> list[tuple[str, str]]:
    """``(section, passage text)`` for one document, title and heading included."""
    out: list[tuple[str, str]] = []
    for heading, text in split_sections(body):
        if heading == "Overview":
            text = f"{meta['summary']}\n\n{text}".strip()
        for piece in split_long(text, MAX_PASSAGE_CHARS):
            out.append((heading, f"{meta['title']} — {heading}\n\n{piece}"))
    if not out:
        raise PlaybookError(f"{source}: the document has no text.")
    return out


def _parse(source: str, content: bytes) -> tuple[dict[str, Any], str]:
    return parse_front_matter(_decode(source, content), source)


def load_playbook(folder: str | Path | Traversable | None = None) -> list[Document]:
    """The playbook's passages as LangChain documents with scalar metadata (Chroma-ready):
    source, title, section, tactic, segments and channels (comma-joined), position."""
    return _documents(_read_files(folder))


def _documents(contents: Iterable[tuple[str, bytes]]) -> list[Document]:
    from langchain_core.documents import Document

    documents = []
    for source, content in contents:
        meta, body = _parse(source, content)
        for position, (section, text) in enumerate(_passages(meta, body, source)):
            metadata = {
                "source": source,
                "title": meta["title"],
                "section": section,
                "tactic": meta["tactic"],
                "segments": LIST_SEPARATOR.join(meta["segments"]),
                "channels": LIST_SEPARATOR.join(meta["channels"]),
                "position": position,
            }
            documents.append(
                Document(page_content=text, metadata=metadata, id=f"{source}#{position}")
            )
    return documents


def playbook_entries(folder: str | Path | Traversable | None = None) -> list[PlaybookEntry]:
    """Title, tactic, segments, channels and summary of every playbook document."""
    entries = []
    for source, content in _read_files(folder):
        meta, _ = _parse(source, content)
        entries.append(
            PlaybookEntry(
                source=source,
                title=meta["title"],
                tactic=meta["tactic"],
                segments=meta["segments"],
                channels=meta["channels"],
                summary=meta["summary"],
            )
        )
    return entries


SHIPPED_VECTORS = "playbook_vectors.npz"  # in the prompts package


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shipped_vectors(embedder_name: str) -> dict[str, list[float]]:
    """The bundled playbook's passage vectors by ``_text_key``, when they were made by
    ``embedder_name``; else none."""
    import numpy as np

    shipped = files("prompts") / SHIPPED_VECTORS
    if not shipped.is_file():
        return {}
    with shipped.open("rb") as handle, np.load(handle) as data:
        if str(data["embedder"]) != embedder_name:
            return {}
        return dict(zip(data["keys"].tolist(), data["vectors"].tolist(), strict=True))


def embed_passages(embedder: Embedder, texts: list[str]) -> list[list[float]]:
    """The passages' vectors: the shipped ones where the text and the embedder are the
    same, the embedder's for the others (embedding the bundled playbook took about 7 s)."""
    known = shipped_vectors(embedder.name)
    missing = list(dict.fromkeys(t for t in texts if _text_key(t) not in known))
    known.update(zip(map(_text_key, missing), embedder.embed(missing) if missing else [],
                     strict=True))
    return [known[_text_key(t)] for t in texts]


def write_shipped_vectors(embedder: Embedder | None = None, path: Path | None = None) -> Path:
    """Embed the bundled playbook and write its vectors where ``shipped_vectors`` reads
    them (default: into the prompts package of this checkout)."""
    import numpy as np

    embedder = embedder if embedder is not None else LocalEmbedder()
    texts = list(dict.fromkeys(doc.page_content for doc in load_playbook()))
    target = path if path is not None else Path(str(files("prompts"))) / SHIPPED_VECTORS
    np.savez_compressed(target, keys=np.array([_text_key(t) for t in texts]),
                        vectors=np.asarray(embedder.embed(texts), dtype=np.float32),
                        embedder=np.array(embedder.name))
    return target


def playbook_fingerprint(contents: Iterable[tuple[str, bytes]], embedder_name: str) -> str:
    """A digest that changes when any file, the chunking or the embedder changes."""
    digest = hashlib.sha256(f"{CHUNKING_VERSION}\0{embedder_name}\0".encode())
    for name, content in contents:
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Lexical scoring: catches exact terms the embedding misses, such as the playbook's Chinese
# aliases (the local model is English-only) and product words like "618" or "BG/NBD".

_STOPWORDS = frozenset(
    (  # noqa: SIM905 (a word list reads better as one string)
        "a an and are as at be by can do does for from how i if in into is it its of on or our "
        "should than that the their them then there they this to we what when which who why "
        "with you your"
    ).split()
)
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def lexical_terms(text: str) -> list[str]:
    """English words (lower-cased, plural "s" dropped, stop words out) and CJK bigrams."""
    text = text.casefold()
    words = [
        word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        for word in re.findall(r"[a-z0-9]+", text)
        if word not in _STOPWORDS
    ]
    for run in _CJK_RUN.findall(text):
        words.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return words


class _Bm25:
    """Okapi BM25 over the passages, in memory: a playbook has hundreds, not millions."""

    def __init__(self, texts: dict[str, str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.counts = {pid: Counter(lexical_terms(text)) for pid, text in texts.items()}
        self.lengths = {pid: sum(c.values()) for pid, c in self.counts.items()}
        self.mean_length = sum(self.lengths.values()) / max(1, len(self.lengths))
        frequency = Counter(term for c in self.counts.values() for term in c)
        n = len(self.counts)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}

    def scores(self, query: str) -> dict[str, float]:
        terms = [t for t in set(lexical_terms(query)) if t in self.idf]
        out: dict[str, float] = {}
        for pid, counts in self.counts.items():
            norm = self.k1 * (1 - self.b + self.b * self.lengths[pid] / self.mean_length)
            score = sum(
                self.idf[t] * counts[t] * (self.k1 + 1) / (counts[t] + norm)
                for t in terms
                if t in counts
            )
            if score > 0:
                out[pid] = score
        return out


# ---------------------------------------------------------------------------------------------
# The persistent index


def _split_list(value: Any) -> tuple[str, ...]:
    return tuple(v for v in str(value or "").split(LIST_SEPARATOR) if v)


def _norm(name: str) -> str:
    return " ".join(name.casefold().replace("_", " ").replace("-", " ").split())


class KnowledgeBase:
    """The playbook in a persistent Chroma collection under ``home/knowledge``.

    ``embedder`` defaults to the local offline model; ``folder`` to the bundled playbook.
    A passage's score is its cosine similarity to the query, plus up to ``lexical_weight``
    for shared terms (BM25, scaled so the best lexical match gets the full weight), plus
    ``segment_boost`` when it was written for the segment a search asks about. With the
    local model, the lexical part lifted the top-3 hit rate on the playbook question set
    from 87% to 100%, mostly on questions asked in Chinese; any weight from 0.2 to 0.5
    did as well.
    """

    # Nearest passages fetched from Chroma per search; lexical hits beyond them still count.
    dense_candidates = 200

    def __init__(
        self,
        home: Path,
        embedder: Embedder | None = None,
        folder: str | Path | Traversable | None = None,
        *,
        lexical_weight: float = 0.3,
        segment_boost: float = 0.05,
    ) -> None:
        self.home = Path(home)
        self.embedder = embedder if embedder is not None else LocalEmbedder()
        self.folder = folder
        self.lexical_weight = lexical_weight
        self.segment_boost = segment_boost
        self.path = self.home / "knowledge"
        self._client: Any = None
        self._collection: Any = None
        self._passages: dict[str, Document] = {}
        self._bm25: _Bm25 | None = None

    def documents(self) -> list[PlaybookEntry]:
        """The playbook documents (title, source, tactic, segments, summary)."""
        return playbook_entries(self.folder)

    def ensure_index(self) -> bool:
        """Build the index if the playbook or the embedder changed; True if it built."""
        contents = _read_files(self.folder)
        documents = _documents(contents)  # validates every file before any write
        name = COLLECTION_PREFIX + playbook_fingerprint(contents, self.embedder.name)[:40]
        from chromadb.errors import NotFoundError
        from filelock import FileLock

        self.path.mkdir(parents=True, exist_ok=True)
        with FileLock(self.path / "index.lock"):
            client = self._chroma()
            try:
                collection = client.get_collection(name, embedding_function=None)
                rebuilt = False
            except NotFoundError:
                collection = self._build(client, name, documents)
                rebuilt = True
            self._drop_other_collections(client, keep=name)
        self._passages = {str(doc.id): doc for doc in documents}
        self._bm25 = _Bm25({pid: doc.page_content for pid, doc in self._passages.items()})
        self._collection = collection
        return rebuilt

    def _chroma(self) -> Any:
        if self._client is None:
            import chromadb
            from chromadb.config import Settings

            try:
                self._client = chromadb.PersistentClient(
                    path=str(self.path), settings=Settings(anonymized_telemetry=False)
                )
            except Exception as exc:
                raise KnowledgeError(
                    f"Cannot open the knowledge index in {self.path}: {exc}. It is rebuilt from "
                    "the playbook on the next start if you delete that folder."
                ) from exc
        return self._client

    def _build(self, client: Any, name: str, documents: Sequence[Document]) -> Any:
        """Fill a temporary collection, then rename it: the final name means complete."""
        staging = f"building-{name}"
        self._delete_if_present(client, staging)
        collection = client.create_collection(
            staging,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedder": self.embedder.name},
            embedding_function=None,
        )
        vectors = embed_passages(self.embedder, [doc.page_content for doc in documents])
        step = max(1, min(client.get_max_batch_size(), 1000))
        for start in range(0, len(documents), step):
            batch = documents[start : start + step]
            collection.add(
                ids=[str(doc.id) for doc in batch],
                embeddings=vectors[start : start + step],
                documents=[doc.page_content for doc in batch],
                metadatas=[doc.metadata for doc in batch],
            )
        collection.modify(name=name)
        return collection

    @staticmethod
    def _delete_if_present(client: Any, name: str) -> None:
        from chromadb.errors import NotFoundError

        with suppress(NotFoundError):
            client.delete_collection(name)

    @staticmethod
    def _drop_other_collections(client: Any, keep: str) -> None:
        """Remove indexes of older playbooks and builds that crashed half-way."""
        for collection in client.list_collections():
            if collection.name != keep and collection.name.startswith(
                (COLLECTION_PREFIX, "building-")
            ):
                client.delete_collection(collection.name)

    def warm_up(self) -> None:
        """Load the embedding model with a first search, so the first question is quick."""
        self.search("win back lapsed customers", k=1)

    def search(
        self,
        query: str,
        k: int = 4,
        segment: str | None = None,
        max_per_source: int | None = None,
    ) -> list[Passage]:
        """The ``k`` passages that best answer ``query``, best first, with their source.

        ``segment`` (e.g. "At Risk") ranks passages written for that segment higher;
        ``max_per_source`` limits how many passages one document may contribute.
        """
        if not query.strip() or k < 1:
            return []
        if self._collection is None:
            self.ensure_index()
        from chromadb.errors import NotFoundError

        [vector] = self.embedder.embed([query])
        try:
            dense = self._dense(vector)
        except NotFoundError:  # another process rebuilt the index for a newer playbook
            self.ensure_index()
            dense = self._dense(vector)
        scores = self._combine(dense, query, segment)
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)
        hits = [self._passage(pid, scores[pid]) for pid in ranked if pid in self._passages]
        return _limit_per_source(hits, max_per_source)[:k]

    def _dense(self, vector: list[float]) -> dict[str, float]:
        """Cosine similarity of the nearest passages, by passage id."""
        n = min(self.dense_candidates, self._collection.count())
        if n == 0:
            return {}
        result = self._collection.query(
            query_embeddings=[vector], n_results=n, include=["distances"]
        )
        return {
            pid: 1.0 - float(distance)
            for pid, distance in zip(result["ids"][0], result["distances"][0], strict=True)
        }

    def _combine(
        self, dense: dict[str, float], query: str, segment: str | None
    ) -> dict[str, float]:
        lexical = self._bm25.scores(query) if self._bm25 else {}
        best = max(lexical.values(), default=0.0)
        floor = min(dense.values(), default=0.0)  # for lexical hits beyond the dense list
        scores = {
            pid: dense.get(pid, floor) + self.lexical_weight * lexical.get(pid, 0.0) / (best or 1)
            for pid in dense.keys() | lexical.keys()
        }
        if segment:
            wanted = _norm(segment)
            for pid, doc in self._passages.items():
                if pid in scores and wanted in map(_norm, _split_list(doc.metadata["segments"])):
                    scores[pid] += self.segment_boost
        return scores

    def _passage(self, pid: str, score: float) -> Passage:
        doc = self._passages[pid]
        meta = doc.metadata
        return Passage(
            text=doc.page_content,
            source=meta["source"],
            title=meta["title"],
            section=meta["section"],
            score=score,
            tactic=meta["tactic"],
            segments=_split_list(meta["segments"]),
            channels=_split_list(meta["channels"]),
        )


def _limit_per_source(hits: list[Passage], max_per_source: int | None) -> list[Passage]:
    if max_per_source is None:
        return hits
    counts: dict[str, int] = {}
    kept = []
    for hit in hits:
        counts[hit.source] = counts.get(hit.source, 0) + 1
        if counts[hit.source] <= max_per_source:
            kept.append(hit)
    return kept


if __name__ == "__main__":  # python -m advisor.knowledge: after editing the bundled playbook
    print(f"Wrote {write_shipped_vectors()}")
