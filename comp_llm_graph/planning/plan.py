"""Planner output -> a valid sub-query DAG: parse robustly, validate, repair what is unambiguous.

A plan is a list of sub-queries `{"id", "question", "depends_on"}`. A sub-query may reference an
earlier answer in its text as `{q1}` or `#1`; such references count as dependencies too.

Validation finds: no sub-queries, empty text, duplicate ids, unknown or self references, cycles,
more sub-queries than allowed. Repairs (each recorded) are made only where the fix is unambiguous:
drop an empty sub-query, merge a sub-query whose text repeats an earlier one, drop a dangling or
self reference, break a cycle by dropping the edge that closes it. Duplicate ids with different
text and too many sub-queries cannot be repaired without guessing, so they raise `PlanError`.
A dropped self or unknown reference stays in the question's text as written (removing it would
leave a sentence with a hole; the repair note says what was dropped).

Parsing takes time linear in the output: at most `MAX_PLAN_CHARS` characters are read (longer
output is cut, like a token limit, and a note says so), JSON is found by one bracket-matching
pass (`json_values`; values nested deeper than `MAX_JSON_DEPTH` are skipped), and a reference
has at most 6 digits (`{q1}` to `{q999999}`; a longer number is text, not a reference).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from comp_llm_graph.errors import PlanError
from comp_llm_graph.planning.json_scan import MAX_JSON_DEPTH, json_values

if TYPE_CHECKING:  # the state module imports LangGraph; the plan format stays light
    from comp_llm_graph.state import SubQuery

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_PLAN_CHARS",
    "PlannedSubQuery",
    "RepairedPlan",
    "canonical_question",
    "parse_plan",
    "json_values",
    "plan_lines",
    "references",
    "repair_plan",
    "substitute_references",
    "written_sub_queries",
]

MAX_PLAN_CHARS = 20_000
"""Longest planner output read, in characters; the rest is cut off like a token limit would.

A plan of the most sub-queries a run allows (32) with 160-character questions, each depending on
every earlier one, is about 10k characters of JSON (15k indented); anything longer is a model
that ran on.
"""

_REF = re.compile(r"\{\s*(q?\d{1,6})\s*\}|#(\d{1,6})\b")
_NUMERIC_ID = re.compile(r"[qQ]?\d+")
_ID_ALIASES = ("id", "step", "name", "key")
_TEXT_ALIASES = ("question", "sub_question", "subquestion", "sub_query", "subquery", "query",
                 "text")
_DEPS_ALIASES = ("depends_on", "dependencies", "deps", "depends", "requires")
_LIST_ALIASES = ("subqueries", "sub_queries", "sub_questions", "subquestions", "questions", "plan",
                 "steps")
# Both are matched (fullmatch) against stripped lines and have no two adjacent runs that could
# share characters, so a match takes time linear in the line (no backtracking blow-up).
_PLAN_LINE = re.compile(r"q(\d+)\s*:\s*(\S.*)", re.IGNORECASE)
"""A line of the line plan format: `q2: When did the empire of {q1} fall?`."""
_NUMBERED_LINE = re.compile(r"(?:(?:q|step\s*)?(\d+)\s*[.):\]-]|[-*\u2022])\s+(\S.*)",
                            re.IGNORECASE)
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
"""The characters `str.splitlines` splits at."""


@dataclass
class PlannedSubQuery:
    """A sub-query as the planner wrote it, before routing."""

    id: str
    question: str
    depends_on: list[str] = field(default_factory=list)
    expert: str | None = None
    """The expert the plan names for it, if any (a reviewer's edit may; routing otherwise)."""

    def routed(self, route: Any) -> SubQuery:
        """This sub-query with its routing decision (an `experts.routing.Route`).

        The result is the one record of a routed sub-query: the state's plan, the events and the
        executor's branches carry it.
        """
        sub: SubQuery = {
            "id": self.id,
            "question": self.question,
            "depends_on": list(self.depends_on),
            "expert": route.expert,
            "score": route.score,
            "candidates": [{"expert": name, "score": score} for name, score in route.candidates],
            "routed_by": "fallback" if route.fallback else route.method,
        }
        if route.error is not None:
            sub["route_error"] = route.error
        return sub


@dataclass
class RepairedPlan:
    """A valid plan and what was done to get it."""

    sub_queries: list[PlannedSubQuery]
    """In topological order (plan order where the planner's order was already valid)."""
    repairs: list[str]
    """Each problem found and how it was fixed; empty when the plan was valid as generated."""


def normalise_id(value: Any) -> str:
    """`1`, `"1"`, `"q1"`, `"Q1"`, `"#1"`, `"q01"` -> `"q1"`; other strings are kept, stripped.

    Leading zeros are dropped as text (no `int()`, so an id of any length works).
    """
    text = str(value).strip().lstrip("#").strip()
    if _NUMERIC_ID.fullmatch(text):
        digits = text.lstrip("qQ")
        if not digits.isascii():  # other scripts' digits, as int() reads them
            digits = "".join(str(unicodedata.decimal(c)) for c in digits)
        return "q" + (digits.lstrip("0") or "0")
    return text


def references(text: str) -> list[str]:
    """Ids referenced in a sub-question's text (`{q1}`, `{1}`, `#1`), in order, without repeats."""
    return list(dict.fromkeys(normalise_id(m.group(1) or m.group(2)) for m in _REF.finditer(text)))


def substitute_references(text: str, answers: dict[str, str]) -> str:
    """Replace `{q1}` / `#1` with the given answers; unknown references are left as written."""

    def replace(match: re.Match[str]) -> str:
        ref = normalise_id(match.group(1) or match.group(2))
        return answers.get(ref, match.group(0))

    return _REF.sub(replace, text)


def _pick(item: dict[str, Any], aliases: tuple[str, ...]) -> Any:
    lowered = {str(k).lower(): v for k, v in item.items()}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    return None


def _items_from_json(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        items = _pick(value, _LIST_ALIASES)
        if isinstance(items, list):
            return items
        if _pick(value, _TEXT_ALIASES) is not None:
            return [value]
    return None


def _sub_query_from_item(item: Any, position: int) -> PlannedSubQuery:
    if isinstance(item, str):
        return PlannedSubQuery(id="", question=item.strip(), depends_on=[])
    if not isinstance(item, dict):
        raise PlanError([f"sub-query {position} is {type(item).__name__}, not an object"])
    raw_id = _pick(item, _ID_ALIASES)
    text = _pick(item, _TEXT_ALIASES)
    deps = _pick(item, _DEPS_ALIASES) or []
    if isinstance(deps, (str, int)):
        deps = [deps]
    if not isinstance(deps, list):
        raise PlanError([f"sub-query {position}: depends_on must be a list of ids"])
    expert = _pick(item, ("expert",))
    return PlannedSubQuery(
        id="" if raw_id is None else normalise_id(raw_id),
        question="" if text is None else str(text).strip(),
        depends_on=[normalise_id(d) for d in deps if str(d).strip()],
        expert=str(expert).strip() or None if expert is not None else None,
    )


def parse_plan(text: str) -> tuple[list[PlannedSubQuery], list[str]]:
    """Parse a planner output into sub-queries.

    Accepts the line format (`q1: ...` one per line, dependencies from `{qk}` references), a
    JSON object with a list of sub-queries (common key names), a bare JSON list (of objects or
    strings), JSON inside code fences or prose, JSON cut off by a token limit (the
    complete sub-queries are kept and the salvage is recorded), and numbered or bulleted lines.
    Output longer than `MAX_PLAN_CHARS` is cut there first, as by a token limit (a line cut in
    two is not read), and a note says so.

    Returns:
        The sub-queries and notes on what had to be salvaged (empty for clean JSON).

    Raises:
        PlanError: nothing plan-like was found.
    """
    notes: list[str] = []
    all_lines = text[:MAX_PLAN_CHARS].splitlines()
    if len(text) > MAX_PLAN_CHARS:
        notes.append(f"planner output was {len(text)} characters; read the first {MAX_PLAN_CHARS}")
        if all_lines and text[MAX_PLAN_CHARS - 1] not in _LINE_BREAKS and \
                text[MAX_PLAN_CHARS] not in _LINE_BREAKS:
            all_lines.pop()  # the line the cut went through
        text = text[:MAX_PLAN_CHARS]
    lines = [line for line in (line.strip() for line in all_lines) if line]
    matches = [_PLAN_LINE.fullmatch(line) for line in lines]
    if lines and all(matches):  # the line format
        return [_sub_query_from_item({"id": m.group(1), "question": m.group(2)}, i + 1)
                for i, m in enumerate(matches)], notes
    values, failed = json_values(text)
    lists = [v for v in values if isinstance(v, list) or (
        isinstance(v, dict) and isinstance(_pick(v, _LIST_ALIASES), list))]
    items = _items_from_json(lists[0]) if lists else None
    if items is None:
        singles = [v for v in values if isinstance(v, dict) and _pick(v, _TEXT_ALIASES) is not None]
        if singles:
            items = singles
            if failed:
                notes.append(
                    f"output was not complete JSON; salvaged {len(items)} complete sub-queries"
                )
    if items is None:
        numbered = [m for m in map(_NUMBERED_LINE.fullmatch, lines) if m]
        if numbered:
            items = [{"id": m.group(1) or "", "question": m.group(2)} for m in numbered]
            items = [{k: v for k, v in item.items() if v != ""} for item in items]
            notes.append(f"output was not JSON; read {len(items)} numbered lines as sub-queries")
    if items is None:
        snippet = text.strip().replace("\n", " ")[:80]
        raise PlanError([f"no plan found in the planner output ({snippet!r})"])
    return [_sub_query_from_item(item, i + 1) for i, item in enumerate(items)], notes


def plan_lines(plan: str) -> str:
    """A plan's text (JSON or lines) in the line format: `q1: ...` per line."""
    sub_queries, _ = parse_plan(plan)
    return "\n".join(f"{sub.id}: {sub.question}" for sub in sub_queries)


def canonical_question(text: str) -> str:
    """A sub-question as compared for repeats: lower case, spaces collapsed, no end mark."""
    return " ".join(text.lower().split()).rstrip("?.! ")


def repair_plan(sub_queries: list[PlannedSubQuery], *, max_subqueries: int) -> RepairedPlan:
    """Validate a parsed plan and repair what is unambiguous.

    Raises:
        PlanError: with every problem that could not be repaired.
    """
    repairs: list[str] = []
    plan = [PlannedSubQuery(s.id, s.question, list(s.depends_on), s.expert) for s in sub_queries]

    # Missing ids: number them by position (only ids nobody could have referenced).
    used = {s.id for s in plan if s.id}
    n = 0  # the last number given: every q<k> from the last position up to it is taken
    for position, sub in enumerate(plan, start=1):
        if not sub.id:
            n = max(position, n + 1)
            candidate = f"q{n}"
            while candidate in used:
                n += 1
                candidate = f"q{n}"
            sub.id = candidate
            used.add(candidate)
            repairs.append(f"sub-query {position} had no id; named it {candidate}")

    # Duplicate ids: the same text twice is a repeat (merged below); different text is ambiguous.
    seen_text: dict[str, str] = {}
    problems: list[str] = []
    for sub in plan:
        if sub.id in seen_text and seen_text[sub.id] != canonical_question(sub.question):
            problems.append(f"duplicate id {sub.id} for different questions")
        seen_text.setdefault(sub.id, canonical_question(sub.question))
    if problems:
        raise PlanError(problems)

    # Empty text: drop; references to it become dangling and are dropped below.
    kept = []
    for sub in plan:
        if sub.question.strip():
            kept.append(sub)
        else:
            repairs.append(f"{sub.id} had an empty question; dropped it")
    plan = kept
    if not plan:
        raise PlanError(["the plan has no sub-queries with text"])

    # Repeated text (or repeated id with the same text): keep the first, redirect references.
    alias: dict[str, str] = {}
    first_by_text: dict[str, str] = {}
    kept = []
    for sub in plan:
        key = canonical_question(sub.question)
        if key in first_by_text:
            alias[sub.id] = first_by_text[key]
            if sub.id != first_by_text[key]:
                repairs.append(f"{sub.id} repeated {first_by_text[key]}; merged them")
            else:
                repairs.append(f"{sub.id} appeared twice; kept the first")
            continue
        first_by_text[key] = sub.id
        kept.append(sub)
    plan = kept

    if len(plan) > max_subqueries:
        raise PlanError([f"{len(plan)} sub-queries, more than the maximum of {max_subqueries}"])

    # Dependencies: declared plus referenced in text; drop self and unknown references.
    ids = {s.id for s in plan}
    redirect = {old: "{" + new + "}" for old, new in alias.items() if old != new}
    for sub in plan:
        deps: dict[str, None] = {}  # an ordered set
        listed, twice = Counter(sub.depends_on), set()
        for ref in sub.depends_on + references(sub.question):
            ref = alias.get(ref, ref)
            if ref == sub.id:
                repairs.append(f"{sub.id} depended on itself; dropped that reference")
            elif ref not in ids:
                repairs.append(f"{sub.id} referenced unknown {ref}; dropped that reference")
            elif ref in deps:
                if listed[ref] > 1 and ref not in twice:
                    twice.add(ref)
                    repairs.append(f"{sub.id} listed {ref} more than once; kept one")
            else:
                deps[ref] = None
        sub.question = substitute_references(sub.question, redirect)
        sub.depends_on = list(deps)

    return RepairedPlan(sub_queries=_break_cycles_and_sort(plan, repairs), repairs=repairs)


def _break_cycles_and_sort(
    plan: list[PlannedSubQuery], repairs: list[str]
) -> list[PlannedSubQuery]:
    """Depth-first in plan order: an edge back into the current path closes a cycle and is dropped.

    Returns the sub-queries in a topological order that keeps the planner's order where it can.
    Iterative (a stack of sub-queries and their remaining dependencies), so a long chain does not
    hit Python's recursion limit.
    """
    by_id = {s.id: s for s in plan}
    state: dict[str, str] = {}
    order: list[PlannedSubQuery] = []
    for root in plan:
        if root.id in state:
            continue
        state[root.id] = "active"
        stack = [(root, iter(list(root.depends_on)))]
        while stack:
            sub, remaining = stack[-1]
            for dep in remaining:
                if state.get(dep) == "active":
                    sub.depends_on.remove(dep)
                    repairs.append(f"{sub.id} -> {dep} closed a cycle; dropped that dependency")
                elif dep not in state:
                    state[dep] = "active"
                    stack.append((by_id[dep], iter(list(by_id[dep].depends_on))))
                    break
            else:
                state[sub.id] = "done"
                order.append(sub)
                stack.pop()
    return order


def written_sub_queries(text: str) -> list[PlannedSubQuery]:
    """The sub-queries complete so far in a plan still being written (a streaming planner).

    Read as `parse_plan` reads the whole text, so an early item is what the final plan will
    hold: a JSON item counts once its object closes (`json_values` returns the closed items of
    a list that is still open), a line once it has ended. Items without an id or a question are
    left out: they cannot be started on their own.
    """
    text = text[:MAX_PLAN_CHARS]
    head = text.lstrip()
    if _PLAN_LINE.match(head) or not any(bracket in head for bracket in "{["):
        text = text[: text.rfind("\n") + 1]  # lines: the one being written is not read
    try:
        sub_queries, _ = parse_plan(text)
    except PlanError:
        return []
    return [sub for sub in sub_queries if sub.id and sub.question]
