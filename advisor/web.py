"""The Gradio web app: Advisor, Overview, Data and Campaigns tabs over one workspace.

Handlers here only adapt values between Gradio components and
:class:`advisor.service.AdvisorService` (which holds the logic) and
:func:`advisor.chat.events_to_messages` (which turns agent events into chat messages).
``python app.py`` and ``retention-advisor serve`` call :func:`serve`.
"""

import html
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.cli import STAGES
from analytics.errors import DataError, RetentionError

from .chat import events_to_messages, transcript_to_messages
from .service import UPLOAD_SUFFIXES, AdvisorService, Draft
from .settings import Settings, load_settings

if TYPE_CHECKING:
    import gradio as gr

__all__ = ["MARKETER_EXAMPLES", "OPERATOR_EXAMPLES", "build_app", "launch", "serve"]

OPERATOR_EXAMPLES = [
    "Which segment is churning?",
    "How much revenue is at risk?",
    "Give me an overview of the segments",
    "Who are the customers most at risk in At Risk?",
    "Top 10 customers by lifetime value",
    "How are the Champions doing?",
    "How well do monthly cohorts retain?",
    "How accurate is the churn model?",
    "哪个用户群在流失？",
]
MARKETER_EXAMPLES = [
    "Draft a win-back campaign for At Risk customers with a 10% discount cap",
    "How do I design a birthday coupon?",
    "How big must an A/B test be for Hibernating to detect a 5% uplift?",
    "What is the lifetime value of Champions?",
    "What do Champions buy?",
    "Which products are often bought together?",
    "Which products are trending?",
    "Who is likely to buy again soon?",
    "How did the campaign do?",
]
CHANNELS = ["segment default", "email", "sms", "push", "app inbox", "direct mail"]
# The segment choice of a plan whose audience is chosen by days without an order or by a
# single order, whatever the segment
ALL_CUSTOMERS = "All customers"
ANY_COUNTRY = "Any country"
# The languages of a plan's message copy, as (label, code)
COPY_LANGUAGE_CHOICES = [("English", "en"), ("中文", "zh"), ("Deutsch", "de"),
                         ("Français", "fr"), ("Español", "es")]
STAGE_ORDER = [stage for stage in STAGES if stage != "write"]  # the app writes no files
CSS = """
.kpis {display: flex; flex-wrap: wrap; gap: 10px;}
.kpi {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 14px;
      min-width: 150px; background: var(--background-fill-secondary);}
.kpi .label {font-size: 0.8em; opacity: 0.75;}
.kpi .value {font-size: 1.35em; font-weight: 600;}
.status-error {border-left: 4px solid #d9534f; padding: 6px 12px;
               background: rgba(217, 83, 79, 0.08);}
.status-ok {border-left: 4px solid #3c9a5f; padding: 6px 12px;
            background: rgba(60, 154, 95, 0.08);}
"""


def _error(message: str) -> str:
    return f"<div class='status-error'><b>Error:</b> {html.escape(message)}</div>"


def _ok(message: str) -> str:
    return f"<div class='status-ok'>{html.escape(message)}</div>"


def _kpi_html(kpis: list[tuple[str, str]]) -> str:
    cards = "".join(f"<div class='kpi'><div class='label'>{html.escape(label)}</div>"
                    f"<div class='value'>{html.escape(value)}</div></div>"
                    for label, value in kpis)
    return f"<div class='kpis'>{cards}</div>"


def _secret(home: Path) -> str:
    """A secret kept in the workspace, so a browser's session survives a restart."""
    path = home / "browser-state.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _progress_callback(progress: Any) -> Any:
    def step(stage: str) -> None:
        if stage in STAGE_ORDER:
            progress(STAGE_ORDER.index(stage) / len(STAGE_ORDER),
                     desc=STAGES.get(stage, stage))
    return step


# How the Overview's segment table shows its numbers (the values stay numbers)
_SEGMENT_FORMATS = {"customers": "{:,.0f}", "customer share": "{:.1%}",
                    "revenue share": "{:.1%}", "mean churn probability": "{:.1%}",
                    "revenue at risk": "{:,.0f}", "mean predicted CLV": "{:,.1f}"}


def _readable(table: pd.DataFrame) -> Any:
    """Shares as percentages, money with thousands separators, the churn change in points."""
    formats = {c: f for c, f in _SEGMENT_FORMATS.items() if c in table}
    change = next((c for c in table if c.startswith("churn change")), None)
    styler = table.style.format(formats, na_rep="–")
    if change is not None:
        styler = styler.format(lambda v: "–" if pd.isna(v) else f"{100 * v:+.1f} pts",
                               subset=[change])
    return styler.hide(axis="index")


def build_app(service: AdvisorService) -> "gr.Blocks":
    """The app's page and handlers over ``service``."""
    import gradio as gr

    def header(key: str) -> str:
        dataset = service.dataset(key)
        return (f"### Retention Advisor\nData: **{dataset.label}** · Answers by: "
                f"**{service.model_label}**. Numbers come from the analysis, not the model.")

    def overview_values(key: str) -> list[Any]:
        ov = service.overview(key)
        warnings = "\n".join(f"- {w}" for w in ov.warnings)
        return [
            ov.title, _kpi_html(ov.kpis), _readable(ov.segments),
            gr.BarPlot(value=ov.churn_by_segment, sort=ov.churn_by_segment["segment"].tolist()),
            gr.BarPlot(value=ov.churn_by_segment, sort=ov.churn_by_segment["segment"].tolist()),
            ov.heatmap,
            gr.BarPlot(value=ov.clv_distribution,
                       sort=ov.clv_distribution["predicted CLV"].tolist()),
            ov.monthly, ov.monthly,
            f"**Warnings**\n{warnings}" if warnings else "",
        ]

    def dataset_values(key: str) -> list[Any]:
        choices = [(d.label, d.key) for d in service.datasets()]
        segments = service.segments(key)
        return [key, header(key), gr.Dropdown(choices=choices, value=key),
                service.dataset_summary(key), service.cleaning_report(key),
                gr.Dropdown(choices=[*segments, ALL_CUSTOMERS],
                            value=segments[0] if segments else None),
                gr.Dropdown(choices=[ANY_COUNTRY, *service.countries(key)], value=ANY_COUNTRY)]

    with gr.Blocks(title="Retention Advisor") as app:
        stored = gr.BrowserState({"session": "", "dataset": ""},
                                 storage_key="retention-advisor",
                                 secret=_secret(service.home))
        dataset_key = gr.State(service.default_key())
        title = gr.Markdown(header(service.default_key()))
        with gr.Tabs():
            with gr.Tab("Advisor", id="advisor"):
                chatbot = gr.Chatbot(label="Advisor", height=560, elem_id="chat",
                                     placeholder="Ask about your customers: which segment is "
                                                 "churning, who to win back, what to offer.")
                with gr.Row():
                    question = gr.Textbox(show_label=False, scale=6, elem_id="question",
                                          placeholder="Which segment is churning?",
                                          submit_btn=False)
                    ask_button = gr.Button("Ask", variant="primary", scale=1,
                                           elem_id="ask")
                with gr.Row():
                    gr.Examples([[q] for q in OPERATOR_EXAMPLES], [question],
                                label="For operators")
                    gr.Examples([[q] for q in MARKETER_EXAMPLES], [question],
                                label="For marketers")
                with gr.Row():
                    session_line = gr.Markdown(elem_id="session-line")
                    new_chat = gr.Button("New conversation", size="sm", scale=0)
            with gr.Tab("Overview", id="overview"):
                ov_title = gr.Markdown()
                ov_kpis = gr.HTML(elem_id="kpis")
                ov_segments = gr.Dataframe(label="Segments (most revenue at risk first)",
                                           interactive=False, elem_id="segments")
                with gr.Row():
                    ov_churn = gr.BarPlot(x="segment", y="mean churn probability",
                                          title="Mean churn probability by segment",
                                          x_label_angle=-30, elem_id="churn-plot")
                    ov_risk = gr.BarPlot(x="segment", y="revenue at risk",
                                         title="Revenue at risk by segment",
                                         x_label_angle=-30, elem_id="risk-plot")
                ov_heatmap = gr.Plot(label="Cohort retention", elem_id="cohort-heatmap")
                ov_clv = gr.BarPlot(x="predicted CLV", y="customers",
                                    title="Predicted CLV per customer (top 1% capped)",
                                    x_label_angle=-45, elem_id="clv-plot")
                with gr.Row():
                    ov_revenue = gr.LinePlot(x="month", y="revenue", title="Monthly revenue",
                                             elem_id="revenue-plot")
                    ov_active = gr.LinePlot(x="month", y="active customers",
                                            title="Active customers per month",
                                            elem_id="active-plot")
                ov_warnings = gr.Markdown()
            with gr.Tab("Data", id="data"):
                with gr.Row():
                    ds_choice = gr.Dropdown(label="Dataset", scale=3, elem_id="dataset",
                                            choices=[(d.label, d.key)
                                                     for d in service.datasets()],
                                            value=service.default_key(),
                                            allow_custom_value=True)
                    ds_use = gr.Button("Use this dataset", scale=1)
                ds_summary = gr.Markdown()
                ds_status = gr.HTML(elem_id="data-status")
                upload = gr.File(label=f"Upload an order log: CSV, Parquet or Excel, up to "
                                       f"{service.max_upload_mb:,.0f} MB",
                                 file_types=list(UPLOAD_SUFFIXES), type="filepath",
                                 elem_id="upload")
                with gr.Row():
                    sheet = gr.Textbox(label="Excel sheet (blank: the sheets of orders; "
                                             "'all' stacks sheets with the same headers)",
                                       max_lines=1)
                    date_format = gr.Textbox(
                        label="Date format (blank: detected; else strftime codes, e.g. "
                              "%d/%m/%Y %H:%M)", max_lines=1, elem_id="date-format")
                upload_path = gr.State("")
                mapping = gr.Dataframe(
                    label="Column mapping: correct the 'column in your file' cells if needed",
                    headers=["field", "column in your file", "required"],
                    interactive=True, static_columns=[0, 2], elem_id="mapping")
                preview_rows = gr.Dataframe(label="First rows as they will be read",
                                            interactive=False)
                analyse = gr.Button("Analyse this file", variant="primary",
                                    elem_id="analyse")
                cleaning = gr.Dataframe(label="Cleaning report of the current dataset",
                                        interactive=False)
            with gr.Tab("Campaigns", id="campaigns"):
                # who the plan is for, then what it offers: one row each
                with gr.Row(equal_height=True):
                    default_segments = service.segments(service.default_key())
                    segment = gr.Dropdown(label="Segment",
                                          choices=[*default_segments, ALL_CUSTOMERS],
                                          value=default_segments[0], scale=2,
                                          allow_custom_value=True, elem_id="segment")
                    country = gr.Dropdown(
                        [ANY_COUNTRY, *service.countries(service.default_key())],
                        value=ANY_COUNTRY, label="Country", elem_id="country")
                    inactive = gr.Number(value=0, minimum=0, precision=0,
                                         label="No order for at least (days; 0: any)",
                                         elem_id="inactive-days")
                    min_spend = gr.Number(value=0, minimum=0,
                                          label="Spent at least (to date; 0: any)",
                                          elem_id="min-spend")
                    bought = gr.Textbox(label="Bought product", max_lines=1,
                                        placeholder="id or name; empty: any",
                                        elem_id="bought-product")
                    one_time = gr.Checkbox(value=False, label="One-time buyers only",
                                           elem_id="one-time")
                with gr.Row(equal_height=True):
                    cap = gr.Slider(0, 50, value=0, step=1, label="Discount cap % (0: none)",
                                    scale=2)
                    budget = gr.Number(value=0, label="Budget (0: none)", minimum=0)
                    channel = gr.Dropdown(CHANNELS, value=CHANNELS[0], label="Channel")
                    copy_language = gr.Dropdown(COPY_LANGUAGE_CHOICES, value="en",
                                                label="Message copy in")
                    suggest = gr.Textbox(label="Cross-sell product", max_lines=1,
                                         placeholder="id or name",
                                         elem_id="cross-sell-product")
                draft_button = gr.Button("Draft plan", variant="primary", elem_id="draft")
                draft_state = gr.State(None)
                plan_id = gr.State(None)
                plan_name = gr.Textbox(label="Plan name", max_lines=1)
                with gr.Row():
                    editor = gr.Textbox(label="Plan (Markdown, editable)", lines=24,
                                        max_lines=40, elem_id="plan-editor")
                    rendered = gr.Markdown(label="Preview")
                with gr.Row():
                    save_button = gr.Button("Save plan", variant="primary", elem_id="save")
                    export_button = gr.Button("Export Markdown and audience CSV")
                    results_button = gr.Button("How did it do? (measured on the current "
                                               "dataset)", elem_id="plan-results-button")
                plan_status = gr.HTML()
                plan_results = gr.Markdown(elem_id="plan-results")
                exports = gr.File(label="Exported files", file_count="multiple",
                                  interactive=False, height=120)
                plans = gr.Dataframe(label="Saved plans (select a row to open it)",
                                     interactive=False, value=service.plans(),
                                     elem_id="plans")

        overview_outputs = [ov_title, ov_kpis, ov_segments, ov_churn, ov_risk, ov_heatmap,
                            ov_clv, ov_revenue, ov_active, ov_warnings]
        dataset_outputs = [dataset_key, title, ds_choice, ds_summary, cleaning, segment,
                           country]

        # -- page load: this browser's session, dataset and conversation -------------------
        def on_load(saved: dict[str, Any] | None) -> list[Any]:
            saved = dict(saved or {})
            saved["session"] = saved.get("session") or service.new_session_id()
            keys = {d.key for d in service.datasets()}
            key = saved.get("dataset") if saved.get("dataset") in keys else None
            key = key or service.default_key()
            saved["dataset"] = key
            history = transcript_to_messages(service.transcript(saved["session"]))
            return [saved, history, session_text(saved), *dataset_values(key)]

        def session_text(saved: dict[str, Any]) -> str:
            return (f"Conversation `{saved['session'][:8]}`: kept in this workspace, it comes "
                    "back when this browser returns.")

        # The conversation comes back first (fast); the overview's charts follow.
        app.load(on_load, [stored], [stored, chatbot, session_line, *dataset_outputs],
                 api_name=False).then(
            overview_values, [dataset_key], overview_outputs, api_name=False)

        # -- advisor -----------------------------------------------------------------------
        def respond(text: str, history: list[dict[str, Any]], key: str,
                    saved: dict[str, Any] | None,
                    request: gr.Request) -> Iterator[tuple[Any, str]]:
            history = list(history or [])
            if not text or not text.strip():
                yield history, ""
                return
            # A browser has its session id; an API client its own connection's.
            session_id = (saved or {}).get("session") or f"api-{request.session_hash}"
            history.append({"role": "user", "content": text})
            yield history, ""
            for messages in events_to_messages(service.ask(key, session_id, text)):
                yield history + messages, ""

        ask_button.click(respond, [question, chatbot, dataset_key, stored],
                         [chatbot, question], api_name="ask")
        question.submit(respond, [question, chatbot, dataset_key, stored],
                        [chatbot, question], api_name=False)

        def restart(saved: dict[str, Any] | None) -> tuple[dict[str, Any], list[Any], str]:
            saved = {**(saved or {}), "session": service.new_session_id()}
            return saved, [], session_text(saved)

        new_chat.click(restart, [stored], [stored, chatbot, session_line], api_name=False)

        # -- data --------------------------------------------------------------------------
        def use_dataset(key: str, saved: dict[str, Any] | None,
                        progress: gr.Progress = gr.Progress()) -> list[Any]:  # noqa: B008
            try:
                service.advisor(key, progress=_progress_callback(progress))
            except RetentionError as exc:
                return [gr.skip()] * (len(dataset_outputs) + len(overview_outputs) + 1) + [
                    _error(str(exc))]
            saved = {**(saved or {}), "dataset": key}
            return [*dataset_values(key), *overview_values(key), saved,
                    _ok(f"Now showing {service.dataset(key).label}.")]

        ds_use.click(use_dataset, [ds_choice, stored],
                     [*dataset_outputs, *overview_outputs, stored, ds_status],
                     api_name="use_dataset")

        def on_upload(path: str | None, sheet_name: str, dates: str) -> list[Any]:
            if not path:
                return ["", None, None, ""]
            try:
                preview = service.receive_upload(path, Path(path).name,
                                                 sheet=sheet_name.strip() or None,
                                                 date_format=dates)
            except RetentionError as exc:
                return ["", None, None, _error(str(exc))]
            notes = "; ".join(preview.notes)
            return [str(preview.path), preview.mapping_table(), preview.rows,
                    _ok(f"{preview.name}: {len(preview.columns)} columns. Check the mapping, "
                        "then press 'Analyse this file'." + (f" Notes: {notes}" if notes
                                                             else ""))]

        upload.upload(on_upload, [upload, sheet, date_format], [upload_path, mapping, preview_rows,
                                                   ds_status], api_name="upload")

        def on_analyse(path: str, table: Any, sheet_name: str, dates: str,
                       saved: dict[str, Any] | None,
                       progress: gr.Progress = gr.Progress()) -> list[Any]:  # noqa: B008
            keep = [gr.skip()] * (len(dataset_outputs) + len(overview_outputs) + 1)
            if not path:
                return [*keep, _error("upload an order file first")]
            try:
                dataset = service.analyse_upload(path, table, sheet_name,
                                                 progress=_progress_callback(progress),
                                                 date_format=dates)
            except RetentionError as exc:
                return [*keep, _error(str(exc))]
            saved = {**(saved or {}), "dataset": dataset.key}
            return [*dataset_values(dataset.key), *overview_values(dataset.key), saved,
                    _ok(f"Analysed {dataset.label}; it is now the current dataset.")]

        analyse.click(on_analyse, [upload_path, mapping, sheet, date_format, stored],
                      [*dataset_outputs, *overview_outputs, stored, ds_status],
                      api_name="analyse")

        # -- campaigns ---------------------------------------------------------------------
        def on_draft(key: str, segment_name: str, cap_pct: float, budget_value: float,
                     channel_name: str, language: str | None = None,
                     inactive_days: float | None = None, one_order_only: bool = False,
                     country_name: str | None = None,
                     spent: float | None = None, product: str | None = None,
                     offered: str | None = None) -> list[Any]:
            try:
                draft = service.draft_plan(
                    key, "" if segment_name == ALL_CUSTOMERS else segment_name or "",
                    discount_cap=(cap_pct or 0) / 100 or None, budget=budget_value or None,
                    channel=None if channel_name == CHANNELS[0] else channel_name,
                    language=language or None, inactive_days=int(inactive_days or 0) or None,
                    one_order_only=bool(one_order_only),
                    country=None if country_name in (None, "", ANY_COUNTRY) else country_name,
                    min_spend=spent or None, product=(product or "").strip() or None,
                    suggest=(offered or "").strip() or None)
            except RetentionError as exc:
                return [gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                        _error(str(exc))]
            name = f"{draft.plan['segment']}: {draft.plan['offer']}"
            return [draft, None, name, draft.markdown, draft.markdown,
                    _ok(f"Drafted a plan for {draft.plan['segment']} "
                        f"({draft.plan['audience_size']:,} customers). Edit it, then save.")]

        draft_button.click(on_draft, [dataset_key, segment, cap, budget, channel, copy_language,
                                      inactive, one_time, country, min_spend, bought,
                                      suggest],
                           [draft_state, plan_id, plan_name, editor, rendered, plan_status],
                           api_name="draft_plan")
        editor.change(lambda text: text, [editor], [rendered], api_name=False)

        def on_save(draft: Draft | None, current: int | None, name: str,
                    markdown: str) -> list[Any]:
            try:
                if current is not None:
                    service.update_plan(current, markdown, name)
                    return [current, service.plans(), _ok(f"Saved changes to plan {current}.")]
                if draft is None:
                    return [None, gr.skip(), _error("draft a plan or open a saved one first")]
                new_id = service.save_draft(draft, markdown, name)
            except RetentionError as exc:
                return [gr.skip(), gr.skip(), _error(str(exc))]
            return [new_id, service.plans(), _ok(f"Saved as plan {new_id}.")]

        save_button.click(on_save, [draft_state, plan_id, plan_name, editor],
                          [plan_id, plans, plan_status], api_name="save_plan")

        def on_select(event: gr.SelectData, table: Any) -> list[Any]:
            try:
                row = event.index[0]
                chosen = int(table.iloc[row]["id"])
                stored_plan = service.store.get_plan(chosen)
                markdown = service.plan_markdown(chosen)
            except (RetentionError, IndexError, KeyError, ValueError) as exc:
                return [gr.skip()] * 4 + [_error(str(exc))]
            return [chosen, stored_plan.name, markdown, markdown,
                    _ok(f"Opened plan {chosen}.")]

        plans.select(on_select, [plans], [plan_id, plan_name, editor, rendered, plan_status],
                     api_name=False)

        def on_export(current: int | None) -> list[Any]:
            if current is None:
                return [None, _error("save the plan (or open a saved one) before exporting")]
            try:
                markdown_path, csv_path = service.export_plan(current)
            except RetentionError as exc:
                return [None, _error(str(exc))]
            return [[str(markdown_path), str(csv_path)],
                    _ok(f"Exported plan {current}: {markdown_path.name}, {csv_path.name}.")]

        export_button.click(on_export, [plan_id], [exports, plan_status], api_name="export_plan")

        def on_results(key: str, current: int | None) -> list[Any]:
            if current is None:
                return ["", _error("save the plan (or open a saved one) to measure it")]
            try:
                text = service.plan_results(key, current)
            except RetentionError as exc:
                return ["", _error(str(exc))]
            return [text, _ok(f"Measured plan {current} on the current dataset.")]

        results_button.click(on_results, [dataset_key, plan_id], [plan_results, plan_status],
                             api_name="plan_results")
        app.load(service.plans, None, [plans], api_name="list_plans")
    return app


def _prepare_environment(settings: Settings) -> None:
    """Before Gradio is imported: no analytics calls, uploads inside ``ADVISOR_HOME``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ["GRADIO_TEMP_DIR"] = str(settings.home / "gradio")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def launch(service: AdvisorService, *, host: str | None = None, port: int | None = None,
           block: bool = True, quiet: bool = False) -> "gr.Blocks":
    """Build the app and serve it (on ``ADVISOR_HOST``/``ADVISOR_PORT`` unless given)."""
    import gradio as gr

    app = build_app(service)
    settings = service.settings
    app.queue(default_concurrency_limit=4)
    app.launch(
        server_name=host or settings.host, server_port=port or settings.port,
        auth=settings.auth, max_file_size=f"{service.max_upload_mb:g}mb",
        allowed_paths=[str(service.exports)], prevent_thread_lock=not block,
        show_error=True, quiet=quiet, theme=gr.themes.Soft(), css=CSS, footer_links=[],
        run_history=False,  # questions stay out of the browser's localStorage
    )
    return app


def serve(data: Path | None = None, host: str | None = None, port: int | None = None) -> None:
    """Analyse the data (or the sample shop), build the playbook index, serve the app."""
    settings = load_settings()
    if data is not None:
        from dataclasses import replace

        settings = replace(settings, data=Path(data))
    _prepare_environment(settings)
    print(f"Retention Advisor: preparing {settings.data or 'the sample shop'} "
          f"in {settings.home} ...", flush=True)
    service = AdvisorService(settings)
    try:
        service.advisor(service.default_key())  # analyse before the page opens
    except DataError as exc:
        if "--map" not in str(exc):
            raise
        raise DataError(f"{exc} The app has no --map: start it without --data and upload "
                        "the file in the Data tab, where the columns can be mapped.") from None
    threading.Thread(target=service.warm_up, daemon=True).start()
    print(f"Serving on http://{host or settings.host}:{port or settings.port} "
          f"(answers by {service.model_label}); Ctrl+C stops it.", flush=True)
    launch(service, host=host, port=port)
