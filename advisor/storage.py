"""Saved campaign plans and chat transcripts, in one SQLite file in the workspace.

:class:`PlanStore` keeps ``home / "advisor.sqlite3"``: the plans a marketer saved (the plan's
numbers, the advisor's words and citations, the Markdown shown to the user, and the audience
list), and every chat message by session. Nothing a user saved is lost on restart.

Every call opens its own short-lived connection, so one store can be shared by the Gradio
worker threads; writes take the write lock up front (``BEGIN IMMEDIATE``) and wait up to
``timeout`` seconds for another writer. The file is in WAL mode, so readers never block.

The schema is versioned with ``PRAGMA user_version``. ``MIGRATIONS[i]`` takes a database from
version ``i`` to ``i + 1``; they run in one transaction when a store opens an older file. To
add a column: add it to :data:`_TABLES` (with a default) and append :func:`_complete_schema`,
or a function that also backfills it, to ``MIGRATIONS``. Existing rows are kept as they are.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import repeat
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from analytics import outputs
from analytics.errors import RetentionError

__all__ = [
    "DATABASE_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "PlanNotFoundError",
    "PlanStore",
    "StorageError",
    "StoredPlan",
    "write_atomic",
]

DATABASE_NAME = "advisor.sqlite3"
STATUSES = ("draft", "saved")
FIRST_PLAN_HINT = 'retention-advisor ask "draft a win-back campaign for At Risk customers"'
# Audience columns kept per customer, besides customer_id and group: (frame column, SQL type).
AUDIENCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rfm_segment", "TEXT"),
    ("churn_probability", "REAL"),
    ("predicted_clv", "REAL"),
    ("revenue_at_risk", "REAL"),
    # the e-mail address or name a pseudonymous customer_id stands for (Analysis.contacts)
    ("contact", "TEXT"),
)
LIST_COLUMNS = ["id", "name", "segment", "status", "created_at", "updated_at", "source",
                "as_of", "audience_size", "discount", "expected_cost"]


class StorageError(RetentionError):
    """The database cannot be opened or used; the message names the file and what to do."""


class PlanNotFoundError(RetentionError):
    """No saved plan has the id asked for; the message lists the ids there are."""


@dataclass(frozen=True)
class StoredPlan:
    """A saved plan as read back: the plan dict (numbers, text, citations) and its Markdown."""

    id: int
    name: str
    segment: str
    status: str
    created_at: str
    updated_at: str
    source: str
    as_of: str
    plan: dict[str, Any]
    markdown: str


# Per table: its columns, its table constraints, and table options. Columns added after
# the first release need a DEFAULT (or to be nullable) so ALTER TABLE can add them to
# existing rows; constraints cannot be added later.
_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "plans": ((
        "id INTEGER PRIMARY KEY AUTOINCREMENT",  # ids are never reused after a delete
        "created_at TEXT NOT NULL DEFAULT ''",
        "updated_at TEXT NOT NULL DEFAULT ''",
        "name TEXT NOT NULL DEFAULT ''",
        "segment TEXT NOT NULL DEFAULT ''",
        "status TEXT NOT NULL DEFAULT 'saved'",
        "source TEXT NOT NULL DEFAULT ''",
        "as_of TEXT NOT NULL DEFAULT ''",
        "plan_json TEXT NOT NULL DEFAULT '{}'",
        "markdown TEXT NOT NULL DEFAULT ''",
    ), (), ""),
    "plan_audience": ((
        "plan_id INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE",
        "position INTEGER NOT NULL",
        "customer_id TEXT NOT NULL",
        "grp TEXT",
        *(f"{name} {kind}" for name, kind in AUDIENCE_COLUMNS),
    ), ("PRIMARY KEY (plan_id, position)",), "WITHOUT ROWID"),
    "transcripts": ((
        "id INTEGER PRIMARY KEY AUTOINCREMENT",
        "session_id TEXT NOT NULL",
        "created_at TEXT NOT NULL DEFAULT ''",
        "role TEXT NOT NULL DEFAULT ''",
        "content TEXT NOT NULL DEFAULT ''",
        "tool_calls_json TEXT",
        "dataset TEXT NOT NULL DEFAULT ''",  # the app's dataset key the exchange was about
    ), (), ""),
}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS transcripts_session ON transcripts (session_id, id)",
)


def _complete_schema(conn: sqlite3.Connection) -> None:
    """Create missing tables and indexes, and add the columns an older table lacks."""
    for table, (columns, constraints, options) in _TABLES.items():
        body = ", ".join((*columns, *constraints))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({body}) {options}")
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    for statement in _INDEXES:
        conn.execute(statement)


# MIGRATIONS[i] takes the schema from version i to i + 1.
# Version 2 adds transcripts.dataset, version 3 plan_audience.contact.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_complete_schema,
                                                                _complete_schema,
                                                                _complete_schema)
SCHEMA_VERSION = len(MIGRATIONS)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot save a {type(value).__name__} in a plan: {value!r}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _slug(name: str) -> str:
    slug = re.sub(r"[^\w]+", "-", name.lower()).strip("-_")
    return slug[:60].rstrip("-_") or "plan"


def _texts(values: pd.Series) -> list[str | None]:
    """Each value as text, None where it is missing (converted as a column: a 200,000
    customers' audience took 0.35 s value by value)."""
    missing = values.isna().to_numpy()
    texts = values.astype(str).to_numpy(dtype=object).tolist()  # Arrow's tolist: 5x slower
    if missing.any():
        texts = [None if gone else text for text, gone in zip(texts, missing, strict=True)]
    return texts


def _audience_rows(plan_id: int, audience: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    """Rows for ``plan_audience``: ids from a ``customer_id`` column, else from the index."""
    ids = audience["customer_id"] if "customer_id" in audience else audience.index.to_series()
    customer_ids = _texts(ids)
    if None in customer_ids:
        raise ValueError(f"the audience has {customer_ids.count(None)} rows without a "
                         "customer_id; drop them before saving")
    n = len(audience)
    group = audience["group"] if "group" in audience else pd.Series([None] * n, dtype=object)
    columns: list[Sequence[Any]] = [_texts(group)]
    for name, kind in AUDIENCE_COLUMNS:
        if name not in audience:
            columns.append([None] * n)
        elif kind == "REAL":  # NaN is stored as NULL by SQLite
            values = pd.to_numeric(audience[name], errors="coerce").astype("float64")
            columns.append(values.tolist())
        else:
            columns.append(_texts(audience[name]))
    return zip(repeat(plan_id), range(n), customer_ids, *columns, strict=False)


def _render_markdown(stored: StoredPlan) -> str:
    """A plain Markdown rendering of a plan dict, for plans saved without Markdown."""
    plan = stored.plan
    words = plan.get("text")
    text: Mapping[str, Any] = words if isinstance(words, Mapping) else {}
    lines = [f"# {stored.name}", ""]
    for key in ("summary", "subject", "body"):
        if text.get(key):
            label = "Subject: " if key == "subject" else ""
            lines += [f"{label}{text[key]}", ""]
    scalars = {k: v for k, v in plan.items()
               if k not in ("text", "citations", "warnings") and not isinstance(v, (dict, list))}
    if scalars:
        lines += ["| | |", "|---|---|"]
        lines += [f"| {k.replace('_', ' ')} | {_cell(v)} |" for k, v in scalars.items()]
        lines.append("")
    if plan.get("warnings"):
        lines += ["## Warnings", "", *(f"- {w}" for w in plan["warnings"]), ""]
    citations = plan.get("citations") or text.get("citations") or []
    if citations:
        lines += ["## Sources", ""]
        for c in citations:
            parts = [c.get("title"), c.get("section")] if isinstance(c, Mapping) else [c]
            where = f" ({c['source']})" if isinstance(c, Mapping) and c.get("source") else ""
            lines.append(f"- {' — '.join(str(p) for p in parts if p)}{where}")
        lines.append("")
    lines.append(f"_Plan {stored.id}, saved {stored.created_at}, data {stored.source or '-'} "
                 f"as of {stored.as_of or '-'}._")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        text = f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    """Write text through a temporary file in the same folder, flushed to the disk, then
    rename it over ``path`` (:func:`analytics.outputs.write_atomic`, durable)."""
    outputs.write_atomic(path, write, text=True, durable=True)


class PlanStore:
    """Saved plans and chat transcripts in ``home / "advisor.sqlite3"``; thread-safe."""

    def __init__(self, home: Path, *, timeout: float = 10.0) -> None:
        self.home = Path(home)
        self.path = self.home / DATABASE_NAME
        self.timeout = timeout
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the workspace folder {self.home}: {exc}; "
                               "set ADVISOR_HOME to a folder you can write to") from exc
        self._open()

    def __repr__(self) -> str:
        return f"PlanStore({str(self.home)!r})"

    # -- connections and errors -------------------------------------------------------------

    def _error(self, exc: sqlite3.Error) -> StorageError:
        message = str(exc)
        if "not a database" in message or "malformed" in message:
            return StorageError(
                f"{self.path} is not a readable SQLite database ({message}). It was left "
                f"untouched: move it aside (e.g. rename it to {self.path.name}.broken) and "
                "start again to get a new, empty one")
        if "locked" in message or "busy" in message:
            return StorageError(f"{self.path} is locked by another process ({message}) for "
                                f"more than {self.timeout:g} s; try again")
        return StorageError(f"cannot use the database {self.path}: {message}")

    @contextlib.contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction, committed on success and closed in every case."""
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            # Only the database's own failures; IntegrityError and the like are our bugs.
            if isinstance(exc, sqlite3.DatabaseError) and type(exc) in (
                    sqlite3.DatabaseError, sqlite3.OperationalError):
                raise self._error(exc) from exc
            raise
        finally:
            conn.close()

    def _open(self) -> None:
        """Switch to WAL and bring the schema up to :data:`SCHEMA_VERSION`."""
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=self.timeout)) as conn:
                conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        with self._connect(write=True) as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path} was written by a newer Retention Advisor (schema "
                    f"{version}, this one knows {SCHEMA_VERSION}); upgrade, or set "
                    "ADVISOR_HOME to another folder")
            for migrate in MIGRATIONS[version:]:
                migrate(conn)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    def schema_version(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _not_found(self, conn: sqlite3.Connection, plan_id: int) -> PlanNotFoundError:
        ids = [row[0] for row in conn.execute("SELECT id FROM plans ORDER BY id")]
        if not ids:
            return PlanNotFoundError(f"no saved plan {plan_id}: there are no saved plans yet; "
                                     f"draft one with: {FIRST_PLAN_HINT}")
        shown = ", ".join(map(str, ids[:30])) + (f" and {len(ids) - 30} more"
                                                 if len(ids) > 30 else "")
        return PlanNotFoundError(f"no saved plan {plan_id}; the saved plans are {shown}")

    def _require(self, conn: sqlite3.Connection, plan_id: int) -> None:
        if conn.execute("SELECT 1 FROM plans WHERE id = ?", (plan_id,)).fetchone() is None:
            raise self._not_found(conn, plan_id)

    # -- plans ---------------------------------------------------------------------------

    def save_plan(
        self,
        plan: Mapping[str, Any],
        audience: pd.DataFrame | None = None,
        *,
        name: str | None = None,
        markdown: str = "",
        source: str = "",
        as_of: str = "",
        status: Literal["draft", "saved"] = "saved",
    ) -> int:
        """Save a plan dict and its audience in one transaction; returns the new plan id.

        ``plan`` is ``CampaignPlan.to_dict()`` plus the advisor's ``text`` and
        ``citations``; ``audience`` is indexed by (or has a column) ``customer_id``.
        """
        _check_status(status)
        segment = str(plan.get("segment") or "")
        plan_json = _dumps(dict(plan))
        name = name or f"{segment or 'Campaign'} plan {datetime.now(UTC):%Y-%m-%d}"
        now = _now()
        columns = ", ".join(name for name, _ in AUDIENCE_COLUMNS)
        marks = ", ".join("?" * (4 + len(AUDIENCE_COLUMNS)))
        with self._connect(write=True) as conn:
            cursor = conn.execute(
                "INSERT INTO plans (created_at, updated_at, name, segment, status, source, "
                "as_of, plan_json, markdown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, now, name, segment, status, str(source), str(as_of), plan_json,
                 markdown))
            plan_id = int(cursor.lastrowid or 0)
            if audience is not None and len(audience):
                conn.executemany(
                    f"INSERT INTO plan_audience (plan_id, position, customer_id, grp, "
                    f"{columns}) VALUES ({marks})", _audience_rows(plan_id, audience))
        return plan_id

    def update_plan(
        self,
        plan_id: int,
        *,
        plan: Mapping[str, Any] | None = None,
        markdown: str | None = None,
        name: str | None = None,
        status: Literal["draft", "saved"] | None = None,
    ) -> StoredPlan:
        """Change what is given and keep the rest, including the audience."""
        changes: dict[str, Any] = {}
        if plan is not None:
            changes["plan_json"] = _dumps(dict(plan))
            if plan.get("segment"):
                changes["segment"] = str(plan["segment"])
        if markdown is not None:
            changes["markdown"] = markdown
        if name is not None:
            changes["name"] = name
        if status is not None:
            changes["status"] = _check_status(status)
        with self._connect(write=True) as conn:
            self._require(conn, plan_id)
            if changes:
                changes["updated_at"] = _now()
                # Column names come from the fixed keys above, values are bound.
                assignments = ", ".join(f"{column} = ?" for column in changes)
                conn.execute(f"UPDATE plans SET {assignments} WHERE id = ?",
                             (*changes.values(), plan_id))
        return self.get_plan(plan_id)

    def list_plans(self) -> pd.DataFrame:
        """One row per saved plan, newest first, with its headline numbers."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, name, segment, status, created_at, updated_at, source, as_of, "
                "plan_json, (SELECT COUNT(*) FROM plan_audience a WHERE a.plan_id = p.id) "
                "FROM plans p ORDER BY id DESC").fetchall()
        records = []
        for *fields, plan_json, stored_rows in rows:
            numbers = _loads(plan_json)
            size = numbers.get("audience_size")
            records.append([*fields, int(size) if isinstance(size, (int, float)) else stored_rows,
                            _float(numbers.get("discount")),
                            _float(numbers.get("expected_cost"))])
        frame = pd.DataFrame(records, columns=LIST_COLUMNS)
        return frame.astype({"id": "int64", "audience_size": "int64", "discount": "float64",
                             "expected_cost": "float64"})

    def get_plan(self, plan_id: int) -> StoredPlan:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, name, segment, status, created_at, updated_at, source, as_of, "
                "plan_json, markdown FROM plans WHERE id = ?", (plan_id,)).fetchone()
            if row is None:
                raise self._not_found(conn, plan_id)
        id_, name, segment, status, created_at, updated_at, source, as_of, plan_json, text = row
        return StoredPlan(id=id_, name=name, segment=segment, status=status,
                          created_at=created_at, updated_at=updated_at, source=source,
                          as_of=as_of, plan=_loads(plan_json), markdown=text)

    def plan_audience(self, plan_id: int, columns: Sequence[str] | None = None
                      ) -> pd.DataFrame:
        """The saved audience in its saved order, indexed by customer_id (as text):
        ``group`` and the ``AUDIENCE_COLUMNS``, or only those named in ``columns`` (reading
        the groups alone of 500,000 customers takes a third of the time)."""
        kinds = {"group": "str", **{name: ("float64" if kind == "REAL" else "str")
                                    for name, kind in AUDIENCE_COLUMNS}}
        names = list(kinds) if columns is None else list(columns)
        if unknown := [name for name in names if name not in kinds]:
            raise ValueError(f"an audience has no column {', '.join(map(repr, unknown))}; "
                             f"it has {', '.join(kinds)}")
        stored = ", ".join("grp" if name == "group" else name for name in names)
        with self._connect() as conn:
            self._require(conn, plan_id)
            rows = conn.execute(
                f"SELECT customer_id{', ' if names else ''}{stored} FROM plan_audience "
                "WHERE plan_id = ? ORDER BY position", (plan_id,)).fetchall()
        frame = pd.DataFrame(rows, columns=["customer_id", *names])
        frame = frame.astype({"customer_id": "str", **{name: kinds[name] for name in names}})
        return frame.set_index("customer_id")

    def delete_plan(self, plan_id: int) -> None:
        with self._connect(write=True) as conn:
            self._require(conn, plan_id)
            conn.execute("DELETE FROM plan_audience WHERE plan_id = ?", (plan_id,))
            conn.execute("DELETE FROM plans WHERE id = ?", (plan_id,))

    def export_plan(self, plan_id: int, folder: Path) -> tuple[Path, Path]:
        """Write ``plan-<id>-<slug>.md`` and ``plan-<id>-<slug>-audience.csv`` into folder."""
        stored = self.get_plan(plan_id)
        audience = self.plan_audience(plan_id)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"plan-{plan_id}-{_slug(stored.name)}"
        markdown_path = folder / f"{stem}.md"
        csv_path = folder / f"{stem}-audience.csv"
        text = stored.markdown or _render_markdown(stored)
        if audience["contact"].isna().all():  # ids that are the shop's own: nothing to add
            audience = audience.drop(columns="contact")
        audience = audience.round(6)  # as the analysis's own tables are written
        write_atomic(markdown_path, lambda handle: handle.write(text))
        write_atomic(csv_path, lambda handle: audience.reset_index().to_csv(handle, index=False))
        return markdown_path, csv_path

    # -- transcripts ---------------------------------------------------------------------

    def add_message(
        self,
        session_id: str,
        role: str,
        content: str,
        tool_calls: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        dataset: str = "",
    ) -> int:
        """Append a chat message to a session (about ``dataset``, if given); returns its id."""
        if not session_id:
            raise ValueError("session_id must be a non-empty string")
        calls = None if tool_calls is None else _dumps(tool_calls)
        with self._connect(write=True) as conn:
            cursor = conn.execute(
                "INSERT INTO transcripts (session_id, created_at, role, content, "
                "tool_calls_json, dataset) VALUES (?, ?, ?, ?, ?, ?)",
                (str(session_id), _now(), role, content, calls, dataset))
            return int(cursor.lastrowid or 0)

    def transcript(self, session_id: str, dataset: str | None = None) -> list[dict[str, Any]]:
        """A session's messages (about ``dataset`` only, when given) in the order they were
        added ([] for an unknown session)."""
        query = ("SELECT id, created_at, role, content, tool_calls_json, dataset FROM transcripts "
                 "WHERE session_id = ?")
        args: tuple[str, ...] = (str(session_id),)
        if dataset is not None:
            query, args = query + " AND dataset = ?", (*args, dataset)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY id", args).fetchall()
        return [{"id": id_, "created_at": created, "role": role, "content": content,
                 "tool_calls": None if calls is None else json.loads(calls), "dataset": dataset}
                for id_, created, role, content, calls, dataset in rows]

    def sessions(self) -> list[str]:
        """Session ids, the most recently active first."""
        with self._connect() as conn:
            rows = conn.execute("SELECT session_id FROM transcripts GROUP BY session_id "
                                "ORDER BY MAX(id) DESC").fetchall()
        return [row[0] for row in rows]


def _check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    return status


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {"value": value}


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan
