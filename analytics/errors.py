"""Exceptions raised by the analytics core.

Every message says what is wrong, where (file, column, value) and how to fix it, so the
edges (CLI, tools, UI) can show it as it is.
"""

__all__ = ["DataError", "RetentionError"]


class RetentionError(Exception):
    """Base class of every error the project raises on purpose."""


class DataError(RetentionError):
    """The input data cannot be used as given; the message says why and how to fix it."""
