"""Plan review: the run pauses with the plan (`interrupt`) until a reviewer approves or edits it.

With `Context(review_plan=True)` the graph goes from the sub-query generator to `review_plan`
instead of the executor. The node calls LangGraph's `interrupt()` with the query and the plan;
the caller resumes with `Command(resume=...)`:

- `True` (or `"approve"`): run the plan as it is (LangGraph does not take `resume=None` as an
  answer);
- an edited plan, in any form a planner may return (`comp_llm_graph.plan_schema`): a list of
  sub-queries (dicts with `id`, `question`, `depends_on`, optionally `expert`), a dict with
  `subqueries`, a `Plan`, or the line format. It is validated and repaired exactly like the
  planner's; each sub-query keeps the expert the reviewer names, else its routing when its
  question is unchanged, else it is routed again.

An edit that fails validation is not run and not dropped: the node interrupts again with the
problems, and the reviewer answers again (LangGraph matches each resume value to its interrupt).
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt

from comp_llm_graph.context import Context
from comp_llm_graph.errors import PlanError
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.nodes.common import route, routed_sub_query
from comp_llm_graph.nodes.events import emit
from comp_llm_graph.nodes.execute import dispatch
from comp_llm_graph.plan import PlannedSubQuery, normalise_id, parse_plan, repair_plan
from comp_llm_graph.plan_schema import plan_text
from comp_llm_graph.state import Review, State, SubQuery

__all__ = ["APPROVE", "after_planning", "make_review_plan", "review_request"]

APPROVE = (None, True, "approve", "ok", "yes", "y")
"""Resume values that run the plan as it is."""


def after_planning(state: State) -> list[Send] | str:
    """After the sub-query generator: to the reviewer when the run asked for one, else on."""
    return "review_plan" if state.get("review") else dispatch(state)


def review_request(state: State, problems: list[str] | None = None) -> dict[str, Any]:
    """What the interrupt shows the reviewer: the query, the plan, and what was wrong before."""
    request: dict[str, Any] = {
        "kind": "plan_review",
        "query": state["query"],
        "plan": [{key: sub[key] for key in ("id", "question", "depends_on", "expert", "score",
                                            "routed_by")} for sub in state["plan"]],
        "resume_with": "true to run this plan, or the edited plan (a list of sub-queries with "
                       "id, question, depends_on and optionally expert)",
    }
    if problems:
        request["problems"] = problems
    return request


def make_review_plan(registry: ExpertRegistry):
    """Build the `review_plan` node around the registry that routes edited sub-queries."""

    async def review_plan(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        context = runtime.context or Context()
        started = time.time()
        rejected: list[list[str]] = []
        while True:
            answer = interrupt(review_request(state, rejected[-1] if rejected else None))
            if _approves(answer):
                plan, repairs = state["plan"], []
                break
            try:
                plan, repairs = await _edited(answer, state["plan"], registry,
                                              context.max_subqueries)
                break
            except PlanError as exc:
                rejected.append(exc.problems)
        edited = plan is not state["plan"]
        review = Review(edited=edited, repairs=repairs, rejected=rejected,
                        seconds=round(time.time() - started, 4))
        emit("plan_reviewed", edited=edited,
             plan=[{key: sub[key] for key in ("id", "question", "depends_on", "expert")}
                   for sub in plan])
        return {"plan": plan, "planning": {**state["planning"], "reviewed": review},
                "timings": {"review": review["seconds"]}}

    return review_plan


def _approves(answer: Any) -> bool:
    if isinstance(answer, str):
        return answer.strip().lower() in {a for a in APPROVE if isinstance(a, str)}
    if isinstance(answer, dict) and set(answer) <= {"action"}:
        return str(answer.get("action", "approve")).lower() == "approve"
    return answer is None or answer is True


async def _edited(answer: Any, planned: list[SubQuery], registry: ExpertRegistry,
                  max_subqueries: int) -> tuple[list[SubQuery], list[str]]:
    """The reviewer's plan, validated, repaired and routed; `PlanError` when it is not valid."""
    parsed, notes = parse_plan(plan_text(answer))
    repaired = repair_plan(parsed, max_subqueries=max_subqueries)
    named = _named_experts(answer)
    unknown = sorted({name for name in named.values() if name not in registry.cards})
    if unknown:
        raise PlanError([f"unknown expert(s) {', '.join(unknown)}; the experts are "
                         f"{', '.join(registry.names)}"])
    before = {sub["question"].strip(): sub for sub in planned}
    to_route = [p for p in repaired.sub_queries
                if p.id not in named and p.question.strip() not in before]
    routes = dict(zip([p.id for p in to_route],
                      await route(registry, [p.question for p in to_route]) if to_route else [],
                      strict=True))
    plan = [_sub_query(p, named, before, routes) for p in repaired.sub_queries]
    return plan, notes + repaired.repairs


def _sub_query(planned: PlannedSubQuery, named: dict[str, str], before: dict[str, SubQuery],
               routes: dict[str, Any]) -> SubQuery:
    if planned.id in routes:
        return routed_sub_query(planned, routes[planned.id])
    if planned.id in named:
        return SubQuery(id=planned.id, question=planned.question,
                        depends_on=list(planned.depends_on), expert=named[planned.id],
                        score=0.0, candidates=[], routed_by="review")
    kept = before[planned.question.strip()]
    return SubQuery(**{**kept, "id": planned.id, "depends_on": list(planned.depends_on)})


def _named_experts(answer: Any) -> dict[str, str]:
    """Sub-query id -> the expert the reviewer named for it (items given as dicts)."""
    if hasattr(answer, "model_dump"):
        answer = answer.model_dump()
    items = answer.get("subqueries") or answer.get("plan") if isinstance(answer, dict) else answer
    named: dict[str, str] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("expert") and item.get("id") is not None:
            named[normalise_id(item["id"])] = str(item["expert"])
    return named
