"""The Comp-LLM graph: sub-query generator -> executor branches -> response aggregator.

    START -> generate_subqueries --after_planning--> execute_subquery (a Send per sub-query)
          -> collect --dispatch--> ... -> aggregate -> END
    (with Context(review_plan=True): generate_subqueries -> review_plan --dispatch--> ...)

The nodes are in `nodes/`, beside the edge functions (`nodes/edges.py`). `dispatch` decides
after planning and after every round of branches: in the default `schedule="ready"` it sends
*every* sub-query of the plan in one step, before the answers it depends on exist; each branch
then waits inside `execute_subquery` for its inputs and a slot (`comp_llm_graph.scheduler`), so a
sub-query starts the moment its dependencies have answered instead of at the next LangGraph
super-step. `review_plan` pauses for a reviewer (`nodes/review.py`); `decide` is the react
baseline's planning step, built only with `baselines=True` (the Studio drawing shows the three
stages alone: `studio.py`). The rooms and their import order: docs/design.md.

`build_graph(planner=..., registry=..., aggregator=...)` wires the collaborators you pass in;
`builder(...)` returns the uncompiled `StateGraph`. `graph` is the same graph on the embedded
defaults, built on first access (`comp_llm_graph.studio` re-exports it for `langgraph.json`);
building it loads no model: the models and the routing index load on the first run.

What every graph of a process shares (process-wide, so concurrent runs share limits and models):

- `scheduler.SCHEDULER`: the branches of every run, their dependencies, slots and limits (the
  run's and each expert's `max_concurrency`), and expert latency estimates for priorities;
- `planning.early_starts.EARLY_STARTS`: sub-queries started while their planner still writes,
  until their branches take the answers;
- `runtimes.pool.MODEL_POOL`: loaded models within the memory budget (`COMP_LLM_MEMORY_BUDGET`),
  least recently used unloaded; `runtimes.pool.DEFAULTS` their batch size and threads;
- `models.run_model`'s cache: chat models named per run (`Context.planner_model`), one per name;
- `threads`: the thread ids with a run in progress (`ThreadBusyError` for a second one);
- `experts.math_worker.shared_worker()`: the bounded process that evaluates arithmetic and
  programs;
- `sync`: the background event loop that runs the blocking `invoke` / `stream`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable
from langgraph.graph import END, START, StateGraph

from comp_llm_graph._langgraph import recast
from comp_llm_graph.context import Context
from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.nodes import (
    after_planning,
    collect,
    dispatch,
    make_aggregate,
    make_decide,
    make_execute_subquery,
    make_generate_subqueries,
    make_review_plan,
)
from comp_llm_graph.state import InputState, OutputState, State
from comp_llm_graph.sync import CompLLMGraph, threaded_saver

__all__ = ["build_graph", "builder", "graph"]  # noqa: F822 - `graph` is built on first access


def builder(*, planner: Runnable, registry: ExpertRegistry, aggregator: Runnable,
            demonstrations: Any = None, baselines: bool = False) -> StateGraph:
    """The uncompiled graph, for callers that compile it themselves (e.g. with a checkpointer).

    `baselines`: also add the react baseline's `decide` node (`mode="react"`); without it the
    graph is the three stages only, and a react run is refused with a clear error.
    """
    graph = StateGraph(State, context_schema=Context, input_schema=InputState,
                       output_schema=OutputState)
    graph.add_node("generate_subqueries",
                   make_generate_subqueries(planner, registry, demonstrations,
                                            baselines=baselines))
    graph.add_node("review_plan", make_review_plan(registry))
    graph.add_node("execute_subquery", make_execute_subquery(registry))
    graph.add_node("collect", collect)
    graph.add_node("aggregate", make_aggregate(aggregator))
    graph.add_edge(START, "generate_subqueries")
    targets = ["execute_subquery", "aggregate"]
    if baselines:
        graph.add_node("decide", make_decide(planner, registry))
        targets.append("decide")
        graph.add_conditional_edges("decide", dispatch, targets)
    graph.add_conditional_edges("generate_subqueries", after_planning,
                                ["review_plan", *targets])
    graph.add_conditional_edges("review_plan", dispatch, targets)
    graph.add_edge("execute_subquery", "collect")
    graph.add_conditional_edges("collect", dispatch, targets)
    graph.add_edge("aggregate", END)
    return graph


def build_graph(
    *,
    planner: Runnable,
    aggregator: Runnable,
    registry: ExpertRegistry | None = None,
    experts: Mapping[str, Any] | None = None,
    registry_options: Mapping[str, Any] | None = None,
    checkpointer: Any = None,
    demonstrations: Any = None,
    baselines: bool = False,
    name: str = "comp_llm",
) -> Any:
    """Compile the Comp-LLM graph.

    Args:
        planner: Chat model (or any Runnable) that writes the plan: text, or structured output
            such as `model.with_structured_output(Plan)` (a `LlamaCppChatModel` with
            `plan_grammar=True` is constrained to valid plans).
        aggregator: Chat model that writes the final answer.
        registry: The experts and the routing index.
        experts: Experts as Python objects, `{name: chat model | runnable | tool}`: with a
            registry, they run its cards of those names; without one, they are the experts,
            each described by the tool, inline (`(object, description)`, or a dict with
            `runnable`, `description`, `examples`, `system_prompt`) or by the default pack's
            card of its name (`comp_llm_graph.experts.inline`).
        registry_options: For `experts` without a registry: `ExpertRegistry` arguments such
            as `embeddings`, `client` (a Chroma client) or `persist_directory`.
        checkpointer: Optional LangGraph checkpointer (each finished sub-query is saved).
        demonstrations: A `PlanDemonstrations` bank: the planner is shown the gold plans of
            the questions nearest each query instead of fixed examples (None: fixed examples).
        baselines: Also build the react baseline (`mode="react"`, a `decide` node).
        name: Name of the compiled graph.

    Returns:
        A compiled LangGraph graph (a Runnable): `await graph.ainvoke({"query": ...},
        context=Context(mode=...), config={"max_concurrency": 4})`, or `{"messages": [...]}`;
        `invoke`, `batch` and `stream` work too (`comp_llm_graph.sync`).

    Raises:
        ExpertCardError: neither `registry` nor `experts`, or an expert that cannot be used.
    """
    registry = _registry(registry, experts, registry_options or {})
    compiled = builder(planner=planner, registry=registry, aggregator=aggregator,
                       demonstrations=demonstrations, baselines=baselines).compile(
        checkpointer=threaded_saver(checkpointer), name=name)
    return recast(compiled, CompLLMGraph)  # the same object, with sync entry points (`sync.py`)


def _registry(registry: ExpertRegistry | None, experts: Mapping[str, Any] | None,
              options: Mapping[str, Any]) -> ExpertRegistry:
    """The registry given, with `experts` running its cards of those names, or one of them."""
    if registry is None:
        if not experts:
            raise ExpertCardError("build_graph needs experts: registry=ExpertRegistry(...) or "
                                  "experts={name: chat model | runnable | tool}.")
        return ExpertRegistry.from_experts(experts, **options)
    if experts:
        registry.use_experts(experts)
    return registry


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
