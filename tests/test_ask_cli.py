"""`retention-advisor ask` and `plans` end to end, offline, in a subprocess like a user."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from advisor.knowledge import KnowledgeBase


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A workspace whose playbook index is built once for this module."""
    home = tmp_path_factory.mktemp("home")
    KnowledgeBase(home).ensure_index()
    return home


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "ADVISOR_"))}
    env |= {"ADVISOR_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "advisor.cli", *args], capture_output=True,
                          text=True, timeout=600, env=env, cwd=home)


def test_ask_which_segment_is_churning(home, sample_analysis):
    result = run(home, "ask", "which segment is churning?", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"].startswith("offline advisor")
    assert answer["tool_calls"][0]["name"] == "churning_segments"
    rfm = sample_analysis.segments.query("kind == 'rfm'")
    top = rfm.nlargest(1, "revenue_at_risk").iloc[0]
    assert f"**{top['segment']}**" in answer["answer"]
    assert f"{top['revenue_at_risk']:,.2f}" in answer["answer"]
    # the exchange is kept, tagged with the data it was about, for the next question
    from advisor.storage import PlanStore

    *_, asked, answered = PlanStore(home).transcript("cli")
    assert (asked["role"], asked["content"]) == ("user", "which segment is churning?")
    assert (answered["role"], answered["content"]) == ("assistant", answer["answer"])
    as_of = sample_analysis.as_of.date()
    assert asked["dataset"] == answered["dataset"] == f"cli:sample_shop.csv.gz:{as_of}"


def test_ask_for_a_campaign_saves_a_plan_within_the_cap_with_sources(home, tmp_path):
    result = run(home, "ask", "draft a win-back campaign for At Risk customers with a 10% "
                 "discount cap", "--json")
    assert result.returncode == 0, result.stderr
    # the playbook search loads the embedding model: no loading bar around the answer
    assert "Loading weights" not in result.stderr
    call = json.loads(result.stdout)["tool_calls"][0]
    plan = call["result"]
    assert call["args"] == {"segment": "At Risk", "discount_cap": 0.1}
    assert 0 < plan["discount"] <= 0.10
    assert plan["citations"] and all(c["source"].endswith(".md") for c in plan["citations"])
    assert any("win-back" in c["source"] for c in plan["citations"])
    listed = run(home, "plans", "list")
    assert listed.returncode == 0 and "At Risk" in listed.stdout
    exported = run(home, "plans", "export", str(plan["plan_id"]), "--out", str(tmp_path))
    assert exported.returncode == 0, exported.stderr
    markdown = next(tmp_path.glob("plan-*.md")).read_text(encoding="utf-8")
    assert "10% off" in markdown and "## Sources" in markdown
    audience = pd.read_csv(next(tmp_path.glob("plan-*-audience.csv")),
                           dtype={"customer_id": str})
    assert len(audience) == plan["audience_size"]
    assert audience["customer_id"].str.len().eq(6).all()  # leading zeros kept


def test_unknown_plan_is_one_clear_message(home):
    result = run(home, "plans", "show", "999")
    assert result.returncode == 1
    assert "999" in result.stderr and "Traceback" not in result.stderr


def test_plans_results_measures_a_saved_plan_on_the_data(home, sample_analysis):
    from advisor.storage import PlanStore

    # a plan drafted a month before the data end, for the Hibernating customers then
    customers = sample_analysis.customers
    ids = customers.index[customers["rfm_segment"] == "Hibernating"].astype(str)
    audience = pd.DataFrame({"group": ["holdout" if i % 5 == 0 else "treatment"
                                       for i in range(len(ids))]},
                            index=pd.Index(ids, name="customer_id"))
    drafted = (sample_analysis.as_of - pd.Timedelta(days=30)).date()
    plan_id = PlanStore(home).save_plan({"segment": "Hibernating", "horizon_days": 90},
                                        audience, name="Hibernating: win-back",
                                        source="sample_shop.csv.gz", as_of=str(drafted))
    result = run(home, "plans", "results", str(plan_id), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    orders = sample_analysis.orders
    after = orders.loc[orders["order_date"] > pd.Timestamp(drafted), "customer_id"]
    ordered = audience.index.isin(after.astype(str))
    held = (audience["group"] == "holdout").to_numpy()
    assert payload["measured"] is True and payload["observed_days"] == 30
    assert payload["groups"]["treatment"]["ordered"] == int(ordered[~held].sum())
    assert payload["groups"]["holdout"]["ordered"] == int(ordered[held].sum())
    words = run(home, "plans", "results", str(plan_id))
    assert words.returncode == 0, words.stderr
    rate = payload["groups"]["treatment"]["rate"]
    assert f"{rate:.1%} of the {int((~held).sum()):,} treated" in " ".join(words.stdout.split())

    missing = run(home, "plans", "results", "999")
    assert missing.returncode == 1
    assert "999" in missing.stderr and "Traceback" not in missing.stderr
