"""The few-shot completion planner's prompt, and plans written as lines (fakes; the real Gemma 3
planner is tested in tests/real/test_completion_planner.py)."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from comp_llm_graph import Context
from comp_llm_graph.defaults import embedded_planner
from comp_llm_graph.planning.planner import planner_messages
from comp_llm_graph.runtimes.completion_planner import CompletionPlanner, render_prompt
from tests.unit.test_early_starts import _graph

GREEN = json.dumps({"subqueries": [
    {"id": "q1", "question": "Who performed the album Green?", "depends_on": []},
    {"id": "q2", "question": "Who is the spouse of {q1}?", "depends_on": ["q1"]}]})


def test_the_prompt_is_the_header_then_demonstrations_in_lines_then_the_question():
    prompt = render_prompt([SystemMessage("Split questions."), HumanMessage("Spouse of Green?"),
                            AIMessage(GREEN), HumanMessage("Who founded Peru's capital?")])
    assert prompt == ("Split questions.\n\n"
                      "Question: Spouse of Green?\n"
                      "q1: Who performed the album Green?\nq2: Who is the spouse of {q1}?\n\n"
                      "Question: Who founded Peru's capital?\n")


def test_a_prompt_must_end_with_the_question():
    with pytest.raises(ValueError, match="ends with the question"):
        render_prompt([SystemMessage("Split."), HumanMessage("Q?"), AIMessage(GREEN)])


def test_retrieved_demonstrations_reach_a_lines_planner_in_lines():
    messages = planner_messages("Q?", Context(), "lines", examples=[("Spouse of Green?", GREEN)])
    assert [m.type for m in messages] == ["system", "human", "ai", "human"]
    assert messages[2].content == ("q1: Who performed the album Green?\n"
                                   "q2: Who is the spouse of {q1}?")


def test_the_gemma3_planner_is_named_and_an_unknown_name_is_refused():
    planner = embedded_planner("gemma3")
    assert isinstance(planner, CompletionPlanner)
    assert (planner.plan_format, planner.disable_streaming) == ("lines", True)
    with pytest.raises(ValueError, match="unknown planner 'gpt'"):
        embedded_planner("gpt")


async def test_sub_queries_written_as_lines_start_before_the_plan_is_complete():
    calls: dict[str, list[float]] = {}
    plan = ("q1: What is the capital of Peru?\nq2: What is 3 plus 4?\n"
            "q3: When did the empire of {q1} fall?\n")
    graph, writer = _graph(plan, calls)
    state = await graph.ainvoke({"query": "Capital of Peru, 3 plus 4, and when did it fall?"},
                                context=Context(mode="comp"))
    assert state["planning"]["early_started"] == ["q1", "q2", "q3"]
    assert calls["What is the capital of Peru?"][0] < writer.finished_at[-1]
    assert all(len(times) == 1 for times in calls.values())
    assert state["answers"]["q3"]["question"] == (
        "When did the empire of geography says What is the capital of Peru? fall?")
