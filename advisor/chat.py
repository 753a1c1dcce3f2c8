"""Agent events as chat messages: pure functions, no UI library needed.

The web app streams :meth:`advisor.agent.Advisor.stream` through :func:`events_to_messages`
and shows what it yields: one collapsible step per tool call (name, arguments, duration,
the result as tables), the answer as it is written, the playbook passages it rests on,
and a plain message when the model or a tool fails. Messages are dicts in the
``{"role", "content", "metadata"}`` shape that chat widgets (Gradio's ``Chatbot``) take.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .agent import Event

__all__ = [
    "Message",
    "citations_of",
    "events_to_messages",
    "format_value",
    "markdown_table",
    "result_markdown",
    "transcript_to_messages",
]

Message = dict[str, Any]

#: Rows of a list shown in a tool step before "… and N more".
MAX_ROWS = 15


def format_value(value: Any) -> str:
    """A cell or value in words: shares as they are, big numbers with separators."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, list):
        return "; ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], max_rows: int = MAX_ROWS) -> str:
    """A Markdown table of dict rows (columns: the union of keys, in first-seen order)."""
    if not rows:
        return "_(none)_"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows[:max_rows]:
        lines.append("| " + " | ".join(format_value(row.get(c)) for c in columns) + " |")
    if len(rows) > max_rows:
        lines.append(f"\n… and {len(rows) - max_rows:,} more")
    return "\n".join(lines)


def result_markdown(content: str) -> str:
    """A tool's JSON result as Markdown: scalars as a list, lists of records as tables."""
    try:
        payload = json.loads(content)
    except (TypeError, ValueError):
        return str(content)
    if not isinstance(payload, dict):
        return f"`{format_value(payload)}`"
    scalars, blocks = [], []
    for key, value in payload.items():
        label = key.replace("_", " ")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            blocks.append(f"**{label}**\n\n{markdown_table(value)}")
        elif isinstance(value, dict) and value and all(isinstance(v, dict)
                                                       for v in value.values()):
            rows = [{"name": k, **v} for k, v in value.items()]
            blocks.append(f"**{label}**\n\n{markdown_table(rows)}")
        elif isinstance(value, str) and "\n" in value:
            blocks.append(f"**{label}**\n\n{value}")
        else:
            scalars.append(f"- {label}: {format_value(value)}")
    return "\n\n".join(part for part in ["\n".join(scalars), *blocks] if part)


def citations_of(name: str, content: str) -> list[dict[str, str]]:
    """Playbook passages a tool result rests on (playbook search hits, plan citations)."""
    try:
        payload = json.loads(content)
    except (TypeError, ValueError):
        return []
    if not isinstance(payload, dict):
        return []
    found = payload.get("passages") if name == "playbook_search" else payload.get("citations")
    return [c for c in found or [] if isinstance(c, dict) and c.get("source")]


def _sources_block(cited: Sequence[Mapping[str, str]]) -> str:
    seen, lines = set(), []
    for c in cited:
        key = (c.get("source"), c.get("section"))
        if key in seen:
            continue
        seen.add(key)
        section = f", “{c['section']}”" if c.get("section") else ""
        lines.append(f"- {c.get('title') or c['source']}{section} (`{c['source']}`)")
    return "**Playbook sources**\n" + "\n".join(lines)


def _args_text(args: Mapping[str, Any]) -> str:
    if not args:
        return "_no arguments_"
    return "Arguments: " + ", ".join(f"`{k}` = `{json.dumps(v, ensure_ascii=False)}`"
                                     for k, v in args.items())


def _step_title(name: str, failed: bool = False) -> str:
    return f"{'Tool failed' if failed else 'Tool'}: {name}"


def _is_error(content: str) -> bool:
    try:
        json.loads(content)
    except (TypeError, ValueError):
        return True
    return False


def events_to_messages(events: Iterable[Event]) -> Iterator[list[Message]]:
    """The assistant's messages after each event of one answer (for streaming).

    Each yield is the whole list so far: tool steps (``metadata`` with ``title``,
    ``status`` pending → done, ``duration`` in seconds), then the answer, then the
    playbook sources the tools returned. A failure becomes a message that says so.
    """
    messages: list[Message] = []
    steps: dict[str, Message] = {}
    answer: Message | None = None
    cited: list[dict[str, str]] = []
    for event in events:
        if event.kind == "tool_call":
            step = {"role": "assistant", "content": _args_text(event.args),
                    "metadata": {"title": _step_title(event.name), "status": "pending",
                                 "id": event.call_id or f"step-{len(steps)}"}}
            steps[event.call_id or event.name] = step
            messages.append(step)
            answer = None  # text after a tool step starts a new bubble
        elif event.kind == "tool_result":
            step = steps.get(event.call_id) or steps.get(event.name)
            if step is None:  # a result without its call: show it anyway
                step = {"role": "assistant", "content": "", "metadata": {}}
                messages.append(step)
            failed = _is_error(event.content)
            body = (f"**Error:** {event.content}" if failed
                    else result_markdown(event.content))
            step["content"] = f"{step['content']}\n\n{body}".strip()
            step["metadata"] = {**step["metadata"], "title": _step_title(event.name, failed),
                                "status": "done"}
            if event.seconds is not None:
                step["metadata"]["duration"] = round(event.seconds, 3)
            cited.extend(citations_of(event.name, event.content))
        elif event.kind == "token":
            if answer is None:
                answer = {"role": "assistant", "content": ""}
                messages.append(answer)
            answer["content"] += event.content
        elif event.kind == "error":
            messages.append({"role": "assistant",
                             "content": f"⚠️ {event.content}",
                             "metadata": {"title": "The advisor could not answer",
                                          "status": "done"}})
            answer = None
        else:
            continue
        yield [dict(m) for m in messages]
    for step in steps.values():  # a call whose result never came (the model failed)
        if step["metadata"].get("status") == "pending":
            step["metadata"] = {**step["metadata"], "status": "done"}
    if not any(m.get("content") and not m.get("metadata") for m in messages) and not any(
            m["content"].startswith("⚠️") for m in messages):
        messages.append({"role": "assistant",
                         "content": "The model returned an empty answer. Try rephrasing."})
    if cited:
        messages.append({"role": "assistant", "content": _sources_block(cited)})
    yield [dict(m) for m in messages]


def transcript_to_messages(records: Iterable[Mapping[str, Any]]) -> list[Message]:
    """Saved transcript rows (``PlanStore.transcript``) back as chat messages with steps."""
    messages: list[Message] = []
    for record in records:
        role = "user" if record.get("role") == "user" else "assistant"
        for call in record.get("tool_calls") or []:
            result = call.get("result")
            content = _args_text(call.get("args") or {})
            if result is not None:
                text = result if isinstance(result, str) else json.dumps(result)
                content += "\n\n" + result_markdown(text)
            messages.append({"role": "assistant", "content": content,
                             "metadata": {"title": _step_title(str(call.get("name"))),
                                          "status": "done"}})
        messages.append({"role": role, "content": str(record.get("content") or "")})
    return messages
