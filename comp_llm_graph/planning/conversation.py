"""Chat input: the question of a turn, and follow-ups made standalone from the earlier turns.

The graph accepts `{"messages": [...]}` (LangChain's chat convention) as well as `{"query": ...}`.
A turn's question is its last human message. On a thread the earlier turns are in the state, and
a follow-up such as "And what is its population?" after "What is the capital of France?" /
"The capital of France is Paris." means nothing to a planner that sees it alone.

`standalone(question, history)` condenses the conversation into the question: a referring word
(`it`, `its`, `he`, `she`, `they`, `there`, ...) is replaced by an entity of the kind it needs
from the previous turn (`referents`: a person for he/she, a thing for it, a place for there,
never a bare number); what cannot be resolved, or is ambiguous, is left as asked. The rewrite is
deterministic: SmolLM2-135M asked to rewrite follow-ups answered the earlier question instead in
3 of 4 tries. The planner then plans "What is Paris's population?"; the user's words stay in
`state["query"]`, the rewrite is `state["standalone_query"]`, and what was taken for what is
recorded in `state["planning"]["condensed"]`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AnyMessage

from comp_llm_graph.planning.referents import KINDS, referent

__all__ = ["Standalone", "last_question", "previous_turn", "standalone"]

_PRONOUNS = {
    "its": "{e}'s", "it": "{e}", "he": "{e}", "she": "{e}", "his": "{e}'s", "her": "{e}'s",
    "him": "{e}", "they": "{e}", "them": "{e}", "their": "{e}'s", "there": "in {e}",
}
_WORD = re.compile(r"\b(" + "|".join(_PRONOUNS) + r")\b", re.IGNORECASE)


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
        return messages[-1].text.strip()
    return None


def previous_turn(messages: Sequence[AnyMessage]) -> tuple[str, str] | None:
    """(question, answer) of the last complete turn before the last message, if any."""
    answer = None
    for message in reversed(messages[:-1]):
        if message.type == "ai" and answer is None and message.text.strip():
            answer = message.text.strip()
        elif message.type == "human" and answer is not None:
            return message.text.strip(), answer
    return None


def standalone(question: str, history: tuple[str, str] | None) -> Standalone:
    """The question with its referring words replaced by an entity of the right kind.

    Each kind the follow-up needs (person, thing, place) is resolved from the previous turn
    (`referents.referent`); when any of them cannot be, the question is left as asked.
    """
    if history is None or not _WORD.search(question):
        return Standalone(question, question, None)
    kinds = {KINDS[m.group(1).lower()] for m in _WORD.finditer(question)}
    chosen = {kind: referent(kind, *history) for kind in sorted(kinds)}
    if not all(chosen.values()):
        return Standalone(question, question, None)
    text = _WORD.sub(lambda m: _PRONOUNS[m.group(1).lower()].format(
        e=chosen[KINDS[m.group(1).lower()]]), question)
    text = re.sub(r"^(?:and|so|then)\s+", "", text, flags=re.IGNORECASE)
    return Standalone(text[:1].upper() + text[1:], question,
                      ", ".join(dict.fromkeys(v for v in chosen.values() if v)))
