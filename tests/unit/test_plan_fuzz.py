"""Property-based fuzzing of plan parsing and repair (hypothesis), and bounded-time inputs.

Whatever a planner writes, `parse_plan` returns sub-queries or raises `PlanError`, and whatever
`repair_plan` returns is a valid DAG. Deterministic (derandomized, no example database) and fast.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comp_llm_graph.errors import PlanError
from comp_llm_graph.planning.plan import (
    MAX_JSON_DEPTH,
    PlannedSubQuery,
    json_values,
    normalise_id,
    parse_plan,
    references,
    repair_plan,
    substitute_references,
)

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- strategies ----------------------------------------------------------------------------------

_WORDS = st.sampled_from(["Who", "wrote", "Hamlet", "when", "was", "{q1}", "{q2}", "#1", "#3",
                          "{ q02 }", "{q9}", "[x]", "{", "}", "[", "]", '"', "\\", "?", " ",
                          "\n", ":", "q1:", "1.", "-", "```", "{q1234567}"])
_prose = st.lists(_WORDS, max_size=12).map(" ".join)
_ids = st.one_of(st.integers(-3, 40), st.sampled_from(["q1", "Q2", "#3", "q03", "step", "", " "]),
                 st.from_regex(r"q?[0-9]{1,8}", fullmatch=True), st.text(max_size=6), st.none())
_junk = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                               st.text(max_size=8)),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
_question = st.one_of(_prose, st.text(max_size=20), _junk)
_deps = st.one_of(st.lists(_ids, max_size=4), _ids, _junk)
_id_key = st.sampled_from(["id", "step", "name", "key", "ID"])
_text_key = st.sampled_from(["question", "sub_question", "query", "text", "Question"])
_deps_key = st.sampled_from(["depends_on", "dependencies", "deps", "requires"])


@st.composite
def _item(draw):
    item = {}
    if draw(st.booleans()):
        item[draw(_id_key)] = draw(_ids)
    if draw(st.integers(0, 9)):
        item[draw(_text_key)] = draw(_question)
    if draw(st.booleans()):
        item[draw(_deps_key)] = draw(_deps)
    if not draw(st.integers(0, 9)):
        item["expert"] = draw(_junk)
    return item if draw(st.integers(0, 9)) else draw(st.one_of(_junk, _prose))


@st.composite
def json_plans(draw):
    """A plan as JSON, as a small model writes it: aliases, prose, fences, cut off anywhere."""
    items = draw(st.lists(_item(), max_size=8))
    key = draw(st.sampled_from(["subqueries", "plan", "steps", "questions", None]))
    value = items if key is None else {key: items}
    text = json.dumps(value, indent=draw(st.sampled_from([None, 2])))
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    if draw(st.booleans()):
        text = f"```json\n{text}\n```"
    return draw(_prose) + text + draw(_prose)


@st.composite
def line_plans(draw):
    """The line format (`q2: ... {q1} ...`) and numbered lines, with random ids and references."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        head = draw(st.sampled_from(["q{}: ", "Q{} : ", "{}. ", "step {}) ", "- ", "  q{}:"]))
        refs = " ".join(f"{{q{k}}}" for k in draw(st.lists(st.integers(0, 9), max_size=3)))
        lines.append(head.format(draw(st.integers(0, 9))) + draw(_prose) + " " + refs)
    return "\n".join(lines)


_bracket_soup = st.text(alphabet='{}[]"\\\n:, a1', max_size=40)
planner_outputs = st.one_of(st.text(), json_plans(), line_plans(), _bracket_soup,
                            st.lists(st.one_of(json_plans(), line_plans(), _bracket_soup),
                                     max_size=3).map("".join))


# -- properties ----------------------------------------------------------------------------------

def _check_valid_dag(plan, max_subqueries: int) -> None:
    subs = plan.sub_queries
    ids = [s.id for s in subs]
    assert 1 <= len(subs) <= max_subqueries
    assert all(ids) and len(set(ids)) == len(ids)
    earlier: set[str] = set()
    for sub in subs:
        assert sub.question.strip()
        assert sub.id not in sub.depends_on
        assert len(set(sub.depends_on)) == len(sub.depends_on)
        assert set(sub.depends_on) <= earlier, "dependencies come earlier (topological order)"
        earlier.add(sub.id)
        # A reference left in the text is a dependency, or its drop is in the repair notes.
        for ref in references(sub.question):
            assert ref in sub.depends_on or any(note in plan.repairs for note in (
                f"{sub.id} depended on itself; dropped that reference",
                f"{sub.id} referenced unknown {ref}; dropped that reference",
                f"{sub.id} -> {ref} closed a cycle; dropped that dependency")), (sub, ref)


@FUZZ
@given(planner_outputs, st.integers(1, 8))
def test_parse_and_repair_give_a_plan_or_a_plan_error(text, max_subqueries):
    try:
        subs, notes = parse_plan(text)
    except PlanError:
        return
    assert all(isinstance(n, str) for n in notes)
    assert all(isinstance(s.id, str) and isinstance(s.question, str) for s in subs)
    try:
        plan = repair_plan(subs, max_subqueries=max_subqueries)
    except PlanError:
        return
    _check_valid_dag(plan, max_subqueries)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["", "q1", "q2", "q3", "q4", "q5", "7"]),
                          st.sampled_from(["", " ", "A?", "a", "B {q1}?", "C #2 {q3}", "{q4}",
                                           "b?", "{q5} and {q2}"]),
                          st.lists(st.sampled_from(["q1", "q2", "q3", "q4", "q5", "q9"]),
                                   max_size=4)), max_size=8),
       st.integers(1, 8))
def test_repair_of_any_python_plan_is_a_valid_dag(rows, max_subqueries):
    subs = [PlannedSubQuery(i, q, d) for i, q, d in rows]
    try:
        plan = repair_plan(subs, max_subqueries=max_subqueries)
    except PlanError:
        return
    _check_valid_dag(plan, max_subqueries)
    assert [(s.id, s.question, s.depends_on) for s in subs] == [(i, q, d) for i, q, d in rows], \
        "the input is not changed"


def _recursive_sort(plan, repairs):
    """The recursive depth-first search `_break_cycles_and_sort` replaced (the oracle)."""
    by_id, state, order = {s.id: s for s in plan}, {}, []

    def visit(sub):
        state[sub.id] = "active"
        for dep in list(sub.depends_on):
            if state.get(dep) == "active":
                sub.depends_on.remove(dep)
                repairs.append(f"{sub.id} -> {dep} closed a cycle; dropped that dependency")
            elif dep not in state:
                visit(by_id[dep])
        state[sub.id] = "done"
        order.append(sub)

    for sub in plan:
        if sub.id not in state:
            visit(sub)
    return order


@FUZZ
@given(st.integers(1, 9).flatmap(lambda n: st.lists(
    st.lists(st.integers(1, n), unique=True, max_size=n), min_size=n, max_size=n)))
def test_iterative_cycle_breaking_matches_the_recursive_one(edges):
    from comp_llm_graph.planning.plan import _break_cycles_and_sort

    def plan():
        return [PlannedSubQuery(f"q{k}", f"Q{k}?", [f"q{d}" for d in deps if d != k])
                for k, deps in enumerate(edges, start=1)]

    expected_repairs, repairs = [], []
    expected = _recursive_sort(plan(), expected_repairs)
    got = _break_cycles_and_sort(plan(), repairs)
    assert [(s.id, s.depends_on) for s in got] == [(s.id, s.depends_on) for s in expected]
    assert repairs == expected_repairs


@FUZZ
@given(st.text(), st.dictionaries(st.from_regex(r"q[0-9]{1,3}", fullmatch=True), st.text(),
                                  max_size=4))
def test_references_and_substitution_never_raise(text, answers):
    refs = references(text)
    assert all(re.fullmatch(r"q(0|[1-9][0-9]*)", r) for r in refs)
    assert substitute_references(text, {}) == text
    substituted = substitute_references(text, answers)
    assert isinstance(substituted, str)
    if not set(refs) & answers.keys():
        assert substituted == text


@FUZZ
@given(st.one_of(st.text(), st.integers(), st.from_regex(r"\s*#?[qQ]?[0-9]{1,40}\s*",
                                                          fullmatch=True)))
def test_normalise_id_is_idempotent_and_reads_numbers_like_int(value):
    normal = normalise_id(value)
    assert normalise_id(normal) == normal
    text = str(value).strip().lstrip("#").strip()
    if re.fullmatch(r"[qQ]?\d+", text):
        assert normal == "q" + str(int(text.lstrip("qQ")))


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _naive_json_values(text):
    """The old scan (decode at every bracket; quadratic), as an oracle on small texts."""
    decoder, values, failed, position = json.JSONDecoder(), [], False, 0
    while position < len(text):
        if text[position] in "{[":
            try:
                value, end = decoder.raw_decode(text, position)
            except ValueError:
                failed = True
            else:
                values.append(value)
                position = end
                continue
        position += 1
    return values, failed


@FUZZ
@given(st.lists(st.one_of(_junk.map(json.dumps), st.text(alphabet="{}[] ab:,1\n", max_size=8)),
                max_size=6), st.booleans())
def test_json_values_matches_the_old_scan_where_strings_are_plain(pieces, cut):
    """Same values as decoding at every bracket, for JSON among prose without quotes, cut or not.

    (The new pass reads strings from the outermost open bracket, so a bracket inside a string of
    an unfinished value is not tried on its own; brackets in strings are left out here.)
    """
    pieces = [p for p in pieces if not re.search(r'"[^"]*[][{}][^"]*"', p)]
    text = "".join(pieces)
    if cut:
        text = text[: len(text) * 2 // 3]
    assert json_values(text) == _naive_json_values(text)


@FUZZ
@given(planner_outputs)
def test_json_values_never_raises_nor_returns_deep_values(text):
    values, failed = json_values(text)
    assert isinstance(failed, bool)
    assert all(isinstance(v, (dict, list)) and _depth(v) <= MAX_JSON_DEPTH for v in values)


# -- bounded time: the reliability probe's inputs (before the fix: 2-33 s, or an exception) --------

ADVERSARIAL = {
    "200k {": "{" * 200_000,
    "200k [": "[" * 200_000,
    "1000-deep list": "[" * 1000 + "]" * 1000,
    "numbered line, 60k spaces": "1. x" + " " * 60_000 + "y",
    "plan line, 60k spaces": "q1: x" + " " * 60_000 + "y",
    "100k {q1} references": "q1: A?\nq2: " + "{q1}" * 100_000,
    "4,500-digit id": "q" + "1" * 4500 + ": A?\nq2: B {q" + "1" * 4500 + "}?",
    "5,000-digit number": "[" + "9" * 5000 + "]",
    "quotes and brackets": '["{' * 50_000,
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_planner_output_parses_in_bounded_time(text):
    started = time.perf_counter()
    try:
        subs, _ = parse_plan(text)
    except PlanError:
        pass
    else:
        repair_plan(subs, max_subqueries=5)
    json_values(text)
    assert time.perf_counter() - started < 2  # well under 0.1 s unloaded
