"""Benchmark ``analyze`` stage by stage, the advisor's chat path, and ``lifetimes`` beside it.

    python -m benchmarks.run [--sizes 1m,10m] [--out benchmarks/results.json]
                             [--work DIR] [--skip-lifetimes] [--real FILE ...]

For each size it generates (once, cached in the work folder) a sample shop's order log as
CSV, then in a fresh Python process runs what ``retention-advisor analyze`` runs, CSV in to
every output written, timing every stage and sampling the process's resident memory. With
that analysis loaded it builds the advisor, times the offline model's answer to "which
segment is churning?" and a playbook search. Unless ``--skip-lifetimes``, the ``lifetimes``
library then fits its CLV models on the same cleaned order lines, in a virtualenv of its own
(it needs old numpy, pandas and scipy), and the ratio of the two is reported. Results are
printed as tables and written as JSON. A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = [
    "ANALYZE_STAGES",
    "StageMonitor",
    "main",
    "measure_file",
    "parse_size",
    "run_lifetimes",
    "sample_shop_file",
]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORK = ROOT / "benchmarks" / "work"
DEFAULT_OUT = ROOT / "benchmarks" / "results.json"
DEFAULT_SIZES = "1m,10m"

# Order lines per customer of the sample shop over 24 months (seed 7), guests included.
LINES_PER_CUSTOMER = 11.8
SHOP_MONTHS = 24
SHOP_SEED = 7

ANALYZE_STAGES: tuple[str, ...] = ("load", "clean", "rfm", "clusters", "clv", "churn",
                                   "recommendations", "cohorts", "segments", "backtest", "write")
STAGE_LABELS = {
    "load": "load (read, map, parse)",
    "clean": "clean (+ as_of, orders)",
    "rfm": "RFM and segments",
    "clusters": "clusters (features)",
    "clv": "CLV (BG/NBD, G-G)",
    "churn": "churn train + score",
    "recommendations": "recommendations",
    "cohorts": "cohorts and KPIs",
    "segments": "segment trend",
    "backtest": "backtest (waiting for it)",
    "write": "writing outputs",
}

CHAT_QUESTION = "which segment is churning?"
CHAT_RUNS = 5
CUSTOMER_QUESTION = "show me customer {customer}"  # a customer in the middle of the index
# answered from the tables that Advisor.prepare() makes (as the app does, in a thread)
PRODUCTS_QUESTION = "what do Champions buy?"
PRODUCTS_AGAIN = "which products sell best?"
COUNTRY_QUESTION = "which country has the most revenue at risk?"
# Product questions, asked once each after the ones above ({first}, {second}: the two most
# bought products of the data): pairs (in orders, by the same customers), trends, a
# product's buyers, a cross-sell plan
PRODUCT_QUESTIONS = ("which products are often bought together?",
                     "which products do the same customers buy together?",
                     "what do customers buy with {first}?", "which products are trending?",
                     "who bought {first}?", "cross-sell {second} to buyers of {first}")
SEARCH_QUERY = "win back lapsed customers with a coupon"
SEARCH_RUNS = 20
TARGET_RATIO = 3.0

# lifetimes 0.11.3 (2020, unmaintained) does not run on numpy 2 / pandas 3; these install
# from PyPI on Python 3.11 and run it.
LIFETIMES_REQUIREMENTS: tuple[str, ...] = (
    "lifetimes==0.11.3",
    "numpy==1.26.4",
    "pandas==1.5.3",
    "scipy==1.11.4",
    "autograd==1.6.2",
)

# Runs inside the lifetimes virtualenv: argv = cleaned lines CSV, as_of, horizon days, out.
LIFETIMES_SCRIPT = r'''
"""Time the lifetimes library's CLV step on cleaned order lines."""
import json
import resource
import sys
import time
import warnings

import pandas as pd


def fit(make, args, penalizers=(0.0, 0.001, 0.01)):
    """Fit, adding a penalizer when lifetimes does not converge, as its message advises."""
    from lifetimes.utils import ConvergenceError

    failed = []
    for penalizer in penalizers:
        try:
            return make(penalizer).fit(*args), {"penalizer": penalizer, "failed": failed}
        except ConvergenceError:
            failed.append(penalizer)
    raise RuntimeError(f"lifetimes did not converge with penalizers {penalizers}")


def main(src, as_of, horizon_days, out):
    warnings.simplefilter("ignore")
    lines = pd.read_csv(src, dtype={"customer_id": str}, parse_dates=["order_date"])
    import lifetimes
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    horizon_days = int(horizon_days)
    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = {}
    started = clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    summary = summary_data_from_transaction_data(
        lines, "customer_id", "order_date", monetary_value_col="amount",
        observation_period_end=as_of, freq="D")
    lap("summary")
    f, r, t, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    bgf, bgnbd = fit(lambda p: BetaGeoFitter(penalizer_coef=p), (f, r, t))
    lap("bgnbd_fit")
    repeat = summary[(f > 0) & (m > 0)]
    ggf, gamma_gamma = fit(lambda p: GammaGammaFitter(penalizer_coef=p),
                           (repeat["frequency"], repeat["monetary_value"]))
    lap("gamma_gamma_fit")
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(horizon_days, f, r, t)
    lap("expected_orders")
    clv = ggf.customer_lifetime_value(bgf, f, r, t, m, time=max(1, round(horizon_days / 30)),
                                      discount_rate=0.0, freq="D")
    lap("clv")
    total = time.perf_counter() - started
    result = {
        "seconds": seconds,
        "total_seconds": total,
        "customers": len(summary),
        "repeat_customers": len(repeat),
        "lines": len(lines),
        "expected_orders_sum": float(expected.sum()),
        "predicted_clv_sum": float(clv.sum()),
        "bgnbd": dict(bgnbd, params={k: float(v) for k, v in bgf.params_.items()}),
        "gamma_gamma": dict(gamma_gamma, params={k: float(v) for k, v in ggf.params_.items()}),
        "rss_before_mb": rss_before_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "versions": {"lifetimes": lifetimes.__version__, "pandas": pd.__version__,
                     "numpy": __import__("numpy").__version__,
                     "scipy": __import__("scipy").__version__},
    }
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:])
'''


# --------------------------------------------------------------------------- memory, stages


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MiB; the peak so far off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return max_rss_mb()


def children_rss_mb() -> float:
    """Resident memory now of this process's child processes (the backtest's), in MiB; 0
    off Linux."""
    total = 0.0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return total
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children", encoding="ascii") as handle:
                pids = handle.read().split()
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status", encoding="ascii") as handle:
                    total += next((int(line.split()[1]) / 1024 for line in handle
                                   if line.startswith("VmRSS:")), 0.0)
            except OSError:  # it just ended
                continue
    return total


def _children_cpu_seconds() -> float:
    """CPU time of this process's finished child processes."""
    times = os.times()
    return times.children_user + times.children_system


def max_child_rss_mb() -> float:
    """Peak resident memory of the largest finished child process, in MiB (0 if none)."""
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def max_rss_mb() -> float:
    """This process's peak resident memory since it started (ru_maxrss), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class StageMonitor:
    """Wall time, CPU time and peak resident memory of named stages.

    ``step(name)`` ends the current stage and starts ``name`` (it fits the ``progress``
    callback of :func:`analytics.pipeline.analyze_file`); a background thread samples the
    resident memory every ``interval`` seconds and charges it to the current stage. A stage
    entered twice adds up. ``peak_with_children_mb`` is the most this process and its
    children held at once. Peaks shorter than the interval may be missed.
    """

    def __init__(self, interval: float = 0.02, echo: Callable[[str], None] | None = None) -> None:
        self.interval = interval
        self.echo = echo
        self.stages: dict[str, dict[str, float]] = {}
        self._current: str | None = None
        self.peak_with_children_mb = 0.0
        self._wall = self._cpu = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> StageMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.finish()
        self._stop.set()
        self._thread.join()

    def step(self, name: str) -> None:
        """End the current stage (if any) and start ``name``."""
        now, cpu, rss = time.perf_counter(), time.process_time(), rss_mb()
        with self._lock:
            self._close(now, cpu, rss)
            entry = self.stages.setdefault(name, {"seconds": 0.0, "cpu_seconds": 0.0,
                                                  "start_rss_mb": rss, "peak_rss_mb": rss})
            entry["peak_rss_mb"] = max(entry["peak_rss_mb"], rss)
            self._current, self._wall, self._cpu = name, now, cpu
        if self.echo:
            self.echo(name)

    def finish(self) -> None:
        """End the current stage."""
        now, cpu, rss = time.perf_counter(), time.process_time(), rss_mb()
        with self._lock:
            self._close(now, cpu, rss)
            self._current = None

    def _close(self, now: float, cpu: float, rss: float) -> None:
        if self._current is None:
            return
        entry = self.stages[self._current]
        entry["seconds"] += now - self._wall
        entry["cpu_seconds"] += cpu - self._cpu
        entry["peak_rss_mb"] = max(entry["peak_rss_mb"], rss)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            rss = rss_mb()
            together = rss + children_rss_mb()
            with self._lock:
                self.peak_with_children_mb = max(self.peak_with_children_mb, together)
                if self._current is not None:
                    entry = self.stages[self._current]
                    entry["peak_rss_mb"] = max(entry["peak_rss_mb"], rss)


def _rounded(entry: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4 if "seconds" in k else 1) for k, v in entry.items()}


# --------------------------------------------------------------------------- one measurement


def measure_file(path: str | Path, work: str | Path, label: str, *, chat: bool = True,
                 export: str | Path | None = None, echo: bool = False) -> dict[str, Any]:
    """Analyse ``path`` as ``retention-advisor analyze`` does and time every stage.

    Then, with the analysis loaded, time the advisor's chat path and a playbook search
    (``chat``), and write the cleaned lines for the lifetimes comparison (``export``).
    Run it in a fresh process for a clean peak memory (``python -m benchmarks.run --one``).
    """
    path, work = Path(path).resolve(), Path(work).resolve()
    started = time.perf_counter()
    from analytics.outputs import write_outputs
    from analytics.pipeline import BACKGROUND_BACKTEST_LINES, analyze_file, load_and_clean

    import_seconds = time.perf_counter() - started
    say = _stderr_echo(label) if echo else None
    result: dict[str, Any] = {"label": label, "file": str(path),
                              "file_mb": round(path.stat().st_size / 2**20, 1),
                              "loadavg_start": list(os.getloadavg()),
                              "import_seconds": round(import_seconds, 4),
                              "rss_before_mb": round(rss_mb(), 1)}
    # As the CLI does, the cleaned lines go to a cache; it starts empty, so the run pays
    # for writing them, and a second load reads them back (load_clean_cached_seconds).
    cache = work / f"clean-cache-{label}"
    shutil.rmtree(cache, ignore_errors=True)
    with StageMonitor(echo=say) as monitor, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kept in analysis.warnings, as the CLI does
        children_cpu = _children_cpu_seconds()
        started = time.perf_counter()
        analysis = analyze_file(path, progress=monitor.step, cache_dir=cache)
        monitor.step("write")
        write_outputs(analysis, work / f"out-{label}")
        monitor.finish()
        analyze_seconds = time.perf_counter() - started
        result["peak_rss_mb"] = round(max_rss_mb(), 1)
        stages = {name: _rounded(entry) for name, entry in monitor.stages.items()}
        result.update(_analysis_facts(analysis))
        result["stages"] = stages
        result["analyze_seconds"] = round(analyze_seconds, 4)
        # A large log's backtest runs in a process of its own (analytics.background): its
        # CPU time counts in the total, and memory is sampled for both processes at once.
        beside = len(analysis.lines) >= BACKGROUND_BACKTEST_LINES  # the pipeline's test
        worker_cpu = _children_cpu_seconds() - children_cpu if beside else 0.0
        result["backtest_process"] = {
            "beside": beside, "cpu_seconds": round(worker_cpu, 4),
            "peak_rss_mb": round(max_child_rss_mb(), 1) if beside else 0.0}
        result["peak_rss_mb_with_backtest_process"] = round(
            max(result["peak_rss_mb"], monitor.peak_with_children_mb), 1)
        result["analyze_cpu_seconds"] = round(
            sum(s["cpu_seconds"] for s in stages.values()) + worker_cpu, 4)
        backtest = stages.get("backtest", {}).get("seconds", 0.0)
        result["analyze_seconds_without_backtest"] = round(analyze_seconds - backtest, 4)
        if chat:
            result.update(_measure_chat(analysis, work / f"advisor-home-{label}", monitor))
    begun = time.perf_counter()
    load_and_clean(path, cache_dir=cache)
    result["load_clean_cached_seconds"] = round(time.perf_counter() - begun, 4)
    if export is not None:
        begun = time.perf_counter()
        _export_lines(analysis, Path(export))
        result["export"] = {"file": str(export), "seconds": round(time.perf_counter() - begun, 4)}
    result["peak_rss_mb_process"] = round(max_rss_mb(), 1)
    result["loadavg_end"] = list(os.getloadavg())
    return result


def _stderr_echo(label: str) -> Callable[[str], None]:
    started = time.perf_counter()

    def echo(stage: str) -> None:
        print(f"  [{label} {time.perf_counter() - started:7.1f}s] {stage}", file=sys.stderr,
              flush=True)

    return echo


def _analysis_facts(analysis: Any) -> dict[str, Any]:
    report = analysis.cleaning
    return {"as_of": analysis.as_of.date().isoformat(), "horizon_days": analysis.horizon_days,
            "rows_in": int(report.rows_in), "rows_kept": int(report.rows_kept),
            "orders": len(analysis.orders), "customers": len(analysis.customers),
            "predicted_clv_sum": float(analysis.customers["predicted_clv"].sum()),
            "expected_orders_sum": float(analysis.customers["expected_orders"].sum()),
            "warnings": len(analysis.warnings)}


def _measure_chat(analysis: Any, home: Path, monitor: StageMonitor) -> dict[str, Any]:
    """The advisor over the loaded analysis: build, first answer, repeated answers, search."""
    shutil.rmtree(home, ignore_errors=True)  # a fresh workspace: the index is built cold
    stages_before = set(monitor.stages)
    monitor.step("advisor_import")
    from advisor.agent import Advisor
    from advisor.settings import load_settings
    from advisor.workspace import build_context

    settings = load_settings({"ADVISOR_HOME": str(home), "ADVISOR_PROVIDER": "offline",
                              "ADVISOR_EMBEDDINGS": "local"}, env_file=None)
    monitor.step("kb_build")
    context = build_context(settings, analysis=analysis)
    monitor.step("model_load")  # what the app's warm-up thread does once it is launched
    context.knowledge.warm_up()
    monitor.step("agent_build")
    advisor = Advisor(context, settings)
    monitor.step("prepare")  # what the app does in a thread once the analysis is loaded
    advisor.prepare()
    monitor.step("first_answer")
    first = advisor.ask(CHAT_QUESTION, session_id="bench-0")
    monitor.step("answers")
    answer_times = []
    for run in range(1, CHAT_RUNS + 1):
        begun = time.perf_counter()
        advisor.ask(CHAT_QUESTION, session_id=f"bench-{run}")
        answer_times.append(time.perf_counter() - begun)
    monitor.step("customer_answer")
    customer = str(analysis.customers.index[len(analysis.customers) // 2])
    about = advisor.ask(CUSTOMER_QUESTION.format(customer=customer), session_id="bench-customer")
    monitor.step("products_answer")
    products = advisor.ask(PRODUCTS_QUESTION, session_id="bench-products")
    monitor.step("products_again")
    advisor.ask(PRODUCTS_AGAIN, session_id="bench-products-again")
    monitor.step("country_answer")
    country = advisor.ask(COUNTRY_QUESTION, session_id="bench-country")
    product_answers = []
    if "product_id" in analysis.lines:
        first_two = analysis.lines["product_id"].value_counts().index[:2].astype(str)
        for number, template in enumerate(PRODUCT_QUESTIONS):
            question = template.format(first=first_two[0], second=first_two[-1])
            monitor.step(f"product_question_{number}")
            result = advisor.ask(question, session_id=f"bench-product-{number}")
            product_answers.append({"question": question,
                                    "tool_calls": [c["name"] for c in result.tool_calls],
                                    "error": result.error})
    monitor.step("search_first")
    hits = context.knowledge.search(SEARCH_QUERY)
    monitor.step("search")
    search_times = []
    for _ in range(SEARCH_RUNS):
        begun = time.perf_counter()
        context.knowledge.search(SEARCH_QUERY)
        search_times.append(time.perf_counter() - begun)
    monitor.finish()
    stages = {k: _rounded(v) for k, v in monitor.stages.items() if k not in stages_before}
    return {
        "chat": {
            "question": CHAT_QUESTION,
            "model": advisor.model_name,
            "advisor_import_seconds": stages["advisor_import"]["seconds"],
            "kb_build_seconds": stages["kb_build"]["seconds"],
            "model_load_seconds": stages["model_load"]["seconds"],
            "agent_build_seconds": stages["agent_build"]["seconds"],
            "prepare_seconds": stages["prepare"]["seconds"],
            "first_answer_seconds": stages["first_answer"]["seconds"],
            "answer_median_seconds": round(statistics.median(answer_times), 4),
            "answer_seconds": [round(t, 4) for t in answer_times],
            "tool_calls": [call["name"] for call in first.tool_calls],
            "answer_chars": len(first.answer),
            "answer_start": first.answer[:160],
            "error": first.error,
            "customer_question": CUSTOMER_QUESTION,
            "customer_answer_seconds": stages["customer_answer"]["seconds"],
            "customer_tool_calls": [call["name"] for call in about.tool_calls],
            "customer_error": about.error,
            "products_question": PRODUCTS_QUESTION, "products_again_question": PRODUCTS_AGAIN,
            "products_answer_seconds": stages["products_answer"]["seconds"],
            "products_again_seconds": stages["products_again"]["seconds"],
            "products_tool_calls": [call["name"] for call in products.tool_calls],
            "products_error": products.error,
            "country_question": COUNTRY_QUESTION,
            "country_answer_seconds": stages["country_answer"]["seconds"],
            "country_tool_calls": [call["name"] for call in country.tool_calls],
            "country_error": country.error,
            "product_questions": [
                {**answer, "seconds": stages[f"product_question_{number}"]["seconds"]}
                for number, answer in enumerate(product_answers)],
            "peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
            "stages": stages,
        },
        "search": {
            "query": SEARCH_QUERY,
            "first_seconds": stages["search_first"]["seconds"],
            "median_seconds": round(statistics.median(search_times), 5),
            "runs": SEARCH_RUNS,
            "hits": [f"{hit.source} / {hit.section}" for hit in hits],
            "peak_rss_mb": stages["search"]["peak_rss_mb"],
        },
    }


def _export_lines(analysis: Any, path: Path) -> None:
    """The cleaned lines up to ``as_of`` that the CLV models see, for lifetimes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = analysis.lines[["customer_id", "order_date", "amount"]]
    _atomic(path, lambda tmp: lines.to_csv(tmp, index=False))


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


# --------------------------------------------------------------------------- data


def parse_size(text: str) -> int:
    """``"1m"`` → 1_000_000 order lines; also ``"200k"``, ``"1.5m"``, ``"3000"``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([km]?)\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 200k, 1m or 10m")
    number = float(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a size must be at least one line")
    return int(number)


def sample_shop_file(work: Path, lines: int) -> tuple[Path, int, float | None]:
    """The cached sample-shop CSV with about ``lines`` order lines.

    Returns the path, the number of customers and the seconds spent generating it (None
    when it was cached). It is generated by ``retention-advisor sample`` in a process of its
    own, so this one stays small while the measurements run.
    """
    customers = max(50, round(lines / LINES_PER_CUSTOMER))
    path = work / f"shop-{customers}c-{SHOP_MONTHS}m-seed{SHOP_SEED}.csv"
    if path.is_file():
        return path, customers, None
    work.mkdir(parents=True, exist_ok=True)
    print(f"Generating {path.name} ({customers:,} customers) ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=work, prefix=".generating-") as tmp:
        orders = Path(tmp) / path.name
        subprocess.run([sys.executable, "-m", "analytics.cli", "sample", "--customers",
                        str(customers), "--months", str(SHOP_MONTHS), "--seed", str(SHOP_SEED),
                        "--out", str(orders)], check=True, stdout=subprocess.DEVNULL)
        truth = orders.with_name(f"{path.stem}_truth.csv")
        os.replace(truth, work / truth.name)
        os.replace(orders, path)  # last: the orders file's presence means complete
    return path, customers, time.perf_counter() - started


# --------------------------------------------------------------------------- lifetimes


class LifetimesUnavailable(RuntimeError):
    """The lifetimes virtualenv could not be built or its script failed."""


def _checked(command: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise LifetimesUnavailable(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done


def lifetimes_python(work: Path) -> Path:
    """The Python of the lifetimes virtualenv under ``work``, built on first use."""
    venv = work / "lifetimes-venv"
    python = venv / "bin" / "python"
    marker = venv / "benchmark-requirements.txt"
    wanted = "\n".join(LIFETIMES_REQUIREMENTS) + "\n"
    if python.is_file() and marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    print(f"Building the lifetimes virtualenv in {venv} ...", file=sys.stderr, flush=True)
    _checked([sys.executable, "-m", "venv", str(venv)], "python -m venv")
    _checked([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              *LIFETIMES_REQUIREMENTS], "pip install " + " ".join(LIFETIMES_REQUIREMENTS))
    _checked([str(python), "-c", "import lifetimes"], "import lifetimes")
    marker.write_text(wanted, encoding="utf-8")
    return python


def run_lifetimes(lines_csv: Path, as_of: str, horizon_days: int, work: Path) -> dict[str, Any]:
    """Time lifetimes' summary, BG/NBD and Gamma-Gamma fits and predictions, own process."""
    python = lifetimes_python(work)
    script = work / "lifetimes_clv.py"
    script.write_text(LIFETIMES_SCRIPT, encoding="utf-8")
    out = work / f"{lines_csv.stem}-lifetimes.json"
    out.unlink(missing_ok=True)
    _checked([str(python), str(script), str(lines_csv), as_of, str(horizon_days), str(out)],
             "the lifetimes script")
    result = json.loads(out.read_text(encoding="utf-8"))
    result["seconds"] = {k: round(v, 4) for k, v in result["seconds"].items()}
    result["total_seconds"] = round(result["total_seconds"], 4)
    result["python"] = str(python)
    return result


# --------------------------------------------------------------------------- a whole run


def _measure(path: Path, work: Path, label: str, *, export: Path | None,
             in_process: bool) -> dict[str, Any]:
    if in_process:
        return measure_file(path, work, label, export=export)
    with tempfile.TemporaryDirectory(dir=work, prefix=".result-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "benchmarks.run", "--one", str(path), "--label", label,
                   "--work", str(work), "--json-out", str(out)]
        if export is not None:
            command += ["--export", str(export)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(command, cwd=ROOT, env=env, check=False)
        if done.returncode != 0 or not out.is_file():
            return {"label": label, "file": str(path),
                    "error": f"the measuring process exited with status {done.returncode}"}
        return json.loads(out.read_text(encoding="utf-8"))


def _targets(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """What to measure: generated shops by size, then the real files."""
    targets = []
    for size in args.sizes:
        path, customers, generated = sample_shop_file(work, size)
        targets.append({"label": _size_label(size), "kind": "generated", "path": path,
                        "requested_lines": size, "generated_customers": customers,
                        "generate_seconds": None if generated is None else round(generated, 2)})
    seen: set[str] = {t["label"] for t in targets}
    for file in args.real:
        label = base = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(file).stem)
        number = 2
        while label in seen:
            label, number = f"{base}-{number}", number + 1
        seen.add(label)
        targets.append({"label": label, "kind": "real", "path": Path(file).resolve()})
    return targets


def _size_label(lines: int) -> str:
    for unit, scale in (("m", 1_000_000), ("k", 1_000)):
        if lines >= scale and lines % (scale // 10) == 0:
            return f"{lines / scale:g}{unit}"
    return str(lines)


def run_target(target: dict[str, Any], work: Path, *, skip_lifetimes: bool,
               in_process: bool) -> dict[str, Any]:
    """Measure one file: analyze and chat in a fresh process, then lifetimes beside it."""
    label, path = target["label"], Path(target["path"])
    print(f"Measuring {label}: {path}", file=sys.stderr, flush=True)
    export = None if skip_lifetimes else work / f"clean-{label}.csv"
    result = _measure(path, work, label, export=export, in_process=in_process)
    result = {**{k: (str(v) if isinstance(v, Path) else v) for k, v in target.items()
                 if k != "path"}, **result}
    if skip_lifetimes:
        result["lifetimes"] = {"skipped": "--skip-lifetimes"}
    elif "error" not in result:
        print(f"  [{label}] lifetimes CLV ...", file=sys.stderr, flush=True)
        try:
            lifetimes = run_lifetimes(export, result["as_of"], result["horizon_days"], work)
        except LifetimesUnavailable as exc:
            result["lifetimes"] = {"error": str(exc)}
        else:
            result["lifetimes"] = lifetimes
            ratio = result["analyze_seconds"] / lifetimes["total_seconds"]
            result["lifetimes_clv_seconds"] = lifetimes["total_seconds"]
            result["ratio_analyze_to_lifetimes"] = round(ratio, 3)
            result["ratio_analyze_without_backtest_to_lifetimes"] = round(
                result["analyze_seconds_without_backtest"] / lifetimes["total_seconds"], 3)
            result["ratio_clv_stage_to_lifetimes"] = round(
                result["stages"]["clv"]["seconds"] / lifetimes["total_seconds"], 3)
            result["meets_target"] = ratio <= TARGET_RATIO
            result["clv_agreement"] = {  # same models, same data: the sums should agree
                name: _relative_difference(result[name], lifetimes[name])
                for name in ("predicted_clv_sum", "expected_orders_sum")}
    return result


def _relative_difference(ours: float, theirs: float) -> float | None:
    return None if not theirs else float(f"{abs(ours - theirs) / abs(theirs):.3g}")


def machine_info() -> dict[str, Any]:
    """Where and with what the benchmark ran."""
    versions = {}
    for package in ("retention-advisor", "pandas", "numpy", "scipy", "scikit-learn",
                    "pyarrow", "langchain", "chromadb", "sentence-transformers", "torch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _proc_value("/proc/cpuinfo", "model name"),
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git": _git(),
    }


def _proc_value(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                name, sep, value = line.partition(":")
                if sep and name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def warm_memory(gb: float) -> dict[str, float]:
    """Touch ``gb`` gigabytes of memory once (at most half of what is available) in a
    short-lived process; returns the gigabytes and seconds it took.

    On a virtual machine whose host backs the guest's memory lazily, the first touch of a
    page after boot is slow: on this project's 2-core machine the first gigabyte took 13.5 s
    and the next touch of the same memory 0.2 s, and a cold 1M-line run spent 8.5 s reading
    the file against 1.8 s warm. The fresh processes measured afterwards reuse the pages
    warmed here, so their times are the analysis's, not the host's. A process of its own,
    because a child inherits its parent's peak resident memory (``ru_maxrss``) on Linux.
    """
    available = _proc_value("/proc/meminfo", "MemAvailable")
    if available is not None:
        gb = min(gb, int(available.split()[0]) / 2**20 / 2)
    blocks = max(0, int(gb * 4))  # of 256 MiB, each zero-filled: every page written
    if not blocks:
        return {"gb": 0.0, "seconds": 0.0}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys\n"
                    "held = [bytearray(2**28) for _ in range(int(sys.argv[1]))]", str(blocks)],
                   check=True)
    return {"gb": round(blocks / 4, 2), "seconds": round(time.perf_counter() - start, 2)}


def _memory_gb() -> float | None:
    total = _proc_value("/proc/meminfo", "MemTotal")
    return None if total is None else round(int(total.split()[0]) / 2**20, 1)


def _git() -> dict[str, Any] | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": head, "dirty": bool(dirty.strip())}


# --------------------------------------------------------------------------- output


def print_result(result: dict[str, Any], console: Console) -> None:
    """Tables for one measured file: stages, chat and search, lifetimes."""
    label = result["label"]
    if "error" in result:
        console.print(f"[red]{label}: {result['error']}[/red]")
        return
    table = Table(title=f"{label}: {result['rows_in']:,} lines, {result['customers']:,} "
                        f"customers, as of {result['as_of']} ({Path(result['file']).name})")
    for name in ("stage", "seconds", "CPU s", "peak MB", "start MB"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for name, stage in result["stages"].items():
        table.add_row(STAGE_LABELS.get(name, name), f"{stage['seconds']:.2f}",
                      f"{stage['cpu_seconds']:.2f}", f"{stage['peak_rss_mb']:,.0f}",
                      f"{stage['start_rss_mb']:,.0f}")
    table.add_section()
    worker = result["backtest_process"]
    if worker["beside"]:
        table.add_row("backtest process, beside", "", f"{worker['cpu_seconds']:.2f}",
                      f"{worker['peak_rss_mb']:,.0f}", "")
    table.add_section()
    table.add_row("analyze total", f"{result['analyze_seconds']:.2f}",
                  f"{result['analyze_cpu_seconds']:.2f}",
                  f"{result['peak_rss_mb_with_backtest_process']:,.0f}", "")
    table.add_row("  without the backtest", f"{result['analyze_seconds_without_backtest']:.2f}",
                  "", "", "")
    if "load_clean_cached_seconds" in result:
        table.add_row("load + clean again, from the cache",
                      f"{result['load_clean_cached_seconds']:.2f}", "", "", "")
    console.print(table)
    if "chat" in result:
        chat, search = result["chat"], result["search"]
        table = Table(title=f"{label}: advisor with the analysis loaded ({chat['model']})")
        table.add_column("step")
        table.add_column("seconds", justify="right")
        table.add_row("import advisor",
                      f"{chat['advisor_import_seconds']:.2f}")
        table.add_row("knowledge base build (shipped vectors, index)",
                      f"{chat['kb_build_seconds']:.2f}")
        table.add_row("embedding model load (the app's warm-up)",
                      f"{chat['model_load_seconds']:.2f}")
        table.add_row("agent build", f"{chat['agent_build_seconds']:.2f}")
        table.add_row("prepare (the app's thread: codes, tables)",
                      f"{chat['prepare_seconds']:.2f}")
        table.add_row(f"first answer: {chat['question']!r}", f"{chat['first_answer_seconds']:.3f}")
        table.add_row(f"answer, median of {len(chat['answer_seconds'])}",
                      f"{chat['answer_median_seconds']:.3f}")
        table.add_row(f"first answer: {chat['customer_question']!r}",
                      f"{chat['customer_answer_seconds']:.3f}")
        table.add_row(f"first answer: {chat['products_question']!r}",
                      f"{chat['products_answer_seconds']:.3f}")
        table.add_row(f"then {chat['products_again_question']!r}",
                      f"{chat['products_again_seconds']:.3f}")
        table.add_row(f"first answer: {chat['country_question']!r}",
                      f"{chat['country_answer_seconds']:.3f}")
        for answer in chat.get("product_questions", []):
            table.add_row(f"then {answer['question']!r}", f"{answer['seconds']:.3f}")
        table.add_row("playbook search, first", f"{search['first_seconds']:.4f}")
        table.add_row(f"playbook search, median of {search['runs']}",
                      f"{search['median_seconds']:.4f}")
        table.add_section()
        table.add_row("peak MB while chatting", f"{chat['peak_rss_mb']:,.0f}")
        console.print(table)
        if chat["error"]:
            console.print(f"[red]The advisor failed: {chat['error']}[/red]")
    _print_lifetimes(result, console)


def _print_lifetimes(result: dict[str, Any], console: Console) -> None:
    lifetimes = result.get("lifetimes", {})
    if "skipped" in lifetimes:
        console.print(f"lifetimes: skipped ({lifetimes['skipped']})")
        return
    if "error" in lifetimes:
        console.print(f"[red]lifetimes: {lifetimes['error']}[/red]")
        return
    table = Table(title=f"{result['label']}: lifetimes {lifetimes['versions']['lifetimes']} "
                        f"on the same cleaned lines ({lifetimes['customers']:,} customers)")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for name, seconds in lifetimes["seconds"].items():
        table.add_row(name, f"{seconds:.2f}")
    table.add_section()
    table.add_row("lifetimes CLV total", f"{lifetimes['total_seconds']:.2f}")
    table.add_row("this package's CLV stage", f"{result['stages']['clv']['seconds']:.2f}")
    table.add_row("analyze total", f"{result['analyze_seconds']:.2f}")
    verdict = "meets" if result["meets_target"] else "misses"
    table.add_row(f"ratio analyze / lifetimes ({verdict} the target ≤ {TARGET_RATIO:g})",
                  f"{result['ratio_analyze_to_lifetimes']:.2f}")
    table.add_row("ratio without the backtest",
                  f"{result['ratio_analyze_without_backtest_to_lifetimes']:.2f}")
    table.add_row("peak MB of the lifetimes process", f"{lifetimes['peak_rss_mb']:,.0f}")
    console.print(table)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n",
                                             encoding="utf-8"))


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Time and measure every stage of `analyze`, the advisor's chat path and "
                    "the lifetimes library's CLV step, on generated shops and real exports.")
    parser.add_argument("--sizes", default=None,
                        help=f"Comma-separated sizes in order lines of generated shops, e.g. "
                             f"200k,1m (default: {DEFAULT_SIZES}, or none with --real).")
    parser.add_argument("--real", nargs="+", action="extend", default=[], metavar="FILE",
                        help="Real order exports to measure too (repeatable).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file.")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help="Folder for generated shops, outputs and the lifetimes venv.")
    parser.add_argument("--warm-memory", type=float, default=4.0, metavar="GB",
                        help="Touch this much memory before measuring (default 4; 0: none), "
                             "so that a virtual machine's slow first touch of its memory is "
                             "not counted as the analysis's time.")
    parser.add_argument("--skip-lifetimes", action="store_true",
                        help="Do not run the lifetimes comparison.")
    parser.add_argument("--in-process", action="store_true",
                        help="Measure in this process (tests, debugging): peak memory then "
                             "includes earlier runs.")
    internal = parser.add_argument_group("internal (one measurement in a fresh process)")
    internal.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    internal.add_argument("--label", default="run", help=argparse.SUPPRESS)
    internal.add_argument("--json-out", type=Path, help=argparse.SUPPRESS)
    internal.add_argument("--export", type=Path, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns what it wrote to ``--out``."""
    parser = _parser()
    args = parser.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.one is not None:  # internal: one measurement, written to --json-out
        result = measure_file(args.one, work, args.label, export=args.export, echo=True)
        _write_json(args.json_out, result)
        return result
    sizes = args.sizes if args.sizes is not None else ("" if args.real else DEFAULT_SIZES)
    try:
        args.sizes = [parse_size(s) for s in sizes.split(",") if s.strip()]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    missing = [f for f in args.real if not Path(f).is_file()]
    if missing:
        parser.error(f"--real: no such file: {', '.join(missing)}")
    if not args.sizes and not args.real:
        parser.error("nothing to measure: give --sizes or --real")
    console = Console()
    warmed = warm_memory(args.warm_memory)
    if warmed["gb"]:
        console.print(f"Warmed {warmed['gb']:.2f} GB of memory in {warmed['seconds']:.2f} s")
    payload: dict[str, Any] = {"machine": {**machine_info(), "memory_warmup": warmed},
                               "target_ratio": TARGET_RATIO,
                               "chat_question": CHAT_QUESTION, "search_query": SEARCH_QUERY,
                               "stages": list(ANALYZE_STAGES), "runs": []}
    for target in _targets(args, work):
        result = run_target(target, work, skip_lifetimes=args.skip_lifetimes,
                            in_process=args.in_process)
        payload["runs"].append(result)
        _write_json(args.out, payload)  # after every run: a later crash keeps earlier runs
        print_result(result, console)
    console.print(f"Wrote {args.out}")
    return payload


if __name__ == "__main__":
    main()
