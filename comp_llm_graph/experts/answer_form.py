"""Answers in the form the question asks: a letter for a choice, yes or no, a number.

`answer_form(question)` reads the form from the sub-question's text:

- **choice**: options labelled `(A) ... (B) ...` inline or `A. ...` / `A) ...` on their own
  lines, A first, each letter once;
- **yes/no**: a question opening with an auxiliary verb ("Is ...", "Did ...", "Can ...") that
  offers no alternatives ("... or ...");
- **number**: "how many", "how much", "what percentage", or arithmetic on numbers;
- **open**: anything else.

An LLM expert (`form_expert`) answers a choice question by scoring its options when the chat
model can (`score_replies`: the log-probability of each option's text as the reply, measured
best of the methods tried: docs/models.md) and answers `(B) option text`; a yes/no
question by scoring "Yes" and "No". Other models, and other forms, are asked with the form
stated ("Answer with the letter of the correct choice.", "Answer with a number.").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["AnswerForm", "CHOICE_SCORING", "FORM_INSTRUCTIONS", "answer_form", "choice_answer"]

FormKind = Literal["choice", "yesno", "number", "open"]

FORM_INSTRUCTIONS: dict[str, str] = {
    "choice": "Answer with the letter of the correct choice.",
    "yesno": "Answer yes or no.",
    "number": "Answer with a number.",
    "open": "",
}
"""What an expert is told of the form when it cannot score options."""

CHOICE_SCORING = ("options", "letters", "letters-rotated", "letters-raw")
"""How an LLM expert may score a choice question (`experts/llm_expert.py`, `letters.py`)."""

_INLINE = re.compile(r"\(([A-J])\)\s*")
_LINE = re.compile(r"^\s*\(?([A-J])[.)]\s+(.+?)\s*$", re.MULTILINE)
_AUXILIARY = re.compile(
    r"^\s*(is|are|was|were|am|do|does|did|can|could|has|have|had|will|would|should|shall|"
    r"may|might|must)\b", re.IGNORECASE)
_ALTERNATIVES = re.compile(r"\bor\b", re.IGNORECASE)
_NUMERIC = re.compile(
    r"\bhow\s+(many|much|long|old|far|tall|big|often)\b|\bwhat\s+(percentage|percent|number|is\s+"
    r"the\s+(sum|product|total|difference|value|result))\b|\d+(\.\d+)?\s*%\s*of\b|"
    r"\d\s*[-+*/x^]\s*\d|\b(calculate|compute|evaluate)\b", re.IGNORECASE)


@dataclass(frozen=True)
class AnswerForm:
    """The form a question's answer should take."""

    kind: FormKind
    stem: str
    """The question without its options."""
    choices: tuple[str, ...] = ()
    """The options in letter order (choice form only)."""

    @property
    def letters(self) -> str:
        """The options' letters, A first."""
        return "ABCDEFGHIJ"[:len(self.choices)]


def _choices(question: str) -> tuple[str, tuple[str, ...]] | None:
    """`(stem, options)` when the question offers options A, B, ... each once, else None."""
    for pattern in (_INLINE, _LINE):
        marks = list(pattern.finditer(question))
        letters = [m.group(1) for m in marks]
        if len(letters) < 2 or letters != list("ABCDEFGHIJ"[:len(letters)]):
            continue
        if pattern is _LINE:
            options = tuple(m.group(2).strip() for m in marks)
        else:
            ends = [m.start() for m in marks[1:]] + [len(question)]
            options = tuple(question[m.end():end].strip() for m, end in zip(marks, ends,
                                                                              strict=True))
        stem = question[:marks[0].start()].strip()
        if stem and all(options):
            return stem, options
    return None


def answer_form(question: str) -> AnswerForm:
    """The form of the answer `question` asks for (see the module docstring)."""
    found = _choices(question)
    if found is not None:
        return AnswerForm("choice", found[0], found[1])
    text = question.strip()
    if _AUXILIARY.match(text) and not _ALTERNATIVES.search(text):
        return AnswerForm("yesno", text)
    if _NUMERIC.search(text):
        return AnswerForm("number", text)
    return AnswerForm("open", text)


def choice_answer(form: AnswerForm, index: int) -> str:
    """The answer naming option `index`: `(B) option text`."""
    return f"({form.letters[index]}) {form.choices[index]}"
