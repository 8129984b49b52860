"""The blocking API (sync.py): invoke, batch and stream on the async graph; the sync SQLite saver."""

from __future__ import annotations

import json
import sqlite3

from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.sqlite import SqliteSaver

from comp_llm_graph import build_graph
from tests.fakes import fake_registry, planner


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
