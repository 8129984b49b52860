r"""Prompt scaffolding a small model echoes back, kept out of answers.

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

__all__ = ["without_scaffolding"]

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
