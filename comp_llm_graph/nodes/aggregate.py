"""Response aggregator: an LLM writes the final answer from the query and the sub-answers.

If the aggregator fails or returns nothing, a deterministic synthesis of the sub-answers is
returned and `state["aggregation"]` says so. A plan of one sub-query that is the whole query
needs no aggregation: its answer is the final answer.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from langgraph.runtime import Runtime

from comp_llm_graph.context import Context
from comp_llm_graph.nodes.common import answer_block, output_tokens, text_of
from comp_llm_graph.prompts import AGGREGATOR_USER_PROMPT
from comp_llm_graph.state import Aggregation, State, SubAnswer

__all__ = ["format_answers", "make_aggregate", "synthesise"]


def format_answers(plan_ids: list[str], answers: dict[str, SubAnswer]) -> str:
    """Sub-answers in plan order, each delimited by its id and question."""
    return "\n".join(answer_block(answers[i]) for i in plan_ids if i in answers)


def synthesise(plan: list[dict], answers: dict[str, SubAnswer]) -> str:
    """Deterministic final answer: the answers nothing else depends on, in plan order.

    Those are the end points of the plan: every other answer fed into one of them.
    """
    used = {dep for sub in plan for dep in sub["depends_on"]}
    sinks = [sub["id"] for sub in plan if sub["id"] not in used and sub["id"] in answers]
    parts = [answers[i]["answer"].strip() for i in sinks if answers[i]["answer"].strip()]
    if len(parts) == 1:
        return parts[0]
    if parts:
        return "\n".join(f"{answers[i]['question']}: {answers[i]['answer'].strip()}"
                         for i in sinks if answers[i]["answer"].strip())
    return "No expert produced an answer: " + "; ".join(
        f"{a['id']}: {a['error']}" for a in answers.values())


def make_aggregate(aggregator: Runnable):
    """Build the `aggregate` node around an aggregator chat model."""

    async def aggregate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        context = runtime.context or Context()
        started = time.time()
        plan, answers = state["plan"], state.get("answers") or {}
        run_started = state.get("run_started", started)
        execute_seconds = round(started - run_started - state["timings"].get("plan", 0.0), 4)

        whole_query = plan[0]["question"] == state["query"] or state["mode"] == "monolithic"
        if len(plan) == 1 and whole_query:
            answer = answers[plan[0]["id"]]
            final = answer["answer"] or synthesise(plan, answers)
            aggregation = Aggregation(method="passthrough", reason=None)
        else:
            messages = [
                SystemMessage(context.aggregator_prompt),
                HumanMessage(AGGREGATOR_USER_PROMPT.format(
                    query=state["query"],
                    answers=format_answers([s["id"] for s in plan], answers))),
            ]
            reason: str | None = None
            final = ""
            tokens: int | None = None
            try:
                output = await aggregator.ainvoke(messages)
                final = text_of(output).strip()
                tokens = output_tokens(output)
                if not final:
                    reason = "the aggregator returned an empty answer"
            except Exception as exc:  # noqa: BLE001 - recorded and replaced by the synthesis
                reason = f"the aggregator failed: {type(exc).__name__}: {exc}"
            if reason is None:
                aggregation = Aggregation(method="llm", reason=None)
            else:
                final = synthesise(plan, answers)
                aggregation = Aggregation(method="fallback", reason=reason)
            if tokens is not None:
                aggregation["output_tokens"] = tokens

        finished = time.time()
        return {
            "final_answer": final,
            "aggregation": aggregation,
            "timings": {
                "execute": execute_seconds,
                "aggregate": round(finished - started, 4),
                "total": round(finished - run_started, 4),
            },
        }

    return aggregate
