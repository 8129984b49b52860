"""Routing a plan: each planned sub-query gets its expert, and becomes the state's `SubQuery`.

`route` asks the registry's router for a batch of questions (one traced run, off the event loop,
the fallback expert when the router fails at run time); `routed_sub_query` joins a planned
sub-query and its route into the one record the state, the events and the branches carry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableLambda
from langgraph.errors import GraphBubbleUp

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.experts.routing import Route
from comp_llm_graph.faults import describe
from comp_llm_graph.planning.plan import PlannedSubQuery
from comp_llm_graph.state import SubQuery

__all__ = ["PLAN_VIEW", "plan_view", "route", "routed_sub_query", "share_context"]

_log = logging.getLogger(__name__)

PLAN_VIEW = ("id", "question", "depends_on", "expert")
"""The fields of a sub-query shown in events and to a reviewer."""


def routed_sub_query(planned: PlannedSubQuery, route: Route) -> SubQuery:
    """A planned sub-query with its routing decision, as the state's plan holds it."""
    sub = SubQuery(
        id=planned.id,
        question=planned.question,
        depends_on=list(planned.depends_on),
        expert=route.expert,
        score=route.score,
        candidates=[{"expert": name, "score": score} for name, score in route.candidates],
        routed_by="fallback" if route.fallback else route.method,
    )
    if route.error is not None:
        sub["route_error"] = route.error
    return sub


async def route(registry: ExpertRegistry, questions: Sequence[str]) -> list[Route]:
    """Route questions in one batch, traced as a run named `route` (off the event loop).

    If routing fails at run time (the index or the embedding model raised), every question
    goes to the fallback expert, with the reason in its route (`SubQuery.route_error`): the
    run still answers. This package's setup errors (`CompLLMError`, e.g. an unusable index
    and how to recover) are raised.
    """
    runnable = RunnableLambda(registry.route, name="route")
    try:
        return await runnable.ainvoke(list(questions),
                                      config={"run_name": "route", "tags": ["comp_llm:route"]})
    except (GraphBubbleUp, CompLLMError):
        raise
    except Exception as exc:  # noqa: BLE001 - every question goes to the fallback, said why
        reason = f"routing failed ({describe(exc)}); sent to the fallback expert"
        _log.warning("%s", reason)
        return [Route(question=q, expert=registry.fallback, score=0.0, candidates=[],
                      fallback=True, error=reason) for q in questions]


def plan_view(plan: Sequence[SubQuery], keys: Sequence[str] = PLAN_VIEW) -> list[dict[str, Any]]:
    """The plan as events and reviewers see it: each sub-query's `keys` only."""
    return [{key: sub[key] for key in keys} for sub in plan]


def share_context(plan: list[SubQuery], shared: str) -> None:
    """Mark every sub-query to receive the query's material, when the query carries some."""
    if shared:
        for sub in plan:
            sub["context"] = "shared"
