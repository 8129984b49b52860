"""The sympy-backed math expert: exact arithmetic, LLM fallback without an expression."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda

from comp_llm_graph.experts.math_tool import evaluate_arithmetic, find_expression, sympy_expert


@pytest.mark.parametrize(("question", "answer"), [
    ("What is 12 times 7?", "84"),
    ("What is 15% of 240?", "36"),
    ("How much is 1,250 divided by 25?", "50"),
    ("Compute (3+4)*2^3", "56"),
    ("What is 0.1 + 0.2?", "3/10 (0.3)"),
    ("What is the square root of 16 plus 2?", "6"),
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
