"""The app's service layer: datasets and uploads, overview data, chat transcripts, plans."""

import json
from pathlib import Path

import pandas as pd
import pytest
from langchain_core.messages import AIMessage

from advisor.service import AdvisorService, UploadError
from advisor.settings import load_settings
from analytics.errors import DataError
from analytics.pipeline import load_and_clean
from analytics.sample import generate_sample_shop
from tests.fakes import ScriptedChatModel, tool_call


def settings_for(home: Path, **extra: str):
    return load_settings(environ={"ADVISOR_HOME": str(home), **extra}, env_file=None)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service-home")


@pytest.fixture(scope="module")
def service(home, playbook_kb) -> AdvisorService:
    return AdvisorService(settings_for(home), knowledge=playbook_kb)


@pytest.fixture(scope="module")
def shop_file(tmp_path_factory) -> Path:
    """A small shop exported with headers no synonym knows (``who``, ``when``, ``paid``)."""
    orders, _ = generate_sample_shop(customers=400, months=12, seed=3)
    raw = orders.rename(columns={"customer_id": "who", "order_date": "when",
                                 "amount": "paid", "order_id": "ticket"})
    path = tmp_path_factory.mktemp("exports") / "my shop.csv"
    raw[["ticket", "who", "when", "paid", "product_id"]].to_csv(path, index=False)
    return path


def test_the_sample_shop_is_the_default_dataset(service):
    [sample] = service.datasets()
    assert service.default_key() == sample.key == "sample"
    assert service.analysis("sample").source == "sample_shop.csv.gz"


def test_overview_numbers_are_the_analysis_numbers(service, sample_analysis):
    ov = service.overview("sample")
    kpis = dict(ov.kpis)
    assert kpis["Customers"] == f"{len(sample_analysis.customers):,}"
    assert kpis["Revenue at risk (90 days)"] == f"{sample_analysis.kpis['revenue_at_risk']:,.0f}"
    auc = sample_analysis.diagnostics["backtest"]["churn"]["metrics"]["model"]["roc_auc"]
    assert f"ROC AUC {auc:.3f}" in kpis["Churn model backtest"]
    assert ov.segments["customers"].sum() == len(sample_analysis.customers)
    risk = ov.segments["revenue at risk"].tolist()
    assert risk == sorted(risk, reverse=True)
    assert ov.clv_distribution["customers"].sum() == len(sample_analysis.customers)
    assert ov.monthly["revenue"].sum() == pytest.approx(sample_analysis.monthly["revenue"].sum())
    assert ov.heatmap.axes  # a drawn figure


def test_upload_previews_then_a_corrected_mapping_analyses(service, home, shop_file):
    preview = service.receive_upload(shop_file, shop_file.name)
    assert preview.path.parent.parent == home / "uploads"  # copied into the workspace
    assert preview.path.read_bytes() == shop_file.read_bytes()
    assert preview.name == "my_shop.csv"
    table = preview.mapping_table()
    assert table.loc[table["field"] == "customer_id", "column in your file"].item() == ""
    assert "customer_id" in " ".join(preview.notes)  # says what is missing

    with pytest.raises(DataError, match=r"my_shop.csv: no column that can be the "
                       r"customer_id.*In the app: type the column's header"):
        service.analyse_upload(preview.path, table)
    assert [d.key for d in service.datasets()] == ["sample"]  # nothing registered

    fixed = table.copy()
    fixed.loc[fixed["field"] == "customer_id", "column in your file"] = "who"
    fixed.loc[fixed["field"] == "order_date", "column in your file"] = "when"
    fixed.loc[fixed["field"] == "amount", "column in your file"] = "paid"
    stages = []
    dataset = service.analyse_upload(preview.path, fixed, progress=stages.append)
    assert stages[0] == "load" and "churn" in stages
    assert dataset.mapping == {"customer_id": "who", "order_date": "when", "amount": "paid",
                               "product_id": "product_id"}
    assert service.analysis(dataset.key).customers.shape[0] == 400
    assert service.datasets()[1].key == dataset.key

    # a restart finds the upload with its mapping, and re-analyses it from the cache
    again = AdvisorService(settings_for(home), knowledge=service.knowledge)
    [restored] = [d for d in again.datasets() if d.key == dataset.key]
    assert restored.mapping == dataset.mapping and restored.label == "my_shop.csv"
    assert len(again.analysis(dataset.key).customers) == 400


def test_the_preview_of_a_report_with_a_title_shows_the_tables_columns(service, tmp_path):
    report = tmp_path / "report.csv"
    report.write_text("Orders report,,,\nExported 2026-01-02,,,\ncustomer,date,amount,channel\n"
                      "1,2024-01-05,10.5,web\n2,2024-02-06,20,app\n", encoding="utf-8")
    preview = service.receive_upload(report, report.name)
    assert preview.columns == ["customer", "date", "amount", "channel"]
    assert preview.rows["amount"].tolist() == [10.5, 20.0]
    assert any("below a title (Orders report, Exported 2026-01-02)" in n for n in preview.notes)


def test_bad_uploads_get_one_clear_message(service, tmp_path):
    notes = tmp_path / "notes.docx"
    notes.write_text("hello")
    with pytest.raises(UploadError, match=r"notes.docx: not a CSV, Parquet or Excel file"):
        service.receive_upload(notes)
    packed = tmp_path / "export.json.gz"  # a .gz the loaders cannot read is refused at once
    packed.write_bytes(b"\x1f\x8b")
    with pytest.raises(UploadError, match=r"export.json.gz: not a CSV, Parquet or Excel"):
        service.receive_upload(packed)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: cannot be read as"):
        service.receive_upload(broken)
    small = AdvisorService(service.settings, knowledge=service.knowledge, max_upload_mb=1e-5)
    with pytest.raises(UploadError, match=r"the limit is 0 MB .*ADVISOR_MAX_UPLOAD_MB"):
        small.receive_upload(broken)
    outside = tmp_path / "orders.csv"
    outside.write_text("customer_id,order_date,amount\nA,2024-01-01,5\n")
    with pytest.raises(UploadError, match="only files uploaded"):
        service.analyse_upload(outside)


def test_plans_are_drafted_edited_saved_and_survive_a_restart(service, home, tmp_path):
    draft = service.draft_plan("sample", "at risk", discount_cap=10, budget=None,
                               channel="sms")
    plan = draft.plan
    assert plan["segment"] == "At Risk" and plan["channel"] == "sms"
    assert plan["discount"] <= 0.10
    assert plan["citations"] and len(draft.audience) == plan["audience_size"]
    assert "# Campaign plan: At Risk" in draft.markdown

    edited = draft.markdown + "\n\nApproved by the CRM team."
    plan_id = service.save_draft(draft, edited, "Win back Q1")
    service.update_plan(plan_id, edited + " Send on Monday.")

    again = AdvisorService(settings_for(home), knowledge=service.knowledge)
    listed = again.plans()
    assert listed.loc[listed["id"] == plan_id, "name"].item() == "Win back Q1"
    assert again.plan_markdown(plan_id).endswith("Approved by the CRM team. Send on Monday.")
    markdown_path, csv_path = again.export_plan(plan_id)
    assert markdown_path.parent == home / "exports"
    assert markdown_path.read_text(encoding="utf-8").endswith("Send on Monday.")
    assert len(pd.read_csv(csv_path)) == plan["audience_size"]

    again.update_plan(plan_id, "  ")  # the editor emptied: view and export show one plan
    markdown_path, _ = again.export_plan(plan_id)
    exported = markdown_path.read_text(encoding="utf-8")
    assert exported == again.plan_markdown(plan_id) and "# Campaign plan: At Risk" in exported

    with pytest.raises(DataError, match="unknown segment 'nobody'; choose one of"):
        service.draft_plan("sample", "nobody")


def test_a_plan_for_customers_without_an_order_for_so_long_is_saved_with_them(service):
    customers = service.analysis("sample").customers
    draft = service.draft_plan("sample", "", inactive_days=120, discount_cap=10)
    lapsed = customers.index[customers["recency_days"] >= 120].astype(str)
    assert sorted(draft.audience.index) == sorted(lapsed)
    assert draft.plan["segment"] == "No order for 120+ days" and draft.plan["discount"] <= 0.1
    assert "customers with no order for 120 days or more: **" in draft.markdown
    plan_id = service.save_draft(draft)
    listed = service.plans()
    assert listed.loc[listed["id"] == plan_id, "segment"].item() == "No order for 120+ days"
    at_risk = service.draft_plan("sample", "At Risk", inactive_days=120)
    assert set(at_risk.audience.index) == set(
        customers.index[(customers["recency_days"] >= 120)
                        & (customers["rfm_segment"] == "At Risk")].astype(str))
    once = service.draft_plan("sample", "", one_order_only=True, inactive_days=120)
    assert set(once.audience.index) == set(customers.index[
        (customers["recency_days"] >= 120) & (customers["frequency"] == 1)].astype(str))
    assert once.plan["segment"] == "One-time buyers, no order for 120+ days"
    countries = service.countries("sample")
    assert countries[0] == "Germany" and "France" in countries
    german = service.draft_plan("sample", "At Risk", country="Deutschland")
    assert german.plan["segment"] == "At Risk, Germany"
    assert len(german.audience) < (customers["rfm_segment"] == "At Risk").sum()
    with pytest.raises(DataError, match="no country 'Atlantis' in the data"):
        service.draft_plan("sample", "At Risk", country="Atlantis")
    big = service.draft_plan("sample", "", inactive_days=90, min_spend=1000)
    assert set(big.audience.index) == set(customers.index[
        (customers["recency_days"] >= 90) & (customers["monetary"] >= 1000)].astype(str))
    assert big.plan["segment"] == "No order for 90+ days, spent 1,000+"
    assert big.plan["min_spend"] == 1000
    with pytest.raises(DataError, match=r"has spent 10,000,000 or more \(the most is"):
        service.draft_plan("sample", "At Risk", min_spend=10_000_000)
    # the customers who bought a product, by its name in any case
    lines = service.analysis("sample").lines
    product = lines["product_id"].value_counts().index[0]
    name = lines.loc[lines["product_id"] == product, "product_name"].iloc[0]
    buyers = set(lines.loc[lines["product_id"] == product, "customer_id"])
    bought = service.draft_plan("sample", "", inactive_days=90, product=name.upper())
    assert set(bought.audience.index) == buyers & set(customers.index[
        customers["recency_days"] >= 90].astype(str))
    assert bought.plan["segment"] == f"No order for 90+ days, bought {product}"
    assert bought.plan["product"] == {"product_id": product, "name": name}
    with pytest.raises(DataError, match="no product 'Atlantis Lamp' in the data"):
        service.draft_plan("sample", "At Risk", product="Atlantis Lamp")
    # a cross-sell of another product to them: no segment needed
    other = lines["product_id"].value_counts().index[1]
    cross = service.draft_plan("sample", "", product=product, suggest=other)
    assert set(cross.audience.index) == buyers - set(
        lines.loc[lines["product_id"] == other, "customer_id"])
    assert cross.plan["tactic"] == "cross-sell"
    with pytest.raises(DataError, match="choose a segment, or a number of days"):
        service.draft_plan("sample", "")


def test_a_plan_for_a_shop_keyed_by_email_exports_the_addresses_after_a_restart(
        service, home, tmp_path):
    rows = [{"Name": f"#{1000 + 4 * i + j}", "Email": f"Person{i}@Example.com",
             "Created at": f"2024-{1 + (i + 5 * j) % 12:02d}-{1 + j:02d} 10:00:00 +0100",
             "Total": 20.0 + i % 9, "Billing Name": f"Jane Doe{i}"}
            for i in range(400) for j in range(1 + i % 4)]
    path = tmp_path / "orders_export.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    preview = service.receive_upload(path, path.name)
    dataset = service.analyse_upload(preview.path, preview.mapping_table())
    segment = service.segments(dataset.key)[0]
    plan_id = service.save_draft(service.draft_plan(dataset.key, segment))

    again = AdvisorService(settings_for(home), knowledge=service.knowledge)
    assert not again.analysis(dataset.key).customers.index.str.contains("@").any()
    _, csv_path = again.export_plan(plan_id)
    audience = pd.read_csv(csv_path, dtype=str)
    assert audience["contact"].str.fullmatch(r"Person\d+@Example\.com").all()
    assert audience["contact"].nunique() == len(audience)


def test_ask_streams_and_keeps_the_transcript(service, sample_analysis):
    events = list(service.ask("sample", "s1", "which segment is churning?"))
    calls = [e for e in events if e.kind == "tool_call"]
    assert calls[0].name == "churning_segments"
    answer = "".join(e.content for e in events if e.kind == "token")
    rfm = sample_analysis.segments.query("kind == 'rfm'")
    assert f"**{rfm.nlargest(1, 'revenue_at_risk')['segment'].item()}**" in answer
    user, assistant = service.transcript("s1")
    assert user["content"] == "which segment is churning?"
    assert assistant["content"] == answer.strip()
    assert json.loads(assistant["tool_calls"][0]["result"])["segments"]


def test_a_failing_model_becomes_a_message_and_the_service_keeps_answering(home, playbook_kb):
    model = ScriptedChatModel(script=[tool_call("segment_overview"),
                                      ConnectionError("connection refused")])
    failing = AdvisorService(settings_for(home), knowledge=playbook_kb, model=model)
    events = list(failing.ask("sample", "s2", "overview please"))
    assert events[-1].kind == "error" and "connection refused" in events[-1].content
    assert failing.transcript("s2")[-1]["content"].startswith("⚠️")

    model.script.append(AIMessage(content="Back again."))
    again = list(failing.ask("sample", "s2", "still there?"))
    assert [e.content for e in again if e.kind == "token"] == ["Back again."]


def test_after_a_restart_a_follow_up_still_has_the_conversation(home, playbook_kb):
    first = ScriptedChatModel(script=[AIMessage(content="Champions churn least.")])
    before = AdvisorService(settings_for(home), knowledge=playbook_kb, model=first)
    list(before.ask("sample", "s5", "which segment is loyal?"))
    # the same browser session also talked about another dataset, and once got an error
    before.store.add_message("s5", "user", "and in my upload?", dataset="upload-1")
    before.store.add_message("s5", "assistant", "Upload answer.", dataset="upload-1")
    before.store.add_message("s5", "assistant", "⚠️ timed out", dataset="sample")

    model = ScriptedChatModel(script=[AIMessage(content="They are growing.")])
    after = AdvisorService(settings_for(home), knowledge=playbook_kb, model=model)  # restart
    list(after.ask("sample", "s5", "are they growing?"))
    said = [(m.type, m.content) for m in model.received[0] if m.type in ("human", "ai")]
    assert said == [("human", "which segment is loyal?"), ("ai", "Champions churn least."),
                    ("human", "are they growing?")]
    # within one run the agent's own memory carries on, without repeating the history
    model.script.append(AIMessage(content="You're welcome."))
    list(after.ask("sample", "s5", "thanks"))
    assert [m.content for m in model.received[1] if m.type == "human"] == [
        "which segment is loyal?", "are they growing?", "thanks"]
    assert [m["dataset"] for m in after.transcript("s5")][-2:] == ["sample", "sample"]


def test_an_answer_cut_short_keeps_the_question_and_what_was_said(service):
    stream = service.ask("sample", "s4", "which segment is churning?")
    first = next(stream)  # the browser goes away after the first event
    stream.close()
    user, assistant = service.transcript("s4")
    assert user["content"] == "which segment is churning?"
    assert assistant["tool_calls"][0]["name"] == first.name
    assert assistant["content"] == "⚠️ no answer"


def test_an_unknown_dataset_is_an_error_in_the_chat_not_a_crash(service):
    [event] = list(service.ask("nope", "s3", "hello"))
    assert event.kind == "error" and "no dataset 'nope'" in event.content


def test_dates_in_an_unusual_format_are_read_with_the_format_given(service, home, tmp_path):
    orders, _ = generate_sample_shop(customers=300, months=12, seed=5)
    odd = tmp_path / "odd dates.csv"
    orders.assign(order_date=orders["order_date"].dt.strftime("%d|%m|%Y @ %Hh%M")).to_csv(
        odd, index=False)
    preview = service.receive_upload(odd)
    assert "'Date format' box" in " ".join(preview.notes)  # says how to fix it in the app
    with pytest.raises(DataError, match=r"cannot be read.*In the app: type the format into "
                                        r"the 'Date format' box"):
        service.analyse_upload(preview.path, preview.mapping_table())

    fmt = "%d|%m|%Y @ %Hh%M"
    preview = service.receive_upload(odd, date_format=fmt)
    assert preview.rows["order_date"].iloc[0] == orders["order_date"].iloc[0].floor("min")
    dataset = service.analyse_upload(preview.path, preview.mapping_table(), date_format=fmt)
    assert len(service.analysis(dataset.key).customers) == orders["customer_id"].nunique()
    # the format is kept with the upload: a restart reads the file the same way
    again = AdvisorService(settings_for(home), knowledge=service.knowledge)
    [restored] = [d for d in again.datasets() if d.key == dataset.key]
    assert restored.date_format == fmt


def test_a_file_without_a_header_line_previews_its_columns_by_number(service, tmp_path):
    orders, _ = generate_sample_shop(customers=300, months=12, seed=5)
    path = tmp_path / "cdnow.txt"
    lines = orders.assign(day=orders["order_date"].dt.strftime("%Y%m%d"))
    lines[["customer_id", "day", "quantity", "amount"]].to_csv(path, header=False, index=False)
    preview = service.receive_upload(path)
    assert preview.mapping == {"customer_id": "1", "order_date": "2", "amount": "4",
                               "quantity": "3"}
    assert preview.rows["customer_id"].iloc[0] == orders["customer_id"].iloc[0]  # line 1
    assert any("no header line" in note for note in preview.notes)
    dataset = service.analyse_upload(preview.path, preview.mapping_table())
    analysis = service.analysis(dataset.key)
    assert analysis.cleaning.rows_in == len(orders)
    assert len(analysis.customers) == orders["customer_id"].nunique()


def test_notes_on_how_the_data_was_read_say_how_to_change_it_in_the_app(service, tmp_path):
    orders, _ = generate_sample_shop(customers=300, months=12, seed=5)
    path = tmp_path / "european dates.csv"
    orders.assign(order_date=orders["order_date"].dt.strftime("%d/%m/%Y %H:%M")).to_csv(
        path, index=False)
    preview = service.receive_upload(path)
    [note] = [n for n in preview.notes if "dates parsed as day-first" in n]
    assert "In the app: type the format into the 'Date format' box" in note
    dataset = service.analyse_upload(preview.path, preview.mapping_table())
    summary = service.dataset_summary(dataset.key)
    assert "dates parsed as day-first" in summary
    assert "In the app: type the format into the 'Date format' box" in summary


def test_an_export_with_order_totals_keeps_every_line_through_the_mapping_table(service,
                                                                                tmp_path):
    # Shopify-style: the order total on an order's first line, blank on the others
    orders, _ = generate_sample_shop(customers=300, months=12, seed=5)
    first = ~orders["order_id"].duplicated()
    total = orders.groupby("order_id")["amount"].transform("sum").where(first)
    path = tmp_path / "orders_export.csv"
    orders.assign(Total=total).drop(columns=["amount"]).to_csv(path, index=False)
    preview = service.receive_upload(path)
    assert "amount" not in preview.mapping  # the table the user confirms does not pin Total
    assert any("one line per order" in note for note in preview.notes)
    dataset = service.analyse_upload(preview.path, preview.mapping_table())
    cleaning = service.analysis(dataset.key).cleaning
    assert cleaning.dropped["non_positive_price_or_amount"] == 0  # no line lost for its amount
    orders.to_csv(tmp_path / "with line amounts.csv", index=False)
    _lines, expected, _loaded = load_and_clean(tmp_path / "with line amounts.csv")
    # the same lines as with line amounts (a copy of an order's first line differs from it
    # in the total, which is not read, so it is no longer a duplicate)
    duplicates = cleaning.dropped["duplicate"], expected.dropped["duplicate"]
    assert cleaning.rows_kept + duplicates[0] == expected.rows_kept + duplicates[1]


def test_a_workbook_with_several_sheets_asks_for_one(service, tmp_path):
    book = tmp_path / "orders.xlsx"
    rows = pd.DataFrame({"customer_id": ["A", "B"], "order_date": ["2024-01-02", "2024-02-03"],
                         "amount": [10.0, 12.5]})
    with pd.ExcelWriter(book) as writer:
        rows.to_excel(writer, sheet_name="2023", index=False)
        rows.rename(columns={"amount": "total"}).to_excel(writer, sheet_name="2024",
                                                          index=False)
    with pytest.raises(DataError, match="'Excel sheet' box, then upload the file again"):
        service.receive_upload(book)
    preview = service.receive_upload(book, sheet="2024")
    assert preview.mapping["amount"] == "total" and len(preview.rows) == 2
    same = tmp_path / "years.xlsx"  # sheets with the same columns: stacked, no sheet needed
    with pd.ExcelWriter(same) as writer:
        rows.to_excel(writer, sheet_name="2023", index=False)
        rows.to_excel(writer, sheet_name="2024", index=False)
    assert len(service.receive_upload(same).rows) == 4


def test_a_plan_drafted_on_an_early_export_is_measured_on_the_later_one(service, tmp_path):
    from analytics.sample import SAMPLE_SHOP_PATH

    lines = pd.read_csv(SAMPLE_SHOP_PATH, dtype=str)
    early = tmp_path / "shop until october.csv"
    lines.loc[lines["order_date"] < "2025-11-01"].to_csv(early, index=False)
    dataset = service.analyse_upload(service.receive_upload(early, early.name).path)
    plan_id = service.save_draft(service.draft_plan(dataset.key, "Hibernating"))
    # the export it was drafted on holds nothing after it; the later one holds 61 days
    assert "cannot be measured yet" in service.plan_results(dataset.key, plan_id)
    text = service.plan_results("sample", plan_id)
    assert "treated customers ordered" in text
    assert "(of its 90 days: the data end on 2025-12-31)" in text
    with pytest.raises(DataError, match="no saved plan 999; the saved plans are"):
        service.plan_results("sample", 999)
