"""Sub-query generator: a turn becomes a routed plan of sub-queries.

The node reads the turn (`planning.conversation`: a follow-up made standalone, the user's words
kept), separates the query's material from its questions (`planning.query_parts`), gets the plan
(`planning.planner`: the parts the user enumerated, one expert's task whole, or the planner's
validated and repaired plan) and routes it in one batch (`ExpertRegistry.aroute`). In
`mode="comp"` with the ready schedule, `planning.early_starts` reads the planner's tokens as they
stream and starts each sub-query already written. `monolithic` runs the query as one sub-query
on the fallback expert; `react` plans nothing up front (the `decide` node asks one at a time).
`state["planning"]` records how the plan came about.
"""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from comp_llm_graph.answers.text import text_of
from comp_llm_graph.context import Context
from comp_llm_graph.errors import CompLLMError, InvalidQueryError, validate_query
from comp_llm_graph.events import emit, plan_view
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.models import run_model
from comp_llm_graph.nodes.execute import run_expert
from comp_llm_graph.planning.conversation import (
    Standalone,
    last_question,
    previous_turn,
    standalone,
)
from comp_llm_graph.planning.early_starts import EARLY_STARTS
from comp_llm_graph.planning.planner import planned_sub_queries
from comp_llm_graph.planning.query_parts import separate, share_context
from comp_llm_graph.state import Planning, State, SubQuery

__all__ = ["make_generate_subqueries"]


def make_generate_subqueries(planner: Runnable, registry: ExpertRegistry,
                             demonstrations: Any = None, *, baselines: bool = True):
    """Build the `generate_subqueries` node around a planner chat model and a registry.

    `demonstrations`: a `PlanDemonstrations` bank for the planner's examples (or None);
    `baselines`: the graph has the react baseline's `decide` node (else `mode="react"` is
    refused), as `graph.builder(baselines=...)` says.
    """

    async def generate_subqueries(state: State, config: RunnableConfig,
                                  runtime: Runtime[Context]) -> dict[str, Any]:
        context = runtime.context or Context()
        started = time.time()
        turn, new_messages = _turn(state)
        model = run_model(context.planner_model, "planner", planner)
        run_model(context.aggregator_model, "aggregator", None)  # a bad name fails now, not last
        query, instructions = turn.question, _instructions(state)

        if context.mode == "react" and not baselines:
            raise CompLLMError(
                "mode='react' runs the react baseline, which this graph was built without: "
                "build_graph(..., baselines=True), or in LangGraph Studio the "
                "`comp_llm_baselines` graph.")
        if context.mode == "react":  # no plan up front: the `decide` step picks each sub-query
            return _update(turn, context, started, [], Planning(status="react", attempts=[]),
                           messages=new_messages, instructions=instructions)

        if context.mode == "monolithic":
            plan = [SubQuery(id="q1", question=query, depends_on=[], expert=registry.fallback,
                             score=0.0, candidates=[], routed_by="mode")]
            return _update(turn, context, started, plan,
                           Planning(status="monolithic", attempts=[]), messages=new_messages,
                           instructions=instructions)

        token = uuid.uuid4().hex
        parts = separate(query)
        watcher = None
        if (context.mode == "comp" and context.schedule == "ready" and not parts.parts
                and not context.review_plan):  # nothing runs before the reviewer approves
            watcher = EARLY_STARTS.watcher(
                token, registry, functools.partial(run_expert, shared=parts.context,
                                                   instructions=instructions,
                                                   policy=context.policy("expert")),
                max_subqueries=context.max_subqueries,
                max_concurrency=_early_limit(context, config), shared=bool(parts.context))
        try:
            planned, planning = await planned_sub_queries(model, parts, context, watcher,
                                                          demonstrations)
            routes = await registry.aroute([p.question for p in planned])
        except BaseException:
            EARLY_STARTS.cancel(token)
            raise
        plan = [p.routed(r) for p, r in zip(planned, routes, strict=True)]
        for sub, part in zip(plan, parts.parts, strict=False):
            sub["label"] = part.label
        share_context(plan, parts.context)
        if watcher is not None:
            try:
                planning["early_started"] = await EARLY_STARTS.settle(token, plan)
            except BaseException:
                EARLY_STARTS.cancel(token)
                raise
        return _update(turn, context, started, plan, planning, token, parts.context,
                       new_messages, instructions)

    return generate_subqueries


def _early_limit(context: Context, config: RunnableConfig) -> int | None:
    """Sub-queries that may run at once while the planner writes.

    The run's limit (`Context.max_concurrency`) and LangGraph's own limit on tasks at once (the
    config's `max_concurrency`), whichever is lower: early starts run inside the planner's task,
    where LangGraph's limit cannot see them.
    """
    limits = [n for n in (context.max_concurrency, config.get("max_concurrency")) if n]
    return min(limits) if limits else None


def _instructions(state: State) -> str:
    """The conversation's system messages, for the experts and the aggregator.

    A system message ("Answer briefly.") is meant for whoever writes the answer: here every
    expert and the aggregator, whose own prompts come first.
    """
    return "\n".join(text_of(m).strip() for m in state.get("messages") or []
                     if m.type == "system" and text_of(m).strip())


def _turn(state: State) -> tuple[Standalone, list[BaseMessage]]:
    """This turn's question (standalone), and the human message to append for a `query`.

    A new human message at the end of `messages` is the turn; otherwise `query` is (on a
    thread, `query` still holds the previous turn's question until a new one replaces it).
    """
    messages = list(state.get("messages") or [])
    asked = last_question(messages)
    appended: list[BaseMessage] = []
    if asked is None:
        if "query" not in state:
            raise InvalidQueryError(
                "No question given: pass {'query': '...'} or {'messages': [...]} ending with "
                "the user's message.")
        asked = validate_query(state["query"])
        appended = [HumanMessage(asked)]
        messages += appended
    turn = standalone(validate_query(asked), previous_turn(messages))
    validate_query(turn.question)  # the rewrite can make it longer
    return turn, appended


def _update(turn: Standalone, context: Context, started: float, plan: list[SubQuery],
            planning: Planning, token: str | None = None,
            shared_context: str = "", messages: list[BaseMessage] | None = None,
            instructions: str = "") -> dict[str, Any]:
    if turn.referent is not None:
        planning["condensed"] = {"asked": turn.asked, "referent": turn.referent}
    emit("plan", status=planning["status"], seconds=round(time.time() - started, 4),
         plan=plan_view(plan))
    return {
        # As message dicts, not messages: `add_messages` stores them as HumanMessages, and
        # `stream_mode="messages"` (which emits the BaseMessages a node returns) does not echo
        # the user's own question back to the chat.
        "messages": [{"role": "user", "content": text_of(m), "id": m.id or uuid.uuid4().hex}
                     for m in messages or []],
        "query": turn.asked,
        "standalone_query": turn.question,
        "mode": context.mode,
        "run_token": token or uuid.uuid4().hex,
        "react_finished": False,
        "schedule": context.schedule,
        "max_concurrency": context.max_concurrency,
        "review": context.review_plan,
        "run_started": started,
        "plan": plan,
        "planning": planning,
        "shared_context": shared_context,
        "instructions": instructions,
        # A new query on a thread with a checkpointer starts from empty results.
        "answers": Overwrite({}),
        "timings": Overwrite({"plan": round(time.time() - started, 4)}),
    }
