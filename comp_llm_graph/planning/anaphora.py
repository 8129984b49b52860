"""A dependent sub-question that names its dependency by description gets the value in its text.

Planners often write "When was that director born?" with `depends_on: ["q1"]` instead of "When
was {q1} born?". The expert then reads "that director" and has to find the value in the context
block below the question, which small models often miss. `name_dependencies` writes the
reference beside the description ("When was that director ({q1}) born?"), so the executor's
substitution puts the value into the text the expert reads, and the description stays as the
planner wrote it in case the answer is a sentence.

Only dependencies the text does not already reference are placed, each at the next description in
reading order: "this/these/those <noun>", "the same/said/aforementioned <noun>", "that <noun>"
where "that" follows a preposition, an auxiliary or a past-tense verb (so "true that cats" and "the
person that wrote" are left alone), and then "he"/"she"/"him"/"her" or a closing "of it"/"is
that". A text with no such phrase is left as written; the answer still arrives in the context
block.
"""

from __future__ import annotations

import re

__all__ = ["name_dependencies"]

_NOT_A_NOUN = (
    "is|was|are|were|be|been|being|has|have|had|does|do|did|can|could|will|would|should|may|might|"
    "must|the|a|an|of|in|on|at|to|for|with|by|from|and|or|as|when|where|which|who|whom|whose|what|"
    "why|how|if|than|it|he|she|they|we|you|i|its|his|her|their|there|here|not|no|so|also|all"
)
_BEFORE_THAT = (
    "of|in|on|at|to|for|with|by|from|about|into|than|did|does|do|was|is|are|were|has|have|had|"
    "can|could|will|would|when|where|what|which|who|how|whom"
)
_DESCRIPTION = re.compile(
    rf"\b(?:this|these|those|the\s+same|the\s+said|the\s+aforementioned"
    rf"|(?:{_BEFORE_THAT}|\w+ed)\s+that)"
    rf"\s+(?!(?:{_NOT_A_NOUN})\b)[A-Za-z][\w'-]*",
    re.IGNORECASE,
)
_PRONOUN = re.compile(
    r"\b(?:he|she|him|her|(?:of|in|for|about|from|is|was)\s+(?:it|that)(?=\s*[?.!,]|\s*$))\b"
    r"(?!\s*\()",
    re.IGNORECASE,
)


def name_dependencies(question: str, unreferenced: list[str]) -> tuple[str, list[str]]:
    """`question` with `({qk})` written after a description of each dependency it leaves unnamed.

    Returns the new text and the ids placed, in order (fewer than given when the text has fewer
    descriptions).
    """
    placed: list[str] = []
    for pattern in (_DESCRIPTION, _PRONOUN):
        pieces: list[str] = []
        last = 0
        for match in pattern.finditer(question):
            if len(placed) == len(unreferenced):
                break
            dep = unreferenced[len(placed)]
            pieces.append(question[last:match.end()] + f" ({{{dep}}})")
            last = match.end()
            placed.append(dep)
        question = "".join(pieces) + question[last:]
    return question, placed
