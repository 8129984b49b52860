"""The sub-query generator's turn: chat messages in, the reply out as an AI message, a query
kept as a human message, a follow-up on a thread (fakes)."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver

from comp_llm_graph import build_graph
from comp_llm_graph.errors import InvalidQueryError
from tests.fakes import fake_registry, planner

TWO = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []}]})


def _graph(*plans: str, checkpointer=None, questions: list[str] | None = None):
    def answer(payload: dict, name: str) -> str:
        if questions is not None:
            questions.append(payload["question"])
        return f"{name} answers {payload['question']}"

    experts = {name: RunnableLambda(lambda p, n=name: answer(p, n))
               for name in ("geography", "math", "history", "generalist")}
    return build_graph(planner=planner(*plans), registry=fake_registry(experts),
                       aggregator=planner("FINAL"), checkpointer=checkpointer)


async def test_messages_in_and_the_answer_out_as_an_ai_message():
    state = await _graph(TWO).ainvoke(
        {"messages": [{"role": "user", "content": "Capital of Peru, and 3 plus 4?"}]})
    human, reply = state["messages"]
    assert isinstance(human, HumanMessage) and isinstance(reply, AIMessage)
    assert reply.content == state["final_answer"] and "Peru" in reply.content
    parts = reply.response_metadata["comp_llm"]["plan"]
    assert [p["id"] for p in parts] == ["q1", "q2"] and all(p["answer"] for p in parts)
    assert state["query"] == "Capital of Peru, and 3 plus 4?"


async def test_a_query_is_kept_as_a_human_message():
    state = await _graph(TWO).ainvoke({"query": "Capital of Peru, and 3 plus 4?"})
    assert [m.type for m in state["messages"]] == ["human", "ai"]
    assert state["messages"][0].content == "Capital of Peru, and 3 plus 4?"


async def test_no_question_is_a_clear_error():
    with pytest.raises(InvalidQueryError, match="No question given"):
        await _graph(TWO).ainvoke({"messages": [{"role": "assistant", "content": "Hi"}]})


async def test_a_follow_up_on_a_thread_is_planned_with_the_earlier_turn():
    one = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is the capital of France?", "depends_on": []}]})
    questions: list[str] = []
    graph = _graph(one, "not json", checkpointer=InMemorySaver(), questions=questions)
    config = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke({"messages": [("user", "What is the capital of France?")]}, config)
    state = await graph.ainvoke({"messages": [("user", "And what is its population?")]}, config)
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert state["planning"]["condensed"]["asked"] == "And what is its population?"
    assert state["query"] == "And what is its population?"  # the user's words, as typed
    assert "France" in state["standalone_query"] or "Paris" in state["standalone_query"]
    assert "its" not in questions[-1].split()  # the expert got the standalone question


