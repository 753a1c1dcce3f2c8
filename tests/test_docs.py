"""Docs as tests: the README tells the truth about commands and options."""

import re
from pathlib import Path

import click

from advisor.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)


def test_readme_starts_with_exactly_two_commands_and_ci_runs_the_test_command():
    first, second = _bash_blocks()[:2]
    assert "install" in first and "install" in second
    assert "pytest" in second
    assert first.strip().endswith("python app.py")  # the first command serves the app
    assert (ROOT / "app.py").is_file()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert second.strip() in ci


def test_every_cli_command_and_option_is_documented():
    assert isinstance(cli, click.Group)
    commands = list(cli.commands.items())
    for name, command in commands:
        if isinstance(command, click.Group):
            commands += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
            continue
        assert f"retention-advisor {name}" in README, name
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("--") and option != "--help":
                    assert f"`{option}" in README, f"{name} {option}"


def test_every_output_file_is_documented(tmp_path, sample_analysis):
    from analytics.outputs import write_outputs

    for path in write_outputs(sample_analysis, tmp_path).values():
        assert f"`{path.name}`" in README, path.name


def test_every_agent_tool_is_documented(sample_analysis):
    from advisor.tools import AdvisorContext, build_tools

    for tool in build_tools(AdvisorContext(sample_analysis)):
        assert f"`{tool.name}`" in README, tool.name
