"""The benchmark harness runs end to end on a tiny shop and reports every stage.

No timing thresholds: the benchmark measures, the tests only check that it reports.
"""

import argparse
import json
import subprocess
import sys
import time

import pandas as pd
import pytest

from benchmarks.run import ANALYZE_STAGES, StageMonitor, main, parse_size


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    out = root / "results.json"
    payload = main(["--sizes", "3k", "--work", str(root / "work"), "--out", str(out),
                    "--skip-lifetimes", "--in-process", "--warm-memory", "0.25"])
    return payload, json.loads(out.read_text(encoding="utf-8"))


def test_the_json_has_every_stage_with_time_and_peak_memory(tiny_run):
    payload, written = tiny_run
    assert written == json.loads(json.dumps(payload))
    [run] = written["runs"]
    assert run["label"] == "3k" and run["kind"] == "generated"
    assert 2000 < run["rows_in"] < 4500 and run["customers"] > 0
    assert list(run["stages"]) == list(ANALYZE_STAGES)
    # memory touched before measuring, so a virtual machine's first touch is not counted
    assert written["machine"]["memory_warmup"]["gb"] == 0.25
    for name, stage in run["stages"].items():
        assert set(stage) == {"seconds", "cpu_seconds", "start_rss_mb", "peak_rss_mb"}, name
        assert all(isinstance(v, float) for v in stage.values()), name
    assert isinstance(run["analyze_seconds_without_backtest"], float)
    assert run["peak_rss_mb"] > 0
    # a 3k-line shop's backtest runs in the analysis's own process: no second process
    assert run["backtest_process"] == {"beside": False, "cpu_seconds": 0.0, "peak_rss_mb": 0.0}
    assert run["peak_rss_mb_with_backtest_process"] >= run["peak_rss_mb"]
    assert run["lifetimes"] == {"skipped": "--skip-lifetimes"}
    machine = written["machine"]
    assert machine["cpu_count"] >= 1 and machine["versions"]["pandas"]


def test_the_json_has_the_chat_answer_and_the_playbook_search(tiny_run):
    [run] = tiny_run[1]["runs"]
    chat, search = run["chat"], run["search"]
    assert chat["question"] == "which segment is churning?"
    assert chat["error"] is None and chat["answer_chars"] > 0
    assert chat["tool_calls"] == ["churning_segments"]  # answered from the analysis
    assert "offline" in chat["model"]
    for key in ("kb_build_seconds", "model_load_seconds", "first_answer_seconds",
                "answer_median_seconds"):
        assert isinstance(chat[key], float), key
    assert len(chat["answer_seconds"]) == 5
    # a question about one customer, answered from that customer's profile
    assert chat["customer_tool_calls"] == ["customer_profile"] and chat["customer_error"] is None
    assert isinstance(chat["customer_answer_seconds"], float)
    assert chat["products_tool_calls"] == ["top_products"] and not chat["products_error"]
    assert chat["country_tool_calls"] == ["breakdown"] and not chat["country_error"]
    # the product questions, each answered by its tool
    assert [(a["tool_calls"], a["error"]) for a in chat["product_questions"]] == [
        (["bought_together"], None), (["bought_together"], None), (["bought_together"], None),
        (["product_trend"], None),
        (["at_risk_customers"], None), (["campaign_plan"], None)]
    assert all(isinstance(a["seconds"], float) for a in chat["product_questions"])
    assert search["runs"] == 20 and search["hits"]


def test_a_second_run_reuses_the_generated_shop(tmp_path):
    from benchmarks.run import sample_shop_file

    path, customers, generated = sample_shop_file(tmp_path, 600)
    assert path.is_file() and customers > 0 and generated is not None
    again, _, cached = sample_shop_file(tmp_path, 600)
    assert again == path and cached is None


def test_sizes_and_stage_monitor():
    assert [parse_size(s) for s in ("3k", "200k", "1m", "1.5m", "10M", "2500")] == [
        3_000, 200_000, 1_000_000, 1_500_000, 10_000_000, 2_500]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size("lots")
    with StageMonitor(interval=0.001) as monitor:
        monitor.step("a")
        block = bytearray(b"\x01") * (64 * 2**20)  # touched, so it is resident
        monitor.step("b")
        monitor.step("a")
    del block
    assert list(monitor.stages) == ["a", "b"]
    a = monitor.stages["a"]
    assert a["peak_rss_mb"] >= a["start_rss_mb"] + 48  # the block was seen in stage a


def test_the_monitor_counts_the_memory_of_a_child_process():
    """The backtest's own process holds memory too; the peak of both must include it."""
    if not sys.platform.startswith("linux"):
        pytest.skip("child processes' memory is read from /proc")
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys, time; block = bytearray(b'x') * (200 * 2**20); "
                              "print('ready', flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with StageMonitor(interval=0.005) as monitor:
            monitor.step("a")
            time.sleep(0.1)
        assert monitor.peak_with_children_mb >= monitor.stages["a"]["peak_rss_mb"] + 190
    finally:
        child.kill()
        child.wait()


def test_the_event_log_generator_writes_a_rees46_shaped_log(tmp_path):
    from analytics.cleaning import clean_orders
    from analytics.loading import load_orders
    from benchmarks.event_log import EVENT_SHARES
    from benchmarks.event_log import main as event_log

    path = event_log(["20k", "--out", str(tmp_path / "events.csv")])
    assert path.read_text(encoding="utf-8").splitlines()[0].replace('"', "") == (
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
        "user_session")
    loaded = load_orders(path)
    lines, report = clean_orders(loaded.orders, loaded.line_keys)
    assert report.rows_in == 20_000
    share = report.dropped["not_a_purchase"] / report.rows_in
    assert abs(share - (1 - EVENT_SHARES["purchase"])) < 0.01
    assert lines["order_date"].min() >= pd.Timestamp("2019-10-01")
    again = event_log(["20k", "--out", str(tmp_path / "again.csv")])
    assert again.read_bytes() == path.read_bytes()  # the same seed, the same file
    with pytest.raises(SystemExit):
        event_log(["lots"])


def test_warming_memory_leaves_the_measured_processes_peak_alone():
    # a child inherits its parent's peak resident memory on Linux: the warm-up runs in a
    # process of its own, so a run's peak is the analysis's
    from benchmarks.run import warm_memory

    def child_peak_mib() -> float:
        child = subprocess.run([sys.executable, "-c", "import resource; print(resource."
                                "getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                               capture_output=True, text=True, check=True)
        return int(child.stdout) / 1024

    before = child_peak_mib()
    warmed = warm_memory(0.5)
    assert warmed["gb"] == 0.5 and warmed["seconds"] > 0
    assert child_peak_mib() < before + 100  # not the half gigabyte touched
