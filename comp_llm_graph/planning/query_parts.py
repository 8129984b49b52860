"""What a query carries besides its questions, and the parts it already enumerates.

Queries often bring material the questions are about: a passage, documents, a table, givens.
The planner should split the questions, not copy the material, and every expert needs the
material, not only its sub-question (a closed-book expert invents). `separate` finds it:

- a labelled block (`Paragraphs:`, `Passage:`, `Context:`, `Documents:`, `Text:`, `Table:`,
  `Background:`, `Given:`) followed by a `Question:` / `Questions:` label;
- or, unlabelled, leading paragraphs without a question mark before the paragraph(s) that ask.

It also finds parts the user enumerated (`Part 1:`, `Question 2:`, `1.`, `2)`, `(3)` at the start
of a line or after a sentence, numbered from 1 in order; `-`, `*` or `•` bullets; or questions
joined by a capitalised "Also," / "And also:" / "Please also ..." / "Additionally," / "In
addition,"; or two questions in one sentence, ", and" then a question word, when the second
does not point back at the first; at least two): those are already the decomposition, and a
paragraph after the last part (e.g. "Answer both questions.") is an instruction for the final
answer, not part of the last question. A part that names an earlier one ("the answer to 1.",
"the result of part 2") depends on it (`references`).

`self_contained` says when a question is one expert's task however long it is: a
multiple-choice question with its options, a word problem with its givens, or arithmetic and
nothing else. Splitting any of them loses what the expert needs (an option becomes a
"question", a given a sub-query without the numbers, "3/4 of 100" a question about 3's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from comp_llm_graph.state import SubQuery

__all__ = ["Part", "QueryParts", "references", "self_contained", "separate", "share_context"]

MIN_CONTEXT_CHARS = 200
"""An unlabelled leading paragraph counts as material only from this length."""

_LABELLED = re.compile(
    r"^\s*(?:paragraphs?|passages?|context|documents?|text|table|background|given|article|story)"
    r"\s*:\s*(?P<context>.+?)\n\s*(?:questions?)\s*:\s*(?P<questions>.+?)\s*$",
    re.IGNORECASE | re.DOTALL)
_PART = re.compile(
    r"(?:^[ \t]*|(?<=[?.!])[ \t]+)"
    r"(?:(?P<word>part|question|q)[ \t]*(?P<n1>\d+)[ \t]*[:.)]|(?P<n2>\d+)[.)]|"
    r"\((?P<n3>\d+)\))[ \t]+", re.IGNORECASE | re.MULTILINE)
_BULLET = re.compile(r"^[ \t]*[-*\u2022][ \t]+", re.MULTILINE)
_ALSO = re.compile(  # "Also Sprach Zarathustra" is a title: the marker needs its comma or colon
    r"(?<=[\w?.!)])\s+(?:(?:And also|Also|Additionally|In addition)[,:]|Please also"
    r"(?: answer)?(?: this(?: one)?)?\b:?)\s*")
_WH = r"(?:what|who|whom|whose|when|where|which|how|why)\b"
_AND_WH = re.compile(rf"^(?P<first>{_WH}[^?]+?),?\s+and\s+(?P<second>{_WH}[^?]+\?)$",
                     re.IGNORECASE)
_POINTING = re.compile(r"\b(?:it|its|he|she|his|her|him|they|their|them|this|that|these|those|"
                       r"there|then|the same)\b"
                       r"|^(?:what|how) about\b"  # "and what about cats?": elliptical
                       r"|^how (?:many|much) (?:do|does|did|is|are|was|were|can|will|have|has)\b"
                       r"|\b(?:one|ones)\b", re.IGNORECASE)
_NESTED = re.compile(r"\bof\s+(?:the\s+|an?\s+)?[\w-]+(?:\s+[\w-]+)?\s+of\b", re.IGNORECASE)
_REFERENCE = re.compile(
    r"\b(?:your |the )?(?:answer|result)\s+(?:to|of|from)\s+(?:(?:part|question|problem)\s+"
    r"|q)?(\d+)\b\.?", re.IGNORECASE)
_FILLER = frozenset(
    "what what's whats is are equals equal to the value result of compute calculate evaluate "
    "work out how much many does do please tell me find solve answer exactly".split())
_OPTIONS = re.compile(r"\(A\)[^()]+\(B\)", re.DOTALL)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


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


def self_contained(text: str) -> bool:
    """Whether `text` is one task for one expert: options, a word problem, or arithmetic alone.

    A word problem: one question, two or more sentences, two or more numbers. Arithmetic: the
    math expert's expression finder reads it, and the rest is filler ("What is 3/4 of 100?"),
    which a planner would otherwise take apart ("How many 3's are there in 100?").
    """
    if _OPTIONS.search(text):
        return True
    if (text.count("?") <= 1 and len(_SENTENCE_END.findall(text.strip() + " ")) >= 2
            and len(_NUMBER.findall(text)) >= 2):
        return True
    return _only_arithmetic(text)


def _only_arithmetic(text: str) -> bool:
    from comp_llm_graph.experts.math_tool import arithmetic_text, find_expression

    expression = find_expression(text)
    if expression is None:
        return False
    rest = arithmetic_text(text).replace(expression, " ", 1)
    return all(word in _FILLER for word in re.findall(r"[a-z']+", rest))


def references(text: str, index: int) -> tuple[str, list[str]]:
    """Part `index`'s text with "the answer to 1." written `{q1}`, and the parts it names.

    Only earlier parts count (a part cannot need a later one's answer).
    """
    named: list[str] = []

    def rewrite(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if not 1 <= number < index:
            return match.group(0)
        if f"q{number}" not in named:
            named.append(f"q{number}")
        return f"{{q{number}}}" + (" " if match.group(0).endswith(".") else "")

    return " ".join(_REFERENCE.sub(rewrite, text).split()), named


def _joined(question: str) -> list[str]:
    """"What is X, and who did Y?": two questions in one sentence, when the second stands alone.

    [] when the second points back ("and what is its population?", "and who was he?") or
    leaves out what it asks about ("and how many do insects have?", "and what about cats?"):
    that one needs the first, which is the planner's to wire. So does a side that composes
    itself ("the empire of the capital of Peru": two hops).
    """
    match = _AND_WH.match(" ".join(question.split()))
    if (match is None or _POINTING.search(match["second"])
            or any(_NESTED.search(match[side]) for side in ("first", "second"))):
        return []
    return [match["first"].rstrip(" ,") + "?", match["second"]]


def _listed(questions: str) -> list[Part]:
    """Parts given as bullets, joined by a capitalised "Also", or by ", and" + a question word.

    [] when fewer than two (`_joined` says when the ", and" form counts).
    """
    bullets = list(_BULLET.finditer(questions))
    if len(bullets) >= 2:
        ends = [m.start() for m in bullets[1:]] + [len(questions)]
        texts = [questions[m.end():end] for m, end in zip(bullets, ends, strict=True)]
    else:
        texts = _ALSO.split(questions)
        if len(texts) < 2:
            texts = _joined(questions) or texts
    texts = [" ".join(t.split()) for t in texts]
    if len(texts) < 2 or not all(texts):
        return []
    return [Part(label=f"{i}.", text=t[0].upper() + t[1:]) for i, t in enumerate(texts, 1)]


def _parts(questions: str) -> tuple[list[Part], str]:
    """The enumerated parts (numbered 1, 2, ... in order) and the instruction after them."""
    marks = []
    for match in _PART.finditer(questions):
        number = int(match.group("n1") or match.group("n2") or match.group("n3"))
        if number == len(marks) + 1:
            marks.append(match)
    if len(marks) < 2:
        return _listed(questions), ""
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


def share_context(plan: list[SubQuery], shared: str) -> None:
    """Mark every sub-query to receive the query's material, when the query carries some."""
    if shared:
        for sub in plan:
            sub["context"] = "shared"
