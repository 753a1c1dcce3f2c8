"""The web app, launched for real on 127.0.0.1: driven by ``gradio_client`` and by headless
Chromium (Debian's ``chromium`` package through Playwright).

The browser test saves screenshots in ``test-artifacts/screenshots``. Without Chromium it
is skipped with the command that installs it, unless ``REQUIRE_BROWSER=1`` (as in CI),
which makes a missing browser a failure.
"""

import os
import re
import shutil
import socket
from pathlib import Path

import pandas as pd
import pytest

from advisor.service import AdvisorService
from advisor.settings import load_settings
from advisor.web import _prepare_environment, launch
from analytics.sample import generate_sample_shop

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync"]
SESSION = {"session": "", "dataset": ""}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app-home")


@pytest.fixture(scope="module")
def app_server(app_home, playbook_kb):
    """The app over a fresh workspace, launched with the default address, for this module."""
    settings = load_settings(environ={"ADVISOR_HOME": str(app_home)}, env_file=None)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        _prepare_environment(settings)
        service = AdvisorService(settings, knowledge=playbook_kb)
        port = _free_port()
        app = launch(service, port=port, block=False, quiet=True)  # host from the settings
        try:
            yield app, f"http://127.0.0.1:{port}/"
        finally:
            app.close()


@pytest.fixture(scope="module")
def app_url(app_server) -> str:
    return app_server[1]


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False, download_files=False)


def _text(message: dict) -> str:
    content = message["content"]
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def test_binds_to_loopback_unless_told_otherwise(app_server):
    app, _ = app_server
    assert app.server_name == "127.0.0.1"


def test_chat_answers_with_numbers_from_the_analysis(client, sample_analysis):
    history, box = client.predict("which segment is churning?", [], SESSION, api_name="/ask")
    assert box == ""
    user, step, answer = history[:3]
    assert _text(user) == "which segment is churning?"
    assert step["metadata"]["title"] == "Tool: churning_segments"
    assert step["metadata"]["status"] == "done"
    rfm = sample_analysis.segments.query("kind == 'rfm'")
    top = rfm.nlargest(1, "revenue_at_risk").iloc[0]
    text = _text(answer)
    assert f"**{top['segment']}**" in text
    assert f"{top['revenue_at_risk']:,.2f}" in text
    assert f"| {top['segment']} | {int(top['customers'])} |" in text  # rendered as a table


def test_upload_of_a_bad_file_keeps_the_dataset_and_a_good_file_becomes_current(
        client, app_home, tmp_path, sample_analysis):
    from gradio_client import handle_file

    bad = tmp_path / "orders.csv"
    bad.write_text("who,when\nA,yesterday\n", encoding="utf-8")
    mapping, _rows, status = client.predict(handle_file(str(bad)), "", "", api_name="/upload")
    fields = {row[0]: row[1] for row in mapping["data"]}
    assert fields["customer_id"] == "" and fields["order_date"] == ""
    result = client.predict(mapping, "", "", SESSION, api_name="/analyse")
    status = result[-1]
    assert "status-error" in status and "orders.csv" in status and "customer_id" in status
    assert not isinstance(result[0], str)  # the header naming the dataset is left alone
    history, _ = client.predict("give me an overview of the segments", [], SESSION,
                                api_name="/ask")
    assert "5,000 customers" in _text(history[-1])  # still the sample shop

    orders, _ = generate_sample_shop(customers=300, months=12, seed=11)
    good = tmp_path / "good shop.csv"
    orders.to_csv(good, index=False)
    mapping, _rows, status = client.predict(handle_file(str(good)), "", "", api_name="/upload")
    assert "status-ok" in status
    uploaded = list((app_home / "uploads").glob("*/good_shop.csv"))
    assert len(uploaded) == 1  # the upload is kept inside ADVISOR_HOME
    result = client.predict(mapping, "", "", SESSION, api_name="/analyse")
    header, choice, kpis = result[0], result[1], result[7]
    assert "Data: **good_shop.csv**" in header and choice["value"] != "sample"
    assert ["good_shop.csv", choice["value"]] in choice["choices"]
    assert "status-ok" in result[-1]
    assert "<div class='value'>300</div>" in kpis  # the overview now shows the upload
    history, _ = client.predict("give me an overview of the segments", [], SESSION,
                                api_name="/ask")
    assert "300 customers" in _text(history[-1])  # and the advisor answers about it

    back = client.predict("sample", SESSION, api_name="/use_dataset")
    assert "Sample shop" in back[0]


def test_a_plan_is_drafted_saved_listed_and_exported(client, app_home):
    _, german, _, _ = client.predict("Hibernating", 12, 0, "segment default", "de",
                                     api_name="/draft_plan")
    assert "Wir vermissen Sie" in german  # the message copy in the language chosen
    # an audience by days without an order, across segments
    lapsed_name, lapsed, _, _ = client.predict(
        "All customers", 0, 0, "segment default", "en", 120, api_name="/draft_plan")
    assert lapsed_name.startswith("No order for 120+ days")
    assert "customers with no order for 120 days or more" in lapsed
    once_name, _, _, _ = client.predict("All customers", 0, 0, "segment default", "en", 0,
                                        True, api_name="/draft_plan")
    assert once_name.startswith("One-time buyers: second-order coupon")
    german_name, german_plan, _, _ = client.predict(
        "At Risk", 0, 0, "segment default", "en", 0, False, "Germany", api_name="/draft_plan")
    assert german_name.startswith("At Risk, Germany")
    assert "customers in the RFM segment 'At Risk', from Germany" in german_plan
    big_name, big_plan, _, _ = client.predict(
        "All customers", 0, 0, "segment default", "en", 90, False, "Any country", 1000,
        api_name="/draft_plan")
    assert big_name.startswith("No order for 90+ days, spent 1,000+")
    assert "customers with no order for 90 days or more who spent 1,000 or more" in big_plan
    bought_name, bought_plan, _, _ = client.predict(
        "At Risk", 0, 0, "segment default", "en", 0, False, "Any country", 0, "p0307",
        api_name="/draft_plan")
    assert bought_name.startswith("At Risk, bought P0307")
    assert "customers in the RFM segment 'At Risk', who bought P0307" in bought_plan
    cross_name, cross_plan, _, _ = client.predict(
        "All customers", 0, 0, "segment default", "en", 0, False, "Any country", 0, "P0307",
        "P0311", api_name="/draft_plan")
    assert cross_name.startswith("Cross-sell P0311 to buyers of P0307")
    assert "customers who bought P0307 and not P0311" in cross_plan
    name, markdown, _, status = client.predict(
        "Hibernating", 12, 0, "segment default", "en", api_name="/draft_plan")
    assert name.startswith("Hibernating") and "# Campaign plan: Hibernating" in markdown
    assert "We miss you" in markdown
    offer = int(re.search(r"\*\*(\d+)% off\*\*", markdown)[1])
    assert offer <= 12 and "your discount cap 12%" in markdown
    plans, status = client.predict("Sleepers Q1", markdown + "\nEdited.",
                                   api_name="/save_plan")
    assert "Saved as plan" in status
    plan_id = int(status.split("Saved as plan ")[1].split(".")[0])
    table = pd.DataFrame(plans["data"], columns=plans["headers"])
    assert table.loc[table["id"] == plan_id, "name"].item() == "Sleepers Q1"
    assert table.loc[table["id"] == plan_id, "discount"].item() <= 0.12
    listed = client.predict(api_name="/list_plans")
    assert plan_id in [row[0] for row in listed["data"]]
    files, status = client.predict(api_name="/export_plan")
    names = sorted(f["orig_name"] for f in files)
    assert names == [f"plan-{plan_id}-sleepers-q1-audience.csv", f"plan-{plan_id}-sleepers-q1.md"]
    exported = app_home / "exports" / names[1]
    assert exported.read_text(encoding="utf-8").endswith("Edited.")
    # measured on the data it was drafted on: nothing after it yet, and it says what to load
    results, status = client.predict(api_name="/plan_results")
    assert f"(plan {plan_id}, drafted on" in results and "cannot be measured yet" in results
    assert f"Measured plan {plan_id}" in status


def test_basic_auth_from_settings_guards_the_app(app_home, playbook_kb):
    import urllib.error
    import urllib.request

    from gradio_client import Client

    settings = load_settings(environ={"ADVISOR_HOME": str(app_home),
                                      "ADVISOR_AUTH": "ops:s3cret"}, env_file=None)
    port = _free_port()
    app = launch(AdvisorService(settings, knowledge=playbook_kb), host="127.0.0.1",
                 port=port, block=False, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "config", timeout=30)
        assert refused.value.code == 401
        with pytest.raises(Exception, match=r"(?i)login|auth|credential|401"):
            Client(url, auth=("ops", "wrong"), verbose=False)
        client = Client(url, auth=("ops", "s3cret"), verbose=False)
        history, _ = client.predict("which segment is churning?", [], SESSION, api_name="/ask")
        assert "revenue at risk" in _text(history[-1])
    finally:
        app.close()


# --- a real browser -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = (f"no Chromium at {CHROMIUM}; install Debian's package: "
                   "apt-get update && apt-get install -y chromium")
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def test_in_a_browser_ask_see_the_answer_and_the_tool_step_then_the_charts(
        browser, app_url, sample_analysis):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(app_url)
    page.locator("#session-line").get_by_text("Conversation").wait_for()  # page loaded
    page.locator("#question textarea").fill("which segment is churning?")
    page.locator("#ask").click()

    rfm = sample_analysis.segments.query("kind == 'rfm'")
    top = rfm.nlargest(1, "revenue_at_risk").iloc[0]
    chat = page.locator("#chat")
    chat.get_by_text("is the segment with the most revenue at risk").wait_for()
    assert f"{top['revenue_at_risk']:,.2f}" in chat.inner_text()
    step = chat.get_by_text("Tool: churning_segments")
    step.wait_for()
    chat.locator("table").first.wait_for()  # the answer's table renders as a table
    page.screenshot(path=str(SCREENSHOTS / "advisor.png"), full_page=True)

    step.click()  # the collapsible step opens on the tool's result
    chat.get_by_text("total revenue at risk").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "advisor-tool-step.png"), full_page=True)

    session = page.locator("#session-line").inner_text()
    page.reload()  # the conversation belongs to this browser and comes back
    page.locator("#session-line").get_by_text("Conversation").wait_for()
    assert page.locator("#session-line").inner_text() == session
    page.locator("#chat").get_by_text("is the segment with the most revenue at risk").wait_for()
    assert "which segment is churning?" in page.locator("#chat").inner_text()

    page.get_by_role("tab", name="Overview").click()
    page.locator("#segments").get_by_text(str(top["segment"])).first.wait_for()
    shown = page.locator("#segments").inner_text()  # shares in %, money with separators
    assert f"{top['customer_share']:.1%}" in shown and f"{top['revenue_at_risk']:,.0f}" in shown
    page.locator("#churn-plot canvas, #churn-plot svg").first.wait_for()
    page.locator("#cohort-heatmap img, #cohort-heatmap svg").first.wait_for()
    page.locator("#clv-plot canvas, #clv-plot svg").first.wait_for()
    page.locator("#revenue-plot canvas, #revenue-plot svg").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

    # a plan from the form: the segment with the most revenue at risk (the default), its
    # customers with no order for 90 days who spent 1,000 or more
    customers = sample_analysis.customers
    chosen = customers.loc[(customers["rfm_segment"] == top["segment"])
                           & (customers["recency_days"] >= 90) & (customers["monetary"] >= 1000)]
    page.get_by_role("tab", name="Campaigns").click()
    page.locator("#inactive-days input").fill("90")
    page.locator("#min-spend input").fill("1000")
    page.locator("#draft").click()
    page.get_by_text(f"Drafted a plan for {top['segment']}, no order for 90+ days, spent "
                     f"1,000+ ({len(chosen):,} customers)").wait_for()
    assert "who spent 1,000 or more to date" in page.locator("#plan-editor textarea").input_value()
    # the same, for those of them who bought the shop's most bought product
    lines = sample_analysis.lines
    product = lines["product_id"].value_counts().index[0]
    buyers = chosen.index.isin(lines.loc[lines["product_id"] == product, "customer_id"])
    page.locator("#bought-product input, #bought-product textarea").first.fill(product.lower())
    page.locator("#draft").click()
    page.get_by_text(f"Drafted a plan for {top['segment']}, no order for 90+ days, spent "
                     f"1,000+, bought {product} ({buyers.sum():,} customers)").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "campaigns.png"), full_page=True)
    page.close()


def test_serve_with_a_file_it_cannot_map_says_how_to_fix_it(tmp_path, capsys):
    from advisor.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--data", str(bad), "--port", str(_free_port())])
    assert stopped.value.code == 1
    error = capsys.readouterr().err
    assert "Error: bad.csv: no column that can be the customer_id" in error
    assert "upload the file in the Data tab" in error and "Traceback" not in error
