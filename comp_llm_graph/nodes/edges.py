"""The graph's edges: where a run goes after planning and after each round of branches.

`after_planning` leads to the reviewer when the run asked for one (`Context.review_plan`), else
to `dispatch`. `dispatch` runs after planning (or the review) and after each round of branches
(`collect`). With the default `schedule="ready"` it sends every sub-query of the plan at once and
each branch starts the moment its dependencies have answered (`comp_llm_graph.scheduler`); with
`schedule="waves"` it sends the sub-queries whose dependencies have answered, one round at a
time; in `sequential` mode, one sub-query at a time. When every sub-query has answered it moves
on to `aggregate` (or, in `react` mode, back to the planner's `decide` step).

Both read the run's settings from the state (written by the planner node), not from the
runtime's context: LangGraph re-runs edge functions in `update_state`, where no runtime is given,
and an edit of the plan there must still dispatch the edited plan.
"""

from __future__ import annotations

from typing import Literal

from langgraph.types import Send

from comp_llm_graph.scheduler import SCHEDULER
from comp_llm_graph.state import Branch, State, SubAnswer, SubQuery

__all__ = ["after_planning", "dispatch", "ready_sub_queries"]


def after_planning(state: State) -> list[Send] | str:
    """After the sub-query generator: to the reviewer when the run asked for one, else on."""
    return "review_plan" if state.get("review") else dispatch(state)


def ready_sub_queries(plan: list[SubQuery], answers: dict[str, SubAnswer]) -> list[SubQuery]:
    """Unanswered sub-queries whose dependencies have all answered, in plan order."""
    return [
        sub for sub in plan
        if sub["id"] not in answers and all(dep in answers for dep in sub["depends_on"])
    ]


def dispatch(state: State) -> list[Send] | Literal["aggregate", "decide"]:
    """Send sub-queries to `execute_subquery`, or go on when every sub-query has answered."""
    plan, answers = state["plan"], state.get("answers") or {}
    mode = state.get("mode", "comp")
    if all(sub["id"] in answers for sub in plan):
        if mode == "react" and not state.get("react_finished"):
            return "decide"
        return "aggregate"
    ready = ready_sub_queries(plan, answers)
    if not ready:  # cannot happen for a validated plan; never drop work silently
        missing = [sub["id"] for sub in plan if sub["id"] not in answers]
        raise RuntimeError(f"sub-queries {missing} can never run: their dependencies are missing")
    if mode in ("sequential", "monolithic", "react"):
        send = ready[:1]
    elif state.get("schedule", "ready") == "waves":
        send = ready
    else:  # start as ready: every unanswered sub-query now; each waits for its own inputs
        send = [sub for sub in plan if sub["id"] not in answers]
    priority = SCHEDULER.priorities(plan)
    early = set((state.get("planning") or {}).get("early_started") or [])
    index = {sub["id"]: i for i, sub in enumerate(plan)}
    return [
        Send("execute_subquery", Branch(
            sub_query=sub,
            dependencies={dep: answers[dep] for dep in sub["depends_on"] if dep in answers},
            token=state.get("run_token", ""),
            priority=priority[sub["id"]],
            index=index[sub["id"]],
            max_concurrency=state.get("max_concurrency"),
            shared_context=state.get("shared_context", ""),
            instructions=state.get("instructions", ""),
            **({"early": True} if sub["id"] in early else {}),
        ))
        for sub in send
    ]
