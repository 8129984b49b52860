"""Scoring of final answers: the letter given for each part of an MMLU pair, and QA matching.

- `extract_letters`: the multiple-choice letter found for each part of a multi-part answer.
- `normalize_answer` and `qa_scores`: SQuAD-style exact, normalised and contained match and
  token F1 of a free-text answer against its gold aliases.

Pure text functions with no model or file access, so the question sets of
`comp_llm_graph.evaluation.e2e_data` and any other evaluation can score with them.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

__all__ = [
    "choice_named",
    "extract_letters",
    "letter_in",
    "normalize_answer",
    "part_segments",
    "qa_scores",
]

LETTERS = "ABCD"
"""The multiple-choice letters, in choice order."""

# -- the letter of each part -------------------------------------------------------------------

_ORDINALS = {1: "first|1st", 2: "second|2nd", 3: "third|3rd", 4: "fourth|4th"}
_LETTER = re.compile(r"\(([A-Da-d])\)|\b([A-D])\b(?![’'\-])")
_ANSWER_IS = re.compile(  # case-insensitive words, a capital letter (not the article "a")
    r"\b(?i:answer)(?:\s+(?i:is|would\s+be)|\s*:)?\s*(?:\(([A-Da-d])\)|\b([A-D])\b)(?![’'\-])")
LETTER_WINDOW = 40
"""A letter counts for a part if it is at most this many characters after the part's label."""


def _marker(part: int) -> re.Pattern[str]:
    ordinal = _ORDINALS.get(part, f"{part}th")
    return re.compile(
        rf"\b(?:part|question|q|problem|answer)\s*#?\s*{part}\b"
        rf"|\b(?:{ordinal})\s+(?:part|question|one|answer)\b"
        rf"|\({part}\)"
        rf"|(?:^|(?<=\s)){part}[.):](?=\s)",
        re.IGNORECASE | re.MULTILINE)


def _letters_in(text: str) -> list[tuple[int, str]]:
    """Standalone letters A-D (or `(a)`-`(d)`), not the article "A" before a lowercase word."""
    found = []
    for match in _LETTER.finditer(text):
        letter = match.group(1) or match.group(2)
        if match.group(2) == "A" and re.match(r"\s+(?!is\b|was\b)[a-z]", text[match.end():]):
            continue
        found.append((match.start(), letter.upper()))
    return found


def _letter_after_label(segment: str) -> str | None:
    answer = _ANSWER_IS.search(segment)
    if answer:
        return (answer.group(1) or answer.group(2)).upper()
    near = [letter for start, letter in _letters_in(segment) if start < LETTER_WINDOW]
    return near[0] if near else None


def choice_named(segment: str, choices: Sequence[str]) -> str | None:
    """The letter of the one choice whose text `segment` contains (SQuAD-normalised)."""
    text = f" {normalize_answer(segment)} "
    named = {letter: normalize_answer(choice) for letter, choice in zip(LETTERS, choices,
                                                                         strict=False)}
    hits = {letter for letter, choice in named.items() if choice and f" {choice} " in text}
    hits = {h for h in hits if not any(named[h] != named[o] and named[h] in named[o]
                                       for o in hits)}  # "Paris" inside "Paris, Texas"
    return hits.pop() if len(hits) == 1 else None


def part_segments(text: str, n: int) -> list[list[str]] | None:
    """The text after each label of parts 1..n, up to the next label; None: no label at all.

    Labels are those of `extract_letters`' rule 1 (`Part 1`, `Q1`, `(1)`, `1.` ...). A part may
    have several segments (an echoed question, then its answer) or none.
    """
    markers = sorted((m.start(), m.end(), part) for part in range(1, n + 1)
                     for m in _marker(part).finditer(text))
    merged: list[tuple[int, int, int]] = []
    for start, end, part in markers:  # "Part 1:" matches two patterns: one label
        if merged and start < merged[-1][1] and part == merged[-1][2]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), part)
        elif not merged or start >= merged[-1][1]:
            merged.append((start, end, part))
    if not merged:
        return None
    return [[text[end:merged[i + 1][0] if i + 1 < len(merged) else len(text)]
             for i, (_, end, label) in enumerate(merged) if label == part]
            for part in range(1, n + 1)]


def letter_in(segment: str, choices: Sequence[str]) -> str | None:
    """The letter one part's answer gives (`extract_letters` on one segment).

    `answer is X`, else a letter near its start, else the one choice it names.
    """
    return _letter_after_label(segment) or choice_named(segment, choices)


def extract_letters(text: str, choices: Sequence[Sequence[str]]) -> list[str | None]:
    """The multiple-choice letter given for each part of a multi-part answer (None: not found).

    The rule, in order:

    1. Labels: each part is looked for by its label: `Part 1`, `Question 1`, `Q1`, `Answer 1`,
       `(1)`, `1.`/`1)`/`1:` at the start of a line or after a space, `first question` /
       `second part` / `1st answer`. The text after a label, up to the next label, is that
       part's segment. In a segment, `answer is X` / `answer: X` wins; otherwise the first
       standalone capital letter A-D (or `(a)`-`(d)`) within `LETTER_WINDOW` characters of the
       label (the article "A" before a lowercase word does not count); otherwise the one
       choice whose text (SQuAD-normalised) the segment contains. When a part has several
       labels, the last one that yields a letter wins (answers tend to follow echoed questions).
    2. No label at all: the `answer is X` letters in order if there are exactly as many as
       parts, else the standalone letters if exactly as many as parts (`B, D`; `B and D`).
    3. Otherwise the part is None (scored wrong).

    Args:
        text: The final answer.
        choices: Each part's choices, in letter order.
    """
    n = len(choices)
    labelled = part_segments(text, n)
    if labelled is None:
        said = [(m.group(1) or m.group(2)).upper() for m in _ANSWER_IS.finditer(text)]
        if len(said) == n:
            return list(said)
        letters = [letter for _, letter in _letters_in(text)]
        return list(letters) if len(letters) == n else [None] * n
    found: list[str | None] = []
    for part, segments in enumerate(labelled, start=1):
        by_letter = [x for x in map(_letter_after_label, segments) if x]
        by_choice = [x for x in (choice_named(s, choices[part - 1]) for s in segments) if x]
        found.append(by_letter[-1] if by_letter else by_choice[-1] if by_choice else None)
    return found

# -- free-text answers (multi-hop QA) ----------------------------------------------------------

_ANSWER_LABEL = re.compile(r"^\s*(?:final\s+)?answer\s*:\s*", re.IGNORECASE)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _f1(prediction: str, gold: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if not predicted or not wanted or not common:
        return float(predicted == wanted)
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def qa_scores(prediction: str, golds: Sequence[str]) -> dict[str, float]:
    """Exact, normalised and contained match and token F1, each the best over the gold aliases.

    The prediction is the whole final answer with a leading `Answer:` / `Final answer:` label
    removed. exact: equal after stripping whitespace. normalised: equal after
    `normalize_answer` (SQuAD exact match). contains: a normalised gold occurs in the
    normalised prediction on word boundaries (lenient: credits a sentence that names the
    answer). f1: SQuAD token F1.
    """
    prediction = _ANSWER_LABEL.sub("", prediction.strip())
    predicted = f" {normalize_answer(prediction)} "
    golds = [g for g in golds if g.strip()]
    return {
        "exact": float(any(prediction.strip() == g.strip() for g in golds)),
        "normalised": float(any(predicted.strip() == normalize_answer(g) for g in golds)),
        "contains": float(any(normalize_answer(g) and f" {normalize_answer(g)} " in predicted
                              for g in golds)),
        "f1": max((_f1(prediction, g) for g in golds), default=0.0),
    }
