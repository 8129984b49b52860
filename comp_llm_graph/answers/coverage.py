"""Part coverage: every part the user asked must be represented in the final answer.

The parts asked (`asked_parts`) are the parts the user enumerated (`1.`, `Part 2:`, bullets),
each of them even when a later part uses its answer, and the plan's end points, the sub-queries
nothing else depends on: each answer is one piece of what the user asked. Small aggregators drop
pieces of compound questions (the best-known failure of LLMs on them), so after the aggregator
writes, each part is checked deterministically and a missing one is added to the final answer,
labelled; a failed one is named, never invented.

The check is textual, so it errs towards "missing" (a part added twice is better than a part
lost): a sub-answer is represented when its key is in the final answer. The key of a short
answer with numbers is its last number (`(15/100)*240 = 36` -> 36, the result); of a choice
answer its letter; of a yes/no answer the yes or no; otherwise the content words of its first
sentence (where small models put the answer), of which at least `MIN_WORD_SHARE` must appear.
"""

from __future__ import annotations

import re

from comp_llm_graph.state import SubAnswer, SubQuery

__all__ = [
    "MIN_WORD_SHARE",
    "SHORT_ANSWER_WORDS",
    "answer_key",
    "answered",
    "asked_parts",
    "end_points",
    "label_part",
    "missing_parts",
    "represented",
]

MIN_WORD_SHARE = 0.6
"""Share of a free-text sub-answer's content words the final answer must contain."""

SHORT_ANSWER_WORDS = 12
"""Answers up to this many words are keyed by their last number; longer ones by their words."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])|\n")
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")
_CHOICE = re.compile(r"^\s*\(?([A-D])\)(?:\s|$)|^\s*([A-D])\s*$|^\s*\(?([A-D])[.:]\s")
_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
_STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but is are was were be been being it its "
    "this that these those as which who whom whose what when where why how answer question "
    "there their they he she his her i you we our your not no yes so than then".split())


def end_points(plan: list[SubQuery]) -> list[str]:
    """Ids of the sub-queries nothing else depends on, in plan order."""
    used = {dep for sub in plan for dep in sub.get("depends_on") or ()}
    return [sub["id"] for sub in plan if sub["id"] not in used]


def asked_parts(plan: list[SubQuery]) -> list[str]:
    """Ids of the parts the answer must carry, in plan order.

    The user's enumerated parts (they carry a `label`) and the end points.
    """
    ends = set(end_points(plan))
    return [sub["id"] for sub in plan if sub["id"] in ends or sub.get("label")]


def answered(answers: dict[str, SubAnswer], sub_id: str) -> bool:
    """Whether the sub-query has a non-empty answer."""
    return bool((answers.get(sub_id) or {}).get("answer", "").strip())


def missing_parts(plan: list[SubQuery], answers: dict[str, SubAnswer], final: str) -> list[str]:
    """Parts asked (`asked_parts`) the final answer leaves out, in plan order.

    An answered one is missing when its key is not in `final` (`represented`); a failed one
    when `final` does not name it (its id).
    """
    return [i for i in asked_parts(plan)
            if (not represented(answers[i]["answer"], final) if answered(answers, i)
                else i not in final)]


def _numbers(text: str) -> list[str]:
    return [n.replace(",", "") for n in _NUMBER.findall(text)]


def _canonical(number: str) -> str:
    """`36.0` and `36` compare equal; fractions are kept as written."""
    if "/" in number:
        return number
    value = float(number)
    return str(int(value)) if value.is_integer() else str(value)


def answer_key(answer: str) -> tuple[str, str | list[str]]:
    """What must appear of an answer in the final one.

    One of `("number", n)`, `("choice", L)`, `("yesno", w)` or `("words", [content words])`.
    """
    text = answer.strip()
    choice = _CHOICE.match(text)
    if choice:
        return "choice", next(g for g in choice.groups() if g)
    yes_no = _YES_NO.match(text)
    if yes_no and len(text.split()) <= 12:
        return "yesno", yes_no.group(1).lower()
    numbers = _numbers(text)
    if numbers and len(text.split()) <= SHORT_ANSWER_WORDS:
        return "number", _canonical(numbers[-1])
    first = _SENTENCE_END.split(text, maxsplit=1)[0]
    words = [w for w in _WORD.findall(first.lower()) if w not in _STOPWORDS]
    return "words", list(dict.fromkeys(words))[:SHORT_ANSWER_WORDS]


def represented(answer: str, final: str) -> bool:
    """Whether `final` carries the key of the sub-answer `answer` (see the module docstring)."""
    kind, key = answer_key(answer)
    if kind == "number":
        return key in {_canonical(n) for n in _numbers(final)}
    if kind == "choice":
        return re.search(rf"(?<![\w'’]){key}(?![\w'’-])", final) is not None
    if kind == "yesno":
        return re.search(rf"\b{key}\b", final, re.IGNORECASE) is not None
    words = set(_WORD.findall(final.lower()))
    if not key:  # nothing but stopwords: the text itself must be there
        return answer.strip().lower() in final.lower()
    return sum(w in words for w in key) >= MIN_WORD_SHARE * len(key)


def label_part(sub: SubQuery, answer: SubAnswer | None, label: str | None = None) -> str:
    """One part of a composed answer: `label: answer`, or the failure named.

    `label` is how the query itself named the part (`Part 1`), else the sub-question is shown.
    """
    question = (answer or {}).get("question") or sub["question"]
    head = label or question.rstrip()
    text = (answer or {}).get("answer", "").strip()
    if not text:
        error = (answer or {}).get("error") or "it did not run"
        return f"{head}: not answered ({sub['id']} failed: {error})"
    if label:
        return f"{label} {text}" if label[-1] in ".)" else f"{label}: {text}"
    return f"{head}: {text}" if not head.endswith("?") else f"{head} {text}"
