"""A large log's backtest runs in a second process (analytics.background). What comes back
must be what the analysis computes by itself; a worker that dies must not cost the user the
backtest, and a failed analysis must not leave its worker running."""

import gc
import os
import time
import warnings
from typing import ClassVar

import pandas as pd
import pytest

from analytics import pipeline
from analytics.background import Background, BackgroundFailed
from analytics.cleaning import clean_orders
from analytics.errors import DataError
from analytics.pipeline import analyze
from analytics.sample import generate_sample_shop


@pytest.fixture(scope="module")
def shop_lines() -> pd.DataFrame:
    orders, _ = generate_sample_shop(customers=1000, months=12, seed=11)
    return clean_orders(orders)[0]


def _analyze(lines: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(lines)


class _Recorded(Background):
    started: ClassVar[list[Background]] = []

    def __init__(self, fn, *args, **kwargs):
        super().__init__(fn, *args, **kwargs)
        type(self).started.append(self)

    @classmethod
    def ahead(cls, *modules):
        worker = super().ahead(*modules)
        cls.started.append(worker)
        return worker


class _Dying(_Recorded):
    """A worker killed before it answers (out of memory, say)."""

    def __init__(self, fn, *args, **kwargs):
        super().__init__(os._exit, 9)


def test_the_worker_returns_the_functions_value():
    assert Background(sorted, [3, 1, 2], reverse=True).result() == [3, 2, 1]


def test_the_workers_exception_is_raised_in_the_caller():
    worker = Background(pipeline._parse_as_of, "next Tuesday")
    with pytest.raises(DataError, match="'next Tuesday' is not a date"):
        worker.result()


def test_a_worker_that_dies_without_answering_is_reported():
    with pytest.raises(BackgroundFailed, match="exit code 9"):
        Background(os._exit, 9).result()


def test_a_call_that_cannot_be_sent_is_reported():
    with pytest.raises(BackgroundFailed, match="exit code 2"):
        Background(sorted, [lambda: 1]).result()  # a lambda does not pickle


def test_a_worker_started_ahead_takes_its_call_later():
    worker = Background.ahead("analytics.backtest")
    assert worker.running  # importing while the caller reads its file
    assert worker.submit(sorted, [3, 1, 2]) is worker
    with pytest.raises(RuntimeError, match="one call"):
        worker.submit(sorted, [1])
    assert worker.result() == [1, 2, 3]
    idle = Background.ahead()
    with pytest.raises(RuntimeError, match="no call was submitted"):
        idle.result()
    idle.cancel()
    assert not idle.running


def test_cancel_stops_the_worker():
    worker = Background(time.sleep, 60)
    assert worker.running
    worker.cancel()
    assert not worker.running


def test_a_worker_started_ahead_and_never_used_leaves_no_open_pipe():
    # analyze_file starts one ahead for any file of 4 MB or more, and stops it unused when
    # the log turns out smaller than a background backtest needs
    gc.collect()  # what earlier tests left (event loops of the app's) is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for used in (False, True):
            worker = Background.ahead()
            if used:
                worker.submit(sorted, [2, 1])
            worker.cancel()
            del worker
            gc.collect()
    assert not [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
                and "unclosed file" in str(w.message)]


def test_the_background_backtest_is_the_one_computed_in_process(shop_lines, monkeypatch):
    in_process = _analyze(shop_lines).diagnostics["backtest"]
    monkeypatch.setattr(pipeline, "BACKGROUND_BACKTEST_LINES", 0)
    monkeypatch.setattr(pipeline, "Background", _Recorded)
    _Recorded.started = []
    beside = _analyze(shop_lines).diagnostics["backtest"]
    assert len(_Recorded.started) == 1 and not _Recorded.started[0].running
    assert beside == in_process
    assert beside["churn"]["metrics"]["model"]["roc_auc"] > 0.5


def test_when_the_worker_dies_the_backtest_is_computed_in_process(shop_lines, monkeypatch):
    in_process = _analyze(shop_lines).diagnostics["backtest"]
    monkeypatch.setattr(pipeline, "BACKGROUND_BACKTEST_LINES", 0)
    monkeypatch.setattr(pipeline, "Background", _Dying)
    _Dying.started = []
    assert _analyze(shop_lines).diagnostics["backtest"] == in_process
    assert len(_Dying.started) == 1


def test_a_failed_analysis_stops_its_backtest_worker(shop_lines, monkeypatch):
    monkeypatch.setattr(pipeline, "BACKGROUND_BACKTEST_LINES", 0)
    monkeypatch.setattr(pipeline, "Background", _Recorded)
    _Recorded.started = []

    def broken(_orders):
        raise DataError("cohorts broke")

    monkeypatch.setattr(pipeline, "cohort_table", broken)
    with pytest.raises(DataError, match="cohorts broke"):
        _analyze(shop_lines)
    assert len(_Recorded.started) == 1
    assert not _Recorded.started[0].running


def test_analyze_file_starts_the_backtest_worker_before_it_reads_the_file(
        tmp_path, shop_lines, monkeypatch):
    path = tmp_path / "shop.csv"
    shop_lines.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        in_process = pipeline.analyze_file(path).diagnostics["backtest"]
        monkeypatch.setattr(pipeline, "BACKGROUND_AHEAD_BYTES", 0)
        monkeypatch.setattr(pipeline, "Background", _Recorded)
        _Recorded.started = []
        # a log too small for a backtest beside: the worker started ahead is stopped
        assert pipeline.analyze_file(path).diagnostics["backtest"] == in_process
        assert len(_Recorded.started) == 1 and not _Recorded.started[0].running
        # a large one: that worker computes the backtest, and no other is started
        monkeypatch.setattr(pipeline, "BACKGROUND_BACKTEST_LINES", 0)
        _Recorded.started = []
        assert pipeline.analyze_file(path).diagnostics["backtest"] == in_process
        (worker,) = _Recorded.started
        assert worker._sender is not None and not worker.running  # it got the call, and ended
