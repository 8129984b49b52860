"""Errors a user can act on: each message says what is wrong and what to do."""

from __future__ import annotations

__all__ = [
    "CompLLMError",
    "CorruptIndexError",
    "ExpertCardError",
    "ExpertOutputError",
    "InvalidQueryError",
    "ModelNotInstalledError",
    "PlanError",
    "ThreadBusyError",
    "MAX_QUERY_CHARS",
    "validate_query",
]

MAX_QUERY_CHARS = 4000
"""Longest query accepted, in characters (the default models read about 8k tokens)."""


class CompLLMError(Exception):
    """Base class of the errors this package raises for bad input or setup."""


class InvalidQueryError(CompLLMError, ValueError):
    """The query is empty, blank or too long."""


class ExpertCardError(CompLLMError, ValueError):
    """An expert card file is malformed or names an unknown backend."""


class CorruptIndexError(CompLLMError, RuntimeError):
    """A Chroma store on disk is corrupt (the message says where, and what was or must be done).

    Raised when the store could not be moved aside, or when it was and the operation that found
    it must start again on the new, empty store.
    """


class ModelNotInstalledError(CompLLMError, RuntimeError):
    """A model package the default experts need is not installed."""


class ExpertOutputError(CompLLMError, TypeError):
    """An expert returned something that is not an answer (not text or a message)."""


class PlanError(CompLLMError, ValueError):
    """A planner output cannot be turned into a valid sub-query DAG."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class ThreadBusyError(CompLLMError, RuntimeError):
    """A run was started on a thread that already has one in progress (`comp_llm_graph.threads`)."""


def validate_query(query: object) -> str:
    """Return the query stripped of surrounding white space, or raise `InvalidQueryError`."""
    if not isinstance(query, str):
        raise InvalidQueryError(
            f"The query must be a string, got {type(query).__name__}. Pass the question as text."
        )
    text = query.strip()
    try:  # a lone surrogate (a non-UTF-8 byte of argv, kept by Python) breaks the tokenizers
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidQueryError(
            f"The query is not valid text: character {exc.start + 1} is the lone surrogate "
            f"U+{ord(text[exc.start]):04X} (a byte that is not UTF-8, e.g. from a terminal set to "
            "another encoding). Pass the question as UTF-8 text."
        ) from exc
    if not text:
        raise InvalidQueryError("The query is empty. Pass a question, e.g. comp-llm ask \"...\".")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQueryError(
            f"The query has {len(text)} characters; the limit is {MAX_QUERY_CHARS}. "
            "Shorten it or split it into several questions."
        )
    return text
