"""Campaign plans in words: message copy and the Markdown plan, from templates in prompts/."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["COPY_LANGUAGES", "campaign_copy", "load_prompt", "prompt_sections", "render_plan"]


def load_prompt(name: str) -> str:
    """A prompt or template file shipped in the ``prompts`` package."""
    return (files("prompts") / name).read_text(encoding="utf-8")


#: Languages of the message copy (``prompts/campaign_copy.md`` and ``campaign_copy.<xx>.md``).
COPY_LANGUAGES = ("en", "zh", "de", "fr", "es")


def prompt_sections(stem: str, language: str = "en") -> dict[str, str]:
    """The ``## heading`` sections of ``prompts/<stem>.md`` (``<stem>.<language>.md`` for
    another language than English): heading -> text below it."""
    name = f"{stem}.md" if language == "en" else f"{stem}.{language}.md"
    sections = re.split(r"^## ", load_prompt(name), flags=re.M)[1:]
    return {s.split("\n", 1)[0].strip(): s.split("\n", 1)[1].strip() for s in sections}


@cache
def _copy_templates(language: str = "en") -> dict[str, tuple[str, str]]:
    templates = {}
    for tactic, text in prompt_sections("campaign_copy", language).items():
        subject, *body = text.splitlines()
        templates[tactic] = (subject.removeprefix("Subject:").strip(), "\n".join(body).strip())
    return templates


def campaign_copy(plan: dict[str, Any], language: str = "en") -> tuple[str, str]:
    """Subject and body for a plan, from the template of its tactic in ``language`` (one
    of ``COPY_LANGUAGES``)."""
    templates = _copy_templates(language)
    subject, body = templates.get(plan["tactic"], templates["retention"])
    suggested = plan.get("suggest") or {}  # a cross-sell's product, by its name
    values = {"discount": f"{plan['discount']:.0%}", "offer": plan["offer"],
              "days": plan["send_within_days"] + 14, "segment": plan["segment"],
              "product": suggested.get("name") or suggested.get("product_id") or ""}
    return subject.format(**values), body.format(**values)


def render_plan(plan: dict[str, Any]) -> str:
    """The whole plan as Markdown (numbers from the plan, words from the templates)."""
    subject, body = campaign_copy(plan)
    citations = plan.get("citations") or []
    warnings = "".join(f"- Note: {w}\n" for w in plan.get("warnings", []))
    values = {
        **plan,
        "subject": plan.get("subject", subject),
        "body": plan.get("body", body),
        "discount_pct": f"{plan['discount']:.0%}",
        "baseline_pct": f"{plan['baseline_retention']:.1%}",
        "target_pct": f"{plan['target_retention']:.1%}",
        "warnings": warnings,
        "citations": "\n".join(f"- {c['title']}, \"{c['section']}\" ({c['source']})"
                                for c in citations) or "- (playbook not available)",
    }
    return load_prompt("plan_template.md").format(**values)
