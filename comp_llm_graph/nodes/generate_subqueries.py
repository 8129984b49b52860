"""Sub-query generator: the planner LLM decomposes the query; each sub-query is routed to an expert.

First the query is separated (`comp_llm_graph.planning.query_parts`): material it carries (a
passage, documents, givens) is kept aside as `state["shared_context"]` and given to every
expert, and the planner sees only the questions. Parts the user already enumerated (`Part 1:`,
`2.`, bullets, "Also, ...") become the sub-queries as written, without a planner call (status
`enumerated`); a part naming an earlier one ("the answer to 1.") depends on it. A single
question that is one expert's task (a multiple-choice question, a word problem with its givens,
arithmetic alone) runs whole (status `whole`): a planner would split its options or strip its
givens.

The plan is validated before anything runs. A plan that fails is repaired where that is
unambiguous, or the planner is asked once more with the problems; if that fails too, the query runs
as a single sub-query. `state["planning"]` records which of these happened.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from comp_llm_graph.context import Context
from comp_llm_graph.errors import CompLLMError, InvalidQueryError, PlanError, validate_query
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.models import run_model
from comp_llm_graph.nodes.common import (
    call_planner,
    output_tokens,
    plan_view,
    route,
    routed_sub_query,
    share_context,
    text_of,
)
from comp_llm_graph.nodes.early_start import EARLY_STARTS
from comp_llm_graph.nodes.events import emit
from comp_llm_graph.nodes.execute import run_expert
from comp_llm_graph.planning.conversation import (
    Standalone,
    last_question,
    previous_turn,
    standalone,
)
from comp_llm_graph.planning.demonstrations import DEFAULT_K
from comp_llm_graph.planning.plan import PlannedSubQuery, parse_plan, plan_lines, repair_plan
from comp_llm_graph.planning.plan_schema import plan_text
from comp_llm_graph.planning.query_parts import QueryParts, references, self_contained, separate
from comp_llm_graph.prompts import (
    LINES_PLANNER_EXAMPLES,
    LINES_PLANNER_SYSTEM_PROMPT,
    LINES_REPLAN_PROMPT,
    PLANNER_EXAMPLES,
    PLANNER_SYSTEM_PROMPT,
    REPLAN_PROMPT,
)
from comp_llm_graph.state import PlanAttempt, Planning, State, SubQuery

__all__ = ["make_generate_subqueries", "make_plan", "plan_format", "planner_messages"]


def plan_format(planner: Runnable) -> str:
    """`lines` for a planner constrained to the line format, else `json` (any other model)."""
    if getattr(planner, "supports_plan_grammar", False):
        return getattr(planner, "plan_format", "json")
    return "json"


def planner_messages(query: str, context: Context, fmt: str = "json",
                     examples: list[tuple[str, str]] | None = None) -> list[BaseMessage]:
    """System prompt, few-shot examples as earlier turns (in the plan format), then the query.

    `examples`: (question, JSON plan) pairs to show instead of the fixed ones (retrieved
    demonstrations, `comp_llm_graph.planning.demonstrations`), rewritten in the line format for a
    planner that writes lines.
    """
    lines = fmt == "lines"
    prompt = context.planner_prompt or (LINES_PLANNER_SYSTEM_PROMPT if lines else
                                        PLANNER_SYSTEM_PROMPT)
    messages: list[BaseMessage] = [
        SystemMessage(prompt.format(max_subqueries=context.max_subqueries))
    ]
    if not examples:
        examples = LINES_PLANNER_EXAMPLES if lines else PLANNER_EXAMPLES
    elif lines:
        examples = [(question, plan_lines(plan)) for question, plan in examples]
    for question, plan in examples:
        messages += [HumanMessage(question), AIMessage(plan)]
    messages.append(HumanMessage(query))
    return messages


async def make_plan(
    planner: Runnable, query: str, context: Context,
    on_piece: Callable[[str], None] | None = None,
    demonstrations: Any = None,
) -> tuple[list[PlannedSubQuery], Planning]:
    """Ask the planner for a plan; validate, repair, re-ask once, or fall back to one sub-query.

    Args:
        planner: The planner chat model.
        query: The user's question.
        context: The run's settings.
        on_piece: Given each piece of the first attempt's text as it is generated, when the
            planner can report it (`supports_plan_pieces`).
        demonstrations: A `PlanDemonstrations` bank; its nearest plans are the examples (as
            many as the planner's `demonstration_count`, else the bank's default).

    Returns:
        The sub-queries (not yet routed) and the record of how they came about. A planner that
        raises is recorded as a failed attempt like an unreadable plan (asked once more, then
        the fallback), except for this package's setup errors (`CompLLMError`: a model not
        installed, over the memory budget), which say what to fix. Its output may be text, a
        `Plan`, a dict or a list (`plan_schema`).
    """
    kwargs = (
        {"max_subqueries": context.max_subqueries}
        if getattr(planner, "supports_plan_grammar", False) else {}
    )
    fmt = plan_format(planner)
    examples = None
    if demonstrations is not None:
        count = getattr(planner, "demonstration_count", None) or DEFAULT_K
        examples = await asyncio.to_thread(demonstrations.nearest, query, count)
    messages = planner_messages(query, context, fmt, examples)
    replan = LINES_REPLAN_PROMPT if fmt == "lines" else REPLAN_PROMPT
    attempts: list[PlanAttempt] = []
    for attempt in range(2):
        pieces = {"on_piece": on_piece} if on_piece is not None and attempt == 0 else {}
        output, failure = await call_planner(planner, messages, context.policy("planner"),
                                             **kwargs, **pieces)
        if failure is not None:  # recorded; asked again, then the fallback
            attempts.append(_attempt("", [failure], [], False, None))
            continue
        tokens = output_tokens(output)
        stopped = (getattr(output, "response_metadata", None) or {}).get("stop_reason")
        raw = ""
        try:
            raw = plan_text(output)
            parsed, notes = parse_plan(raw)
            notes = [stopped, *notes] if stopped else notes
            repaired = repair_plan(parsed, max_subqueries=context.max_subqueries)
        except PlanError as exc:
            attempts.append(_attempt(raw, exc.problems, [], False, tokens))
            if attempt == 0:
                messages = [*messages, AIMessage(raw), HumanMessage(replan.format(
                    problems="; ".join(exc.problems), max_subqueries=context.max_subqueries))]
            continue
        repairs = notes + repaired.repairs
        attempts.append(_attempt(raw, [], repairs, True, tokens))
        if len(attempts) > 1:
            status = "replanned"
        else:
            status = "repaired" if repairs else "valid"
        return repaired.sub_queries, Planning(status=status, attempts=attempts)
    fallback = [PlannedSubQuery(id="q1", question=query, depends_on=[])]
    return fallback, Planning(status="fallback", attempts=attempts)


async def _planned(planner: Runnable, parts: QueryParts, context: Context,
                   on_piece: Callable[[str], None] | None, demonstrations: Any,
                   ) -> tuple[list[PlannedSubQuery], Planning]:
    """The enumerated parts, the question whole if one expert's task, or the planner's plan.

    Enumerated parts past `max_subqueries` are not run but kept in `Planning.unplanned`, so the
    answer names them and the run is partial (a planner given them would drop some silently).
    """
    if parts.parts:
        planned = []
        for i, part in enumerate(parts.parts[:context.max_subqueries], start=1):
            question, needs = references(part.text, i)
            planned.append(PlannedSubQuery(id=f"q{i}", question=question, depends_on=needs))
        planning = Planning(status="enumerated", attempts=[])
        if len(parts.parts) > context.max_subqueries:
            planning["unplanned"] = [f"{p.label} {p.text}"
                                     for p in parts.parts[context.max_subqueries:]]
        return planned, planning
    if self_contained(parts.questions):
        return ([PlannedSubQuery(id="q1", question=" ".join(parts.questions.split()))],
                Planning(status="whole", attempts=[]))
    return await make_plan(planner, parts.questions, context, on_piece, demonstrations)


def _attempt(raw: str, problems: list[str], repairs: list[str], accepted: bool,
             tokens: int | None) -> PlanAttempt:
    attempt = PlanAttempt(raw=raw, problems=problems, repairs=repairs, accepted=accepted)
    if tokens is not None:
        attempt["output_tokens"] = tokens
    return attempt


def make_generate_subqueries(planner: Runnable, registry: ExpertRegistry,
                             demonstrations: Any = None, *, react: bool = True):
    """Build the `generate_subqueries` node around a planner chat model and a registry.

    `demonstrations`: a `PlanDemonstrations` bank for the planner's examples (or None);
    `react`: the graph has the react baseline's `decide` node (else `mode="react"` is refused).
    """

    async def generate_subqueries(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        context = runtime.context or Context()
        started = time.time()
        turn, new_messages = _turn(state)
        model = run_model(context.planner_model, "planner", planner)
        run_model(context.aggregator_model, "aggregator", None)  # a bad name fails now, not last
        query, instructions = turn.question, _instructions(state)

        if context.mode == "react" and not react:
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
        on_piece = None
        if (context.mode == "comp" and context.schedule == "ready" and not parts.parts
                and not context.review_plan  # nothing runs before the reviewer approves
                and getattr(model, "supports_plan_pieces", False)):
            on_piece = EARLY_STARTS.listener(
                token, registry, functools.partial(run_expert, shared=parts.context,
                                                   instructions=instructions,
                                                   policy=context.policy("expert")),
                max_subqueries=context.max_subqueries, max_concurrency=context.max_concurrency,
                shared=bool(parts.context))
        try:
            planned, planning = await _planned(model, parts, context, on_piece,
                                               demonstrations)
            routes = await route(registry, [p.question for p in planned])
        except BaseException:
            EARLY_STARTS.cancel(token)
            raise
        plan = [routed_sub_query(p, r) for p, r in zip(planned, routes, strict=True)]
        for sub, part in zip(plan, parts.parts, strict=False):
            sub["label"] = part.label
        share_context(plan, parts.context)
        if on_piece is not None:
            try:
                planning["early_started"] = await EARLY_STARTS.settle(token, plan)
            except BaseException:
                EARLY_STARTS.cancel(token)
                raise
        return _update(turn, context, started, plan, planning, token, parts.context,
                       new_messages, instructions)

    return generate_subqueries


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
