"""Arithmetic phrasings: the exact answer is right, or there is none (the fallback model answers).

A wrong answer stated as exact ("1,000,000 divided by 4" -> "000 / 4 = 0") is worse than a
model's guess, so each phrasing (`evaluation/phrasings.py`) has its right value or `None`:
not evaluated exactly.
"""

import pytest

from comp_llm_graph.evaluation.phrasings import PHRASINGS
from comp_llm_graph.experts.math_tool import evaluate_arithmetic, find_expression


def test_at_least_forty_phrasings():
    assert len(PHRASINGS) >= 40


@pytest.mark.parametrize(("question", "value"), PHRASINGS)
def test_a_phrasing_is_evaluated_right_or_not_at_all(question, value):
    expression = find_expression(question)
    if value is None:
        assert expression is None
    else:
        assert expression is not None and evaluate_arithmetic(expression) == value
