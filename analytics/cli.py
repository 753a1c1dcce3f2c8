"""The ``retention-advisor`` command line: a thin edge over the analytics core.

Domain errors become one message on stderr and a non-zero exit; no traceback.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .backtest import backtest, describe_margin
from .errors import RetentionError
from .outputs import write_outputs
from .pipeline import Analysis, analyze_file, load_and_clean, restrict_to_as_of
from .sample import SAMPLE_SHOP_PATH, write_sample_shop
from .schema import CANONICAL_COLUMNS

__all__ = ["cli", "main", "parse_mapping"]

STAGES = {
    "load": "Loading the order log",
    "cached": "Reading the cleaned lines from the cache",
    "clean": "Cleaning rows",
    "rfm": "Scoring RFM and segments",
    "clusters": "Clustering behaviour",
    "clv": "Fitting lifetime value (BG/NBD, Gamma-Gamma)",
    "churn": "Training and scoring the churn model",
    "recommendations": "Recommending products",
    "cohorts": "Building cohorts and KPIs",
    "segments": "Summarising segments and their trend",
    "backtest": "Backtesting the models one horizon back",
    "write": "Writing tables, report and charts",
}


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """``["customer_id=Kontakt", ...]`` → ``{"customer_id": "Kontakt"}``."""
    mapping = {}
    for pair in pairs:
        field, sep, header = pair.partition("=")
        if not sep or not field.strip() or not header.strip():
            raise click.BadParameter(
                f"{pair!r} is not FIELD=HEADER; write e.g. --map customer_id=Kontakt "
                f"(fields: {', '.join(CANONICAL_COLUMNS)})",
                param_hint="--map",
            )
        mapping[field.strip()] = header.strip()
    return mapping


@contextmanager
def _stage_progress(console: Console) -> Iterator[object]:
    """A spinner line per stage; yields the ``progress(stage)`` callback."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        current: list[int] = []

        def step(stage: str) -> None:
            if current:
                bar.update(current[-1], completed=1)
            current.append(bar.add_task(STAGES.get(stage, stage), total=1))

        yield step
        if current:
            bar.update(current[-1], completed=1)


def _summary_table(analysis: Analysis) -> Table:
    table = Table(title=f"Segments at {analysis.as_of.date()} ({analysis.source})")
    columns = ["segment", "customers", "revenue share"]
    has_risk = "revenue_at_risk" in analysis.segments
    if has_risk:
        columns += ["mean churn", "revenue at risk"]
    for name in columns:
        table.add_column(name, justify="left" if name == "segment" else "right")
    rfm = analysis.segments.loc[analysis.segments["kind"] == "rfm"]
    for row in rfm.itertuples():
        cells = [row.segment, f"{row.customers:,}", f"{row.revenue_share:.1%}"]
        if has_risk:
            cells += [f"{row.mean_churn_probability:.1%}", f"{row.revenue_at_risk:,.0f}"]
        table.add_row(*cells)
    return table


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="retention-advisor")
def cli() -> None:
    """Retention Advisor: retention analytics for an e-commerce order log."""


def data_options(command: Callable[..., None]) -> Callable[..., None]:
    """The DATA argument and the options that say how to read it and for which date."""
    decorators = [
        click.argument("data", required=False, type=click.Path(path_type=Path)),
        click.option("--as-of", default=None, help="Analysis date YYYY-MM-DD; later rows are "
                     "ignored. Default: last order date."),
        click.option("--horizon-days", default=90, show_default=True,
                     type=click.IntRange(min=1),
                     help="Days ahead that churn and lifetime value look."),
        click.option("--map", "maps", multiple=True, metavar="FIELD=HEADER",
                     help="Map a column explicitly, e.g. --map customer_id=Kontakt "
                          "(repeatable); in a file without a header line, by the column's "
                          "number: --map customer_id=1."),
        click.option("--sheet", default=None,
                     help="Excel sheet to read (default: the sheets whose columns give a "
                          "customer and a date); 'all' stacks sheets that share headers."),
        click.option("--date-format", default=None, help="strftime format of the date "
                     "column, e.g. %d.%m.%Y, when guessing fails."),
        click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
                     help="Keep the cleaned lines there (Parquet, keyed by the file's "
                     "content and these options) and read them back next time. "
                     "retention-advisor's default: ADVISOR_HOME/cache."),
        click.option("--no-cache", is_flag=True,
                     help="Read and clean the file afresh, and keep nothing."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


@cli.command()
@data_options
@click.option("--out", "out_dir", default="analysis", show_default=True,
              type=click.Path(path_type=Path), help="Folder for the output files.")
def analyze(data: Path | None, out_dir: Path, as_of: str | None, horizon_days: int,
            maps: tuple[str, ...], sheet: str | None, date_format: str | None,
            cache_dir: Path | None, no_cache: bool) -> None:
    """Analyse DATA (CSV, Parquet or Excel; default: the bundled sample shop)."""
    console = Console(stderr=True)
    mapping = parse_mapping(maps)
    with _stage_progress(console) as step, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kept in analysis.warnings, printed below
        analysis = analyze_file(data or SAMPLE_SHOP_PATH, mapping=mapping, sheet=sheet,
                                date_format=date_format, as_of=as_of,
                                horizon_days=horizon_days, progress=step,
                                cache_dir=None if no_cache else cache_dir)
        step("write")
        paths = write_outputs(analysis, out_dir)
    for message in analysis.warnings:
        console.print(f"[yellow]Warning:[/yellow] {message}")
    out = Console()
    if analysis.mapping:
        out.print("Columns read: " + ", ".join(f"{field} ← {header!r}"
                                               for field, header in analysis.mapping.items()),
                  markup=False, highlight=False)
    for note in analysis.notes:
        out.print(f"Note: {note}", markup=False, highlight=False)
    out.print(_summary_table(analysis))
    report = analysis.cleaning
    dropped = ", ".join(f"{k} {v:,}" for k, v in report.dropped.items() if v)
    out.print(f"Rows read {report.rows_in:,}, kept {report.rows_kept:,}, dropped "
              + (dropped or "none"))
    out.print(f"Wrote {len(paths)} files to {out_dir}/ (start with {paths['report'].name})")


def _metrics_table(title: str, metrics: dict[str, dict[str, float]]) -> Table:
    columns = list(next(iter(metrics.values())))
    table = Table(title=title)
    table.add_column("model")
    for column in columns:
        table.add_column(column, justify="right")
    for name, row in metrics.items():
        table.add_row(name, *(_number(row[c]) for c in columns))
    return table


def _number(value: float | None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}"


@cli.command("backtest")
@data_options
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def backtest_command(data: Path | None, as_of: str | None, horizon_days: int,
                     maps: tuple[str, ...], sheet: str | None, date_format: str | None,
                     cache_dir: Path | None, no_cache: bool, as_json: bool) -> None:
    """Backtest the models on DATA one horizon before --as-of, against simple baselines."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lines, _report, _loaded = load_and_clean(
            data or SAMPLE_SHOP_PATH, mapping=parse_mapping(maps), sheet=sheet,
            date_format=date_format, cache_dir=None if no_cache else cache_dir)
        lines, day, _later = restrict_to_as_of(lines, as_of)
        result = backtest(lines, day, horizon_days)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    out = Console()
    if "skipped" in result:
        out.print(f"Backtest skipped: {result['skipped']}")
        return
    out.print(f"Models fitted on rows up to {result['cutoff']}, checked against the next "
              f"{horizon_days} days (up to {day.date()}).")
    churn = result["churn"]
    out.print(_metrics_table(f"Churn: {churn['customers']:,} customers, "
                             f"{churn['churn_rate']:.1%} churned", churn["metrics"]))
    if churn.get("margin"):
        out.print(describe_margin(churn))
    out.print(_metrics_table(f"Lifetime value: {result['clv']['customers']:,} customers",
                             result["clv"]["metrics"]))
    if "recommendations" in result:
        recs = result["recommendations"]
        out.print(_metrics_table(f"Recommendations @{recs['n']}: {recs['customers']:,} "
                                 "customers who bought in the horizon", recs["metrics"]))


@cli.command()
@click.option("--customers", default=5000, show_default=True, type=click.IntRange(min=1),
              help="Number of customers.")
@click.option("--months", default=24, show_default=True, type=click.IntRange(min=1),
              help="Length of the order history in months.")
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed.")
@click.option("--start", default="2024-01-01", show_default=True, help="First day, YYYY-MM-DD.")
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path),
              help="Output file: .csv, .csv.gz or .parquet; the truth goes beside it.")
def sample(customers: int, months: int, seed: int, start: str, out_file: Path) -> None:
    """Write a synthetic sample shop's order log and its ground truth."""
    orders_path, truth_path = write_sample_shop(out_file, customers=customers, months=months,
                                                seed=seed, start=start)
    click.echo(f"Wrote {orders_path} and {truth_path}")


def main(argv: Sequence[str] | None = None,
         default_map: dict[str, dict[str, object]] | None = None) -> None:
    """Console entry point: turns domain errors into a message and exit code 1.

    ``default_map`` gives option defaults per command, e.g. ``{"analyze": {"cache_dir":
    ...}}`` (the advisor's entry point passes its workspace's cache folder).
    """
    try:
        cli.main(args=argv, prog_name="retention-advisor", standalone_mode=False,
                 default_map=default_map)
    except RetentionError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
