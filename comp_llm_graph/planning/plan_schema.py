"""Plans as values: the schema a structured-output planner fills, and plans given as objects.

A planner may be any Runnable: a chat model writing text, `model.with_structured_output(Plan)`
(a pydantic object, or a dict with `include_raw=True` or a JSON schema), or one returning a dict
or list. A reviewer's edited plan (`review_plan`) comes as a value too. `plan_text` turns each into
the text `parse_plan` reads, so every plan goes through the same parsing, validation and repair,
and the attempt's record shows what was received.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from comp_llm_graph.errors import PlanError

__all__ = ["Plan", "PlanStep", "plan_text"]


class PlanStep(BaseModel):
    """One sub-query of a plan."""

    id: str = Field(description="Identifier such as q1.")
    question: str = Field(description="The sub-question; {q1} stands for q1's answer.")
    depends_on: list[str] = Field(default_factory=list,
                                  description="Ids whose answers this sub-question needs.")
    expert: str | None = Field(default=None, description="The expert to ask (a reviewer's "
                               "choice; None: routed by similarity).")


class Plan(BaseModel):
    """A decomposition of the query into sub-questions (for `with_structured_output(Plan)`)."""

    subqueries: list[PlanStep] = Field(description="The sub-questions, in the order to ask them.")


def plan_text(value: Any) -> str:
    """The text of a planner's output or an edited plan, in a form `parse_plan` reads.

    Args:
        value: A chat message or string (as is), a pydantic model, a dict or a list (as JSON),
            or `with_structured_output(..., include_raw=True)`'s `{"raw", "parsed"}`.

    Raises:
        PlanError: a value of another type, saying which types are accepted.
    """
    if isinstance(value, dict) and {"raw", "parsed"} <= value.keys():
        value = value["parsed"] if value["parsed"] is not None else value["raw"]
    if isinstance(value, BaseMessage):
        content = value.content
        if isinstance(content, list):  # content blocks
            return "".join(b.get("text", "") if isinstance(b, dict) else str(b)
                           for b in content)
        return str(content)
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, ensure_ascii=False, default=_dumped)
        except TypeError as exc:
            raise PlanError([f"the plan is not JSON-like: {exc}"]) from exc
    raise PlanError([
        f"a plan is text, a list of sub-queries, a dict with `subqueries` or a `Plan`; got "
        f"{type(value).__name__}"])


def _dumped(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
