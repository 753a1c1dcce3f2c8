"""Saved plans and transcripts: round trips, restarts, exports, errors, threads, migrations."""

from __future__ import annotations

import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from advisor.storage import (
    DATABASE_NAME,
    SCHEMA_VERSION,
    PlanNotFoundError,
    PlanStore,
    StorageError,
    write_atomic,
)
from analytics import outputs
from analytics.campaigns import plan_campaign
from analytics.errors import RetentionError

CITATIONS = [{"source": "win-back-coupons.md", "title": "Win-back coupons",
              "section": "Coupon depth"}]


def make_plan(segment: str = "At Risk", **numbers: float) -> dict:
    return {"segment": segment, "audience_size": 3, "treatment_size": 2, "holdout_size": 1,
            "discount": 0.15, "expected_cost": 120.5, "warnings": ["small holdout"],
            "text": {"subject": "We miss you", "body": "Here is 15% off.",
                     "summary": "Win back three customers."},
            "citations": CITATIONS, **numbers}


def make_audience() -> pd.DataFrame:
    return pd.DataFrame(
        {"rfm_segment": ["At Risk"] * 3,
         "churn_probability": [0.9, 0.75, np.nan],
         "predicted_clv": [120.0, 80.5, 10.0],
         "revenue_at_risk": [108.0, 60.375, 5.0],
         "group": ["treatment", "holdout", "treatment"],
         "recency_days": [200, 180, 150]},
        index=pd.Index(["00042", "007", "1234"], name="customer_id"))


@pytest.fixture
def store(tmp_path: Path) -> PlanStore:
    return PlanStore(tmp_path / "home")


def test_save_list_get_update_delete_round_trip(store: PlanStore) -> None:
    plan_id = store.save_plan(make_plan(), make_audience(), name="Win back At Risk",
                              markdown="# Win back\n", source="shop.csv", as_of="2024-06-30")

    listed = store.list_plans()
    assert listed[["id", "name", "segment", "status"]].values.tolist() == [
        [plan_id, "Win back At Risk", "At Risk", "saved"]]
    row = listed.iloc[0]
    assert (row["audience_size"], row["discount"], row["expected_cost"]) == (3, 0.15, 120.5)

    stored = store.get_plan(plan_id)
    assert stored.plan == make_plan()
    assert (stored.markdown, stored.source, stored.as_of) == ("# Win back\n", "shop.csv",
                                                            "2024-06-30")
    assert stored.created_at.endswith("+00:00") and stored.created_at == stored.updated_at

    edited = {**make_plan(), "discount": 0.1, "text": {"subject": "Come back"}}
    later = "2099-01-01T00:00:00+00:00"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("advisor.storage._now", lambda: later)
        updated = store.update_plan(plan_id, plan=edited, markdown="# Edited\n", name="Edited")
    assert (updated.name, updated.markdown, updated.plan) == ("Edited", "# Edited\n", edited)
    assert updated.created_at == stored.created_at and updated.updated_at == later
    assert store.list_plans().loc[0, "discount"] == 0.1
    assert len(store.plan_audience(plan_id)) == 3  # an edited plan keeps its audience

    store.delete_plan(plan_id)
    assert store.list_plans().empty
    with pytest.raises(PlanNotFoundError):
        store.get_plan(plan_id)


def test_list_plans_is_newest_first_with_stable_columns(store: PlanStore) -> None:
    empty = store.list_plans()
    assert empty.empty and "expected_cost" in empty.columns
    first = store.save_plan(make_plan("Lost"), make_audience())
    second = store.save_plan(make_plan("Champions"), make_audience(), status="draft")
    listed = store.list_plans()
    assert listed["id"].tolist() == [second, first]
    assert listed["status"].tolist() == ["draft", "saved"]
    assert listed["name"].iloc[1].startswith("Lost plan ")  # a default name


def test_saved_plans_and_transcripts_survive_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = PlanStore(home)
    plan_id = store.save_plan(make_plan(), make_audience(), name="Keep me")
    store.update_plan(plan_id, markdown="# Edited before the restart\n")
    store.add_message("s1", "user", "which segment is churning?")
    del store

    reopened = PlanStore(home)
    assert reopened.get_plan(plan_id).markdown == "# Edited before the restart\n"
    assert reopened.plan_audience(plan_id).index.tolist() == ["00042", "007", "1234"]
    assert [m["content"] for m in reopened.transcript("s1")] == ["which segment is churning?"]
    assert reopened.save_plan(make_plan(), make_audience()) == plan_id + 1


def test_audience_keeps_ids_as_text_order_and_missing_values(store: PlanStore) -> None:
    plan_id = store.save_plan(make_plan(), make_audience())
    audience = store.plan_audience(plan_id)
    assert audience.index.name == "customer_id"
    assert audience.index.tolist() == ["00042", "007", "1234"]
    assert audience["group"].tolist() == ["treatment", "holdout", "treatment"]
    assert audience["revenue_at_risk"].tolist() == [108.0, 60.375, 5.0]
    assert np.isnan(audience.loc["1234", "churn_probability"])
    # some columns only, as the same frame's
    some = store.plan_audience(plan_id, columns=["group", "revenue_at_risk"])
    pd.testing.assert_frame_equal(some, audience[["group", "revenue_at_risk"]])
    assert store.plan_audience(plan_id, columns=[]).index.tolist() == ["00042", "007", "1234"]
    with pytest.raises(ValueError, match="no column 'grp'; it has group, rfm_segment"):
        store.plan_audience(plan_id, columns=["grp"])


def test_audience_may_carry_ids_in_a_column_and_lack_optional_columns(store: PlanStore) -> None:
    frame = pd.DataFrame({"customer_id": ["0001", "0002"], "group": ["holdout", None]})
    audience = store.plan_audience(store.save_plan(make_plan(), frame))
    assert audience.index.tolist() == ["0001", "0002"]
    assert audience["predicted_clv"].isna().all()
    assert audience["group"].iloc[0] == "holdout" and pd.isna(audience["group"].iloc[1])


def test_a_plan_from_plan_campaign_saves_as_is(store: PlanStore) -> None:
    customers = pd.DataFrame(
        {"rfm_segment": ["At Risk"] * 4 + ["Champions"],
         "revenue_at_risk": [50.0, 40.0, 30.0, 20.0, 1.0],
         "avg_order_value": [60.0, 50.0, 40.0, 30.0, 90.0],
         "predicted_clv": [100.0, 80.0, 60.0, 40.0, 900.0],
         "churn_probability": [0.8, 0.7, 0.6, 0.5, 0.1],
         "recency_days": [200, 180, 160, 150, 5],
         "usual_horizon_revenue": [70.0, 60.0, 50.0, 40.0, 300.0]},
        index=pd.Index(["0001", "0002", "0003", "0004", "0005"], name="customer_id"))
    plan = plan_campaign(customers, "At Risk")
    words = {"text": {"subject": "Come back", "citations": CITATIONS}}
    plan_id = store.save_plan({**plan.to_dict(), **words}, plan.audience)

    assert store.get_plan(plan_id).plan == json.loads(json.dumps({**plan.to_dict(), **words}))
    saved = store.plan_audience(plan_id)
    assert saved.index.tolist() == plan.audience.index.tolist()
    assert saved["group"].tolist() == plan.audience["group"].tolist()
    assert saved["predicted_clv"].tolist() == plan.audience["predicted_clv"].tolist()


def test_export_writes_the_markdown_and_an_audience_csv(store: PlanStore,
                                                        tmp_path: Path) -> None:
    plan_id = store.save_plan(make_plan(), make_audience(), name="Win back: At Risk!",
                              markdown="# Win back\n\nSend on Monday.\n")
    folder = tmp_path / "exports" / "june"
    markdown_path, csv_path = store.export_plan(plan_id, folder)

    assert markdown_path == folder / f"plan-{plan_id}-win-back-at-risk.md"
    assert csv_path == folder / f"plan-{plan_id}-win-back-at-risk-audience.csv"
    assert markdown_path.read_text(encoding="utf-8") == "# Win back\n\nSend on Monday.\n"
    assert csv_path.read_text(encoding="utf-8").splitlines()[0] == (
        "customer_id,group,rfm_segment,churn_probability,predicted_clv,revenue_at_risk")
    back = pd.read_csv(csv_path, dtype={"customer_id": str})
    assert back["customer_id"].tolist() == ["00042", "007", "1234"]
    assert back["group"].tolist() == ["treatment", "holdout", "treatment"]
    assert back["revenue_at_risk"].tolist() == [108.0, 60.375, 5.0]
    assert sorted(p.name for p in folder.iterdir()) == sorted([markdown_path.name,
                                                               csv_path.name])

    store.update_plan(plan_id, markdown="# Second version\n")
    store.export_plan(plan_id, folder)  # overwrites its own earlier export
    assert markdown_path.read_text(encoding="utf-8") == "# Second version\n"


def test_an_audience_of_pseudonymous_ids_exports_whom_they_stand_for(
        store: PlanStore, tmp_path: Path) -> None:
    audience = make_audience().assign(contact=["Ann@Example.com", "bo@example.org", None])
    plan_id = store.save_plan(make_plan(), audience, name="Mailing")
    assert store.plan_audience(plan_id)["contact"].tolist()[:2] == ["Ann@Example.com",
                                                                    "bo@example.org"]
    _, csv_path = store.export_plan(plan_id, tmp_path)
    back = pd.read_csv(csv_path, dtype={"customer_id": str})
    assert back.columns[-1] == "contact"
    assert back["contact"].tolist()[:2] == ["Ann@Example.com", "bo@example.org"]
    assert back["contact"].isna().tolist() == [False, False, True]


def test_export_renders_a_plan_saved_without_markdown(store: PlanStore,
                                                      tmp_path: Path) -> None:
    plan_id = store.save_plan(make_plan(), make_audience(), name="Plain")
    markdown_path, _ = store.export_plan(plan_id, tmp_path)
    text = markdown_path.read_text(encoding="utf-8")
    assert text.startswith("# Plain\n")
    for expected in ("Win back three customers.", "Subject: We miss you", "| discount | 0.15 |",
                     "small holdout", "Win-back coupons — Coupon depth (win-back-coupons.md)"):
        assert expected in text


def test_unknown_plan_id_without_plans_says_how_to_make_one(store: PlanStore) -> None:
    with pytest.raises(PlanNotFoundError) as caught:
        store.get_plan(7)
    message = str(caught.value)
    assert "no saved plan 7" in message and "no saved plans yet" in message
    assert 'retention-advisor ask "draft a win-back campaign for At Risk customers"' in message
    assert isinstance(caught.value, RetentionError)


@pytest.mark.parametrize("call", [
    lambda store: store.get_plan(99),
    lambda store: store.plan_audience(99),
    lambda store: store.update_plan(99, name="x"),
    lambda store: store.delete_plan(99),
    lambda store: store.export_plan(99, Path("unused")),
])
def test_unknown_plan_id_lists_the_saved_ones(store: PlanStore, call) -> None:
    ids = [store.save_plan(make_plan(), make_audience()) for _ in range(3)]
    store.delete_plan(ids[1])
    with pytest.raises(PlanNotFoundError, match=rf"no saved plan 99; .* {ids[0]}, {ids[2]}$"):
        call(store)
    assert store.list_plans()["id"].tolist() == [ids[2], ids[0]]


@pytest.mark.parametrize("content", [
    b"customer_id,amount\n0001,12.5\n" * 200,
    b"SQLite format 3\x00" + bytes(range(256)) * 16,
])
def test_a_file_that_is_not_a_database_is_reported_and_left_alone(tmp_path: Path,
                                                                  content: bytes) -> None:
    home = tmp_path / "home"
    home.mkdir()
    path = home / DATABASE_NAME
    path.write_bytes(content)
    before = path.stat().st_mtime_ns

    with pytest.raises(StorageError) as caught:
        PlanStore(home)
    assert str(path) in str(caught.value) and "move it aside" in str(caught.value)
    assert path.read_bytes() == content and path.stat().st_mtime_ns == before
    assert [p.name for p in home.iterdir()] == [DATABASE_NAME]


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with sqlite3.connect(home / DATABASE_NAME) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match="newer Retention Advisor"):
        PlanStore(home)


def test_a_bad_plan_status_is_refused(store: PlanStore) -> None:
    with pytest.raises(ValueError, match="draft, saved"):
        store.save_plan(make_plan(), make_audience(), status="done")  # type: ignore[arg-type]
    assert store.list_plans().empty


def test_transcripts_are_kept_per_session_in_order(store: PlanStore) -> None:
    calls = [{"name": "churn_by_segment", "args": {"top": 3}, "output": {"At Risk": 0.8}}]
    store.add_message("a", "user", "which segment is churning?")
    store.add_message("b", "user", "show me customer 00042")
    store.add_message("a", "assistant", "At Risk: 80% 流失", tool_calls=calls)
    store.add_message("a", "user", "draft a win-back campaign")

    messages = store.transcript("a")
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "which segment is churning?"),
        ("assistant", "At Risk: 80% 流失"),
        ("user", "draft a win-back campaign")]
    assert [m["tool_calls"] for m in messages] == [None, calls, None]
    assert [m["content"] for m in store.transcript("b")] == ["show me customer 00042"]
    assert store.transcript("nobody") == []
    assert store.sessions() == ["a", "b"]  # the most recently active first


def test_concurrent_writes_from_threads_all_land(tmp_path: Path) -> None:
    store = PlanStore(tmp_path / "home")
    start = threading.Barrier(2)

    def work(worker: int) -> list[int]:
        start.wait()
        ids = []
        for i in range(15):
            ids.append(store.save_plan(make_plan(), make_audience(), name=f"w{worker}-{i}"))
            store.add_message(f"session-{worker}", "user", f"message {i}")
        return ids

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(work, range(2)))

    ids = results[0] + results[1]
    assert len(set(ids)) == 30
    assert sorted(store.list_plans()["id"]) == sorted(ids)
    for worker in range(2):
        assert [m["content"] for m in store.transcript(f"session-{worker}")] == [
            f"message {i}" for i in range(15)]
    assert all(len(store.plan_audience(plan_id)) == 3 for plan_id in ids)


def test_schema_version_is_set_and_the_file_is_in_wal_mode(store: PlanStore) -> None:
    assert store.schema_version() == SCHEMA_VERSION >= 1
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_version_0_database_is_migrated_without_losing_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # A database from before versioning: plans without source/as_of/status, an audience
    # without the CLV columns, transcripts without tool calls.
    with sqlite3.connect(home / DATABASE_NAME) as conn:
        conn.executescript("""
            CREATE TABLE plans (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT,
                updated_at TEXT, name TEXT, segment TEXT, plan_json TEXT, markdown TEXT);
            CREATE TABLE plan_audience (plan_id INTEGER NOT NULL, position INTEGER NOT NULL,
                customer_id TEXT NOT NULL, grp TEXT, rfm_segment TEXT,
                churn_probability REAL, PRIMARY KEY (plan_id, position)) WITHOUT ROWID;
            CREATE TABLE transcripts (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT,
                created_at TEXT, role TEXT, content TEXT);
            INSERT INTO plans VALUES (1, '2024-01-01T00:00:00+00:00',
                '2024-01-02T00:00:00+00:00', 'Old plan', 'Lost',
                '{"segment": "Lost", "discount": 0.2}', '# Old plan');
            INSERT INTO plan_audience VALUES (1, 0, '000123', 'treatment', 'Lost', 0.95);
            INSERT INTO transcripts VALUES (1, 's', '2024-01-01T00:00:00+00:00', 'user', 'hi');
        """)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0

    store = PlanStore(home)

    assert store.schema_version() == SCHEMA_VERSION
    old = store.get_plan(1)
    assert (old.name, old.segment, old.markdown, old.plan) == (
        "Old plan", "Lost", "# Old plan", {"segment": "Lost", "discount": 0.2})
    assert (old.status, old.source, old.as_of) == ("saved", "", "")
    audience = store.plan_audience(1)
    assert audience.index.tolist() == ["000123"]
    assert audience.loc["000123", "churn_probability"] == 0.95
    assert np.isnan(audience.loc["000123", "predicted_clv"])
    assert store.transcript("s")[0]["content"] == "hi"
    assert store.transcript("s")[0]["tool_calls"] is None
    new_id = store.save_plan(make_plan(), make_audience(), source="shop.csv")
    assert new_id == 2 and store.get_plan(new_id).source == "shop.csv"
    PlanStore(home)  # opening a current database again changes nothing
    assert store.list_plans()["id"].tolist() == [2, 1]


def _back_to(home: Path, version: int, table: str, column: str) -> None:
    """Make the database in ``home`` an older version's: without a later column."""
    with sqlite3.connect(home / DATABASE_NAME) as conn:
        conn.executescript(f"ALTER TABLE {table} DROP COLUMN {column}; "
                           f"PRAGMA user_version = {version};")


def test_a_version_1_database_gets_the_transcript_dataset_column(tmp_path: Path) -> None:
    home = tmp_path / "home"
    PlanStore(home).add_message("s", "user", "hi")
    _back_to(home, 1, "transcripts", "dataset")
    store = PlanStore(home)
    assert store.schema_version() == SCHEMA_VERSION == 3
    store.add_message("s", "assistant", "hello", dataset="sample")
    assert [(m["content"], m["dataset"]) for m in store.transcript("s")] == [
        ("hi", ""), ("hello", "sample")]


def test_a_version_2_database_gets_the_audience_contact_column(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan_id = PlanStore(home).save_plan(make_plan(), make_audience(), name="Before")
    _back_to(home, 2, "plan_audience", "contact")
    store = PlanStore(home)
    assert store.schema_version() == SCHEMA_VERSION == 3
    kept = store.plan_audience(plan_id)
    assert kept.index.tolist() == ["00042", "007", "1234"] and kept["contact"].isna().all()
    later = store.save_plan(make_plan(), make_audience().assign(contact="a@b.c"))
    assert store.plan_audience(later)["contact"].tolist() == ["a@b.c"] * 3


def test_a_large_audience_saves_whole_and_in_order(store: PlanStore) -> None:
    n = 100_000
    rng = np.random.default_rng(0)
    audience = pd.DataFrame(
        {"rfm_segment": "Hibernating", "churn_probability": rng.random(n),
         "predicted_clv": rng.random(n) * 100, "revenue_at_risk": rng.random(n) * 50,
         "group": np.where(rng.random(n) < 0.1, "holdout", "treatment")},
        index=pd.Index([f"{i:08d}" for i in range(n)], name="customer_id"))
    plan_id = store.save_plan(make_plan(audience_size=n), audience)
    saved = store.plan_audience(plan_id)
    assert len(saved) == n and saved.index[0] == "00000000" and saved.index[-1] == "00099999"
    assert store.list_plans().loc[0, "audience_size"] == n


def test_a_write_that_fails_keeps_the_old_file_and_leaves_no_temporary_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plan.md"
    path.write_text("the plan as it was", encoding="utf-8")

    def fail(handle: object) -> None:
        half = "half a pl"
        handle.write(half.encode() if "b" in handle.mode else half)  # type: ignore[attr-defined]
        raise OSError("No space left on device")

    for write in (write_atomic, outputs.write_atomic):
        with pytest.raises(OSError, match="No space left"):
            write(path, fail)
        assert path.read_text(encoding="utf-8") == "the plan as it was"
        assert list(tmp_path.iterdir()) == [path]
    write_atomic(path, lambda handle: handle.write("Zürich\r\nline two\n"))  # text, as written
    assert path.read_bytes() == "Zürich\r\nline two\n".encode()
    outputs.write_atomic(path, lambda handle: handle.write(b"\x00bytes"))
    assert path.read_bytes() == b"\x00bytes"
