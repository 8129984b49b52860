"""The plan-act-observe baseline (`mode="react"`): each sub-query is chosen after the last answer.

This is the sequential agent loop the Comp-LLM design is measured against: the planner model
looks at the query and every answer so far and either asks the next sub-question or finishes;
the sub-question is routed and answered by an expert exactly as in `comp` mode, on the same code.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from langgraph.runtime import Runtime

from comp_llm_graph.answers.text import answer_block, text_of
from comp_llm_graph.context import Context
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.models import run_model
from comp_llm_graph.planning.plan import PlannedSubQuery, json_values
from comp_llm_graph.planning.planner import call_planner
from comp_llm_graph.prompts import REACT_GRAMMAR, REACT_SYSTEM_PROMPT, REACT_USER_PROMPT
from comp_llm_graph.state import PlanAttempt, State

__all__ = ["OBSERVATION_CHARS", "make_decide", "parse_decision"]

OBSERVATION_CHARS = 600
"""The most characters of each answer the planner sees as an observation: enough to decide
the next step, not a channel for an answer to rewrite the planner's instructions."""


def parse_decision(text: str) -> tuple[str | None, str | None]:
    """`(next question, None)`, `(None, None)` to finish, or `(None, problem)`."""
    for value in json_values(text)[0]:
        if not isinstance(value, dict):
            continue
        fields = {str(k).lower(): v for k, v in value.items()}
        action = str(fields.get("action", "")).strip().lower()
        question = str(fields.get("question") or "").strip()
        if action == "finish":
            return None, None
        if question:
            return question, None
    return None, "the decision is not JSON with an action (ask with a question, or finish)"


def make_decide(planner: Runnable, registry: ExpertRegistry):
    """Build the `decide` node: the next sub-query of the agent loop, or finish."""

    async def decide(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        context = runtime.context or Context()
        model = run_model(context.planner_model, "planner", planner)
        started = time.time()
        plan, answers = list(state["plan"]), state.get("answers") or {}
        observations = "".join(answer_block(answers[s["id"]], OBSERVATION_CHARS) + "\n"
                               for s in plan)
        messages = [
            SystemMessage(REACT_SYSTEM_PROMPT),
            HumanMessage(REACT_USER_PROMPT.format(
                query=state.get("standalone_query") or state["query"],
                observations=f"Answers so far:\n{observations}\n" if plan else "")),
        ]
        kwargs = {"grammar": REACT_GRAMMAR} if getattr(model, "supports_grammar", False) else {}
        output, failure = await call_planner(model, messages, context.policy("planner"),
                                             **kwargs)
        raw = "" if output is None else text_of(output)
        question, problem = (None, failure) if failure else parse_decision(raw)
        asked = {s["question"].strip().lower() for s in plan}
        repairs: list[str] = []
        if question is not None and question.strip().lower() in asked:
            repairs.append(f"finished: the planner asked {question!r} again")
            question = None
        if question is None and not plan:  # never finish without asking anything
            repairs.append("the planner finished before asking anything; asking the whole query")
            question = state.get("standalone_query") or state["query"]
        attempt = PlanAttempt(raw=raw, problems=[problem] if problem else [], repairs=repairs,
                              accepted=problem is None)
        planning = {**state["planning"], "attempts": [*state["planning"]["attempts"], attempt]}
        seconds = round(time.time() - started, 4)
        timings = {"plan": round(state["timings"].get("plan", 0.0) + seconds, 4)}
        if question is None or len(plan) >= context.max_subqueries:
            return {"react_finished": True, "planning": planning, "timings": timings}
        planned = PlannedSubQuery(id=f"q{len(plan) + 1}", question=question,
                                  depends_on=[s["id"] for s in plan])
        choice = (await registry.aroute([question]))[0]
        return {"plan": [*plan, planned.routed(choice)], "planning": planning,
                "timings": timings,
                "react_finished": len(plan) + 1 >= context.max_subqueries}

    return decide
