"""Plan parsing, validation and repair (no models)."""

from __future__ import annotations

import json

import pytest

from comp_llm_graph.errors import PlanError
from comp_llm_graph.planning.grammar import plan_grammar
from comp_llm_graph.planning.plan import (
    PlannedSubQuery,
    parse_plan,
    references,
    repair_plan,
    substitute_references,
)


def sq(id: str, question: str, deps: list[str] | None = None) -> PlannedSubQuery:
    return PlannedSubQuery(id=id, question=question, depends_on=deps or [])


def ids_and_deps(plan) -> list[tuple[str, list[str]]]:
    return [(s.id, s.depends_on) for s in plan.sub_queries]


def test_parse_clean_json():
    text = json.dumps({"subqueries": [
        {"id": "q1", "question": "Who directed Jaws?", "depends_on": []},
        {"id": "q2", "question": "When was {q1} born?", "depends_on": ["q1"]},
    ]})
    subs, notes = parse_plan(text)
    assert [(s.id, s.question, s.depends_on) for s in subs] == [
        ("q1", "Who directed Jaws?", []), ("q2", "When was {q1} born?", ["q1"])]
    assert notes == []


def test_parse_json_in_code_fence_with_prose_and_aliases():
    """Small models wrap JSON in prose and fences and pick their own key names."""
    text = 'Sure! Here is the plan:\n```json\n[{"step": 1, "text": "A?"}, {"step": 2, "sub_question": "B #1?", "dependencies": [1]}]\n```'
    subs, _ = parse_plan(text)
    assert [(s.id, s.question, s.depends_on) for s in subs] == [
        ("q1", "A?", []), ("q2", "B #1?", ["q1"])]


def test_parse_truncated_json_salvages_complete_items_and_says_so():
    text = ('{"subqueries": [{"id": "q1", "question": "A?", "depends_on": []}, '
            '{"id": "q2", "question": "B?", "depends_on": ["q1"]}, {"id": "q3", "question": "C')
    subs, notes = parse_plan(text)
    assert [s.id for s in subs] == ["q1", "q2"]
    assert notes and "salvaged 2" in notes[0]


def test_parse_numbered_lines():
    subs, notes = parse_plan("1. Who wrote Hamlet?\n2. When was #1 born?")
    assert [(s.id, s.question) for s in subs] == [("q1", "Who wrote Hamlet?"),
                                                   ("q2", "When was #1 born?")]
    assert "numbered lines" in notes[0]


def test_parse_nothing_plan_like_raises():
    with pytest.raises(PlanError, match="no plan found"):
        parse_plan("I cannot help with that.")


def test_references_both_styles():
    assert references("Is {q1} older than #2 and {q1}?") == ["q1", "q2"]
    assert substitute_references("Is {q1} older than #2?", {"q1": "Ann", "q2": "Bob"}) == \
        "Is Ann older than Bob?"
    assert substitute_references("Is {q9} old?", {"q1": "Ann"}) == "Is {q9} old?"


def test_valid_plan_needs_no_repair():
    plan = repair_plan([sq("q1", "A?"), sq("q2", "B?"), sq("q3", "{q1} vs {q2}?", ["q1", "q2"])],
                       max_subqueries=5)
    assert plan.repairs == []
    assert ids_and_deps(plan) == [("q1", []), ("q2", []), ("q3", ["q1", "q2"])]


def test_text_reference_adds_dependency():
    plan = repair_plan([sq("q1", "A?"), sq("q2", "Where was {q1} born?")], max_subqueries=5)
    assert ids_and_deps(plan) == [("q1", []), ("q2", ["q1"])]
    assert plan.repairs == []


def test_dangling_and_self_references_are_dropped_and_recorded():
    plan = repair_plan([sq("q1", "A?", ["q1"]), sq("q2", "B {q7}?", ["q9"])], max_subqueries=5)
    assert ids_and_deps(plan) == [("q1", []), ("q2", [])]
    assert any("q1 depended on itself" in r for r in plan.repairs)
    assert any("unknown q7" in r for r in plan.repairs)
    assert any("unknown q9" in r for r in plan.repairs)


def test_cycle_is_broken_and_recorded():
    plan = repair_plan([sq("q1", "A?", ["q2"]), sq("q2", "B?", ["q1"])], max_subqueries=5)
    deps = dict(ids_and_deps(plan))
    assert not (deps["q1"] and deps["q2"]), "one edge of the cycle must be gone"
    assert any("closed a cycle" in r for r in plan.repairs)


def test_output_is_topologically_ordered():
    plan = repair_plan([sq("q1", "C?", ["q2"]), sq("q2", "B?", ["q3"]), sq("q3", "A?")],
                       max_subqueries=5)
    assert [s.id for s in plan.sub_queries] == ["q3", "q2", "q1"]


def test_repeated_text_is_merged_and_references_redirected():
    plan = repair_plan([sq("q1", "Who wrote Hamlet?"), sq("q2", "who wrote hamlet"),
                        sq("q3", "When was {q2} born?", ["q2"])], max_subqueries=5)
    assert ids_and_deps(plan) == [("q1", []), ("q3", ["q1"])]
    assert plan.sub_queries[1].question == "When was {q1} born?"
    assert any("q2 repeated q1" in r for r in plan.repairs)


def test_duplicate_ids_with_different_text_are_an_error():
    with pytest.raises(PlanError, match="duplicate id q1"):
        repair_plan([sq("q1", "A?"), sq("q1", "B?")], max_subqueries=5)


def test_empty_question_dropped_and_empty_plan_rejected():
    plan = repair_plan([sq("q1", "  "), sq("q2", "B?")], max_subqueries=5)
    assert [s.id for s in plan.sub_queries] == ["q2"]
    assert any("empty question" in r for r in plan.repairs)
    with pytest.raises(PlanError, match="no sub-queries"):
        repair_plan([sq("q1", "")], max_subqueries=5)


def test_too_many_sub_queries_is_an_error():
    with pytest.raises(PlanError, match="more than the maximum of 2"):
        repair_plan([sq("q1", "A?"), sq("q2", "B?"), sq("q3", "C?")], max_subqueries=2)


def test_missing_ids_are_numbered():
    plan = repair_plan([sq("", "A?"), sq("", "B?")], max_subqueries=5)
    assert [s.id for s in plan.sub_queries] == ["q1", "q2"]
    assert len(plan.repairs) == 2


def test_duplicate_dependency_entries_are_recorded():
    plan = repair_plan([sq("q1", "A?"), sq("q2", "B?", ["q1", "q1"])], max_subqueries=5)
    assert ids_and_deps(plan) == [("q1", []), ("q2", ["q1"])]
    assert any("more than once" in r for r in plan.repairs)


def test_plan_grammar_shape():
    """Sub-query k may only depend on earlier ids; ids are fixed in order."""
    grammar = plan_grammar(3)
    assert 'ref3 ::= "\\"q1\\"" | "\\"q2\\""' in grammar
    assert "item4" not in grammar
    assert "ref1" not in grammar


def test_plan_grammar_accepts_valid_and_rejects_invalid_plans():
    """Run the grammar itself (xgrammar, no model) over plan texts."""
    xgrammar = pytest.importorskip("xgrammar")
    grammar = xgrammar.Grammar.from_ebnf(plan_grammar(3))
    from xgrammar.testing import _is_grammar_accept_string

    ok = '{"subqueries": [{"id": "q1", "question": "Who is it?", "depends_on": []}, {"id": "q2", "question": "When {q1}?", "depends_on": ["q1"]}]}'
    self_ref = '{"subqueries": [{"id": "q1", "question": "Who is it?", "depends_on": ["q1"]}]}'
    forward = '{"subqueries": [{"id": "q1", "question": "Who is it?", "depends_on": ["q2"]}, {"id": "q2", "question": "When?", "depends_on": []}]}'
    too_many = '{"subqueries": [' + ", ".join(
        f'{{"id": "q{k}", "question": "Q{k} text", "depends_on": []}}' for k in range(1, 5)) + "]}"
    assert _is_grammar_accept_string(grammar, ok)
    assert not _is_grammar_accept_string(grammar, self_ref)
    assert not _is_grammar_accept_string(grammar, forward)
    assert not _is_grammar_accept_string(grammar, too_many)


def test_cut_at_repeat_closes_the_plan_before_the_first_repeated_question():
    from comp_llm_graph.planning.grammar import cut_at_repeat

    head = ('{"subqueries": [{"id": "q1", "question": "Who wrote Hamlet?", "depends_on": []}, '
            '{"id": "q2", "question": "When was {q1} born?", "depends_on": ["q1"]}')
    text = head + ', {"id": "q3", "question": "who wrote hamlet", "depends_on": ['
    clean, note = cut_at_repeat(text)
    assert clean == head + "]}"
    assert "q3" in note and "repeated an earlier sub-question" in note
    subs, notes = parse_plan(clean)
    assert [s.id for s in subs] == ["q1", "q2"] and notes == []
    assert cut_at_repeat(head) is None  # nothing repeats
    assert cut_at_repeat(head + ', {"id": "q3", "question": "Who wrote') is None  # unfinished


def test_lines_grammar_accepts_valid_and_rejects_invalid_plans():
    """The line format under its grammar: ids in order, references only to earlier ids."""
    xgrammar = pytest.importorskip("xgrammar")
    from xgrammar.testing import _is_grammar_accept_string

    from comp_llm_graph.planning.grammar import lines_plan_grammar

    grammar = xgrammar.Grammar.from_ebnf(lines_plan_grammar(3))
    assert _is_grammar_accept_string(grammar, "q1: Who is it?\nq2: When was {q1} born?")
    assert not _is_grammar_accept_string(grammar, "q1: Who is {q1}?")  # self reference
    assert not _is_grammar_accept_string(grammar, "q1: Who?\nq2: When is {q3}?")  # forward
    assert not _is_grammar_accept_string(grammar, "q2: Who is it?")  # ids in order
    assert not _is_grammar_accept_string(grammar, "q1: aaa\nq2: bbb\nq3: ccc\nq4: ddd")


def test_lines_are_a_plan_format_with_dependencies_from_references():
    subs, notes = parse_plan("q1: Who wrote Hamlet?\nq2: When was {q1} born?\n")
    assert notes == []  # a format of its own, not salvaged from prose
    repaired = repair_plan(subs, max_subqueries=5)
    assert [(s.id, s.depends_on) for s in repaired.sub_queries] == [("q1", []), ("q2", ["q1"])]
    assert repaired.repairs == []


def test_cut_at_repeat_in_the_line_format():
    from comp_llm_graph.planning.grammar import cut_at_repeat

    text = "q1: Who wrote Hamlet?\nq2: When was {q1} born?\nq3: who wrote hamlet\n"
    clean, note = cut_at_repeat(text)
    assert clean == "q1: Who wrote Hamlet?\nq2: When was {q1} born?"
    assert "q3" in note and "repeated an earlier sub-question" in note
    assert cut_at_repeat("q1: Who wrote Hamlet?\nq2: When was {q1} born?\n") is None
    assert cut_at_repeat("q1: Who wrote Hamlet?\nq2: Who wrote Ham") is None  # unfinished


# Regression tests from a reliability probe: adversarial planner output must give a result (a plan
# or a PlanError) in bounded time, never another exception. Timing bounds: tests/unit/test_plan_fuzz.py.


def test_deep_nesting_is_no_plan_not_a_recursion_error():
    from comp_llm_graph.nodes.react import parse_decision
    from comp_llm_graph.planning.plan import json_values

    deep = "[" * 1000 + "]" * 1000
    with pytest.raises(PlanError, match="no plan found"):
        parse_plan(deep)
    assert json_values(deep) == ([], True)  # skipped whole: no piece of it comes back
    assert parse_decision(deep + '{"action": "finish"}') == (None, None)
    from comp_llm_graph.planning.plan import MAX_JSON_DEPTH

    limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_values(limit) == ([json.loads(limit)], False)
    assert json_values("[" + limit + "] [1]") == ([[1]], True)


def test_json_values_keeps_the_salvage_behaviour():
    from comp_llm_graph.planning.plan import json_values

    items = '{"id": "q1", "question": "A [x]?"}, {"id": "q2", "question": "B \\"{q1}\\"?"}'
    assert json_values('Plan: [' + items + '] done [1]') == (
        [[{"id": "q1", "question": "A [x]?"}, {"id": "q2", "question": 'B "{q1}"?'}], [1]], False)
    # Cut off by a token limit: the complete items, one by one.
    assert json_values('{"plan": [' + items + ', {"id": "q3", "question": "C [') == (
        [{"id": "q1", "question": "A [x]?"}, {"id": "q2", "question": 'B "{q1}"?'}], True)
    # An unterminated string ends at its line; a stray closing bracket is ignored.
    assert json_values('{"a": "b\n{"c": 1}} ]') == ([{"c": 1}], True)
    # A number over Python's int digit limit is not JSON here (the decoder's ValueError).
    assert json_values("[" + "1" * 5000 + "] [2]") == ([[2]], True)


def test_huge_ids_and_references():
    from comp_llm_graph.planning.plan import normalise_id

    digits = "1" * 4500
    assert normalise_id(f"q{digits}") == f"q{digits}"
    assert normalise_id("q007") == "q7" and normalise_id("#00") == "q0" and normalise_id(12) == "q12"
    assert normalise_id("q\u0661\u0660") == "q10"  # Arabic-Indic digits, as int() reads them
    subs, _ = parse_plan(f"q{digits}: Who wrote Hamlet?\nq2: When was {{q{digits}}} born?")
    assert subs[0].id == f"q{digits}" and subs[1].depends_on == []
    # A reference has at most 6 digits: a longer {q...} is text, not a reference to drop.
    assert references(f"{{q{digits}}} #{digits} {{q999999}} #1234567") == ["q999999"]
    assert substitute_references(f"{{q{digits}}}", {"q1": "x"}) == f"{{q{digits}}}"
    plan = repair_plan(subs, max_subqueries=5)
    assert plan.repairs == [] and plan.sub_queries[1].question == f"When was {{q{digits}}} born?"


def test_long_cycle_is_broken_without_recursion():
    n = 5000
    subs = [sq(f"q{i}", f"Question {i}?", [f"q{i % n + 1}"]) for i in range(1, n + 1)]
    plan = repair_plan(subs, max_subqueries=10_000)
    assert plan.repairs == [f"q{n} -> q1 closed a cycle; dropped that dependency"]
    assert [s.id for s in plan.sub_queries] == [f"q{i}" for i in range(n, 0, -1)]


def test_cycle_breaking_order_and_notes_are_pinned():
    """The iterative depth-first search drops the same edges, in the same order, as before."""
    plan = repair_plan([sq("q1", "A?", ["q2", "q3"]), sq("q2", "B?", ["q3", "q1"]),
                        sq("q3", "C?", ["q1", "q2"]), sq("q4", "D?", ["q3", "q1"])],
                       max_subqueries=5)
    assert ids_and_deps(plan) == [("q3", []), ("q2", ["q3"]), ("q1", ["q2", "q3"]),
                                  ("q4", ["q3", "q1"])]
    assert plan.repairs == ["q3 -> q1 closed a cycle; dropped that dependency",
                            "q3 -> q2 closed a cycle; dropped that dependency",
                            "q2 -> q1 closed a cycle; dropped that dependency"]


def test_missing_ids_skip_taken_ones():
    plan = repair_plan([sq("", "A?"), sq("q2", "B?"), sq("", "C?"), sq("", "D?")],
                       max_subqueries=5)
    assert [s.id for s in plan.sub_queries] == ["q1", "q2", "q3", "q4"]
    plan = repair_plan([sq("q2", "A?"), sq("q3", "B?"), sq("", "C?"), sq("", "D?"), sq("", "E?")],
                       max_subqueries=5)
    assert [s.id for s in plan.sub_queries] == ["q2", "q3", "q4", "q5", "q6"]


def test_output_over_the_limit_is_cut_like_a_token_limit():
    from comp_llm_graph.planning.plan import MAX_PLAN_CHARS

    item = '{"id": "q%d", "question": "%s", "depends_on": []}'
    body = ", ".join(item % (k, f"Question {k} " + "x" * 200) for k in range(1, 200))
    text = '{"subqueries": [' + body + "]}"
    assert len(text) > MAX_PLAN_CHARS
    subs, notes = parse_plan(text)
    assert notes[0] == f"planner output was {len(text)} characters; read the first {MAX_PLAN_CHARS}"
    assert "salvaged" in notes[1]
    assert len(subs) == text[:MAX_PLAN_CHARS].count('"depends_on": []}')  # the complete items
    # The line format: a line the cut went through is not read; complete lines are.
    lines = "".join(f"q{k}: Question {k} {'y' * 100}\n" for k in range(1, 400))
    subs, notes = parse_plan(lines)
    assert "read the first" in notes[0] and len(notes) == 1
    complete = lines[:MAX_PLAN_CHARS].count("\n")
    assert [s.id for s in subs] == [f"q{k}" for k in range(1, complete + 1)]
    head = "".join(f"q{k}: Question {k}?\n" for k in range(1, 30))
    for extra, kept in ((0, True), (1, False)):  # the last line ends at the limit, or one past
        last = "q30: " + "y" * (MAX_PLAN_CHARS - len(head) - len("q30: ") + extra)
        subs, notes = parse_plan(head + last + "\nq31: More?\n")
        assert [s.id for s in subs][-1] == ("q30" if kept else "q29")


def test_long_lines_parse_in_linear_time(monkeypatch):
    """The line patterns do not backtrack (before: 60k spaces took 11-33 s), whatever the limit."""
    import time

    from comp_llm_graph.planning import plan

    monkeypatch.setattr(plan, "MAX_PLAN_CHARS", 1_000_000, raising=False)
    spaces = " " * 60_000
    started = time.perf_counter()
    subs, notes = plan.parse_plan(f"1. x{spaces}y\n2.{spaces}z{spaces}")
    assert [(s.id, s.question) for s in subs] == [("q1", f"x{spaces}y"), ("q2", "z")]
    assert "numbered lines" in notes[0]
    subs, notes = plan.parse_plan(f"q1: x{spaces}y{spaces}\n{spaces}q2 :{spaces}z")
    assert [(s.id, s.question) for s in subs] == [("q1", f"x{spaces}y"), ("q2", "z")]
    assert notes == []
    assert time.perf_counter() - started < 2
