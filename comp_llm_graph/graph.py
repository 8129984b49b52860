"""The Comp-LLM graph: sub-query generator -> executor branches -> response aggregator.

    START -> generate_subqueries --dispatch--> execute_subquery (one Send per sub-query)
                                               -> collect --dispatch--> ... -> aggregate -> END

`dispatch` (`nodes/execute.py`) decides after planning and after every round of branches: in the
default `schedule="ready"` it sends *every* sub-query of the plan in one step, before the answers
it depends on exist; each branch then waits inside `execute_subquery` for its inputs and a slot
(`comp_llm_graph.scheduler`), so a sub-query starts the moment its dependencies have answered
instead of at the next LangGraph super-step. `decide` is the react baseline's planning step.

`build_graph(planner=..., registry=..., aggregator=...)` wires the collaborators you pass in;
`builder(...)` returns the uncompiled `StateGraph`. `graph` is the same graph on the embedded
defaults, built on first access (`comp_llm_graph.studio` re-exports it for `langgraph.json`);
building it loads no model: the models and the routing index load on the first run.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable
from langgraph.graph import END, START, StateGraph

from comp_llm_graph.context import Context
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.nodes import (
    collect,
    dispatch,
    make_aggregate,
    make_decide,
    make_execute_subquery,
    make_generate_subqueries,
)
from comp_llm_graph.state import InputState, State
from comp_llm_graph.sync import CompLLMGraph, threaded_saver

__all__ = ["build_graph", "builder", "graph"]  # noqa: F822 - `graph` is built on first access


def builder(*, planner: Runnable, registry: ExpertRegistry, aggregator: Runnable,
            demonstrations: Any = None) -> StateGraph:
    """The uncompiled graph, for callers that compile it themselves (e.g. with a checkpointer)."""
    graph = StateGraph(State, context_schema=Context, input_schema=InputState)
    graph.add_node("generate_subqueries",
                   make_generate_subqueries(planner, registry, demonstrations))
    graph.add_node("execute_subquery", make_execute_subquery(registry))
    graph.add_node("collect", collect)
    graph.add_node("decide", make_decide(planner, registry))
    graph.add_node("aggregate", make_aggregate(aggregator))
    graph.add_edge(START, "generate_subqueries")
    targets = ["execute_subquery", "decide", "aggregate"]
    graph.add_conditional_edges("generate_subqueries", dispatch, targets)
    graph.add_edge("execute_subquery", "collect")
    graph.add_conditional_edges("collect", dispatch, targets)
    graph.add_conditional_edges("decide", dispatch, targets)
    graph.add_edge("aggregate", END)
    return graph


def build_graph(
    *,
    planner: Runnable,
    registry: ExpertRegistry,
    aggregator: Runnable,
    checkpointer: Any = None,
    demonstrations: Any = None,
    name: str = "comp_llm",
) -> Any:
    """Compile the Comp-LLM graph.

    Args:
        planner: Chat model that writes the plan (a `LlamaCppChatModel` with `plan_grammar=True`
            is constrained to valid plans).
        registry: The experts and the routing index.
        aggregator: Chat model that writes the final answer.
        checkpointer: Optional LangGraph checkpointer (each finished sub-query is saved).
        demonstrations: A `PlanDemonstrations` bank: the planner is shown the gold plans of
            the questions nearest each query instead of fixed examples (None: fixed examples).
        name: Name of the compiled graph.

    Returns:
        A compiled LangGraph graph (a Runnable): `await graph.ainvoke({"query": ...},
        context=Context(mode=...), config={"max_concurrency": 4})`, or `{"messages": [...]}`;
        `invoke`, `batch` and `stream` work too (`comp_llm_graph.sync`).
    """
    compiled = builder(planner=planner, registry=registry, aggregator=aggregator,
                       demonstrations=demonstrations).compile(
        checkpointer=threaded_saver(checkpointer), name=name)
    compiled.__class__ = CompLLMGraph  # the same object, with sync entry points (`sync.py`)
    return compiled


_default_graph: Any = None


def __getattr__(name: str) -> Any:
    """`graph`: the graph on the embedded defaults, built on first access (reads the cards)."""
    global _default_graph
    if name != "graph":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _default_graph is None:
        from comp_llm_graph.defaults import default_components

        _default_graph = build_graph(**default_components())
    return _default_graph
