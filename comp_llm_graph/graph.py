"""The Comp-LLM graph: generate_subqueries -> execute_subquery (a Send per sub-query) -> aggregate.

`build_graph(planner=..., registry=..., aggregator=...)` wires the collaborators you pass in;
`graph` is the same graph on the embedded defaults. Building it loads no model: the models and the
routing index load on the first run.
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

__all__ = ["build_graph", "builder", "default_components", "graph"]

PLANNER_MAX_NEW_TOKENS = 320
AGGREGATOR_MAX_NEW_TOKENS = 128


def builder(*, planner: Runnable, registry: ExpertRegistry, aggregator: Runnable) -> StateGraph:
    """The uncompiled graph, for callers that compile it themselves (e.g. with a checkpointer)."""
    graph = StateGraph(State, context_schema=Context, input_schema=InputState)
    graph.add_node("generate_subqueries", make_generate_subqueries(planner, registry))
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
    name: str = "comp_llm",
) -> Any:
    """Compile the Comp-LLM graph.

    Args:
        planner: Chat model that writes the plan (a `LocalChatModel` with `plan_grammar=True`
            is constrained to valid plans).
        registry: The experts and the routing index.
        aggregator: Chat model that writes the final answer.
        checkpointer: Optional LangGraph checkpointer (each finished sub-query is saved).
        name: Name of the compiled graph.

    Returns:
        A compiled LangGraph graph (a Runnable): `await graph.ainvoke({"query": ...},
        context=Context(mode=...), config={"max_concurrency": 4})`.
    """
    return builder(planner=planner, registry=registry, aggregator=aggregator).compile(
        checkpointer=checkpointer, name=name
    )


def default_components(
    *,
    expert_folders: tuple[str, ...] | list[str] = (),
    planner: Runnable | None = None,
    aggregator: Runnable | None = None,
    **registry_kwargs: Any,
) -> dict[str, Any]:
    """The embedded defaults: SmolLM2 planner (grammar-constrained) and aggregator, default pack.

    Args:
        expert_folders: Folders of expert cards added to (or replacing cards of) the default pack.
        planner: Chat model to plan with instead of SmolLM2, e.g.
            `openai_chat_model(base_url, model, max_tokens=PLANNER_MAX_NEW_TOKENS)`
            (`comp_llm_graph.openai_compat`).
        aggregator: Chat model to aggregate with instead of SmolLM2.
        **registry_kwargs: Passed on to `ExpertRegistry.from_folders`.
    """
    from comp_llm_graph.models import smollm2

    if planner is None:
        planner = smollm2(PLANNER_MAX_NEW_TOKENS, plan_grammar=True)
    if aggregator is None:
        aggregator = smollm2(AGGREGATOR_MAX_NEW_TOKENS)
    return {
        "planner": planner,
        "registry": ExpertRegistry.from_folders(expert_folders, **registry_kwargs),
        "aggregator": aggregator,
    }


graph = build_graph(**default_components())
"""The graph on the embedded defaults (what `langgraph.json` serves). Building it reads the card
files only; the models and the routing index load on the first run."""
