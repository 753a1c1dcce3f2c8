"""Agent events → chat messages: the pure function the web app streams through."""

import json

from advisor.agent import Event
from advisor.chat import (
    citations_of,
    events_to_messages,
    markdown_table,
    result_markdown,
    transcript_to_messages,
)

CHURN = json.dumps({"as_of": "2025-12-31", "total_revenue_at_risk": 290490.8,
                    "segments": [{"segment": "At Risk", "customers": 559,
                                  "mean_churn_probability": 0.833},
                                 {"segment": "Lost", "customers": 777,
                                  "mean_churn_probability": 0.981}]})


def stream(*events: Event) -> list[list[dict]]:
    return list(events_to_messages(iter(events)))


def test_a_tool_step_goes_from_pending_to_done_with_duration_and_a_table():
    updates = stream(
        Event("tool_call", name="churning_segments", args={"by": "rfm"}, call_id="c1"),
        Event("tool_result", name="churning_segments", content=CHURN, call_id="c1",
              seconds=0.0234),
        Event("token", content="**At Risk** "),
        Event("token", content="is churning."),
    )
    first = updates[0]
    assert len(first) == 1
    assert first[0]["metadata"]["title"] == "Tool: churning_segments"
    assert first[0]["metadata"]["status"] == "pending"
    assert "`by` = `\"rfm\"`" in first[0]["content"]

    step, answer = updates[-1]
    assert step["metadata"]["status"] == "done"
    assert step["metadata"]["duration"] == 0.023
    assert "| segment | customers | mean churn probability |" in step["content"]
    assert "| At Risk | 559 | 0.833 |" in step["content"]
    assert "- total revenue at risk: 290,491" in step["content"]
    assert answer == {"role": "assistant", "content": "**At Risk** is churning."}
    # the answer streams: the text grows token by token
    assert [u[-1]["content"] for u in updates[2:4]] == ["**At Risk** ",
                                                       "**At Risk** is churning."]


def test_earlier_updates_are_not_changed_by_later_ones():
    updates = stream(Event("tool_call", name="clv_summary", call_id="c1"),
                     Event("tool_result", name="clv_summary", content="{}", call_id="c1"))
    assert updates[0][0]["metadata"]["status"] == "pending"


def test_playbook_passages_are_cited_after_the_answer():
    hits = json.dumps({"query": "win back", "passages": [
        {"source": "win-back.md", "title": "Win-back coupons", "section": "Coupon depth",
         "text": "..."},
        {"source": "win-back.md", "title": "Win-back coupons", "section": "Coupon depth",
         "text": "..."},
        {"source": "referral.md", "title": "Referral programme", "section": "", "text": ""}]})
    *_, final = stream(Event("tool_call", name="playbook_search", call_id="p"),
                       Event("tool_result", name="playbook_search", content=hits, call_id="p"),
                       Event("token", content="Offer 10–15 % off."))
    assert final[-2]["content"] == "Offer 10–15 % off."
    sources = final[-1]["content"]
    assert sources.startswith("**Playbook sources**")
    assert sources.count("win-back.md") == 1  # the same passage is listed once
    assert "Win-back coupons, “Coupon depth” (`win-back.md`)" in sources
    assert "Referral programme (`referral.md`)" in sources


def test_a_failed_tool_and_a_failed_model_show_as_messages():
    *_, final = stream(
        Event("tool_call", name="customer_profile", args={"customer_id": "x"}, call_id="c"),
        Event("tool_result", name="customer_profile", call_id="c",
              content="no customer 'x' in the data (5,000 customers, ids such as C00001)"),
        Event("tool_call", name="customer_profile", args={"customer_id": "C1"}, call_id="d"),
        Event("error", content="Could not reach the language model: refused"),
    )
    failed, pending, error = final
    assert failed["metadata"]["title"] == "Tool failed: customer_profile"
    assert "**Error:** no customer 'x'" in failed["content"]
    assert pending["metadata"]["status"] == "done"  # no spinner left behind
    assert error["content"] == "⚠️ Could not reach the language model: refused"
    assert len(final) == 3  # no extra "empty answer" message after an error


def test_an_empty_answer_says_so():
    *_, final = stream(Event("tool_call", name="clv_summary", call_id="c"),
                       Event("tool_result", name="clv_summary", content="{}", call_id="c"))
    assert final[-1]["content"].startswith("The model returned an empty answer")
    assert stream()[-1][-1]["content"].startswith("The model returned an empty answer")


def test_result_markdown_shapes():
    assert result_markdown("not json") == "not json"
    text = result_markdown(json.dumps({"by_segment": {"Lost": {"total": 1.5, "mean": 0.2}},
                                       "note": "a\nb", "flag": True, "missing": None}))
    assert "| name | total | mean |" in text and "| Lost | 1.50 | 0.2 |" in text
    assert "- flag: yes" in text and "- missing: –" in text and "**note**\n\na\nb" in text


def test_markdown_table_escapes_pipes_and_truncates():
    rows = [{"name": f"a|b {i}", "n": i} for i in range(20)]
    table = markdown_table(rows, max_rows=3)
    assert table.splitlines()[2] == "| a\\|b 0 | 0 |"
    assert table.endswith("… and 17 more")
    assert markdown_table([]) == "_(none)_"


def test_citations_come_from_search_hits_and_plan_citations_only():
    plan = json.dumps({"citations": [{"source": "vip.md", "title": "VIP"}, {"title": "x"}]})
    assert citations_of("campaign_plan", plan) == [{"source": "vip.md", "title": "VIP"}]
    assert citations_of("segment_overview", json.dumps({"segments": []})) == []
    assert citations_of("playbook_search", "oops") == []


def test_a_saved_transcript_comes_back_with_its_tool_steps():
    records = [
        {"role": "user", "content": "which segment is churning?", "tool_calls": None},
        {"role": "assistant", "content": "At Risk.",
         "tool_calls": [{"name": "churning_segments", "args": {}, "result": CHURN}]},
    ]
    user, step, answer = transcript_to_messages(records)
    assert user == {"role": "user", "content": "which segment is churning?"}
    assert step["metadata"] == {"title": "Tool: churning_segments", "status": "done"}
    assert "| At Risk | 559 | 0.833 |" in step["content"]
    assert answer == {"role": "assistant", "content": "At Risk."}
