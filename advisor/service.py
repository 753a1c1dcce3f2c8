"""What the web app does, without the web: datasets, analyses, dashboards, chat, plans.

:class:`AdvisorService` holds one workspace (``ADVISOR_HOME``): the playbook index, the
plan store, the datasets (the bundled sample shop, ``ADVISOR_DATA`` and uploads, which are
copied into ``ADVISOR_HOME/uploads`` and listed in ``datasets.json`` so they survive a
restart) and the analyses loaded so far. Every method returns plain data (DataFrames,
dicts, Markdown); the Gradio handlers in :mod:`advisor.web` only pass values through.
Errors are :class:`~analytics.errors.RetentionError` subclasses with a message to show.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analytics.cache import file_digest
from analytics.charts import cohort_heatmap
from analytics.errors import DataError, RetentionError
from analytics.loading import SUPPORTED_EXTENSIONS, detect_mapping, map_orders, read_table
from analytics.pipeline import Analysis
from analytics.sample import SAMPLE_SHOP_PATH
from analytics.schema import AMOUNT, CANONICAL_COLUMNS, CUSTOMER_ID, ORDER_DATE

from .agent import Advisor, Event, converse, model_label
from .knowledge import KnowledgeBase
from .plans import render_plan
from .settings import Settings
from .storage import PlanStore, write_atomic
from .tools import AdvisorContext, draft_campaign
from .workspace import knowledge_base, load_analysis

__all__ = [
    "UPLOAD_SUFFIXES",
    "AdvisorService",
    "Dataset",
    "Draft",
    "Overview",
    "Preview",
    "UploadError",
]

#: The upload widget's file filter (browsers match one suffix, so any .gz; the service
#: then checks the loaders' SUPPORTED_EXTENSIONS).
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".parquet", ".pq", ".xlsx", ".xlsm", ".xls")
#: Analyses kept in memory at once (the sample shop is small; a big shop is not).
KEEP_LOADED = 3
SAMPLE_KEY = "sample"
_REQUIRED = {CUSTOMER_ID: "yes", ORDER_DATE: "yes",
             AMOUNT: "yes, or quantity and unit_price"}
CONFIGURED_KEY = "configured"


class UploadError(RetentionError):
    """An uploaded file cannot be taken; the message says why and what to do."""


@dataclass
class Dataset:
    """An order log the app can analyse, with the options it is read with."""

    key: str
    label: str
    path: str
    mapping: dict[str, str] = field(default_factory=dict)
    sheet: str | None = None
    added_at: str = ""
    date_format: str | None = None


@dataclass
class Preview:
    """An upload before analysis: the detected mapping and a few mapped rows."""

    path: Path
    name: str
    columns: list[str]
    mapping: dict[str, str]
    rows: pd.DataFrame
    notes: list[str]

    def mapping_table(self) -> pd.DataFrame:
        """Every canonical field with the file's column it is read from ('' if none)."""
        return pd.DataFrame({
            "field": list(CANONICAL_COLUMNS),
            "column in your file": [self.mapping.get(c, "") for c in CANONICAL_COLUMNS],
            "required": [_REQUIRED.get(c, "") for c in CANONICAL_COLUMNS],
        })


@dataclass
class Overview:
    """What the Overview tab shows for one analysis."""

    title: str
    kpis: list[tuple[str, str]]
    segments: pd.DataFrame
    churn_by_segment: pd.DataFrame
    clv_distribution: pd.DataFrame
    monthly: pd.DataFrame
    heatmap: Figure
    warnings: list[str]


@dataclass
class Draft:
    """A campaign plan drafted but not saved yet."""

    plan: dict[str, Any]
    audience: pd.DataFrame
    markdown: str
    source: str
    as_of: str


def _prepare(advisor: Advisor) -> None:
    # a failure here is not the user's to see: the question that needs these codes makes
    # them again and reports what is wrong
    with contextlib.suppress(Exception):
        advisor.prepare()


def _mapping_from_table(table: pd.DataFrame | list[list[Any]] | None) -> dict[str, str]:
    """The mapping a user left in the editable table: field → column, blanks skipped."""
    if table is None:
        return {}
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    if frame.empty:
        return {}
    mapping = {}
    for row in frame.itertuples(index=False):
        canonical, header = str(row[0] or "").strip(), str(row[1] or "").strip()
        if canonical and header and header.lower() != "nan":
            mapping[canonical] = header
    return mapping


def _app_hint(message: str) -> str:
    """The loaders speak command-line options; in the app the mapping table does that."""
    if "--map" in message:
        message += (" In the app: type the column's header (its number, in a file without a "
                    "header line) into 'column in your file' for that field in the mapping "
                    "table, then analyse again.")
    if "--sheet" in message:
        message += (" In the app: type the sheet name (or 'all') into the 'Excel sheet' box, "
                    "then upload the file again.")
    if "--date-format" in message:
        message += (" In the app: type the format into the 'Date format' box (strftime "
                    "codes, e.g. %d/%m/%Y %H:%M), then analyse again.")
    return message


@contextmanager
def _in_app_terms() -> Iterator[None]:
    try:
        yield
    except DataError as exc:
        raise DataError(_app_hint(str(exc))) from None


def _money(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def _share(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.1%}"


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "upload"
    return stem[-120:]


class AdvisorService:
    """The app's state and actions over one workspace; safe to share between sessions."""

    def __init__(self, settings: Settings, *, model: Any = None,
                 knowledge: KnowledgeBase | None = None,
                 max_upload_mb: float | None = None) -> None:
        self.settings = settings
        self.home = settings.home
        self.home.mkdir(parents=True, exist_ok=True)
        self.uploads = self.home / "uploads"
        self.exports = self.home / "exports"
        self.store = PlanStore(self.home)
        self.knowledge = knowledge or knowledge_base(settings)
        self.model = model  # a chat model to use instead of the configured one (tests)
        self.max_upload_mb = max_upload_mb or settings.max_upload_mb
        self._loaded: OrderedDict[str, Advisor] = OrderedDict()
        self._overviews: dict[str, Overview] = {}  # of the analyses in _loaded
        self._lock = threading.RLock()

    # -- datasets ----------------------------------------------------------------------

    @property
    def model_label(self) -> str:
        return model_label(self.settings) if self.model is None else type(self.model).__name__

    def _registry_path(self) -> Path:
        return self.uploads / "datasets.json"

    def _uploaded(self) -> list[Dataset]:
        path = self._registry_path()
        if not path.is_file():
            return []
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []  # our own index, unreadable: the files are still in uploads/
        return [Dataset(**e) for e in entries if Path(e.get("path", "")).is_file()]

    def _write_registry(self, datasets: list[Dataset]) -> None:
        self.uploads.mkdir(parents=True, exist_ok=True)
        write_atomic(self._registry_path(),
                     lambda handle: json.dump([asdict(d) for d in datasets], handle, indent=2))

    def datasets(self) -> list[Dataset]:
        """The sample shop, ``ADVISOR_DATA`` if set, then uploads (newest first)."""
        found = [Dataset(SAMPLE_KEY, "Sample shop (bundled)", str(SAMPLE_SHOP_PATH))]
        if self.settings.data is not None:
            found.append(Dataset(CONFIGURED_KEY, f"{self.settings.data.name} (ADVISOR_DATA)",
                                 str(self.settings.data)))
        return found + sorted(self._uploaded(), key=lambda d: d.added_at, reverse=True)

    def default_key(self) -> str:
        return CONFIGURED_KEY if self.settings.data is not None else SAMPLE_KEY

    def dataset(self, key: str) -> Dataset:
        for candidate in self.datasets():
            if candidate.key == key:
                return candidate
        raise DataError(f"no dataset {key!r}; choose one of the datasets listed in the Data tab")

    def receive_upload(self, temp_path: str | Path, name: str | None = None,
                       sheet: str | None = None, date_format: str | None = None) -> Preview:
        """Copy an uploaded file into ``ADVISOR_HOME/uploads`` and preview its mapping
        (``sheet``: the Excel sheet to read, or "all"; ``date_format``: strftime codes)."""
        source = Path(temp_path)
        name = _safe_name(name or source.name)
        if not name.lower().endswith(SUPPORTED_EXTENSIONS):
            raise UploadError(f"{name}: not a CSV, Parquet or Excel file. Upload one of "
                              f"{', '.join(SUPPORTED_EXTENSIONS)}.")
        size_mb = source.stat().st_size / 1e6
        if size_mb > self.max_upload_mb:
            raise UploadError(f"{name} is {size_mb:,.0f} MB; the limit is "
                              f"{self.max_upload_mb:,.0f} MB (ADVISOR_MAX_UPLOAD_MB). Upload "
                              "a shorter period, or analyse it with `retention-advisor "
                              "analyze`.")
        target = self.uploads / file_digest(source).hexdigest()[:12] / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return self.preview(target, sheet=sheet, date_format=date_format)

    def preview(self, path: str | Path, mapping: dict[str, str] | None = None,
                sheet: str | None = None, date_format: str | None = None) -> Preview:
        """The detected (or given) mapping of a file and its first rows in canonical form
        (dates read with ``date_format`` when given)."""
        path = Path(path)
        with _in_app_terms():
            raw = read_table(path, sheet or None)
            head = raw.head(200)
            try:
                resolved = detect_mapping(raw.columns, mapping)
            except DataError as exc:
                raise DataError(f"{path.name}: {exc}") from None
        notes: list[str] = []
        columns = list(raw.columns)
        try:
            mapped = map_orders(head, mapping, (date_format or "").strip() or None,
                                source=path.name)
            rows, notes = mapped.orders.head(8), [_app_hint(n) for n in mapped.notes]
            resolved = mapped.mapping  # without a column that reading set aside (an order total)
            columns = mapped.columns  # below a report's title, if it has one
        except DataError as exc:  # missing required column: show what is there, and why
            rows, notes = head.head(8), [_app_hint(str(exc))]
        return Preview(path, path.name, columns, resolved, rows, notes)

    def analyse_upload(self, path: str | Path, mapping_table: Any = None,
                       sheet: str | None = None,
                       progress: Callable[[str], None] | None = None,
                       date_format: str | None = None) -> Dataset:
        """Analyse an uploaded file with the mapping from the table (and the sheet and date
        format, when given); it becomes a dataset.

        A bad file raises the analytics' own clear error and registers nothing.
        """
        path = Path(path)
        if not path.resolve().is_relative_to(self.uploads.resolve()):
            raise UploadError("only files uploaded into the workspace can be analysed here")
        mapping = _mapping_from_table(mapping_table)
        sheet = (sheet or "").strip() or None
        date_format = (date_format or "").strip() or None
        options: tuple[Any, ...] = (path.name, sorted(mapping.items()), sheet)
        if date_format:  # uploads registered before the date format keep their keys
            options += (date_format,)
        key = hashlib.sha256(repr(options).encode()).hexdigest()[:12]
        dataset = Dataset(key, path.name, str(path), mapping, sheet,
                          datetime.now(UTC).isoformat(timespec="seconds"), date_format)
        with _in_app_terms():
            self._load(dataset, progress)  # raises on bad data: nothing registered
        with self._lock:  # two sessions may finish an upload at once
            others = [d for d in self._uploaded() if d.key != key]
            self._write_registry([dataset, *others])
        return dataset

    def _cached(self, key: str) -> Advisor | None:
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        return None

    def _load(self, dataset: Dataset, progress: Callable[[str], None] | None = None) -> Advisor:
        cached = self._cached(dataset.key)
        if cached is not None:
            return cached
        analysis = load_analysis(self.settings, Path(dataset.path), progress=progress,
                                 mapping=dataset.mapping or None, sheet=dataset.sheet,
                                 date_format=dataset.date_format)
        context = AdvisorContext(analysis=analysis, knowledge=self.knowledge, store=self.store)
        advisor = Advisor(context, self.settings, model=self.model)
        with self._lock:
            self._loaded[dataset.key] = advisor
            while len(self._loaded) > KEEP_LOADED:
                evicted, _ = self._loaded.popitem(last=False)
                self._overviews.pop(evicted, None)
        # while the user reads the overview and types: the first product question on a
        # 10M-line shop then answers in a fraction of a second instead of about 5 s
        threading.Thread(target=_prepare, args=(advisor,), daemon=True,
                         name="advisor-prepare").start()
        return advisor

    def warm_up(self) -> None:
        """Load the embedding model with a first search, so the first question is quick."""
        self.knowledge.warm_up()

    def advisor(self, key: str, progress: Callable[[str], None] | None = None) -> Advisor:
        """The advisor over a dataset's analysis (analysed on first use, then cached)."""
        return self._cached(key) or self._load(self.dataset(key), progress)

    def analysis(self, key: str) -> Analysis:
        return self.advisor(key).context.analysis

    # -- chat --------------------------------------------------------------------------

    @staticmethod
    def new_session_id() -> str:
        return uuid.uuid4().hex

    def ask(self, key: str, session_id: str, question: str) -> Iterator[Event]:
        """Stream the answer's events; the exchange is saved to the session's transcript.

        The question is saved first and the answer when the stream ends, also when it is
        cut short (the browser reloaded or went away): what was said so far is kept. After a
        restart the saved exchanges about this dataset go back to the model with the next
        question, so a follow-up keeps its context.
        """
        def answer(history: Callable[[], list[dict[str, Any]]]) -> Iterator[Event]:
            try:
                advisor = self.advisor(key)
            except RetentionError as exc:  # the dataset could not be loaded
                yield Event("error", content=str(exc))
                return
            yield from advisor.stream(question, session_id=f"{session_id}:{key}",
                                      history=history)

        return converse(self.store, session_id, key, question, answer)

    def transcript(self, session_id: str) -> list[dict[str, Any]]:
        return self.store.transcript(session_id) if session_id else []

    # -- overview ----------------------------------------------------------------------

    def overview(self, key: str) -> Overview:
        """KPIs, segment table and chart data of a dataset's analysis (built once per
        loaded analysis: every page load shows it)."""
        analysis = self.analysis(key)
        with self._lock:
            built = self._overviews.get(key)
        if built is None:
            built = self._build_overview(analysis)
            with self._lock:
                self._overviews[key] = built
        return built

    def _build_overview(self, a: Analysis) -> Overview:
        k = a.kpis
        customers = a.customers
        churn = a.diagnostics.get("backtest", {}).get("churn", {})
        metrics = churn.get("metrics", {})
        auc = metrics.get("model", {}).get("roc_auc")
        best = max((m.get("roc_auc") or 0 for n, m in metrics.items() if n != "model"),
                   default=None)
        quality = "not run" if auc is None else (
            f"ROC AUC {auc:.3f} (best baseline {best:.3f})" if best else f"ROC AUC {auc:.3f}")
        kpis = [
            ("Customers", f"{len(customers):,}"),
            ("Active (last 90 days)", f"{k['active_customers_90d']:,}"),
            ("Repeat-purchase rate", _share(k.get("repeat_purchase_rate"))),
            (f"Revenue at risk ({a.horizon_days} days)", _money(k.get("revenue_at_risk"))),
            (f"Predicted CLV ({a.horizon_days} days)", _money(k.get("predicted_clv"))),
            ("Churn model backtest", quality),
        ]
        rfm = a.segments.loc[a.segments["kind"] == "rfm"].sort_values(
            "revenue_at_risk", ascending=False)
        table = pd.DataFrame({
            "segment": rfm["segment"].astype(str),
            "customers": rfm["customers"].astype(int),
            "customer share": rfm["customer_share"].round(3),
            "revenue share": rfm["revenue_share"].round(3),
            "mean churn probability": rfm["mean_churn_probability"].round(3),
            "revenue at risk": rfm["revenue_at_risk"].round(0),
            "mean predicted CLV": rfm["mean_predicted_clv"].round(1),
            "churn change (30 d)": rfm.get("mean_churn_probability_change",
                                           pd.Series(np.nan, index=rfm.index)).round(3),
        }).reset_index(drop=True)
        churn_by_segment = table[["segment", "mean churn probability", "revenue at risk"]]
        clv = customers["predicted_clv"].clip(lower=0)
        top = float(clv.quantile(0.99)) if len(clv) else 0.0
        edges = np.linspace(0, max(top, 1.0), 21)
        counts, _ = np.histogram(clv.clip(upper=edges[-1]), bins=edges)
        clv_distribution = pd.DataFrame({
            "predicted CLV": [f"{lo:,.0f}–{hi:,.0f}" for lo, hi in pairwise(edges)],
            "customers": counts.astype(int),
            "order": np.arange(len(counts)),
        })
        monthly = a.monthly.reset_index()
        monthly = pd.DataFrame({
            "month": monthly["month"].astype(str).map(pd.Timestamp),
            "revenue": monthly["revenue"].astype(float).round(2),
            "active customers": monthly["active_customers"].astype(int),
        })
        title = (f"**{a.source}** as of {a.as_of.date()} · {len(a.lines):,} order lines · "
                 f"churn and value over the next {a.horizon_days} days")
        return Overview(title, kpis, table, churn_by_segment, clv_distribution, monthly,
                        cohort_heatmap(a), list(a.warnings))

    def cleaning_report(self, key: str) -> pd.DataFrame:
        """Rows read, kept and dropped by reason for a dataset's analysis."""
        report = self.analysis(key).cleaning.to_dict()
        rows = [("read", report["rows_in"]), ("kept", report["rows_kept"])]
        rows += [(f"dropped: {reason.replace('_', ' ')}", n)
                 for reason, n in report["dropped"].items()]
        return pd.DataFrame(rows, columns=["rows", "count"])

    def dataset_summary(self, key: str) -> str:
        a = self.analysis(key)
        mapping = ", ".join(f"{c} ← `{h}`" for c, h in a.mapping.items()) or "–"
        lines = [f"**{a.source}**: {len(a.customers):,} customers, {len(a.orders):,} orders, "
                 f"as of {a.as_of.date()}.", f"Columns: {mapping}."]
        lines += [f"- Note: {_app_hint(n)}" for n in a.notes]
        lines += [f"- Warning: {w}" for w in a.warnings]
        return "\n\n".join(lines[:2]) + ("\n\n" + "\n".join(lines[2:]) if lines[2:] else "")

    # -- campaigns ---------------------------------------------------------------------

    def segments(self, key: str) -> list[str]:
        rfm = self.analysis(key).segments
        rfm = rfm.loc[rfm["kind"] == "rfm"].sort_values("revenue_at_risk", ascending=False)
        return rfm["segment"].astype(str).tolist()

    def countries(self, key: str) -> list[str]:
        """The dataset's countries, the one of most order lines first (none without a
        country column)."""
        lines = self.analysis(key).lines
        if "country" not in lines:
            return []
        return lines["country"].dropna().astype(str).value_counts().index.tolist()

    def draft_plan(self, key: str, segment: str | None, discount_cap: float | None = None,
                   budget: float | None = None, channel: str | None = None,
                   language: str | None = None, inactive_days: int | None = None,
                   one_order_only: bool = False, country: str | None = None,
                   min_spend: float | None = None, product: str | None = None,
                   suggest: str | None = None) -> Draft:
        """A plan for a segment under the constraints (cap as a share or a percentage),
        its message copy in ``language`` (English by default); with ``inactive_days``, for
        the customers with no order for that long or longer, with ``one_order_only`` for
        the one-time buyers (of the segment, if one is given: "" or None for all); with
        ``country``, for the customers from there; with ``min_spend``, for those who spent
        that much or more to date; with ``product`` (its id or name), for those who bought
        it; with ``suggest`` (another product), a cross-sell of it to those who have not
        bought it (no segment needed)."""
        from langchain_core.tools import ToolException

        advisor = self.advisor(key)
        try:
            within = advisor.functions.in_country(country) if country else None
            bought = advisor.functions.bought(product) if product and product.strip() \
                else None
            offered = advisor.functions.bought(suggest) if suggest and suggest.strip() \
                else None
            plan, audience = draft_campaign(advisor.context, segment,
                                            discount_cap=discount_cap or None,
                                            budget=budget or None, channel=channel or None,
                                            language=language or None,
                                            inactive_days=inactive_days or None,
                                            one_order_only=one_order_only, within=within,
                                            min_spend=min_spend or None, bought=bought,
                                            suggest=offered)
        except ToolException as exc:
            raise DataError(str(exc)) from None
        a = advisor.context.analysis
        return Draft(plan, audience, render_plan(plan), a.source, str(a.as_of.date()))

    def save_draft(self, draft: Draft, markdown: str | None = None,
                   name: str | None = None) -> int:
        """Save a drafted plan with its audience and the (edited) Markdown; returns its id."""
        return self.store.save_plan(
            draft.plan, draft.audience,
            name=(name or "").strip() or f"{draft.plan['segment']}: {draft.plan['offer']}",
            markdown=markdown if markdown and markdown.strip() else draft.markdown,
            source=draft.source, as_of=draft.as_of)

    def plans(self) -> pd.DataFrame:
        """Saved plans, newest first, for a table."""
        table = self.store.list_plans()
        return pd.DataFrame({
            "id": table["id"], "name": table["name"], "segment": table["segment"],
            "saved": table["updated_at"].str[:16].str.replace("T", " "),
            "audience": table["audience_size"],
            "discount": table["discount"].round(3),
            "expected cost": table["expected_cost"].round(0),
        })

    def plan_markdown(self, plan_id: int) -> str:
        stored = self.store.get_plan(int(plan_id))
        return stored.markdown or render_plan(stored.plan)

    def update_plan(self, plan_id: int, markdown: str, name: str | None = None) -> None:
        """Save an edited plan; emptied Markdown is saved as the plan rendered afresh, so
        what the page shows and what export writes stay the same text."""
        if not markdown.strip():
            markdown = render_plan(self.store.get_plan(int(plan_id)).plan)
        self.store.update_plan(int(plan_id), markdown=markdown,
                               name=(name or "").strip() or None)

    def plan_results(self, key: str, plan_id: int) -> str:
        """How a saved plan's campaign did, measured on a dataset (the shop's export from
        after the campaign), in words: treated customers against the holdout."""
        from langchain_core.tools import ToolException

        from .offline import ANSWERS
        from .tools import ToolFunctions

        context = self.advisor(key).context
        try:
            payload = json.loads(ToolFunctions(context).campaign_results(int(plan_id)))
        except ToolException as exc:
            raise DataError(str(exc)) from None
        return ANSWERS["campaign_results"](payload)

    def export_plan(self, plan_id: int) -> tuple[Path, Path]:
        """The plan's Markdown and audience CSV, written under ``ADVISOR_HOME/exports``."""
        return self.store.export_plan(int(plan_id), self.exports)
