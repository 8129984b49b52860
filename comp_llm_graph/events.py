"""Progress events for `stream_mode="custom"`: the plan, each sub-query, the aggregation.

Each event is a dict with an `event` key, written with LangGraph's `get_stream_writer()`:

- `plan`: `plan` (id, question, depends_on, expert of each sub-query), `status`, `seconds`.
- `subquery_started`: `id`, `expert`, `question` (with its dependencies' answers substituted).
- `subquery_finished`: `id`, `expert`, `seconds`, `error` (None when it answered), `answer`.
- `aggregation`: `method`, `added` (parts the check appended), `seconds`.
- `plan_reviewed`: `edited`, `plan`, after a plan review (`nodes/review.py`).

Outside a graph run (the planning evaluation calls the planner step directly) nothing is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.config import get_stream_writer

from comp_llm_graph.state import SubQuery

__all__ = ["PLAN_VIEW", "emit", "plan_view"]

PLAN_VIEW = ("id", "question", "depends_on", "expert")
"""The fields of a sub-query shown in events and to a reviewer."""


def emit(event: str, **data: Any) -> None:
    """Send one progress event to the run's `custom` stream (a no-op outside a run)."""
    try:
        writer = get_stream_writer()
    except RuntimeError:  # not inside a graph run
        return
    writer({"event": event, **data})


def plan_view(plan: Sequence[SubQuery], keys: Sequence[str] = PLAN_VIEW) -> list[dict[str, Any]]:
    """The plan as events and reviewers see it: each sub-query's `keys` only."""
    return [{key: sub[key] for key in keys} for sub in plan]
