"""One run per thread (threads.py): in a process, and across processes on one SQLite file."""

from __future__ import annotations

import pytest


async def test_a_second_run_on_a_busy_thread_is_refused_and_history_is_kept():
    import asyncio

    from langchain_core.runnables import RunnableLambda
    from langgraph.checkpoint.memory import InMemorySaver

    from comp_llm_graph import build_graph
    from comp_llm_graph.errors import ThreadBusyError
    from tests.fakes import fake_registry, planner

    async def slow(payload):
        await asyncio.sleep(0.3)
        return "Lima"

    experts = {name: RunnableLambda(slow) for name in ("geography", "math", "history",
                                                       "generalist")}
    graph = build_graph(planner=planner('{"subqueries": [{"id": "q1", "question": "Peru?"}]}'),
                        registry=fake_registry(experts), aggregator=planner("FINAL"),
                        checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "shared"}}
    turns = [graph.ainvoke({"messages": [("user", f"Question {i}?")]}, config)
             for i in range(4)]
    results = await asyncio.gather(*turns, return_exceptions=True)
    refused = [r for r in results if isinstance(r, ThreadBusyError)]
    finished = [r for r in results if isinstance(r, dict)]
    assert len(finished) == 1 and len(refused) == 3
    assert "thread shared already has a run in progress" in str(refused[0])
    # the thread is free again: a next turn runs and the history holds both turns, whole
    state = await graph.ainvoke({"messages": [("user", "One more?")]}, config)
    assert len(state["messages"]) == 4


def test_a_second_process_on_a_busy_sqlite_thread_is_refused(tmp_path):
    import subprocess
    import sys

    from comp_llm_graph.errors import ThreadBusyError
    from comp_llm_graph.threads import file_lease

    database = tmp_path / "runs.db"
    holder = ("import sys, time; from comp_llm_graph.threads import file_lease\n"
              f"with file_lease({str(database)!r}, 't1'):\n"
              "    print('held', flush=True); time.sleep(30)\n")
    process = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        with pytest.raises(ThreadBusyError, match="thread t1 already has a run in progress"):
            with file_lease(database, "t1"):
                pass
        with file_lease(database, "t2"):  # another thread of the same checkpoint is free
            pass
    finally:
        process.kill()
        process.wait()
    with file_lease(database, "t1"):  # the lock went with the process
        pass
