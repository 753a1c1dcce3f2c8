"""The clean-lines cache: another analysis of the same file reads Parquet back instead of
reading and cleaning the file again, and never serves lines of another file or option."""

import hashlib
import json
import os
import time
import warnings

import pandas as pd
import pytest

import advisor.cli
from analytics import pipeline
from analytics.cache import CleanCache, CleanEntry, file_digest
from analytics.cli import main as analytics_main
from analytics.pipeline import analyze_file, load_and_clean
from analytics.sample import write_sample_shop

ROWS = """Invoice,StockCode,Quantity,InvoiceDate,Price,Customer ID,Email,Country
1001,A1,2,03/01/2024 10:00,2.50,007,a@example.com,France
1001,B2,1,03/01/2024 10:00,4.00,007,a@example.com,France
C1002,A1,-1,05/01/2024 11:00,2.50,007,a@example.com,France
1003,A1,3,05/02/2024 09:30,2.50,12,b@example.com,Spain
1004,C3,1,20/02/2024 16:00,9.99,,c@example.com,Spain
"""


@pytest.fixture
def export(tmp_path):
    """A small export with a note (an e-mail column not loaded) and dropped lines."""
    path = tmp_path / "export.csv"
    path.write_text(ROWS, encoding="utf-8")
    return path


def _load(path, cache, **options):
    stages = []
    lines, report, loaded = load_and_clean(path, cache_dir=cache, progress=stages.append,
                                           **options)
    return lines, report, loaded, stages


def test_second_load_reads_the_cache_not_the_file(export, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    lines, report, loaded, stages = _load(export, cache)
    assert stages == ["clean"]
    assert loaded.notes and report.rows_dropped == 2  # a return and a line without customer
    assert loaded.orders.empty and list(loaded.orders.columns) == list(lines.columns)

    def no_reading(*_args, **_kwargs):
        raise AssertionError("the file was read again")

    monkeypatch.setattr(pipeline, "load_orders", no_reading)
    again, report_again, loaded_again, stages = _load(export, cache)
    assert stages == ["cached"]
    pd.testing.assert_frame_equal(again, lines)  # values and dtypes, ids with their zeros
    assert report_again.to_dict() == report.to_dict()
    for name in ("mapping", "source", "rows_in", "ignored_columns", "notes"):
        assert getattr(loaded_again, name) == getattr(loaded, name), name
    assert loaded_again.orders.empty


def test_the_contacts_behind_pseudonymous_ids_come_back_from_the_cache(export, tmp_path):
    cache = tmp_path / "cache"
    by_email = {"customer_id": "Email"}  # the customers as e-mail addresses: hashed
    lines, _report, loaded, _stages = _load(export, cache, mapping=by_email)
    assert not lines["customer_id"].str.contains("@").any()
    assert sorted(loaded.contacts) == ["a@example.com", "b@example.com", "c@example.com"]
    again = _load(export, cache, mapping=by_email)
    assert again[3] == ["cached"]
    pd.testing.assert_series_equal(again[2].contacts, loaded.contacts)
    assert _load(export, cache)[2].contacts is None  # ids of the shop's own: nothing to keep


def test_a_changed_file_or_option_is_read_afresh(export, tmp_path):
    cache = tmp_path / "cache"
    _load(export, cache)
    with export.open("a", encoding="utf-8") as handle:
        handle.write("1005,A1,1,01/03/2024 12:00,2.50,99,d@example.com,Spain\n")
    lines, _report, _loaded, stages = _load(export, cache)
    assert stages == ["clean"] and "99" in set(lines["customer_id"])
    _lines, _report, _loaded, stages = _load(export, cache, date_format="%d/%m/%Y %H:%M")
    assert stages == ["clean"]
    _lines, _report, _loaded, stages = _load(export, cache, mapping={"amount": "Price"})
    assert stages == ["clean"]
    copy = tmp_path / "renamed.csv"  # the notes name the file: another name, another entry
    copy.write_bytes(export.read_bytes())
    _lines, _report, loaded, stages = _load(copy, cache)
    assert stages == ["clean"] and all("export.csv" not in note for note in loaded.notes)
    _lines, _report, _loaded, stages = _load(export, cache)
    assert stages == ["cached"]


def test_a_files_digest_is_read_once_until_the_file_changes(tmp_path, monkeypatch):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"customer,date,amount\n1,2024-01-01,5\n")
    first = file_digest(path)
    first_hex = hashlib.sha256(path.read_bytes()).hexdigest()
    assert first.hexdigest() == first_hex
    first.update(b"the caller's own additions")  # a copy: the remembered digest is unchanged
    opened = []
    real_open = type(path).open
    monkeypatch.setattr(type(path), "open", lambda self, *a, **k: opened.append(self)
                        or real_open(self, *a, **k))
    assert file_digest(path).hexdigest() == first_hex
    assert opened == []  # the analysis cache and the clean-lines cache read a file once
    before = path.stat().st_mtime_ns
    changed = b"customer,date,amount\n2,2024-01-01,5\n"  # same size, new content
    path.write_bytes(changed)
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    opened.clear()
    assert file_digest(path).hexdigest() == hashlib.sha256(changed).hexdigest()
    assert opened == [path]


def test_an_unreadable_entry_is_recomputed(export, tmp_path):
    cache = tmp_path / "cache"
    lines, *_ = _load(export, cache)
    (parquet,) = cache.glob("clean-*.parquet")
    parquet.write_bytes(b"not parquet")
    again, _report, _loaded, stages = _load(export, cache)
    assert stages == ["clean"]
    pd.testing.assert_frame_equal(again, lines)
    assert _load(export, cache)[3] == ["cached"]  # and it was written again
    (meta,) = cache.glob("clean-*.json")
    meta.write_text(json.dumps({"report": {}}), encoding="utf-8")
    assert _load(export, cache)[3] == ["clean"]


def test_a_cache_that_cannot_be_written_is_skipped(export, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    lines, _report, _loaded, stages = _load(export, blocked)
    assert stages == ["clean"] and len(lines) == 3
    assert blocked.read_text(encoding="utf-8") == "not a folder"


def test_only_the_most_recently_used_entries_are_kept(export, tmp_path):
    cache = CleanCache(tmp_path / "cache", keep=2)
    lines, report, loaded = load_and_clean(export)
    keys = []
    for n, name in enumerate(("a.csv", "b.csv", "c.csv")):
        path = tmp_path / name
        path.write_bytes(export.read_bytes())
        keys.append(cache.key(path))
        if n == 2:
            assert cache.get(keys[0]) is not None  # a is used again: b is now the oldest
        cache.put(keys[-1], CleanEntry(lines, report, loaded))
        os.utime(cache.folder / f"clean-{keys[-1]}.json", (1000 + n, 1000 + n))
    assert cache.get(keys[1]) is None
    assert not (cache.folder / f"clean-{keys[1]}.parquet").exists()
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None


def test_what_killed_writes_left_is_removed_but_not_a_write_in_progress(export, tmp_path):
    cache = CleanCache(tmp_path / "cache")
    cache.folder.mkdir()
    lines, report, loaded = load_and_clean(export)
    hours_ago = time.time() - 2 * 3600
    left = {  # a temporary file, and lines whose JSON was never written, both 2 hours old
        cache.folder / ".clean-dead.parquet.x1y2": b"half a file",
        cache.folder / "clean-dead.parquet": b"lines without their JSON",
    }
    for path, content in left.items():
        path.write_bytes(content)
        os.utime(path, (hours_ago, hours_ago))
    writing = cache.folder / ".clean-other.parquet.a9b8"  # another process, writing now
    writing.write_bytes(b"in progress")
    key = cache.key(export)
    cache.put(key, CleanEntry(lines, report, loaded))
    assert not any(path.exists() for path in left)
    assert writing.exists()
    old_entry = cache.folder / f"clean-{key}.parquet"  # an entry's lines stay at any age
    os.utime(old_entry, (hours_ago, hours_ago))
    cache.put(cache.key(export, date_format="%d/%m/%Y %H:%M"), CleanEntry(lines, report, loaded))
    assert old_entry.exists() and cache.get(key) is not None


def test_an_analysis_from_cached_lines_equals_a_fresh_one(tmp_path):
    shop, _truth = write_sample_shop(tmp_path / "shop.csv", customers=400, months=12, seed=3)
    cache = tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = analyze_file(shop)
        analyze_file(shop, cache_dir=cache, horizon_days=60)  # fills the cache
        stages = []
        cached = analyze_file(shop, cache_dir=cache, progress=stages.append)
    assert stages[:2] == ["load", "cached"] and "clean" not in stages
    pd.testing.assert_frame_equal(cached.customers, fresh.customers)
    pd.testing.assert_frame_equal(cached.segments, fresh.segments)
    assert cached.summary()["cleaning"] == fresh.summary()["cleaning"]
    assert cached.notes == fresh.notes and cached.mapping == fresh.mapping


def test_the_cli_caches_in_the_workspace_unless_told_not_to(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    shop, _truth = write_sample_shop(tmp_path / "shop.csv", customers=400, months=12, seed=3)
    advisor.cli.main(["backtest", str(shop), "--json", "--no-cache"])
    assert not (home / "cache").exists()
    analytics_main(["backtest", str(shop), "--json"])  # the core alone keeps nothing...
    assert not (home / "cache").exists()
    analytics_main(["backtest", str(shop), "--json", "--cache-dir", str(tmp_path / "own")])
    assert len(list((tmp_path / "own").glob("clean-*.parquet"))) == 1  # ...unless told
    capsys.readouterr()  # the runs above printed their own JSON
    advisor.cli.main(["backtest", str(shop), "--json"])
    first = json.loads(capsys.readouterr().out)
    assert len(list((home / "cache").glob("clean-*.parquet"))) == 1

    def no_reading(*_args, **_kwargs):
        raise AssertionError("the file was read again")

    monkeypatch.setattr(pipeline, "load_orders", no_reading)
    advisor.cli.main(["backtest", str(shop), "--json"])
    assert json.loads(capsys.readouterr().out) == first
