"""Chat input: the question of a turn, and follow-ups made standalone from the earlier turns.

The graph accepts `{"messages": [...]}` (LangChain's chat convention) as well as `{"query": ...}`.
A turn's question is its last human message. On a thread the earlier turns are in the state, and
a follow-up such as "And what is its population?" after "What is the capital of France?" /
"The capital of France is Paris." means nothing to a planner that sees it alone.

`standalone(question, history)` condenses the conversation into the question: a referring word
(`it`, `its`, `he`, `she`, `they`, `there`, ...) is replaced by what the previous turn was about,
taken from the previous answer (the entity it names that the previous question did not: "Paris"),
else from the previous question. The rewrite is deterministic: SmolLM2-135M asked to rewrite
follow-ups answered the earlier question instead in 3 of 4 tries. The planner then plans "And
what is Paris's population?"; what was rewritten is recorded in `state["planning"]`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AnyMessage

from comp_llm_graph.nodes.common import text_of

__all__ = ["Standalone", "last_question", "previous_turn", "standalone"]

_PRONOUNS = {
    "its": "{e}'s", "it": "{e}", "he": "{e}", "she": "{e}", "his": "{e}'s", "her": "{e}'s",
    "him": "{e}", "they": "{e}", "them": "{e}", "their": "{e}'s", "there": "in {e}",
}
_WORD = re.compile(r"\b(" + "|".join(_PRONOUNS) + r")\b", re.IGNORECASE)
_TOKEN = r"(?:[A-Z][\w'-]*|\d[\d.,]*)"
_NAME = re.compile(rf"\b{_TOKEN}(?:\s+(?:of\s+|de\s+)?{_TOKEN})*")
"""A run of capitalised words or numbers ("William Shakespeare", "Mount Fuji", "36")."""
_LEADING = {"The", "A", "An", "And", "What", "Who", "Which", "When", "Where", "How", "Why",
            "Is", "Are", "Was", "Were", "Do", "Does", "Did", "Can", "In", "On", "It", "Its",
            "This", "That", "Yes", "No", "Answer"}


@dataclass(frozen=True)
class Standalone:
    """A turn's question as the planner sees it."""

    question: str
    """The question, with referring words replaced (or as asked)."""
    asked: str
    """The question as asked."""
    referent: str | None
    """What the referring words were taken to mean (None: nothing was rewritten)."""


def last_question(messages: Sequence[AnyMessage]) -> str | None:
    """The text of the last message when it is a human one (a new turn), else None."""
    if messages and messages[-1].type == "human":
        return text_of(messages[-1]).strip()
    return None


def previous_turn(messages: Sequence[AnyMessage]) -> tuple[str, str] | None:
    """(question, answer) of the last complete turn before the last message, if any."""
    answer = None
    for message in reversed(messages[:-1]):
        if message.type == "ai" and answer is None and text_of(message).strip():
            answer = text_of(message).strip()
        elif message.type == "human" and answer is not None:
            return text_of(message).strip(), answer
    return None


def _names(text: str) -> list[str]:
    found = []
    for match in _NAME.finditer(text):
        words = match.group(0).split()
        while words and words[0] in _LEADING:
            words = words[1:]
        if words:
            found.append(" ".join(words).rstrip(".,"))
    return found


def _referent(question: str, answer: str) -> str | None:
    """What the previous turn was about.

    A name the answer to a question adds ("Paris" for "What is the capital of France?"), else
    the last name in the user's turn.
    """
    asked = question.lower()
    new = [name for name in _names(answer) if name.lower() not in asked]
    if new and question.rstrip().endswith("?"):  # a question's answer is what it asked for
        return new[-1]
    named = _names(question)
    return named[-1] if named else None


def standalone(question: str, history: tuple[str, str] | None) -> Standalone:
    """The question with its referring words replaced by the previous turn's subject."""
    if history is None or not _WORD.search(question):
        return Standalone(question, question, None)
    referent = _referent(*history)
    if referent is None:
        return Standalone(question, question, None)
    text = _WORD.sub(lambda m: _PRONOUNS[m.group(1).lower()].format(e=referent), question)
    text = re.sub(r"^(?:and|so|then)\s+", "", text, flags=re.IGNORECASE)
    return Standalone(text[:1].upper() + text[1:], question, referent)
