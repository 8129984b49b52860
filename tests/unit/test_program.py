"""Programs of thought: the restricted language, its bounds, and the math expert around it.

A program is text a model wrote: these tests check that what it may do is computed exactly and
that everything else (imports, dunders, attribute access, endless loops, huge powers) is refused
with a reason, in the parent before the worker, and that random text never escapes as another
exception.
"""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from comp_llm_graph.experts.math_program import bare_expression, program_expert
from comp_llm_graph.experts.math_worker import SympyWorker
from comp_llm_graph.experts.program import (
    ProgramError,
    check_program,
    extract_program,
    format_number,
    run_program,
)


def test_exact_arithmetic_with_names_lists_branches_and_loops():
    """Decimals are fractions (no 0.30000000000000004); loops and branches run as written."""
    assert run_program("a = 0.1\nanswer = a * 3") == Fraction(3, 10)
    assert run_program("p = [2, 3.5, 4]\nanswer = sum(p) / len(p)") == Fraction(19, 6)
    program = "total = 0\nfor i in range(1, 11):\n    if i % 2 == 0:\n        total += i\nanswer = total"
    assert run_program(program) == 30
    assert run_program("a, b = 7, 2\nanswer = a // b + (a % b) + math.floor(2.5)") == 6
    assert run_program("answer = sqrt(144) + max(1, 5) if 3 > 2 else 0") == 17


def test_format_number_gives_integers_and_short_decimals():
    assert format_number(Fraction(12, 1)) == "12"
    assert format_number(Fraction(3, 4)) == "0.75"
    assert format_number(Fraction(1, 3)) == "0.333333"
    assert format_number(2.0) == "2"


def test_print_statements_are_dropped_unread():
    """Models print out of habit: the print (even of an f-string) is not run, answer is read."""
    assert run_program('x = 4\nprint(f"x is {x}")\nanswer = x + 1') == 5


@pytest.mark.parametrize("program, reason", [
    ("import os\nanswer = 1", "Import is not allowed"),
    ("from os import system\nanswer = 1", "ImportFrom is not allowed"),
    ("answer = __import__('os')", "not allowed"),
    ("__builtins__ = 1\nanswer = 1", "names starting with _"),
    ("answer = (1).__class__", "attribute access"),
    ("answer = math.__dict__", "attribute access"),
    ("answer = [].append", "attribute access"),
    ("answer = open('/etc/passwd')", "calling open is not allowed"),
    ("answer = eval('1+1')", "calling eval is not allowed"),
    ("while True:\n    pass", "While is not allowed"),
    ("def f():\n    return 1\nanswer = f()", "FunctionDef is not allowed"),
    ("answer = lambda: 1", "Lambda is not allowed"),
    ("answer = [x for x in range(3)]", "ListComp is not allowed"),
    ("answer = 'text'", "only numbers"),
    ("for x in [1, 2]:\n    answer = x", "only `for NAME in range"),
    ("answer = 9 ** 9 ** 9", "more than 5,000 digits"),
    ("answer = 2 ** 100000", "more than 5,000 digits"),
    ("answer = factorial(10 ** 6)", "factorial takes whole numbers"),
    ("answer = [0] * 10 ** 9", "repeating a list"),
    ("for i in range(10 ** 9):\n    answer = i", "range of 1,000,000,000 values"),
    ("answer = 0\nfor i in range(10000):\n    for j in range(10000):\n        answer += 1",
     "more than 10,000 iterations"),
    ("answer = 1 / 0", "ZeroDivisionError"),
    ("x = 1", "never sets answer"),
    ("answer = y + 1", "y is used before"),
    ("answer = (", "not a valid program"),
])
def test_what_is_outside_the_language_or_its_bounds_is_refused(program, reason):
    started = time.monotonic()
    with pytest.raises(ProgramError, match=reason):
        run_program(program)
    assert time.monotonic() - started < 2  # refused from the syntax or a bound, not by a timeout


def test_programs_are_read_from_a_fenced_block():
    reply = "Here it is:\n```python\nanswer = 2 + 2\n```\nThat gives 4."
    assert extract_program(reply) == "answer = 2 + 2"
    assert extract_program("answer = 5") == "answer = 5"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("answer=()[]+-*/%<>0123456789 .\n:_ifordeaxt,")),
               max_size=120))
def test_random_text_is_a_value_or_a_program_error(source):
    """Whatever a model writes, the evaluator answers a number or refuses with ProgramError."""
    try:
        value = run_program(source)
    except ProgramError:
        return
    assert isinstance(value, int | float | Fraction)


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.integers(-10**6, 10**6).map(str),
                    lambda inner: st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**", "//",
                                                                     "%"]), inner)
                    .map(lambda t: f"({t[0]} {t[1]} {t[2]})"), max_leaves=12))
def test_random_arithmetic_is_bounded(expression):
    """Nested powers of large numbers are refused before they are computed, never slow."""
    started = time.monotonic()
    try:
        run_program(f"answer = {expression}")
    except ProgramError:
        pass
    assert time.monotonic() - started < 2


def test_the_worker_runs_programs_and_reports_refusals():
    """The program runs in the worker process; its refusals come back as ValueError."""
    worker = SympyWorker()
    try:
        assert worker.evaluate({"program": "a = 16 - 3 - 4\nanswer = a * 2"}) == "18"
        with pytest.raises(ValueError, match="more than 5,000 digits"):
            worker.evaluate({"program": "answer = 7 ** 10 ** 8"})
    finally:
        worker.close()


@pytest.mark.parametrize("question, expression", [
    ("What is 15% of 240?", "(15/100)*240"),
    ("What is 12 times 7?", "12 * 7"),
    ("Calculate (3+4)*2", "(3+4)*2"),
    ("What is -5 + 3?", None),  # the finder would drop the sign
    ("What is 1,000,000 divided by 4?", None),  # ... or read 000 / 4
    ("What is 3/4 of 100?", None),
    ("What is 2+2 if my phone is 555-1234?", None),
    ("Tom has 3 apples and buys 4 more. How many apples does he have?", None),
])
def test_only_bare_arithmetic_skips_the_model(question, expression):
    assert bare_expression(question) == expression


def _scripted(*replies):
    """A chat model answering the given replies in turn; it records the messages it saw."""
    seen, queue = [], list(replies)

    def reply(messages):
        seen.append(messages)
        return AIMessage(queue.pop(0), usage_metadata={"input_tokens": 10, "output_tokens": 5,
                                                       "total_tokens": 15})
    model = RunnableLambda(reply)
    model.seen = seen
    return model


async def test_program_expert_runs_the_program_and_repairs_once():
    model = _scripted("```python\nimport os\nanswer = 1\n```", "```python\nanswer = 6 * 7\n```")
    answer = await program_expert(model).ainvoke({"question": "Six boxes of seven?",
                                                  "context": ""})
    assert answer.content == "42"
    assert answer.response_metadata["attempts"] == 2
    assert "Import is not allowed" in model.seen[1][-1].content  # the reason was sent back
    assert answer.usage_metadata["output_tokens"] == 10


async def test_program_expert_falls_back_when_no_program_runs():
    model = _scripted("answer = open('x')", "answer = eval('1')")
    fallback = RunnableLambda(lambda payload: AIMessage("about 40"))
    answer = await program_expert(model, fallback=fallback).ainvoke({"question": "A word "
                                                                    "problem?", "context": ""})
    assert answer.content == "about 40"
    assert answer.response_metadata["method"] == "fallback"
    assert len(answer.response_metadata["program_errors"]) == 2


def test_bare_arithmetic_needs_no_model():
    model = _scripted()
    assert program_expert(model).invoke({"question": "What is 15% of 240?",
                                         "context": ""}) == "(15/100)*240 = 36"
    assert model.seen == []


def test_check_program_refuses_long_programs():
    with pytest.raises(ProgramError, match="characters"):
        check_program("answer = 1\n" * 1000)


async def test_choice_and_yes_no_questions_go_to_the_scoring_fallback():
    """A program's number cannot name an option: the fallback (option scoring) answers."""
    model = _scripted()
    fallback = RunnableLambda(lambda payload: AIMessage("(B) 4"))
    expert = program_expert(model, fallback=fallback)
    for question in ("What is 2 + 2? (A) 3 (B) 4 (C) 5 (D) 6", "Is 97 a prime number?"):
        answer = await expert.ainvoke({"question": question, "context": ""})
        assert answer.content == "(B) 4"
    assert model.seen == []
