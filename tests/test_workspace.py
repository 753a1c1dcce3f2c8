import os
import shutil
import time

import pandas as pd

from advisor import workspace
from advisor.settings import load_settings
from advisor.workspace import load_analysis
from analytics.sample import write_sample_shop


def test_analysis_is_cached_by_content_and_recomputed_when_data_change(tmp_path):
    settings = load_settings({"ADVISOR_HOME": str(tmp_path / "home")}, env_file=None)
    data, _ = write_sample_shop(tmp_path / "shop.csv", customers=300, months=12, seed=2)
    first = load_analysis(settings, data, run_backtest=False)
    cached = list((tmp_path / "home" / "cache").glob("analysis-*.pickle"))
    assert len(cached) == 1
    stages: list[str] = []  # progress is only reported by a fresh analysis
    again = load_analysis(settings, data, progress=stages.append, run_backtest=False)
    assert stages == []
    pd.testing.assert_frame_equal(first.customers, again.customers)
    # the same content in another folder hits the same entry
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(data, tmp_path / "elsewhere" / "shop.csv")
    load_analysis(settings, tmp_path / "elsewhere" / "shop.csv", progress=stages.append,
                  run_backtest=False)
    assert stages == []
    # under another name it is another entry: the source and the notes name the file
    shutil.copy(data, tmp_path / "copy.csv")
    copy = load_analysis(settings, tmp_path / "copy.csv", run_backtest=False)
    assert (first.source, copy.source) == ("shop.csv", "copy.csv")
    pd.testing.assert_frame_equal(first.customers, copy.customers)
    assert len(list((tmp_path / "home" / "cache").glob("analysis-*.pickle"))) == 2
    # other data: another entry, and its own numbers
    other, _ = write_sample_shop(tmp_path / "other.csv", customers=300, months=12, seed=3)
    changed = load_analysis(settings, other, run_backtest=False)
    assert len(list((tmp_path / "home" / "cache").glob("analysis-*.pickle"))) == 3
    assert not changed.customers.index.equals(first.customers.index) or not \
        changed.customers["monetary"].equals(first.customers["monetary"])


def test_a_corrupt_cache_entry_is_recomputed(tmp_path):
    settings = load_settings({"ADVISOR_HOME": str(tmp_path / "home")}, env_file=None)
    data, _ = write_sample_shop(tmp_path / "shop.csv", customers=300, months=12, seed=2)
    load_analysis(settings, data, run_backtest=False)
    entry = next((tmp_path / "home" / "cache").glob("analysis-*.pickle"))
    entry.write_bytes(b"not a pickle")
    analysis = load_analysis(settings, data, run_backtest=False)
    assert len(analysis.customers) > 0


def test_only_the_most_recently_used_analyses_stay_on_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(workspace, "KEEP_ANALYSES", 2)
    settings = load_settings({"ADVISOR_HOME": str(tmp_path / "home")}, env_file=None)
    cache = tmp_path / "home" / "cache"
    shops = [write_sample_shop(tmp_path / f"shop{seed}.csv", customers=300, months=12,
                               seed=seed)[0] for seed in (2, 3, 4)]
    for n, shop in enumerate(shops[:2]):
        load_analysis(settings, shop, run_backtest=False)
        (newest,) = set(cache.glob("analysis-*.pickle")) - {
            p for p in cache.glob("analysis-*.pickle") if p.stat().st_mtime < 3000}
        os.utime(newest, (1000 + 1000 * n, 1000 + 1000 * n))
    stages: list[str] = []
    load_analysis(settings, shops[0], progress=stages.append, run_backtest=False)
    assert stages == []  # a hit, which makes the first shop the most recently used
    load_analysis(settings, shops[2], run_backtest=False)
    assert len(list(cache.glob("analysis-*.pickle"))) == 2
    load_analysis(settings, shops[0], progress=stages.append, run_backtest=False)
    assert stages == []  # still there; the second shop was dropped
    load_analysis(settings, shops[1], progress=stages.append, run_backtest=False)
    assert "rfm" in stages


def test_temporary_files_of_killed_writes_are_removed(tmp_path):
    settings = load_settings({"ADVISOR_HOME": str(tmp_path / "home")}, env_file=None)
    cache = tmp_path / "home" / "cache"
    cache.mkdir(parents=True)
    dead = cache / ".analysis-0123.pickle.k3j2"  # a process killed while it wrote, 2 h ago
    dead.write_bytes(b"half a pickle")
    hours_ago = time.time() - 2 * 3600
    os.utime(dead, (hours_ago, hours_ago))
    writing = cache / ".analysis-4567.pickle.q8w7"  # another process, writing now
    writing.write_bytes(b"in progress")
    data, _ = write_sample_shop(tmp_path / "shop.csv", customers=300, months=12, seed=2)
    load_analysis(settings, data, run_backtest=False)
    assert not dead.exists() and writing.exists()
    assert len(list(cache.glob("analysis-*.pickle"))) == 1


def test_an_analysis_that_cannot_be_cached_is_still_returned(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").write_text("not a folder", encoding="utf-8")
    settings = load_settings({"ADVISOR_HOME": str(home)}, env_file=None)
    data, _ = write_sample_shop(tmp_path / "shop.csv", customers=300, months=12, seed=2)
    analysis = load_analysis(settings, data, run_backtest=False)
    assert len(analysis.customers) > 0
    assert list(home.iterdir()) == [home / "cache"]  # no temporary file left behind


def test_another_horizon_reanalyses_from_the_cleaned_lines(tmp_path):
    home = str(tmp_path / "home")
    data, _ = write_sample_shop(tmp_path / "shop.csv", customers=300, months=12, seed=2)
    first: list[str] = []
    load_analysis(load_settings({"ADVISOR_HOME": home}, env_file=None), data,
                  progress=first.append, run_backtest=False)
    assert "clean" in first and "cached" not in first
    again: list[str] = []
    shorter = load_settings({"ADVISOR_HOME": home, "ADVISOR_HORIZON_DAYS": "60"},
                            env_file=None)
    analysis = load_analysis(shorter, data, progress=again.append, run_backtest=False)
    assert "cached" in again and "clean" not in again and "rfm" in again
    assert analysis.horizon_days == 60
