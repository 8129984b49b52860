r"""Answer text: a model's output read as text, cleaned of echoed prompt lines, shown as a block.

The executor, the aggregator and the react loop read chat-model output and show earlier answers
the same way: a sub-answer is data inside a block (`answer_block`), never a line a model could
take for an instruction.

**Scaffolding.** Prompt scaffolding a small model echoes back, kept out of answers.

An expert sees its question under "Answers to earlier sub-questions:" blocks (`[q1] question`
then `=> answer`) and a "Question:" line; the aggregator sees "Original question:",
"Sub-answers:" and "Final answer:". Small models often repeat some of it before (or instead of)
answering, and the repeat reached users: "Answers to earlier sub-questions:\\n[q2] When was
Apollo 11 launched?\\n=> ...\\n\\nQuestion: ...". `without_scaffolding` drops those lines (and
the delimited material block), and keeps what follows the last "Final answer:" when the model
wrote one. An answer that was nothing but scaffolding becomes empty, which the executor records
as an empty answer rather than passing the prompt on as one.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from comp_llm_graph.state import SubAnswer

__all__ = ["QUOTE_INDENT", "answer_block", "one_line", "output_tokens", "quote", "text_of",
           "without_scaffolding"]


def text_of(message: Any) -> str:
    """The text of a chat model's output: a message (plain or content blocks), or a string."""
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def output_tokens(message: Any) -> int | None:
    """Tokens a chat model generated for `message`, if its `usage_metadata` says."""
    usage = getattr(message, "usage_metadata", None)
    tokens = usage.get("output_tokens") if usage else None
    return int(tokens) if tokens is not None else None


def answer_block(answer: SubAnswer, limit: int | None = None) -> str:
    """A sub-answer as shown to later experts and the aggregator: `[id] question` / `=> answer`.

    The answer is data, not instructions: a block starts at a line `[id] ...` and its answer
    at `=> `, and every further line of the answer is indented (`quote`), so an answer cannot
    write a line of its own that starts a block, an answer or the prompt's `Final answer:`.
    `limit`: the most characters of the answer shown (the react planner's observations).
    """
    text = answer["answer"].strip() or f"(no answer: {answer['error']})"
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip() + " ..."
    return f"[{answer['id']}] {one_line(answer['question'])}\n=> {quote(text)}"


QUOTE_INDENT = "   "
"""The indent of an answer's continuation lines in `answer_block`."""


def quote(text: str) -> str:
    """Text as the body of a block: every line after the first indented by `QUOTE_INDENT`.

    Lines are split as `str.splitlines` does (also at CR, form feed, U+2028...), so no line
    break a model might read as one escapes the indent; control characters are dropped.
    """
    lines = [_printable(line) for line in text.splitlines()] or [""]
    return ("\n" + QUOTE_INDENT).join(line.rstrip() for line in lines)


def one_line(text: str) -> str:
    """Text on one line (line breaks become spaces; control characters dropped)."""
    return " ".join(_printable(line).strip() for line in text.splitlines()).strip()


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _printable(text: str) -> str:
    """Without control characters (C0, DEL, C1; tab kept) and bidirectional overrides."""
    return "".join(ch for ch in text if ch == "\t" or (
        unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS))


_FINAL = re.compile(r"^\s*final answer\s*:\s*", re.IGNORECASE | re.MULTILINE)
_LINE = re.compile(
    r"^\s*(?:answers to earlier sub-questions\s*:|sub-answers\s*:|original question\s*:"
    r"|question\s*:|context\s*:\s*$|\[q\d+\]|=>|<<<|>>>)", re.IGNORECASE)
_ANSWER_LABEL = re.compile(r"^\s*answer\s*:\s*", re.IGNORECASE)


def without_scaffolding(text: str, *, final_label: bool = False) -> str:
    """`text` without the prompt lines a model echoed (module docstring).

    `final_label`: the text is the aggregator's, whose prompt ends in "Final answer:"; what
    follows the last one is the answer. (An expert's prompt has no such label, so in an
    expert's answer the line is kept as text, and later quoted as data.) Text without
    scaffolding comes back as it was, stripped.
    """
    original = text
    if final_label and (finals := list(_FINAL.finditer(text))):
        text = text[finals[-1].end():]
    kept, inside_material = [], False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped in ("<<<", ">>>"):
            inside_material = stripped == "<<<"
            continue
        if inside_material or _LINE.match(line):
            continue
        kept.append(line)
    cleaned = "".join(kept).strip()
    if text is original and cleaned == original.strip():
        return cleaned
    return _ANSWER_LABEL.sub("", cleaned, count=1).strip()
