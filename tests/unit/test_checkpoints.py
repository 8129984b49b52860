"""Checkpointers named by URL, and the CLI's thread options (SQLite, fakes for the models)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from comp_llm_graph import build_graph
from comp_llm_graph.checkpoints import open_checkpointer
from comp_llm_graph.cli import app
from comp_llm_graph.errors import CompLLMError
from tests.fakes import fake_registry, planner

ONE = json.dumps({"subqueries": [{"id": "q1", "question": "What is 3 plus 4?"}]})


async def test_a_sqlite_url_keeps_a_thread_across_savers(tmp_path):
    url = f"sqlite:///{tmp_path}/runs/state.db"
    config = {"configurable": {"thread_id": "t"}}
    async with open_checkpointer(url) as saver:
        graph = build_graph(planner=planner(ONE), registry=fake_registry(),
                            aggregator=planner("FINAL"), checkpointer=saver)
        await graph.ainvoke({"query": "What is 3 plus 4?"}, config)
    async with open_checkpointer(url) as saver:  # as a new process would
        graph = build_graph(planner=planner(ONE), registry=fake_registry(),
                            aggregator=planner("FINAL"), checkpointer=saver)
        state = await graph.ainvoke({"query": "And 5 plus 6?"}, config)
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://db", "a checkpoint is one of memory, sqlite:///PATH, postgresql://..."),
    ("sqlite://relative.db", "write a SQLite checkpoint as sqlite:///path/to/file.db"),
    ("postgresql://nobody@127.0.0.1:1/none", "cannot use the PostgreSQL checkpoint at "
                                             "127.0.0.1:1/none"),
])
async def test_a_bad_checkpoint_url_says_what_is_accepted(url, message):
    with pytest.raises(CompLLMError, match=message):
        async with open_checkpointer(url):
            pass


@pytest.mark.parametrize(("args", "message"), [
    (["--thread", "t", "hi"], "--thread and --resume need --checkpoint"),
    (["--checkpoint", "memory", "--resume"], "give the thread and no QUERY"),
    (["--checkpoint", "memory", "--resume", "--thread", "t", "hi"], "give the thread and no"),
    ([], "give the question as QUERY"),
])
def test_thread_options_are_checked(args, message):
    result = CliRunner().invoke(app, ["ask", *args])
    assert result.exit_code == 2 and message in result.output
