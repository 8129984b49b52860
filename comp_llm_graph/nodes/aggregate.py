"""Response aggregator: the final answer from the query and the sub-answers, no part dropped.

How the answer is written (`Context.aggregate`): an LLM synthesises it (`llm`), or the answers
of the plan's end points are composed as labelled lines (`compose`, no model call; `auto` does
this when every sub-query is independent, since each answer is then one piece of the query and
an LLM rewrite can only drop or distort pieces: docs/planning.md). A plan of one sub-query
that is the whole query needs no aggregation: its answer is the final answer.

Whatever wrote it, every end point is then checked in the final answer (`coverage.py`); one the
aggregator left out is appended, labelled, and a failed one is named. `state["aggregation"]`
records the method, the end points checked, those added and those that failed. If the
aggregator fails or returns nothing, the composed answer is used and the reason recorded.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from langgraph.runtime import Runtime

from comp_llm_graph.answers.coverage import answered, asked_parts, label_part, missing_parts
from comp_llm_graph.answers.text import answer_block, output_tokens, text_of, without_scaffolding
from comp_llm_graph.context import Context
from comp_llm_graph.errors import ExpertOutputError
from comp_llm_graph.events import emit
from comp_llm_graph.faults import CallPolicy, call_with_policy, describe
from comp_llm_graph.models import run_model
from comp_llm_graph.prompts import AGGREGATOR_USER_PROMPT
from comp_llm_graph.state import Aggregation, Planning, State, SubAnswer, SubQuery

__all__ = ["compose", "format_answers", "make_aggregate"]


def format_answers(plan_ids: list[str], answers: dict[str, SubAnswer]) -> str:
    """Sub-answers in plan order, each delimited by its id and question."""
    return "\n".join(answer_block(answers[i]) for i in plan_ids if i in answers)


def compose(plan: list[SubQuery], answers: dict[str, SubAnswer]) -> str:
    """The parts asked (`asked_parts`) as labelled lines, in plan order; failed ones named.

    One part that answered: its answer alone.
    """
    sinks = [sub for sub in plan if sub["id"] in set(asked_parts(plan))]
    if len(sinks) == 1 and (answers.get(sinks[0]["id"]) or {}).get("answer", "").strip():
        return answers[sinks[0]["id"]]["answer"].strip()
    return "\n".join(label_part(sub, answers.get(sub["id"]), sub.get("label")) for sub in sinks)


def _complete(final: str, plan: list[SubQuery], answers: dict[str, SubAnswer],
              aggregation: Aggregation) -> str:
    """Check every end point in `final`; append the missing and the failed ones, labelled."""
    by_id = {sub["id"]: sub for sub in plan}
    checked = asked_parts(plan)
    failed = [i for i in checked if not answered(answers, i)]
    errors = [sub["id"] for sub in plan if (answers.get(sub["id"]) or {}).get("error")]
    missing = missing_parts(plan, answers, final)
    added = [i for i in missing if i not in failed]
    if missing:
        lines = [label_part(by_id[i], answers.get(i), by_id[i].get("label"))
                 for i in checked if i in missing]
        final = (final.rstrip() + "\n\n" if final.strip() else "") + "\n".join(lines)
    aggregation.update(checked=checked, added=added, failed=failed,
                       partial=bool(failed or errors))
    return final


def _unplanned(final: str, planning: Planning, aggregation: Aggregation, limit: int) -> str:
    """Name the enumerated parts past the sub-query limit in `final`; the run is then partial."""
    unplanned = planning.get("unplanned") or []
    if not unplanned:
        return final
    total = limit + len(unplanned)
    note = (f"Not answered ({total} parts asked, at most {limit} sub-queries; raise "
            f"--max-subqueries or Context.max_subqueries to {total}):")
    aggregation.update(partial=True, unplanned=list(unplanned))
    return final.rstrip() + "\n\n" + "\n".join([note, *unplanned])


def _use_llm(context: Context, plan: list[SubQuery]) -> bool:
    """Whether the aggregator LLM writes the final answer.

    auto: when a part feeds another, unless the parts are the user's own (enumerated): then
    each is answered on its line, as asked.
    """
    if context.aggregate != "auto":
        return context.aggregate == "llm"
    return any(sub["depends_on"] for sub in plan) and not all(sub.get("label") for sub in plan)


def make_aggregate(aggregator: Runnable):
    """Build the `aggregate` node around an aggregator chat model."""

    async def aggregate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        context = runtime.context or Context()
        started = time.time()
        plan, answers = state["plan"], state.get("answers") or {}
        run_started = state.get("run_started", started)
        execute_seconds = round(started - run_started - state["timings"].get("plan", 0.0), 4)

        message_id = None  # the aggregator's streamed reply, when it writes the answer
        question = state.get("standalone_query") or state["query"]
        whole_query = plan[0]["question"] == question or state["mode"] == "monolithic"
        if len(plan) == 1 and whole_query:
            final = compose(plan, answers)
            aggregation = Aggregation(method="passthrough", reason=None)
        elif not _use_llm(context, plan):
            final = compose(plan, answers)
            aggregation = Aggregation(method="compose", reason=None)
        elif not any(answered(answers, sub["id"]) for sub in plan):
            final = compose(plan, answers)  # an LLM could only invent the answer
            aggregation = Aggregation(method="compose", reason="no sub-query was answered")
        else:
            model = run_model(context.aggregator_model, "aggregator", aggregator)
            final, aggregation, message_id = await _llm_answer(
                model, context, question, plan, answers, context.policy("aggregator"),
                state.get("instructions", ""))
        final = _complete(final, plan, answers, aggregation)
        final = _unplanned(final, state.get("planning") or {}, aggregation, len(plan))

        finished = time.time()
        emit("aggregation", method=aggregation["method"], added=aggregation.get("added", []),
             seconds=round(finished - started, 4))
        return {
            "messages": [_answer_message(final, plan, answers, aggregation, message_id)],
            "final_answer": final,
            "aggregation": aggregation,
            "timings": {
                "execute": execute_seconds,
                "aggregate": round(finished - started, 4),
                "total": round(finished - run_started, 4),
            },
        }

    return aggregate


def _answer_message(final: str, plan: list[SubQuery], answers: dict[str, SubAnswer],
                    aggregation: Aggregation, message_id: str | None) -> AIMessage:
    """The final answer as the chat turn's reply; the plan and sub-answers in its metadata.

    It carries the id of the aggregator's streamed reply when there is one, as LangGraph's own
    agents do: a chat UI then shows one answer (the streamed chunks, then this message in the
    state, which replaces them and adds any part the aggregator left out).
    """
    parts = [{"id": sub["id"], "question": answers.get(sub["id"], sub)["question"],
              "expert": sub["expert"], "depends_on": sub["depends_on"],
              "answer": answers[sub["id"]]["answer"] if sub["id"] in answers else None,
              "error": answers[sub["id"]]["error"] if sub["id"] in answers else "not run"}
             for sub in plan]
    return AIMessage(content=final, name="comp_llm", id=message_id or f"comp_llm-{uuid.uuid4()}",
                     response_metadata={"comp_llm": {"plan": parts,
                                                     "aggregation": dict(aggregation)}})


async def _llm_answer(aggregator: Runnable, context: Context, query: str,
                      plan: list[SubQuery], answers: dict[str, SubAnswer],
                      policy: CallPolicy, instructions: str = ""
                      ) -> tuple[str, Aggregation, str | None]:
    """The aggregator's answer, or the composed one (with the reason) when it fails.

    Also the id of the aggregator's message (None when it failed), which the turn's reply keeps.
    `instructions`: the conversation's system messages, after the aggregator's own prompt.
    """
    system = context.aggregator_prompt + (f"\n\n{instructions}" if instructions else "")
    messages = [
        SystemMessage(system),
        HumanMessage(AGGREGATOR_USER_PROMPT.format(
            query=query, answers=format_answers([s["id"] for s in plan], answers))),
    ]
    reason: str | None = None
    final, tokens, message_id = "", None, None
    try:
        output = await call_with_policy(lambda: aggregator.ainvoke(
            messages, config={"run_name": "aggregator", "tags": ["comp_llm:aggregator"]}),
            policy)
        if not isinstance(output, (str, BaseMessage)):
            raise ExpertOutputError(f"it returned {type(output).__name__}, not a message")
        final = without_scaffolding(text_of(output), final_label=True)
        tokens = output_tokens(output)
        message_id = getattr(output, "id", None)
        if not final:
            reason = "the aggregator returned an empty answer"
    except Exception as exc:  # noqa: BLE001 - recorded and replaced by the composed answer
        reason = f"the aggregator failed: {describe(exc, policy)}"
    if reason is None:
        aggregation = Aggregation(method="llm", reason=None)
    else:
        final = compose(plan, answers)
        aggregation = Aggregation(method="fallback", reason=reason)
    if tokens is not None:
        aggregation["output_tokens"] = tokens
    return final, aggregation, message_id
