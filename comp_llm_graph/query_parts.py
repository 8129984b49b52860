"""What a query carries besides its questions, and the parts it already enumerates.

Queries often bring material the questions are about: a passage, documents, a table, givens.
The planner should split the questions, not copy the material, and every expert needs the
material, not only its sub-question (a closed-book expert invents). `separate` finds it:

- a labelled block (`Paragraphs:`, `Passage:`, `Context:`, `Documents:`, `Text:`, `Table:`,
  `Background:`, `Given:`) followed by a `Question:` / `Questions:` label;
- or, unlabelled, leading paragraphs without a question mark before the paragraph(s) that ask.

It also finds parts the user enumerated (`Part 1:`, `Question 2:`, `1.`, `2)`, `(3)` at the start
of a line, numbered from 1 in order, at least two): those are already the decomposition, and a
paragraph after the last part (e.g. "Answer both questions.") is an instruction for the final
answer, not part of the last question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Part", "QueryParts", "separate"]

MIN_CONTEXT_CHARS = 200
"""An unlabelled leading paragraph counts as material only from this length."""

_LABELLED = re.compile(
    r"^\s*(?:paragraphs?|passages?|context|documents?|text|table|background|given|article|story)"
    r"\s*:\s*(?P<context>.+?)\n\s*(?:questions?)\s*:\s*(?P<questions>.+?)\s*$",
    re.IGNORECASE | re.DOTALL)
_PART = re.compile(
    r"^[ \t]*(?:(?P<word>part|question|q)[ \t]*(?P<n1>\d+)[ \t]*[:.)]|(?P<n2>\d+)[.)]|"
    r"\((?P<n3>\d+)\))[ \t]+", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Part:
    """One part the user enumerated."""

    label: str
    """How the query names it (`Part 1`, `1.`), used to label its answer."""
    text: str
    """The part's question."""


@dataclass(frozen=True)
class QueryParts:
    """A query separated into its questions and what they are about."""

    questions: str
    """The question text the planner decomposes (the whole query when nothing was found)."""
    context: str = ""
    """The material the questions are about ('' when there is none)."""
    parts: list[Part] = field(default_factory=list)
    """The parts the user enumerated (empty when there are fewer than two)."""
    instructions: str = ""
    """What follows the enumerated parts, about the answer as a whole."""


def _material(query: str) -> tuple[str, str]:
    """`(context, questions)`: the material the questions are about, and the questions."""
    labelled = _LABELLED.match(query)
    if labelled:
        return labelled.group("context").strip(), labelled.group("questions").strip()
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", query.strip()) if p.strip()]
    lead = 0
    while lead < len(paragraphs) - 1 and "?" not in paragraphs[lead] and not _PART.match(
            paragraphs[lead]):
        lead += 1
    context = "\n\n".join(paragraphs[:lead])
    if lead and len(context) >= MIN_CONTEXT_CHARS:
        return context, "\n\n".join(paragraphs[lead:])
    return "", query.strip()


def _parts(questions: str) -> tuple[list[Part], str]:
    """The enumerated parts (numbered 1, 2, ... in order) and the instruction after them."""
    marks = []
    for match in _PART.finditer(questions):
        number = int(match.group("n1") or match.group("n2") or match.group("n3"))
        if number == len(marks) + 1:
            marks.append(match)
    if len(marks) < 2:
        return [], ""
    parts = []
    ends = [m.start() for m in marks[1:]] + [len(questions)]
    instructions = ""
    for i, (match, end) in enumerate(zip(marks, ends, strict=True)):
        text = questions[match.end():end].strip()
        if i == len(marks) - 1:
            pieces = re.split(r"\n\s*\n", text, maxsplit=1)
            if len(pieces) == 2 and "?" not in pieces[1] and "(A)" not in pieces[1]:
                text, instructions = pieces[0].strip(), pieces[1].strip()
        label = match.group(0).strip().rstrip(":").strip()
        parts.append(Part(label=label, text=" ".join(text.split())))
    if not all(p.text for p in parts):
        return [], ""
    return parts, instructions


def separate(query: str) -> QueryParts:
    """The query's questions, its material, and the parts it enumerates (module docstring)."""
    context, questions = _material(query)
    parts, instructions = _parts(questions)
    return QueryParts(questions=questions, context=context, parts=parts,
                      instructions=instructions)
