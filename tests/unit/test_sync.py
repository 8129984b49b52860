"""The blocking API (sync.py): invoke, batch and stream on the async graph; the sync SQLite saver."""

from __future__ import annotations

import sqlite3

from langgraph.checkpoint.sqlite import SqliteSaver

from tests.unit.test_generate_subqueries import TWO, _graph


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


