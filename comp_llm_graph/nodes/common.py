"""What the nodes share: calling the planner, routing, reading a model's output, sub-answers.

Kept in one place so the sub-query generator, the reviewer, the executor, the aggregator and the
react loop call the planner and the router, read chat-model output and show earlier answers the
same way.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableLambda
from langgraph.errors import GraphBubbleUp

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.experts.routing import Route
from comp_llm_graph.faults import CallPolicy, call_with_policy, describe
from comp_llm_graph.planning.plan import PlannedSubQuery
from comp_llm_graph.state import SubAnswer, SubQuery

__all__ = ["PLANNER_CONFIG", "answer_block", "call_planner", "one_line", "output_tokens",
           "plan_view", "quote", "route", "routed_sub_query", "share_context", "text_of"]

_log = logging.getLogger(__name__)

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


def answer_block(answer: SubAnswer, limit: int | None = None) -> str:
    """A sub-answer as shown to later experts and the aggregator: `[id] question` / `=> answer`.

    The answer is data, not instructions: a block starts at a line `[id] ...` and its answer
    at `=> `, and every further line of the answer is indented (`quote`), so an answer cannot
    write a line of its own that starts a block, an answer or the prompt's `Final answer:`.
    `limit`: the most characters of the answer shown (the react planner's observations).
    """
    text = answer["answer"].strip() or f"(no answer: {answer['error']})"
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip() + " ..."
    return f"[{answer['id']}] {one_line(answer['question'])}\n=> {quote(text)}"


QUOTE_INDENT = "   "
"""The indent of an answer's continuation lines in `answer_block`."""


def quote(text: str) -> str:
    """Text as the body of a block: every line after the first indented by `QUOTE_INDENT`.

    Lines are split as `str.splitlines` does (also at CR, form feed, U+2028...), so no line
    break a model might read as one escapes the indent; control characters are dropped.
    """
    lines = [_printable(line) for line in text.splitlines()] or [""]
    return ("\n" + QUOTE_INDENT).join(line.rstrip() for line in lines)


def one_line(text: str) -> str:
    """Text on one line (line breaks become spaces; control characters dropped)."""
    return " ".join(_printable(line).strip() for line in text.splitlines()).strip()


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _printable(text: str) -> str:
    """Without control characters (C0, DEL, C1; tab kept) and bidirectional overrides."""
    return "".join(ch for ch in text if ch == "\t" or (
        unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS))


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


async def call_planner(planner: Any, messages: list[Any], policy: CallPolicy | None = None,
                       **kwargs: Any) -> tuple[Any, str | None]:
    """The planner's output, or None and why it failed (named run, kept out of the chat view).

    `policy`: its time limit (`Context.planner_timeout`). An interrupt and this package's setup
    errors (`CompLLMError`: a model not installed, over the memory budget) are raised: they
    are LangGraph's to handle or say what to fix.
    """
    policy = policy or CallPolicy()
    try:
        output = await call_with_policy(
            lambda: planner.ainvoke(messages, config=PLANNER_CONFIG, **kwargs), policy)
        return output, None
    except (GraphBubbleUp, CompLLMError):
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as the attempt's problem
        return None, f"the planner failed: {describe(exc, policy)}"


def share_context(plan: list[SubQuery], shared: str) -> None:
    """Mark every sub-query to receive the query's material, when the query carries some."""
    if shared:
        for sub in plan:
            sub["context"] = "shared"
