"""Plan review: the run pauses with the plan (`interrupt`) until a reviewer approves or edits it.

With `Context(review_plan=True)` the graph goes from the sub-query generator to `review_plan`
instead of the executor. The node calls LangGraph's `interrupt()` with the query and the plan;
the caller resumes with `Command(resume=...)`:

- `True` (or `"approve"`): run the plan as it is (LangGraph does not take `resume=None` as an
  answer);
- an edited plan, in any form a planner may return (`comp_llm_graph.planning.plan_schema`): a list
  of sub-queries (dicts with `id`, `question`, `depends_on`, optionally `expert`), a dict with
  `subqueries`, a `Plan`, or the line format. It is validated and repaired exactly like the
  planner's; each sub-query keeps the expert the reviewer names, else its routing when its
  question is unchanged, else it is routed again.

An edit that fails validation is not run and not dropped: the node interrupts again with the
problems, and the reviewer answers again (LangGraph matches each resume value to its interrupt).
Unlike a planner's output, an edit is never cut or salvaged: one over `MAX_PLAN_CHARS`, not
complete JSON, or with a question over `MAX_QUERY_CHARS` is refused that way.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from comp_llm_graph._langgraph import has_checkpointer
from comp_llm_graph.context import Context
from comp_llm_graph.errors import MAX_QUERY_CHARS, CompLLMError, PlanError
from comp_llm_graph.events import PLAN_VIEW, emit, plan_view
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.planning.plan import MAX_PLAN_CHARS, PlannedSubQuery, parse_plan, repair_plan
from comp_llm_graph.planning.plan_schema import plan_text
from comp_llm_graph.planning.query_parts import share_context
from comp_llm_graph.state import Review, State, SubQuery

__all__ = ["APPROVE", "make_review_plan", "review_request"]

APPROVE = (None, True, "approve", "ok", "yes", "y")
"""Resume values that run the plan as it is."""


def review_request(state: State, problems: list[str] | None = None) -> dict[str, Any]:
    """What the interrupt shows the reviewer: the query, the plan, and what was wrong before."""
    request: dict[str, Any] = {
        "kind": "plan_review",
        "query": state.get("standalone_query") or state["query"],
        "plan": plan_view(state["plan"], (*PLAN_VIEW, "score", "routed_by")),
        "resume_with": "true to run this plan, or the edited plan (a list of sub-queries with "
                       "id, question, depends_on and optionally expert)",
    }
    if problems:
        request["problems"] = problems
    return request


def make_review_plan(registry: ExpertRegistry):
    """Build the `review_plan` node around the registry that routes edited sub-queries."""

    async def review_plan(state: State, runtime: Runtime[Context],
                          config: RunnableConfig) -> dict[str, Any]:
        if not has_checkpointer(config):
            raise CompLLMError(
                "review_plan pauses the run until it is resumed, which needs a checkpointer: "
                "build_graph(..., checkpointer=InMemorySaver()) (LangGraph Server has one).")
        context = runtime.context or Context()
        rejected: list[list[str]] = []
        while True:
            answer = interrupt(review_request(state, rejected[-1] if rejected else None))
            if _approves(answer):
                plan, repairs = state["plan"], []
                break
            try:
                plan, repairs = await _edited(answer, state, registry, context.max_subqueries)
                break
            except PlanError as exc:
                rejected.append(exc.problems)
        edited = plan_view(plan) != plan_view(state["plan"])
        planned_at = state.get("run_started", time.time()) + state["timings"].get("plan", 0.0)
        review = Review(edited=edited, repairs=repairs, rejected=rejected,
                        seconds=round(time.time() - planned_at, 4))
        emit("plan_reviewed", edited=edited, plan=plan_view(plan))
        return {"plan": plan, "planning": {**state["planning"], "reviewed": review},
                "timings": {"review": review["seconds"]}}

    return review_plan


def _approves(answer: Any) -> bool:
    if isinstance(answer, str):
        return answer.strip().lower() in {a for a in APPROVE if isinstance(a, str)}
    if isinstance(answer, dict) and set(answer) <= {"action"}:
        return str(answer.get("action", "approve")).lower() == "approve"
    return answer is None or answer is True


async def _edited(answer: Any, state: State, registry: ExpertRegistry,
                  max_subqueries: int) -> tuple[list[SubQuery], list[str]]:
    """The reviewer's plan, validated, repaired and routed; `PlanError` when it is not valid.

    The edit may name an expert per sub-query; an unchanged question keeps its routing (and the
    label of the part it came from); any other is routed again. Every sub-query gets the
    query's material when the query carries some.
    """
    text = plan_text(answer)
    if len(text) > MAX_PLAN_CHARS:  # a planner's output is cut there; a reviewer's is refused
        raise PlanError([f"the edited plan has {len(text):,} characters, more than "
                         f"{MAX_PLAN_CHARS:,} (MAX_PLAN_CHARS); shorten its questions"])
    parsed, notes = parse_plan(text)
    salvaged = [note for note in notes if "salvaged" in note]
    if salvaged:
        raise PlanError([f"the edited plan is not complete JSON ({salvaged[0]}); nothing of "
                         "it was run"])
    long = [p.id for p in parsed if len(p.question) > MAX_QUERY_CHARS]
    if long:
        raise PlanError([f"{', '.join(long)}: a question has more than {MAX_QUERY_CHARS:,} "
                         "characters (MAX_QUERY_CHARS)"])
    repaired = repair_plan(parsed, max_subqueries=max_subqueries)
    unknown = sorted({p.expert for p in repaired.sub_queries
                      if p.expert and p.expert not in registry.cards})
    if unknown:
        raise PlanError([f"unknown expert(s) {', '.join(unknown)}; the experts are "
                         f"{', '.join(registry.names)}"])
    before = {sub["question"].strip(): sub for sub in state["plan"]}
    to_route = [p for p in repaired.sub_queries
                if not p.expert and p.question.strip() not in before]
    routes = dict(zip([p.id for p in to_route],
                      await registry.aroute([p.question for p in to_route]) if to_route else [],
                      strict=True))
    plan = [_sub_query(p, before, routes) for p in repaired.sub_queries]
    share_context(plan, state.get("shared_context", ""))
    return plan, notes + repaired.repairs


def _sub_query(planned: PlannedSubQuery, before: dict[str, SubQuery],
               routes: dict[str, Any]) -> SubQuery:
    if planned.id in routes:
        return planned.routed(routes[planned.id])
    if planned.expert:
        return SubQuery(id=planned.id, question=planned.question,
                        depends_on=list(planned.depends_on), expert=planned.expert,
                        score=0.0, candidates=[], routed_by="review")
    kept = before[planned.question.strip()]
    return SubQuery(**{**kept, "id": planned.id, "depends_on": list(planned.depends_on)})
