"""Experts given as Python objects, on the real models: routed by MiniLM in Chroma, answered."""

from __future__ import annotations

import pytest
from langchain_core.tools import tool

from comp_llm_graph import Context, build_graph
from comp_llm_graph.defaults import AGGREGATOR_MAX_NEW_TOKENS, PLANNER_MAX_NEW_TOKENS
from comp_llm_graph.experts.math_tool import evaluate_arithmetic, find_expression
from comp_llm_graph.runtimes.llamacpp import smollm2

pytestmark = pytest.mark.real


@tool
def calculator(question: str) -> str:
    """Arithmetic: sums, differences, products, quotients and percentages of numbers."""
    expression = find_expression(question)
    return f"{expression} = {evaluate_arithmetic(expression)}" if expression else "no arithmetic"


async def test_a_bare_chat_model_and_a_tool_as_experts(tmp_path):
    model = smollm2(AGGREGATOR_MAX_NEW_TOKENS)
    graph = build_graph(
        planner=smollm2(PLANNER_MAX_NEW_TOKENS, plan_grammar=True), aggregator=model,
        experts={"geography": (model, "Countries, their capitals, cities, rivers and maps."),
                 "math": calculator, "generalist": model},
        registry_options={"persist_directory": tmp_path})
    state = await graph.ainvoke(
        {"query": "1. What is the capital of France? 2. What is 12 times 12?"},
        context=Context(mode="comp"))
    assert [s["expert"] for s in state["plan"]] == ["geography", "math"]
    assert "Paris" in state["answers"]["q1"]["answer"]  # the model got the expert prompt
    assert "144" in state["answers"]["q2"]["answer"]
    assert state["answers"]["q1"]["error"] is None
