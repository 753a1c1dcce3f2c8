"""One call that runs every analysis on an order log and returns an :class:`Analysis`.

The CLI, the advisor's tools and the app all read the same ``Analysis``; nothing here
writes files (see :mod:`analytics.outputs`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from .background import Background, BackgroundFailed
from .backtest import BACKTEST_COLUMNS, backtest, losing_margin
from .cache import CleanCache, CleanEntry
from .cleaning import CleaningReport, clean_orders
from .clusters import BehaviourClusters, cluster_profile
from .cohorts import cohort_table, monthly_activity, retention_kpis
from .errors import DataError
from .features import customer_features, feature_lines, integer_ids
from .loading import LoadResult, load_orders
from .recommend import ItemKNNRecommender
from .rfm import (
    DEFAULT_SEGMENT_RULES,
    SegmentRule,
    assign_segments,
    order_codes,
    order_table,
    rfm_scores,
)
from .rfm import rfm_table as build_rfm_table
from .schema import CUSTOMER_ID, ORDER_DATE, PRODUCT_ID
from .scoring import Scores, score_customers
from .segments import segment_table

__all__ = [
    "AFTER_AS_OF",
    "Analysis",
    "analyze",
    "analyze_file",
    "load_and_clean",
    "restrict_to_as_of",
]

AFTER_AS_OF = "after_as_of"
# From this many order lines on, the backtest runs in a second process beside the analysis
# (analytics.background), which on two cores hides most of its time; below it, starting an
# interpreter (about 2 s of imports) costs more than it saves.
BACKGROUND_BACKTEST_LINES = 200_000
# From this file size on, analyze_file starts that process before it reads the file, so
# that its imports (about 2 s) overlap the loading: 200,000 lines of an export are about
# 4 MB as Parquet and 15-60 MB as CSV. A worker not needed then is stopped.
BACKGROUND_AHEAD_BYTES = 4_000_000
Progress = Callable[[str], None]


@dataclass
class Analysis:
    """Everything the analytics core knows about one shop at one ``as_of`` date."""

    source: str
    as_of: pd.Timestamp
    horizon_days: int
    lines: pd.DataFrame
    orders: pd.DataFrame
    customers: pd.DataFrame
    segments: pd.DataFrame
    clusters: pd.DataFrame
    cohorts: pd.DataFrame
    monthly: pd.DataFrame
    kpis: dict[str, Any]
    cleaning: CleaningReport
    mapping: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    recommendations: pd.DataFrame | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # The e-mail address or name behind each pseudonymous customer_id (LoadResult.contacts):
    # for this machine's exports only, never in a summary or a tool's answer.
    contacts: pd.Series | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON-ready summary: KPIs, cleaning report, mapping and model diagnostics."""
        return {
            "source": self.source,
            "as_of": self.as_of.date().isoformat(),
            "horizon_days": self.horizon_days,
            "period": {
                "first_order": _iso(self.orders["order_date"].min()),
                "last_order": _iso(self.orders["order_date"].max()),
            },
            "kpis": self.kpis,
            "cleaning": self.cleaning.to_dict(),
            "mapping": self.mapping,
            "notes": self.notes,
            "warnings": self.warnings,
            "diagnostics": self.diagnostics,
        }


def _iso(value: pd.Timestamp) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).isoformat()


def _today() -> pd.Timestamp:
    return pd.Timestamp.now().normalize()


def restrict_to_as_of(
    lines: pd.DataFrame, as_of: str | pd.Timestamp | None
) -> tuple[pd.DataFrame, pd.Timestamp, int]:
    """Keep lines dated on or before ``as_of`` (a day; default: the last order's day, or the
    last before today when some lines are dated in the future, with a warning: one mistyped
    year would otherwise make every customer look lapsed).

    Returns the kept lines, the ``as_of`` day and how many lines were dropped for being later.
    """
    first, last = lines[ORDER_DATE].min(), lines[ORDER_DATE].max()
    day = last.normalize() if as_of is None else _parse_as_of(as_of)
    today = _today()
    future = lines[ORDER_DATE] >= today + pd.Timedelta(days=1) \
        if as_of is None and day > today else None
    if future is not None and not future.all():
        day = lines.loc[~future, ORDER_DATE].max().normalize()
        n = int(future.sum())
        warnings.warn(
            f"{n:,} order {'line is' if n == 1 else 'lines are'} dated after today "
            f"({today.date()}), up to {last.date()}: the analysis is as of {day.date()}, "
            "the last day with orders before today, and leaves them out. Check those dates, "
            "or choose the date with --as-of.", UserWarning, stacklevel=2)
    if day < first.normalize():
        raise DataError(
            f"--as-of {day.date()} is before the first order ({first.date()}); choose a date "
            f"between {first.date()} and {last.date()}"
        )
    keep = lines[ORDER_DATE] < day + pd.Timedelta(days=1)
    return lines.loc[keep], day, int((~keep).sum())


def _parse_as_of(as_of: str | pd.Timestamp) -> pd.Timestamp:
    try:
        return pd.Timestamp(as_of).normalize()
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"--as-of {as_of!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-06-30"
        ) from exc


def analyze(
    lines: pd.DataFrame,
    *,
    as_of: str | pd.Timestamp | None = None,
    horizon_days: int = 90,
    cleaning: CleaningReport | None = None,
    segment_rules: Sequence[SegmentRule] = DEFAULT_SEGMENT_RULES,
    source: str = "",
    mapping: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
    random_state: int = 0,
    progress: Progress | None = None,
    n_recommendations: int = 10,
    trend_days: int = 30,
    run_backtest: bool = True,
    backtest_worker: Background[Any] | None = None,
) -> Analysis:
    """Run every analysis on cleaned order lines (see :func:`analytics.cleaning.clean_orders`).

    Lines after ``as_of`` are dropped first and counted in the cleaning report. Warnings
    about degraded output (a tiny shop, a model fallback) are re-emitted and also kept in
    ``Analysis.warnings`` so reports can show them. ``backtest_worker``: a worker started
    ahead (:meth:`Background.ahead`, as :func:`analyze_file` does) for a backtest beside.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = _analyze(lines, as_of=as_of, horizon_days=horizon_days, cleaning=cleaning,
                            segment_rules=segment_rules, random_state=random_state,
                            progress=progress, n_recommendations=n_recommendations,
                            trend_days=trend_days, run_backtest=run_backtest,
                            backtest_worker=backtest_worker)
    analysis.source, analysis.mapping, analysis.notes = source, dict(mapping or {}), list(notes)
    for item in caught:
        if issubclass(item.category, UserWarning):
            analysis.warnings.append(str(item.message))
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return analysis


def _analyze(
    lines: pd.DataFrame,
    *,
    as_of: str | pd.Timestamp | None,
    horizon_days: int,
    cleaning: CleaningReport | None,
    segment_rules: Sequence[SegmentRule],
    random_state: int,
    progress: Progress | None,
    n_recommendations: int,
    trend_days: int,
    run_backtest: bool,
    backtest_worker: Background[Any] | None,
) -> Analysis:
    step = progress or (lambda _stage: None)
    if horizon_days < 1:
        raise DataError(f"--horizon-days must be a positive number of days, got {horizon_days}")
    if cleaning is None:
        lines, cleaning = clean_orders(lines)
    else:
        cleaning = copy.deepcopy(cleaning)  # the caller's report stays as it was
    lines, day, later = restrict_to_as_of(lines, as_of)
    cleaning.add(AFTER_AS_OF, later)

    # The models work on integer customer codes, numbered in the ids' sorted order (so
    # every grouped table comes out in the same order): grouping and matching text ids of
    # a large shop costs several times more. The ids come back at the end.
    # The recommender keeps the text ids: it indexes customers itself.
    text_lines = lines
    lines, _, ids = integer_ids(lines)
    with _backtest_beside(lines, day, horizon_days, random_state, run_backtest,
                          backtest_worker) as backtest_result:
        codes = order_codes(lines)  # numbered once, for both
        orders = order_table(lines, codes)
        model_lines = feature_lines(lines, codes)  # what the features read, text as numbers
        step("rfm")
        rfm = _rfm(orders, day, segment_rules)
        step("clusters")
        features = customer_features(orders, day, horizon_days, model_lines)
        with threadpool_limits(limits=1, user_api="openmp"):  # see analytics.scoring
            clusterer = BehaviourClusters(random_state=random_state).fit(features)
        rfm["tenure_days"] = features["tenure_days"]
        rfm["cluster"] = clusterer.predict(features)
        rfm["cluster_label"] = rfm["cluster"].map(clusterer.labels_).astype("string")

        snapshots: dict[Any, Any] = {}  # churn rows, for a backtest fitted in this process
        scores = score_customers(orders, model_lines, day, horizon_days, random_state, features,
                                 progress=progress,  # reports "clv", then "churn"
                                 snapshot_cache=snapshots)
        customers = rfm.join(scores.predictions).join(scores.features[["mean_gap_days"]])
        step("recommendations")
        recommendations = _recommendations(text_lines, day, n_recommendations)
        step("cohorts")
        cohorts = cohort_table(orders)
        kpis = retention_kpis(orders, day)
        kpis["revenue_at_risk"] = float(customers["revenue_at_risk"].sum())
        kpis["predicted_clv"] = float(customers["predicted_clv"].sum())
        step("segments")
        previous = _previous_customers(orders, model_lines, day, trend_days, segment_rules,
                                       clusterer, scores)
        diagnostics = {
            "clusters": {"k": clusterer.k_, "silhouette_by_k": clusterer.silhouette_,
                         "labels": clusterer.labels_},
            **scores.diagnostics,
            "trend_days": trend_days,
        }
        if run_backtest:
            step("backtest")
            diagnostics["backtest"] = backtest_result(snapshots)
            if losing := losing_margin(diagnostics["backtest"]):
                warnings.warn(losing, UserWarning, stacklevel=2)
        segments = segment_table(customers, previous)
        customers.index = pd.Index(ids.take(customers.index.to_numpy()), name=CUSTOMER_ID)
        return Analysis(
            source="",
            as_of=day,
            horizon_days=horizon_days,
            lines=text_lines,
            orders=orders.assign(**{CUSTOMER_ID: ids.take(orders[CUSTOMER_ID].to_numpy())}),
            customers=customers,
            segments=segments,
            clusters=cluster_profile(customers, clusterer.labels_),
            cohorts=cohorts,
            monthly=monthly_activity(orders),
            kpis=kpis,
            cleaning=cleaning,
            recommendations=recommendations,
            diagnostics=diagnostics,
        )


@contextmanager
def _backtest_beside(lines: pd.DataFrame, day: pd.Timestamp, horizon_days: int,
                     random_state: int, run: bool, worker: Background[Any] | None = None
                     ) -> Iterator[Callable[[dict[Any, Any]], dict[str, Any]]]:
    """Start the backtest in a second process on a large log; yields ``result(snapshots)``,
    which waits for it. ``snapshots`` (the analysis's churn training rows) serve a backtest
    computed in this process instead: below ``BACKGROUND_BACKTEST_LINES``, or when the
    second process ended without a result (it could not start, or ran out of memory).
    Leaving the block stops the second process (the analysis failed, say).
    """
    pending = None
    if run and len(lines) >= BACKGROUND_BACKTEST_LINES:
        needed = lines[[c for c in lines.columns if c in BACKTEST_COLUMNS]]
        call = (backtest, needed, day, horizon_days)
        try:
            pending = (worker.submit(*call, random_state=random_state)
                       if worker is not None and worker.running
                       else Background(*call, random_state=random_state))
        except OSError:  # no interpreter to start: the backtest runs here
            pending = None

    def result(snapshots: dict[Any, Any]) -> dict[str, Any]:
        if pending is not None:
            try:
                return pending.result()
            except BackgroundFailed:
                pass
        return backtest(lines, day, horizon_days, random_state=random_state,
                        snapshot_cache=snapshots)

    try:
        yield result
    finally:
        if pending is not None:
            pending.cancel()


def _rfm(orders: pd.DataFrame, day: pd.Timestamp,
         segment_rules: Sequence[SegmentRule]) -> pd.DataFrame:
    rfm = rfm_scores(build_rfm_table(orders, day))
    rfm["rfm_segment"] = assign_segments(rfm, segment_rules)
    return rfm


def _recommendations(lines: pd.DataFrame, day: pd.Timestamp, n: int) -> pd.DataFrame | None:
    if PRODUCT_ID not in lines or lines[PRODUCT_ID].isna().all():
        return None
    return ItemKNNRecommender().fit(lines, day).recommend(n=n)


def _previous_customers(orders: pd.DataFrame, lines: pd.DataFrame, day: pd.Timestamp,
                        trend_days: int, segment_rules: Sequence[SegmentRule],
                        clusterer: BehaviourClusters, scores: Scores) -> pd.DataFrame | None:
    """The customers frame ``trend_days`` earlier, scored by the same fitted models."""
    before = day - pd.Timedelta(days=trend_days)
    past = orders.loc[orders["order_date"] < before + pd.Timedelta(days=1)]
    if trend_days <= 0 or past.empty:
        return None
    previous = _rfm(past, before, segment_rules)
    features = customer_features(past, before, scores.model.horizon_days, lines)
    previous["cluster"] = clusterer.predict(features)
    return previous.join(scores.rescore(features))


def load_and_clean(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    date_format: str | None = None,
    progress: Progress | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, CleaningReport, LoadResult]:
    """Load an order export and clean it: (clean lines, cleaning report, load result).

    The load result says how the file was read (mapping, notes, ignored columns); its
    ``orders`` are left empty, as the rows are in the clean lines. With ``cache_dir`` the
    clean lines are kept there as Parquet (:class:`analytics.cache.CleanCache`), and the
    next call for the same file and options reads them back: ``progress`` then reports
    "cached" instead of "clean".
    """
    path = Path(path)
    cache = CleanCache(cache_dir) if cache_dir is not None and path.is_file() else None
    if cache is not None:
        key = cache.key(path, mapping=mapping, sheet=sheet, date_format=date_format)
        entry = cache.get(key)
        if entry is not None:
            if progress is not None:
                progress("cached")
            return entry.lines, entry.report, entry.loaded
    loaded = load_orders(path, mapping=mapping, sheet=sheet, date_format=date_format)
    if progress is not None:
        progress("clean")
    lines, report = clean_orders(loaded.orders, loaded.line_keys,
                                 dropped_before=loaded.dropped_on_reading)
    if report.repeats_kept:
        loaded.notes.append(
            f"{loaded.source}: {report.repeats_kept:,} lines repeat an earlier line, with no "
            "order id, product or time of day to tell a copy from a second purchase that day: "
            "kept as purchases (if they are copies, remove them or add the order id column)")
    # the rows as read are not kept: at 10M lines they would hold a gigabyte all analysis
    loaded = dataclasses.replace(loaded, orders=loaded.orders.iloc[:0].copy(), line_keys=None)
    if cache is not None:
        cache.put(key, CleanEntry(lines, report, loaded))
    return lines, report, loaded


def analyze_file(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    date_format: str | None = None,
    progress: Progress | None = None,
    cache_dir: str | Path | None = None,
    **options: Any,
) -> Analysis:
    """Load, clean and analyse a CSV, Parquet or Excel order export.

    ``cache_dir``: keep and reuse the clean lines there (see :func:`load_and_clean`).
    """
    step = progress or (lambda _stage: None)
    worker = None
    if options.get("run_backtest", True) and Path(path).is_file() \
            and Path(path).stat().st_size >= BACKGROUND_AHEAD_BYTES:
        with contextlib.suppress(OSError):  # none: analyze starts one, or backtests here
            worker = Background.ahead("analytics.backtest")
    try:
        step("load")
        lines, report, loaded = load_and_clean(path, mapping=mapping, sheet=sheet,
                                               date_format=date_format, progress=progress,
                                               cache_dir=cache_dir)
        analysis = analyze(
            lines,
            cleaning=report,
            source=loaded.source,
            mapping=loaded.mapping,
            notes=loaded.notes,
            progress=progress,
            backtest_worker=worker,
            **options,
        )
        analysis.contacts = loaded.contacts
        return analysis
    finally:
        if worker is not None:
            worker.cancel()  # unused (a small log, an error), or already done
