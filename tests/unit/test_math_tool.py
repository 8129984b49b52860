"""The sympy-backed math expert: exact arithmetic, LLM fallback without an expression.

Exact arithmetic must never stall the event loop: huge powers are refused from their size
before any work, and what is evaluated runs in a worker process that is killed past its time
limit. The async tests check that a ticker coroutine keeps running while the expert answers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from langchain_core.runnables import RunnableLambda

from comp_llm_graph.experts.math_tool import evaluate_arithmetic, find_expression, sympy_expert

# Passes the size estimate (about 3,000 digits, roots of 991-digit numbers), but sympy takes
# minutes on it: only the worker's time limit stops it.
SLOW = "*".join(f"sqrt(10**990+{k})" for k in (1, 3, 7, 9, 11, 13))
MAX_GAP = 0.25  # the longest the ticker may wait for the loop (it asks for 10 ms)


async def _llm_answer(payload):
    await asyncio.sleep(0.05)  # a model takes a while, and the loop must run meanwhile
    return "LLM answer"


FALLBACK = RunnableLambda(lambda payload: "LLM answer", afunc=_llm_answer)


async def _ask_while_ticking(expert, *questions):
    """The expert's answers, the seconds they took and the longest the ticker waited."""
    stamps, done = [time.monotonic()], asyncio.Event()

    async def ticker():
        while not done.is_set():
            await asyncio.sleep(0.01)
            stamps.append(time.monotonic())

    async def ask():
        try:
            return await asyncio.gather(*(expert.ainvoke({"question": q, "context": ""})
                                          for q in questions))
        finally:
            done.set()

    answers, _ = await asyncio.gather(ask(), ticker())
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)]
    assert gaps, "the ticker never ran"
    return answers, stamps[-1] - stamps[0], max(gaps)


@pytest.mark.parametrize(("question", "answer"), [
    ("What is 12 times 7?", "84"),
    ("What is 15% of 240?", "36"),
    ("How much is 1,250 divided by 25?", "50"),
    ("Compute (3+4)*2^3", "56"),
    ("What is 0.1 + 0.2?", "3/10 (0.3)"),
    ("What is the square root of 16 plus 2?", "6"),
    ("What is 1/3?", "1/3 (0.333333)"),
    ("What is 2^10 minus 24?", "1000"),
    ("What is sqrt(2)?", "1.41421"),
    ("What is (9^9)^7?", str((9 ** 9) ** 7)),
])
def test_arithmetic_is_exact(question, answer):
    assert evaluate_arithmetic(find_expression(question)) == answer


def test_no_expression_and_huge_exponents():
    assert find_expression("Who wrote Hamlet?") is None
    assert find_expression("Is 97 a prime number?") is None
    with pytest.raises(ValueError, match="exponent too large"):
        evaluate_arithmetic("2**99999")


async def test_falls_back_to_the_llm_without_an_expression():
    seen = []
    fallback = RunnableLambda(lambda p: seen.append(p["question"]) or "LLM answer")
    expert = sympy_expert(fallback)
    assert await expert.ainvoke({"question": "What is 6 times 7?", "context": ""}) == "6 * 7 = 42"
    assert seen == []
    assert await expert.ainvoke({"question": "Is 97 prime?", "context": ""}) == "LLM answer"
    assert seen == ["Is 97 prime?"]


def test_sizes_are_bounded_from_the_expression():
    from comp_llm_graph.experts.math_tool import estimate_digits

    assert 61 <= estimate_digits("(9**9)**7") < 63  # 9**63 has 61 digits
    for expression, message in [
        ("9**9**7", r"about 10\^7 digits"),  # 9**(9**7): right-associative
        ("9**9**9**9", "exponent too large"),
        ("10**(10**7)", r"about 10\^7 digits"),
        ("2**-99999", "about 30,103 digits"),
        ("10**5000*10**5001", "result too large"),
        ("sqrt(10**2000+1)", "root of a number too large"),
        ("(" * 21 + "1" + ")" * 21, "nested too deeply"),
        ("1+" * 300 + "1", "too long"),
    ]:
        with pytest.raises(ValueError, match=message):
            estimate_digits(expression)


@pytest.mark.parametrize("question", [
    "What is 9^9^7?", "What is 9^9^8?", "What is 10^(10^7)?",
    "What is " + "1+" * 300 + "1?",  # a 601-character expression
])
async def test_huge_arithmetic_goes_to_the_fallback_and_the_loop_runs_on(question):
    answers, seconds, gap = await _ask_while_ticking(sympy_expert(FALLBACK), question)
    assert answers == ["LLM answer"]
    assert seconds < 3 and gap < MAX_GAP


async def test_without_a_fallback_a_refusal_says_why():
    answers, seconds, gap = await _ask_while_ticking(sympy_expert(None), "What is 9^9^8?")
    assert answers[0].startswith("Could not evaluate 9**9**8 exactly (exponent too large")
    assert seconds < 3 and gap < MAX_GAP


@pytest.mark.parametrize("expression", ["1/0", "0/0", "1/(2-2)"])
def test_a_division_by_zero_is_a_value_error_not_nan(expression):
    with pytest.raises(ValueError, match="has no value"):
        evaluate_arithmetic(expression)


async def test_a_division_by_zero_goes_to_the_fallback():
    answers, _, _ = await _ask_while_ticking(sympy_expert(FALLBACK), "What is 0/0?")
    assert answers == ["LLM answer"]


async def test_concurrent_questions_share_the_worker_and_the_loop_runs_on():
    answers, seconds, gap = await _ask_while_ticking(
        sympy_expert(FALLBACK), "What is 6 times 7?", "What is 9^9^7?", "What is 1/8?",
        "Compute (3+4)*2^3", "What is 2^100?", "Who wrote Hamlet?")
    assert answers == ["6 * 7 = 42", "LLM answer", "1/8 = 1/8 (0.125)", "(3+4)*2**3 = 56",
                       f"2**100 = {2 ** 100}", "LLM answer"]
    assert seconds < 5 and gap < MAX_GAP


async def test_a_slow_evaluation_is_killed_and_the_worker_restarted():
    from comp_llm_graph.experts.math_worker import shared_worker

    expert = sympy_expert(FALLBACK, timeout=0.2)
    assert find_expression(f"What is {SLOW}?") == SLOW
    answers, seconds, gap = await _ask_while_ticking(expert, f"What is {SLOW}?")
    assert answers == ["LLM answer"]
    assert seconds < 5 and gap < MAX_GAP
    assert shared_worker().pid is None  # killed
    assert await expert.ainvoke({"question": "What is 6 times 7?", "context": ""}) == "6 * 7 = 42"
    assert shared_worker().pid is not None


def test_sync_path_timeout_and_a_crashed_worker_is_replaced():
    from comp_llm_graph.experts.math_worker import shared_worker

    expert = sympy_expert(None)
    assert expert.invoke({"question": "What is 2 plus 2?", "context": ""}) == "2 + 2 = 4"
    started = time.monotonic()
    with pytest.raises(ValueError, match="longer than 0.2 s"):
        evaluate_arithmetic(SLOW, timeout=0.2)
    assert time.monotonic() - started < 3
    assert expert.invoke({"question": "What is 5 times 5?", "context": ""}) == "5 * 5 = 25"
    pid = shared_worker().pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while shared_worker().pid is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert expert.invoke({"question": "What is 6 times 7?", "context": ""}) == "6 * 7 = 42"
    assert shared_worker().pid not in (None, pid)


def test_huge_decimals_are_written_out_not_inf():
    assert evaluate_arithmetic("sqrt(10**800+1)") == "1.00000e+400"


def test_find_expression_is_fast_on_long_input():
    started = time.monotonic()
    assert find_expression("What is 12 times 7? " + "(" * 30_000) == "12 * 7"
    assert time.monotonic() - started < 0.5
