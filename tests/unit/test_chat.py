"""Chat input and output, threads, sync entry points and progress events (fakes)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from comp_llm_graph import Context, build_graph
from comp_llm_graph.errors import InvalidQueryError
from comp_llm_graph.planning.conversation import standalone
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


def test_standalone_questions_from_the_previous_turn():
    paris = ("What is the capital of France?", "The capital of France is Paris.")
    assert standalone("And what is its population?", paris).question == (
        "What is Paris's population?")
    assert standalone("When was he born?", ("Who wrote Hamlet?", "William Shakespeare wrote "
                                            "Hamlet.")).question == "When was William Shakespeare born?"
    assert standalone("What is its capital?", ("Tell me about France.", "A country.")
                      ).question == "What is France's capital?"
    unchanged = standalone("What is the capital of Spain?", paris)
    assert (unchanged.question, unchanged.referent) == ("What is the capital of Spain?", None)
    assert standalone("What is it?", None).referent is None


def test_sync_invoke_batch_and_stream():
    graph = _graph(TWO, TWO, TWO, TWO)
    state = graph.invoke({"messages": [("user", "Capital of Peru, and 3 plus 4?")]})
    assert state["messages"][-1].content == state["final_answer"]
    assert [s["final_answer"] for s in graph.batch([{"query": "A?"}, {"query": "B?"}])]
    nodes = [next(iter(chunk)) for chunk in graph.stream({"query": "C?"}, stream_mode="updates")]
    assert nodes[0] == "generate_subqueries" and nodes[-1] == "aggregate"


def test_the_sync_sqlite_saver_keeps_a_thread(tmp_path):
    saver = SqliteSaver(sqlite3.connect(tmp_path / "runs.db", check_same_thread=False))
    graph = _graph(TWO, TWO, checkpointer=saver)
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"query": "Capital of Peru, and 3 plus 4?"}, config)
    graph.invoke({"query": "Again: capital of Peru, and 3 plus 4?"}, config)
    assert len(graph.get_state(config).values["messages"]) == 4


async def test_progress_events_in_the_custom_stream():
    events = [chunk async for chunk in _graph(TWO).astream(
        {"query": "Capital of Peru, and 3 plus 4?"}, context=Context(schedule="waves"),
        stream_mode="custom")]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "aggregation"
    assert [p["id"] for p in events[0]["plan"]] == ["q1", "q2"]
    finished = {e["id"]: e for e in events if e["event"] == "subquery_finished"}
    assert set(finished) == {"q1", "q2"} and all(e["error"] is None for e in finished.values())
    assert kinds.count("subquery_started") == 2


async def test_runs_are_named_by_stage_and_experts_carry_their_sub_query():
    starts: dict[str, dict] = {}
    async for event in _graph(TWO).astream_events(
            {"query": "Capital of Peru, and 3 plus 4?"}, context=Context(aggregate="llm"),
            version="v2"):
        if event["event"].endswith("_start"):
            starts.setdefault(event["name"], event)
    assert {"planner", "route", "expert:geography", "expert:math", "aggregator"} <= set(starts)
    assert starts["expert:math"]["metadata"]["subquery_id"] == "q2"
    assert "nostream" in starts["planner"]["tags"]


def test_follow_up_sets_resolve_to_the_right_kind_and_never_to_a_number():
    """The conversations of `tests/data/followups*.json` (`benchmarks/followups.py`)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "followups.py"
    spec = importlib.util.spec_from_file_location("followups", path)
    followups = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(followups)
    totals = [followups.rates(name) for name in followups.SETS]
    right, total = sum(t[0] for t in totals), sum(t[1] for t in totals)
    assert total >= 30 and right / total >= 0.9, [t[3] for t in totals]
    assert sum(t[2] for t in totals) == 0  # no number, date or code taken for an entity


@pytest.mark.parametrize(("history", "follow_up", "expected"), [
    (("Who was the first person to walk on the Moon?",
      "Neil Armstrong was the first person to walk on the Moon, during Apollo 11 in 1969."),
     "When was he born?", "When was Neil Armstrong born?"),
    (("How many stars are in the Milky Way?", "About 10 billion."), "What is its diameter?",
     "What is Milky Way's diameter?"),
    (("Who founded Microsoft?", "Bill Gates and Paul Allen founded Microsoft in 1975."),
     "When did he step down?", "When did he step down?"),  # two men: left as asked
])
def test_a_follow_up_takes_an_entity_of_the_kind_its_word_needs(history, follow_up, expected):
    assert standalone(follow_up, history).question == expected
