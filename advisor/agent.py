"""The advisor agent: a chat model (offline or OpenAI-compatible) with the analysis tools.

``Advisor.ask`` answers one question; ``Advisor.stream`` yields tool calls, tool results
and answer tokens as they happen. Conversation memory is kept per session id. A model
that fails (an error, a timeout, a malformed tool call) leaves the user with a clear
message, never a crash.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from .offline import OfflineAdvisorModel
from .plans import load_prompt
from .settings import Settings
from .tools import AdvisorContext, ToolFunctions, build_tools

if TYPE_CHECKING:
    from .storage import PlanStore

HISTORY_MESSAGES = 20  # earlier messages a restored session brings back to the model

__all__ = ["AdviceResult", "Advisor", "Event", "converse", "make_chat_model", "summarise"]


def make_chat_model(settings: Settings) -> BaseChatModel:
    """The configured chat model: the offline advisor, or an OpenAI-compatible endpoint."""
    if settings.provider == "offline":
        return OfflineAdvisorModel()
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.model,
        api_key=settings.api_key or "not-needed",  # local servers accept any key
        base_url=settings.base_url or None,
        timeout=settings.timeout,
        max_retries=1,
        temperature=0,
    )


def model_label(settings: Settings) -> str:
    """Which model answers, in words."""
    if settings.provider == "offline":
        return "offline advisor (built in, no network)"
    return f"{settings.model} via {settings.base_url or 'api.openai.com'}"


@dataclass
class Event:
    """One step of a streamed answer: ``tool_call``, ``tool_result``, ``token`` or ``error``."""

    kind: str
    name: str = ""
    content: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    call_id: str = ""
    seconds: float | None = None


@dataclass
class AdviceResult:
    """A whole answer: the text, the tool calls with their arguments, the model used."""

    answer: str
    tool_calls: list[dict[str, Any]]
    model: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "tool_calls": self.tool_calls, "model": self.model,
                "error": self.error}


class Advisor:
    """Agent over one analysis; one instance serves many sessions."""

    def __init__(self, context: AdvisorContext, settings: Settings,
                 model: BaseChatModel | None = None) -> None:
        from langchain.agents import create_agent

        self.context = context
        self.settings = settings
        self.model_name = model_label(settings) if model is None else type(model).__name__
        self._functions = ToolFunctions(context)
        self.tools = build_tools(context, self._functions)
        self.agent = create_agent(model or make_chat_model(settings), self.tools,
                                  system_prompt=load_prompt("system.md"),
                                  checkpointer=InMemorySaver())

    @property
    def functions(self) -> ToolFunctions:
        """The tool functions bound to this advisor's context (the app drafts plans with
        them, as the chat does)."""
        return self._functions

    def prepare(self) -> None:
        """Do now what the first product or country question would otherwise wait for
        (the order lines' ids as integer codes, every segment's best-seller counts, the
        country and channel breakdowns and the customers' churn drivers: about 9 s on 10M
        lines before the drivers, 1.00 s on 1M with them); the app runs it in a thread
        once the analysis is loaded. Questions asked meanwhile wait for the part they
        need, as they would have made it."""
        self._functions.prepare()

    def stream(self, question: str, session_id: str = "default",
               history: Callable[[], Sequence[Mapping[str, str]]] | None = None
               ) -> Iterator[Event]:
        """Tool calls, tool results and answer tokens as they happen; errors as an event.

        ``history()``: the session's earlier messages (``role``, ``content``) from a saved
        transcript. The agent remembers a session while this process runs; only when it
        does not know the session yet (after a restart) is ``history`` called, and the last
        ``HISTORY_MESSAGES`` come before the question, so a follow-up keeps its context.
        """
        config = {"configurable": {"thread_id": session_id}, "recursion_limit": 12}
        started: dict[str, float] = {}
        messages = [{"role": "user", "content": question}]
        if history is not None and not self.agent.get_state(config).values.get("messages"):
            messages = [{"role": m["role"], "content": m["content"]}
                        for m in history()[-HISTORY_MESSAGES:]] + messages
        try:
            for message, _meta in self.agent.stream({"messages": messages}, config,
                                                    stream_mode="messages"):
                yield from self._events(message, started)
        except Exception as exc:  # any model failure becomes a message, never a crash
            yield Event("error", content=_explain(exc, self.model_name))

    def _events(self, message: Any, started: dict[str, float]) -> Iterator[Event]:
        if isinstance(message, ToolMessage):
            begun = started.pop(message.tool_call_id, None)
            yield Event("tool_result", name=str(message.name), content=str(message.content),
                        call_id=message.tool_call_id,
                        seconds=None if begun is None else time.perf_counter() - begun)
        elif isinstance(message, AIMessageChunk | AIMessage):
            for call in message.tool_calls:
                if call.get("name"):
                    started[call["id"]] = time.perf_counter()
                    yield Event("tool_call", name=call["name"], args=call["args"],
                                call_id=call["id"])
            if message.content:
                yield Event("token", content=str(message.content))

    def ask(self, question: str, session_id: str = "default") -> AdviceResult:
        """The whole answer to one question."""
        return self.result(list(self.stream(question, session_id)))

    def result(self, events: list[Event]) -> AdviceResult:
        """An answer's streamed events as one result (tool results parsed from JSON)."""
        text, calls, error = summarise(events)
        for call in calls:
            if "result" in call:
                call["result"] = _parse(call["result"])
        if not text and error is None:
            text = "The model returned an empty answer. Try rephrasing the question."
        return AdviceResult(answer=text or error or "", tool_calls=calls,
                            model=self.model_name, error=error)


def converse(store: PlanStore, session_id: str, dataset: str, question: str,
             answer: Callable[[Callable[[], list[dict[str, Any]]]], Iterator[Event]]
             ) -> Iterator[Event]:
    """Stream ``answer(history)`` to ``question`` and keep the exchange in the session's
    transcript: the app and ``retention-advisor ask`` both talk through this.

    ``history()`` reads the session's earlier exchanges about ``dataset`` (failed answers
    left out), for a model that does not remember the session (see :meth:`Advisor.stream`).
    The question is saved first and the answer when the stream ends, also when it is cut
    short (the browser reloaded or went away): what was said so far is kept.
    """
    asked = store.add_message(session_id, "user", question, dataset=dataset)

    def history() -> list[dict[str, Any]]:
        return [m for m in store.transcript(session_id, dataset=dataset) if m["id"] < asked
                and not (m["role"] == "assistant" and m["content"].startswith("⚠️"))]

    events: list[Event] = []
    try:
        for event in answer(history):
            events.append(event)
            yield event
    finally:
        text, calls, error = summarise(events)
        store.add_message(session_id, "assistant", text or f"⚠️ {error or 'no answer'}",
                          tool_calls=calls, dataset=dataset)


def summarise(events: list[Event]) -> tuple[str, list[dict[str, Any]], str | None]:
    """An answer's text, its tool calls (name, args and result text) and its error."""
    answer = "".join(e.content for e in events if e.kind == "token").strip()
    error = next((e.content for e in events if e.kind == "error"), None)
    calls: dict[str, dict[str, Any]] = {}  # by call id, in the order they were made
    for event in events:
        if event.kind == "tool_call":
            calls[event.call_id] = {"name": event.name, "args": event.args}
        elif event.kind == "tool_result" and event.call_id in calls:
            calls[event.call_id]["result"] = event.content
    return answer, list(calls.values()), error


def _parse(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content


def _explain(exc: Exception, model: str) -> str:
    name = type(exc).__name__
    text = str(exc).splitlines()[0][:300] if str(exc) else name
    if "Timeout" in name or "timed out" in text.lower():
        return (f"The language model ({model}) did not answer in time. Check that the "
                "server is running, or raise ADVISOR_TIMEOUT.")
    if "Connection" in name or "connect" in text.lower():
        return (f"Could not reach the language model ({model}): {text}. Check "
                "OPENAI_BASE_URL, or unset it to use the offline advisor.")
    if "Authentication" in name or "401" in text:
        return f"The language model rejected the API key ({model}). Check OPENAI_API_KEY."
    if "Recursion" in name:
        return ("The model kept calling tools without answering. Ask a narrower question, "
                "or use the offline advisor (ADVISOR_PROVIDER=offline).")
    return f"The language model failed ({model}): {name}: {text}"
