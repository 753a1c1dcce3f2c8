"""``retention-advisor``: the analytics commands plus ``ask`` and ``plans``.

A thin edge: it builds the workspace from settings, calls the advisor or the plan store,
and turns domain errors into one message and a non-zero exit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from analytics.cli import cli
from analytics.cli import main as analytics_main
from analytics.errors import RetentionError

from .settings import load_settings

if TYPE_CHECKING:
    from .storage import PlanStore

__all__ = ["cli", "main"]


@cli.command()
@click.argument("question")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Order log to analyse (default: ADVISOR_DATA, else the sample shop).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the answer, the tool calls with their arguments and the model.")
def ask(question: str, data: Path | None, as_json: bool) -> None:
    """Answer one QUESTION about the customers, with numbers from the analysis."""
    from .agent import Advisor, converse
    from .workspace import build_context

    settings = load_settings()
    with Console(stderr=True).status("Analysing the shop and loading the playbook"):
        advisor = Advisor(build_context(settings, data), settings)
    store = advisor.context.store
    assert store is not None  # build_context always opens the workspace's store
    # earlier questions about the same data come back as context for a follow-up
    analysis = advisor.context.analysis
    dataset = f"cli:{analysis.source}:{analysis.as_of.date()}"
    result = advisor.result(list(converse(
        store, "cli", dataset, question,
        lambda history: advisor.stream(question, session_id="cli", history=history))))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        Console().print(Markdown(result.answer))
        Console(stderr=True).print(f"[dim]Answered by {result.model}; tools: "
                                   + (", ".join(c["name"] for c in result.tool_calls) or "none")
                                   + "[/dim]")
    if result.error:
        raise SystemExit(1)


@cli.command()
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Order log to open (default: ADVISOR_DATA, else the sample shop).")
@click.option("--host", default=None, help="Address to bind (default: ADVISOR_HOST, "
              "127.0.0.1; use 0.0.0.0 to serve other machines, with ADVISOR_AUTH).")
@click.option("--port", type=int, default=None, help="Port (default: ADVISOR_PORT, 7860).")
def serve(data: Path | None, host: str | None, port: int | None) -> None:
    """Serve the web app: chat, overview, data and campaign plans."""
    from .web import serve as serve_app

    serve_app(data=data, host=host, port=port)


@cli.group()
def plans() -> None:
    """Saved campaign plans: list, show, export, and how one did."""


def _store() -> PlanStore:
    from .storage import PlanStore  # imported here to keep the CLI's startup fast

    return PlanStore(load_settings().home)


@plans.command("list")
def plans_list() -> None:
    """List saved plans."""
    table = _store().list_plans()
    if table.empty:
        click.echo('No saved plans yet. Draft one: retention-advisor ask "draft a win-back '
                   'campaign for At Risk customers"')
        return
    table = table.assign(created=table["created_at"].str[:16].str.replace("T", " "),
                         discount=table["discount"].map(lambda d: f"{d:.0%}"),
                         expected_cost=table["expected_cost"].map(lambda c: f"{c:,.0f}"))
    view = Table(title="Saved campaign plans")
    columns = ["id", "name", "segment", "created", "audience_size", "discount", "expected_cost"]
    for column in columns:
        view.add_column(column.replace("_", " "))
    for row in table[columns].itertuples(index=False):
        view.add_row(*(str(v) for v in row))
    Console().print(view)


@plans.command("show")
@click.argument("plan_id", type=int)
def plans_show(plan_id: int) -> None:
    """Show plan PLAN_ID."""
    Console().print(Markdown(_store().get_plan(plan_id).markdown))


@plans.command("export")
@click.argument("plan_id", type=int)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("."),
              show_default=True, help="Folder for the Markdown plan and the audience CSV.")
def plans_export(plan_id: int, out_dir: Path) -> None:
    """Export plan PLAN_ID as Markdown and its audience as CSV."""
    markdown, audience = _store().export_plan(plan_id, out_dir)
    click.echo(f"Wrote {markdown} and {audience}")


@plans.command("results")
@click.argument("plan_id", type=int)
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="The shop's order log after the campaign ran (default: ADVISOR_DATA, "
                   "else the sample shop).")
@click.option("--json", "as_json", is_flag=True, help="Print the measurement as JSON.")
def plans_results(plan_id: int, data: Path | None, as_json: bool) -> None:
    """How plan PLAN_ID's campaign did: its treated customers against its holdout, from
    their orders in the plan's horizon after it was drafted (in --data)."""
    from langchain_core.tools import ToolException

    from .offline import ANSWERS
    from .storage import PlanStore
    from .tools import AdvisorContext, ToolFunctions
    from .workspace import load_analysis

    settings = load_settings()
    store = PlanStore(settings.home)
    store.get_plan(plan_id)  # an unknown plan says so before the data are analysed
    with Console(stderr=True).status("Analysing the shop"):
        context = AdvisorContext(analysis=load_analysis(settings, data), store=store)
    try:
        payload = json.loads(ToolFunctions(context).campaign_results(plan_id))
    except ToolException as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        Console().print(Markdown(ANSWERS["campaign_results"](payload)))


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (errors become one message, see :func:`analytics.cli.main`).

    ``analyze`` and ``backtest`` keep cleaned lines in the workspace's cache by default.
    """
    try:
        cache: str | None = str(load_settings().home / "cache")
    except RetentionError:  # a bad setting: the commands that need settings report it
        cache = None  # and analyze runs without a cache
    analytics_main(argv, default_map={name: {"cache_dir": cache}
                                      for name in ("analyze", "backtest")})


if __name__ == "__main__":
    main()
