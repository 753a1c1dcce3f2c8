"""One registry of settings, read from the environment and an optional ``.env`` file.

Every setting has a name, a default and help text; the README's settings table is checked
against this registry by a test. Environment variables win over ``.env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from analytics.errors import RetentionError

__all__ = ["SETTINGS", "Setting", "Settings", "SettingsError", "load_settings", "read_env_file"]


class SettingsError(RetentionError):
    """A setting has a value that cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "ADVISOR_PROVIDER",
        "",
        "`offline` (the built-in advisor model) or `openai` (any OpenAI-compatible "
        "endpoint). Default: `openai` when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set, "
        "else `offline`.",
    ),
    Setting("ADVISOR_MODEL", "gpt-4o-mini", "Model name sent to the OpenAI-compatible endpoint."),
    Setting("OPENAI_API_KEY", "", "API key for the OpenAI-compatible endpoint."),
    Setting(
        "OPENAI_BASE_URL",
        "",
        "Base URL of an OpenAI-compatible server, e.g. `http://127.0.0.1:8080/v1` for "
        "llama.cpp, Ollama or vLLM; alone it selects the `openai` provider.",
    ),
    Setting("ADVISOR_TIMEOUT", "60", "Seconds to wait for the language model per request."),
    Setting(
        "ADVISOR_HOME",
        "~/.retention-advisor",
        "Workspace folder: knowledge base index, saved plans, transcripts, uploads, caches.",
    ),
    Setting(
        "ADVISOR_DATA",
        "",
        "Order log the advisor and app analyse by default; empty: the bundled sample shop.",
    ),
    Setting("ADVISOR_HORIZON_DAYS", "90", "Days ahead that churn and lifetime value look."),
    Setting(
        "ADVISOR_EMBEDDINGS",
        "local",
        "`local` (all-MiniLM-L6-v2, offline) or `openai` (the endpoint's embeddings).",
    ),
    Setting(
        "ADVISOR_EMBEDDING_MODEL",
        "text-embedding-3-small",
        "Embedding model name when `ADVISOR_EMBEDDINGS=openai`.",
    ),
    Setting("ADVISOR_AUTH", "", "Basic auth for the web app as `user:password`; empty: none."),
    Setting("ADVISOR_HOST", "127.0.0.1", "Address the web app binds to."),
    Setting("ADVISOR_PORT", "7860", "Port of the web app."),
    Setting("ADVISOR_MAX_UPLOAD_MB", "200", "Largest order file the web app accepts, in MB."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (comments, blank lines and quotes allowed)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{path}:{number}: {raw!r} is not KEY=VALUE; fix or remove it")
        values[key.strip()] = value.strip().strip("'\"")
    return values


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :func:`load_settings`."""

    provider: str
    model: str
    api_key: str
    base_url: str
    timeout: float
    home: Path
    data: Path | None
    horizon_days: int
    embeddings: str
    embedding_model: str
    auth: tuple[str, str] | None
    host: str
    port: int
    max_upload_mb: float = 200.0


def _number(values: Mapping[str, str], name: str, kind: type) -> int | float:
    raw = values[name]
    try:
        number = kind(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a number; set it to e.g. {_BY_NAME[name].default}"
        ) from None
    if number <= 0:
        raise SettingsError(f"{name}={raw!r} must be positive")
    return number


def _choice(values: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = values[name].strip().lower()
    if value not in choices:
        raise SettingsError(f"{name}={values[name]!r}: choose one of {', '.join(choices)}")
    return value


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Defaults, overridden by ``env_file``, overridden by the environment."""
    file_values = read_env_file(env_file) if env_file else {}
    env = os.environ if environ is None else environ
    values = {s.name: env.get(s.name, file_values.get(s.name, s.default)) for s in SETTINGS}
    if not values["ADVISOR_PROVIDER"]:
        remote = values["OPENAI_API_KEY"] or values["OPENAI_BASE_URL"]
        values["ADVISOR_PROVIDER"] = "openai" if remote else "offline"
    auth = None
    if values["ADVISOR_AUTH"]:
        user, sep, password = values["ADVISOR_AUTH"].partition(":")
        if not sep or not user or not password:
            raise SettingsError("ADVISOR_AUTH must be user:password, e.g. ops:s3cret")
        auth = (user, password)
    return Settings(
        provider=_choice(values, "ADVISOR_PROVIDER", ("offline", "openai")),
        model=values["ADVISOR_MODEL"],
        api_key=values["OPENAI_API_KEY"],
        base_url=values["OPENAI_BASE_URL"],
        timeout=float(_number(values, "ADVISOR_TIMEOUT", float)),
        home=Path(values["ADVISOR_HOME"]).expanduser(),
        data=Path(values["ADVISOR_DATA"]).expanduser() if values["ADVISOR_DATA"] else None,
        horizon_days=int(_number(values, "ADVISOR_HORIZON_DAYS", int)),
        embeddings=_choice(values, "ADVISOR_EMBEDDINGS", ("local", "openai")),
        embedding_model=values["ADVISOR_EMBEDDING_MODEL"],
        auth=auth,
        host=values["ADVISOR_HOST"],
        port=int(_number(values, "ADVISOR_PORT", int)),
        max_upload_mb=float(_number(values, "ADVISOR_MAX_UPLOAD_MB", float)),
    )
