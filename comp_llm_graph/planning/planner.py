"""Asking the planner: its prompt, the call, validation, repair, one re-ask, the fallback.

`planned_sub_queries` is the planning step of a turn. Parts the user enumerated are the
sub-queries as written; a single question that is one expert's task runs whole; anything else is
the planner's plan (`make_plan`), validated and repaired (`plan.repair_plan`), asked once more
with the problems if it cannot be, and otherwise the query as one sub-query. `Planning` records
which of these happened. The prompt is the planner's instructions, demonstrations (the fixed ones
or the bank's nearest) as earlier turns, then the question, in the planner's plan format.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    SystemMessage,
)
from langchain_core.runnables import Runnable
from langchain_core.runnables.config import ensure_config, merge_configs
from langgraph.errors import GraphBubbleUp

from comp_llm_graph.answers.text import output_tokens
from comp_llm_graph.context import Context
from comp_llm_graph.errors import CompLLMError, PlanError
from comp_llm_graph.faults import CallPolicy, call_with_policy, describe
from comp_llm_graph.planning.demonstrations import DEFAULT_K
from comp_llm_graph.planning.plan import PlannedSubQuery, parse_plan, plan_lines, repair_plan
from comp_llm_graph.planning.plan_schema import plan_text
from comp_llm_graph.planning.query_parts import QueryParts, references, self_contained
from comp_llm_graph.prompts import (
    LINES_PLANNER_EXAMPLES,
    LINES_PLANNER_SYSTEM_PROMPT,
    LINES_REPLAN_PROMPT,
    PLANNER_EXAMPLES,
    PLANNER_SYSTEM_PROMPT,
    REPLAN_PROMPT,
)
from comp_llm_graph.state import PlanAttempt, Planning

__all__ = ["PLANNER_CONFIG", "call_planner", "make_plan", "plan_format", "planned_sub_queries",
           "planner_messages"]

PLANNER_CONFIG = {"run_name": "planner", "tags": ["nostream", "comp_llm:planner"]}
"""The planner's runs (the plan, the react loop's decisions): named, and kept out of
`stream_mode="messages"` (a plan is not a chat reply; the `custom` stream's `plan` event
carries it)."""


async def call_planner(planner: Any, messages: list[Any], policy: CallPolicy | None = None,
                       watcher: BaseCallbackHandler | None = None,
                       **kwargs: Any) -> tuple[Any, str | None]:
    """The planner's output, or None and why it failed (named run, kept out of the chat view).

    `policy`: its time limit (`Context.planner_timeout`). `watcher`: a callback handler that
    reads the tokens as they are written; the planner is called with `astream` then, so any
    chat model that streams (llama.cpp, an OpenAI-compatible server) streams to it, and one that
    does not gives its text at the end. An interrupt and this package's setup errors
    (`CompLLMError`: a model not installed, over the memory budget) are raised: they are
    LangGraph's to handle or say what to fix.
    """
    policy = policy or CallPolicy()
    if watcher is None:
        def call() -> Any:
            return planner.ainvoke(messages, config=PLANNER_CONFIG, **kwargs)
    else:
        # Added to the callbacks the call inherits (tracing, LangGraph's stream handlers), not
        # in their place.
        config = merge_configs(ensure_config(), {**PLANNER_CONFIG, "callbacks": [watcher]})

        async def call() -> Any:
            output = None
            async for chunk in planner.astream(messages, config=config, **kwargs):
                output = _joined(output, chunk)
            return output
    try:
        return await call_with_policy(call, policy), None
    except (GraphBubbleUp, CompLLMError):
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as the attempt's problem
        return None, f"the planner failed: {describe(exc, policy)}"



def _joined(output: Any, chunk: Any) -> Any:
    """The output streamed so far: text and message chunks add up.

    A structured output (a parser over a chat model) streams the whole value so far, so its last
    chunk is the value.
    """
    if isinstance(output, str) and isinstance(chunk, str) or (
            isinstance(output, BaseMessageChunk) and isinstance(chunk, BaseMessageChunk)):
        return output + chunk
    return chunk


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
    watcher: BaseCallbackHandler | None = None,
    demonstrations: Any = None,
) -> tuple[list[PlannedSubQuery], Planning]:
    """Ask the planner for a plan; validate, repair, re-ask once, or fall back to one sub-query.

    Args:
        planner: The planner chat model.
        query: The user's question.
        context: The run's settings.
        watcher: A callback handler that reads the first attempt's tokens as they stream
            (`early_starts.PlanWatcher`); the planner is then called with `astream`.
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
        output, failure = await call_planner(planner, messages, context.policy("planner"),
                                             watcher if attempt == 0 else None, **kwargs)
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


async def planned_sub_queries(planner: Runnable, parts: QueryParts, context: Context,
                              watcher: BaseCallbackHandler | None = None,
                              demonstrations: Any = None,
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
    return await make_plan(planner, parts.questions, context, watcher, demonstrations)


def _attempt(raw: str, problems: list[str], repairs: list[str], accepted: bool,
             tokens: int | None) -> PlanAttempt:
    attempt = PlanAttempt(raw=raw, problems=problems, repairs=repairs, accepted=accepted)
    if tokens is not None:
        attempt["output_tokens"] = tokens
    return attempt
