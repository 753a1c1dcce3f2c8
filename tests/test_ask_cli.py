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
