"""The LangGraph internals `comp_llm_graph._langgraph` relies on are still there and still mean it.

If one of these fails after upgrading LangGraph, resuming a start-as-ready run from a checkpoint
would re-run or lose finished sub-queries: fix `_langgraph.py` before anything else.
"""

from __future__ import annotations

import operator
from typing import Annotated

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from comp_llm_graph import _langgraph


class _State(TypedDict, total=False):
    items: Annotated[list[str], operator.add]
    seen: Annotated[list[list[str]], operator.add]


def test_private_constants_still_import():
    """The private names are importable and are the strings LangGraph puts in a task's config."""
    from langgraph._internal import _constants

    for name in ("CONFIG_KEY_CHECKPOINTER", "CONFIG_KEY_CHECKPOINT_NS",
                 "CONFIG_KEY_CHECKPOINT_MAP", "NS_SEP"):
        assert isinstance(getattr(_constants, name), str), name


async def test_a_resumed_step_reads_what_its_finished_branches_saved():
    """Branch `a` finishes and is saved, branch `b` fails; on resume only `b` runs and sees `a`."""
    attempts: list[str] = []

    async def branch(payload: dict, config) -> dict:
        attempts.append(payload["name"])
        if payload["name"] == "b" and attempts.count("b") == 1:
            raise RuntimeError("first attempt of b fails")
        saved = await _langgraph.step_pending_writes(config, "items")
        return {"items": [payload["name"]], "seen": [sorted(x for v in saved for x in v)]}

    builder = StateGraph(_State)
    builder.add_node("branch", branch)
    builder.add_conditional_edges(START, lambda _: [Send("branch", {"name": n}) for n in "ab"],
                                  ["branch"])
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    try:
        await graph.ainvoke({}, config)
    except RuntimeError:
        pass
    state = await graph.ainvoke(None, config)
    assert attempts == ["a", "b", "b"]
    assert sorted(state["items"]) == ["a", "b"]
    assert ["a"] in state["seen"]  # the resumed b read a's saved write


async def test_no_checkpointer_means_nothing_saved():
    assert await _langgraph.step_pending_writes({"configurable": {}}, "items") == []
    assert await _langgraph.step_pending_writes(None, "items") == []


def test_recast_gives_the_compiled_graph_the_subclass_and_nothing_else():
    import pytest

    from comp_llm_graph._langgraph import recast
    from comp_llm_graph.sync import CompLLMGraph
    from tests.unit.test_graph import TWO_INDEPENDENT, graph_with

    graph = graph_with([TWO_INDEPENDENT])
    assert type(graph) is CompLLMGraph and recast(graph, CompLLMGraph) is graph
    with pytest.raises(TypeError, match="does not extend"):
        recast(graph, dict)


async def test_ainvoke_and_abatch_run_through_astream():
    """`CompLLMGraph` overrides only `astream`; every async entry point must pass through it."""
    from langgraph.graph.state import CompiledStateGraph

    from comp_llm_graph._langgraph import recast

    class Counting(CompiledStateGraph):
        runs = 0

        async def astream(self, *args, **kwargs):
            type(self).runs += 1
            async for chunk in super().astream(*args, **kwargs):
                yield chunk

    builder = StateGraph(_State)
    builder.add_node("one", lambda state: {"items": ["a"]})
    builder.add_edge(START, "one")
    graph = recast(builder.compile(), Counting)
    assert (await graph.ainvoke({"items": []}))["items"] == ["a"]
    assert Counting.runs == 1
    await graph.abatch([{"items": []}, {"items": []}])
    assert Counting.runs == 3
