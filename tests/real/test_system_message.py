"""A system message in `messages` shapes the real experts' and aggregator's answers."""

from __future__ import annotations

import pytest

from comp_llm_graph import Context, build_graph, default_components

pytestmark = pytest.mark.real
QUESTIONS = ["Tell me about the Moon.", "What do bees do?", "How do volcanoes form?"]
BRIEF = "Answer in one short sentence of at most ten words."


async def test_answer_briefly_makes_the_answers_shorter(tmp_path):
    graph = build_graph(**default_components(persist_directory=tmp_path))

    async def mean_length(system: str | None) -> float:
        lengths = []
        for question in QUESTIONS:
            messages = ([("system", system)] if system else []) + [("user", question)]
            state = await graph.ainvoke({"messages": messages}, context=Context())
            lengths.append(len(state["final_answer"]))
        return sum(lengths) / len(lengths)

    plain, brief = await mean_length(None), await mean_length(BRIEF)
    assert brief < 0.6 * plain, (plain, brief)  # measured here: 494 -> 128 characters
