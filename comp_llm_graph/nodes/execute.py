"""Query executor: one `Send` branch per sub-query, as parallel as dependencies and limits allow.

`execute_subquery` is one branch: it waits for its inputs and a slot (`comp_llm_graph.scheduler`),
asks the sub-query's expert (or takes the answer of its early start) and writes its own result, so
a checkpointer saves every finished sub-query. `collect` joins a round of branches; the edge
`dispatch` (`nodes/edges.py`) decides what is sent.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, cast

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from comp_llm_graph.answers.text import (
    answer_block,
    one_line,
    output_tokens,
    text_of,
    without_scaffolding,
)
from comp_llm_graph.context import Context
from comp_llm_graph.errors import ExpertOutputError
from comp_llm_graph.events import emit
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.faults import CallPolicy, call_with_policy, describe
from comp_llm_graph.planning.anaphora import name_dependencies
from comp_llm_graph.planning.early_starts import EARLY_STARTS
from comp_llm_graph.planning.plan import references, substitute_references
from comp_llm_graph.scheduler import SCHEDULER
from comp_llm_graph.state import Branch, State, SubAnswer, SubQuery

__all__ = [
    "collect",
    "expert_answer",
    "expert_input",
    "make_execute_subquery",
    "short_answer",
]

CONTEXT_HEADER = "Answers to earlier sub-questions:\n"
SHARED_CONTEXT = "Context:\n<<<\n{context}\n>>>\n\n"
"""How the query's material is shown to an expert: delimited, before earlier answers."""
SHORT_ANSWER_CHARS = 200
MAX_ANSWER_CHARS = 20_000
"""Longest expert answer kept (about 5k tokens, past any `max_tokens` we send); the rest is cut
with a note in the answer."""


_ANSWER_LEAD = re.compile(r"^(?:the\s+)?(?:final\s+)?answer(?:\s+is\s*:?|\s*:)\s*",
                          re.IGNORECASE)


def short_answer(answer: str) -> str:
    """An answer as substituted into a dependent question: first line, at most 200 characters.

    A leading "The answer is:" is dropped ("Who led {q1}?" must not become "Who led The answer
    is: Austria.?"), and so is a final full stop.
    """
    first = answer.strip().splitlines()[0].strip() if answer.strip() else ""
    first = _ANSWER_LEAD.sub("", one_line(first)).strip()
    first = first[:-1] if first.endswith(".") and not first.endswith("..") else first
    if len(first) <= SHORT_ANSWER_CHARS:
        return first
    return first[:SHORT_ANSWER_CHARS].rstrip() + "..."


def expert_input(sub: SubQuery, dependencies: dict[str, SubAnswer],
                 shared: str = "") -> dict[str, str]:
    """The expert's input: the question with references substituted, and what it builds on.

    A dependency the text describes without referencing ("When was that director born?") gets
    its value written beside the description (`anaphora.name_dependencies`).

    That is the query's material (for a sub-query marked `context: shared`), then the answers
    of its dependencies.
    """
    unnamed = [dep for dep in dependencies if dep not in references(sub["question"])]
    question, _ = name_dependencies(sub["question"], unnamed)
    question = substitute_references(
        question, {dep: short_answer(a["answer"]) for dep, a in dependencies.items()}
    )
    context = ""
    if shared and sub.get("context") == "shared":
        context = SHARED_CONTEXT.format(context=shared)
    if dependencies:
        blocks = [answer_block(answer) for answer in dependencies.values()]
        context += CONTEXT_HEADER + "\n".join(blocks) + "\n\n"
    return {"question": question, "context": context}


def expert_answer(output: Any) -> tuple[str, int | None]:
    """The answer text of an expert's output: a message, a string, or `{"answer": ...}` of one.

    Raises:
        ExpertOutputError: anything else (`None`, another dict, a number...): stored as text
            it would pass a repr on to the dependants and the final answer as if it were an
            answer.
    """
    tokens = output_tokens(output)
    if isinstance(output, dict) and "answer" in output:
        output = output["answer"]
    if isinstance(output, str):
        return without_scaffolding(_bounded(output.strip())), tokens
    if isinstance(output, BaseMessage):
        return without_scaffolding(_bounded(text_of(output).strip())), tokens
    raise ExpertOutputError(
        f"the expert returned {type(output).__name__}, not text or a message (return a "
        "string, a message, or {'answer': text})")


def _bounded(answer: str) -> str:
    """An answer cut at `MAX_ANSWER_CHARS`, saying so.

    A server that ignores `max_tokens` must not carry megabytes into the state, the checkpoint
    and the dependants.
    """
    if len(answer) <= MAX_ANSWER_CHARS:
        return answer
    return (answer[:MAX_ANSWER_CHARS].rstrip()
            + f" [cut: the expert answered {len(answer):,} characters; kept the first "
              f"{MAX_ANSWER_CHARS:,} (MAX_ANSWER_CHARS)]")


def make_execute_subquery(registry: ExpertRegistry):
    """Build the `execute_subquery` node: wait for inputs and a slot, run one sub-query."""

    # The payload is typed as a plain mapping: annotated as `Branch`, LangGraph would add its
    # fields to the graph's state schema.
    async def execute_subquery(payload: dict[str, Any], config: RunnableConfig,
                               runtime: Runtime[Context]) -> dict[str, Any]:
        branch = cast(Branch, payload)
        sub = branch["sub_query"]
        token = branch.get("token") or ""
        # A kept early start answers in a slot of its own: awaited inside this branch's slot,
        # it could wait for the very slot this branch holds (an expert limited to one call).
        result = await _early_answer(token, sub["id"]) if branch.get("early") else None
        async with SCHEDULER.slot(
            token, sub,
            expert=(id(registry), sub["expert"]),
            expert_limit=registry.max_concurrency(sub["expert"]),
            known=branch["dependencies"],
            priority=(-branch.get("priority", 0.0), branch.get("index", 0)),
            max_concurrency=branch.get("max_concurrency"),
            config=config,
            invocation=runtime.control,
            acquire=result is None,
        ) as ticket:
            if result is None:
                result = await run_expert(registry, sub, ticket.dependencies,
                                          branch.get("shared_context", ""),
                                          (runtime.context or Context()).policy("expert"),
                                          branch.get("instructions", ""))
            ticket.finish(result)
        return {"answers": {sub["id"]: result}}

    return execute_subquery


async def _early_answer(token: str, sub_id: str) -> SubAnswer | None:
    """The answer of the sub-query's kept early start, if it ran (`planning/early_starts.py`)."""
    early = EARLY_STARTS.take(token, sub_id)
    if early is None:
        return None
    try:
        return await asyncio.shield(early)
    except asyncio.CancelledError:
        if not early.cancelled():  # this branch was cancelled, not the early start
            early.cancel()
            raise
        return None


async def run_expert(
    registry: ExpertRegistry, sub: SubQuery, dependencies: dict[str, SubAnswer],
    shared: str = "", policy: CallPolicy | None = None, instructions: str = "",
) -> SubAnswer:
    """Ask the sub-query's expert; a failure is recorded in the answer, not raised.

    A sub-query whose input failed is not asked at all: it is skipped, saying which input
    failed (its question would otherwise carry an empty substitution). `policy`: the run's
    time limit and retries for experts (`Context.policy("expert")`); the expert's card may
    set its own. `instructions`: the conversation's system messages, for the expert's prompt.
    """
    started = time.time()
    failed = [dep for dep, answer in dependencies.items() if answer.get("error")
              or not answer.get("answer", "").strip()]
    if failed:
        result = SubAnswer(id=sub["id"], question=sub["question"], expert=sub["expert"],
                           answer="", error=_skip_reason(failed, dependencies), skipped=True,
                           started_at=started, finished_at=started)
        emit("subquery_finished", id=sub["id"], expert=sub["expert"], seconds=0.0,
             error=result["error"], skipped=True, answer="")
        return result
    payload = expert_input(sub, dependencies, shared)
    if instructions:
        payload["instructions"] = instructions
    emit("subquery_started", id=sub["id"], expert=sub["expert"], question=payload["question"])
    policy = registry.call_policy(sub["expert"], policy or CallPolicy())
    error: str | None = None
    answer, tokens = "", None
    try:
        expert = registry.expert(sub["expert"])
        output = await call_with_policy(
            lambda: expert.ainvoke(payload, config=_expert_config(sub)), policy)
        answer, tokens = expert_answer(output)
    except GraphBubbleUp:  # an interrupt or a command for the parent graph: LangGraph's to handle
        raise
    except Exception as exc:  # noqa: BLE001 - recorded in the state and shown to the user
        error = describe(exc, policy)
    if not answer and error is None:
        error = "the expert returned an empty answer"
    result = SubAnswer(id=sub["id"], question=payload["question"], expert=sub["expert"],
                       answer=answer, error=error, started_at=started, finished_at=time.time())
    emit("subquery_finished", id=sub["id"], expert=sub["expert"],
         seconds=round(result["finished_at"] - started, 4), error=error, answer=answer)
    if tokens is not None:
        result["output_tokens"] = tokens
    return result


def _skip_reason(failed: list[str], dependencies: dict[str, SubAnswer]) -> str:
    """`skipped: q1 failed (TimeoutError: ...)`, or `q1 was skipped` for a skipped input."""
    parts = []
    for dep in failed:
        answer = dependencies[dep]
        if answer.get("skipped"):
            parts.append(f"{dep} was skipped")
        else:
            parts.append(f"{dep} failed ({answer.get('error') or 'no answer'})")
    return "skipped: its input " + "; ".join(parts)


def _expert_config(sub: SubQuery) -> RunnableConfig:
    """Name and tag the expert's run by its sub-query, for traces and streamed events.

    An early-started expert runs inside the planner node, so the node name alone does not say
    which sub-query (or that it is an expert) a streamed token belongs to. Tagged `nostream`:
    `stream_mode="messages"` is what a chat UI renders, and a sub-answer is not the reply (a
    UI that wants them has the `subquery_finished` events, with the answer, and the tokens in
    `astream_events` under these tags).
    """
    return {"run_name": f"expert:{sub['expert']}",
            "tags": ["nostream", "comp_llm:expert", f"subquery:{sub['id']}"],
            "metadata": {"subquery_id": sub["id"], "expert": sub["expert"]}}


async def collect(state: State, config: RunnableConfig) -> dict[str, Any]:
    """Join point after each round of branches; `dispatch` decides what runs next."""
    SCHEDULER.close(state.get("run_token"), config)
    return {}
