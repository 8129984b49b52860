"""What the nodes share: calling the planner, routing, reading a model's output, sub-answers.

Kept in one place so the sub-query generator, the reviewer, the executor, the aggregator and the
react loop call the planner and the router, read chat-model output and show earlier answers the
same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableLambda
from langgraph.errors import GraphBubbleUp

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.experts.routing import Route
from comp_llm_graph.plan import PlannedSubQuery
from comp_llm_graph.state import SubAnswer, SubQuery

__all__ = ["PLANNER_CONFIG", "answer_block", "call_planner", "output_tokens", "plan_view",
           "route", "routed_sub_query", "share_context", "text_of"]

PLAN_VIEW = ("id", "question", "depends_on", "expert")
"""The fields of a sub-query shown in events and to a reviewer."""

PLANNER_CONFIG = {"run_name": "planner", "tags": ["nostream", "comp_llm:planner"]}
"""The planner's runs (the plan, the react loop's decisions): named, and kept out of
`stream_mode="messages"` (a plan is not a chat reply; the `custom` stream's `plan` event
carries it)."""


def text_of(message: Any) -> str:
    """The text of a chat model's output: a message (plain or content blocks), or a string."""
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def output_tokens(message: Any) -> int | None:
    """Tokens a chat model generated for `message`, if its `usage_metadata` says."""
    usage = getattr(message, "usage_metadata", None)
    tokens = usage.get("output_tokens") if usage else None
    return int(tokens) if tokens is not None else None


def answer_block(answer: SubAnswer) -> str:
    """A sub-answer as shown to later experts and the aggregator: `[id] question` / `=> answer`."""
    text = answer["answer"].strip() or f"(no answer: {answer['error']})"
    return f"[{answer['id']}] {answer['question']}\n=> {text}"


def routed_sub_query(planned: PlannedSubQuery, route: Route) -> SubQuery:
    """A planned sub-query with its routing decision, as the state's plan holds it."""
    return SubQuery(
        id=planned.id,
        question=planned.question,
        depends_on=list(planned.depends_on),
        expert=route.expert,
        score=route.score,
        candidates=[{"expert": name, "score": score} for name, score in route.candidates],
        routed_by="fallback" if route.fallback else route.method,
    )


async def route(registry: ExpertRegistry, questions: Sequence[str]) -> list[Route]:
    """Route questions in one batch, traced as a run named `route` (off the event loop)."""
    runnable = RunnableLambda(registry.route, name="route")
    return await runnable.ainvoke(list(questions),
                                  config={"run_name": "route", "tags": ["comp_llm:route"]})


def plan_view(plan: Sequence[SubQuery], keys: Sequence[str] = PLAN_VIEW) -> list[dict[str, Any]]:
    """The plan as events and reviewers see it: each sub-query's `keys` only."""
    return [{key: sub[key] for key in keys} for sub in plan]


async def call_planner(planner: Any, messages: list[Any], **kwargs: Any
                       ) -> tuple[Any, str | None]:
    """The planner's output, or None and why it failed (named run, kept out of the chat view).

    An interrupt and this package's setup errors (`CompLLMError`: a model not installed, over
    the memory budget) are raised: they are LangGraph's to handle or say what to fix.
    """
    try:
        return await planner.ainvoke(messages, config=PLANNER_CONFIG, **kwargs), None
    except (GraphBubbleUp, CompLLMError):
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as the attempt's problem
        return None, f"the planner failed: {type(exc).__name__}: {exc}"


def share_context(plan: list[SubQuery], shared: str) -> None:
    """Mark every sub-query to receive the query's material, when the query carries some."""
    if shared:
        for sub in plan:
            sub["context"] = "shared"
