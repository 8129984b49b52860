"""Run-scoped settings, passed as `context=Context(...)` to invoke/stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from comp_llm_graph.faults import DEFAULT_TIMEOUT_S, CallPolicy
from comp_llm_graph.models import check_model_name
from comp_llm_graph.prompts import AGGREGATOR_SYSTEM_PROMPT

__all__ = ["AGGREGATES", "Aggregate", "Context", "Mode", "MODES", "SCHEDULES", "Schedule"]

Mode = Literal["comp", "monolithic", "sequential", "react"]
MODES: tuple[str, ...] = ("comp", "monolithic", "sequential", "react")
Schedule = Literal["ready", "waves"]
SCHEDULES: tuple[str, ...] = ("ready", "waves")
Aggregate = Literal["auto", "llm", "compose"]
AGGREGATES: tuple[str, ...] = ("auto", "llm", "compose")


@dataclass(kw_only=True)
class Context:
    """Settings for one run of the graph."""

    mode: Mode = "comp"
    """comp: plan, run sub-queries in parallel, aggregate. monolithic: one model answers the
    whole query. sequential: the same plan, one sub-query at a time. react: a plan-act-observe
    loop (the planner picks the next sub-query after seeing each answer)."""
    max_subqueries: int = 5
    """Largest plan accepted (a larger one is sent back to the planner once); in react mode,
    the most steps."""
    schedule: Schedule = "ready"
    """ready: a sub-query starts as soon as its dependencies have answered. waves: one round of
    ready sub-queries at a time, each round waiting for its slowest branch."""
    max_concurrency: int | None = None
    """Most sub-queries of this run executing at once (None: as many as are ready). Expert cards
    can set their own limit (`max_concurrency` in the card)."""
    planner_prompt: str | None = None
    """System prompt of the sub-query generator (`{max_subqueries}` is filled in); None: the
    default for the planner's plan format (`PLANNER_SYSTEM_PROMPT` for JSON,
    `LINES_PLANNER_SYSTEM_PROMPT` for the line format of the embedded planner)."""
    aggregator_prompt: str = AGGREGATOR_SYSTEM_PROMPT
    """System prompt of the response aggregator."""
    aggregate: Aggregate = "auto"
    """llm: the aggregator writes the final answer; compose: the end points' answers as
    labelled lines, no model call; auto: compose when every sub-query is independent (each
    answers one piece of the query) or every sub-query is a part the user enumerated, llm
    otherwise (chosen by measurement: docs/planning.md). Every part asked (the enumerated parts
    and the end points) is checked in the final answer either way, and added when missing."""

    review_plan: bool = False
    """Pause after planning for a reviewer: the run stops with LangGraph's `interrupt(plan)`
    and goes on when resumed with `Command(resume=...)`: `True` (or `"approve"`) runs the
    plan as it is; an edited plan (sub-queries as a list, `{"subqueries": [...]}`, a `Plan`, or the
    line format) runs after the same validation as the planner's (comp and sequential modes;
    needs a checkpointer). See `comp_llm_graph.nodes.review`."""
    planner_model: str | None = None
    """The planner for this run by name, instead of the graph's (`comp_llm_graph.models`):
    an embedded model (`smollm2`, `gemma3`), `openai:<model>@<base url>` for an
    OpenAI-compatible server, or `<provider>:<model>` for `init_chat_model` (the `langchain`
    package). Lets one LangGraph Server graph serve assistants on different models."""
    aggregator_model: str | None = None
    """The aggregator for this run by name, as `planner_model`."""

    expert_timeout: float | None = DEFAULT_TIMEOUT_S
    """Seconds one expert call may take before it fails (None: no limit); a card's `timeout`
    overrides it for its expert. See `comp_llm_graph.faults` for the whole fault policy."""
    expert_retries: int = 0
    """Attempts after a failed expert call, with exponential backoff; a card's `retries`
    overrides it."""
    planner_timeout: float | None = DEFAULT_TIMEOUT_S
    """Seconds one planner call may take (a failed call is asked once more, then the query
    runs as one sub-query)."""
    aggregator_timeout: float | None = DEFAULT_TIMEOUT_S
    """Seconds the aggregator may take (on failure the composed answer is used)."""

    def policy(self, role: str) -> CallPolicy:
        """The time limit and retries of `role`'s calls: expert, planner or aggregator."""
        if role == "expert":
            return CallPolicy(timeout=self.expert_timeout, retries=self.expert_retries)
        return CallPolicy(timeout=getattr(self, f"{role}_timeout"), retries=0)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}.")
        if self.aggregate not in AGGREGATES:
            raise ValueError(
                f"aggregate must be one of {', '.join(AGGREGATES)}; got {self.aggregate!r}.")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(
                f"max_concurrency must be at least 1 (or None); got {self.max_concurrency}.")
        if not 1 <= self.max_subqueries <= 32:
            raise ValueError(f"max_subqueries must be between 1 and 32; got {self.max_subqueries}.")
        if self.review_plan and self.mode not in ("comp", "sequential"):
            raise ValueError(f"review_plan reviews a plan before it runs: use mode comp or "
                             f"sequential (mode {self.mode} has no plan to review).")
        for role in ("expert", "planner", "aggregator"):
            try:  # a bad timeout or retry count fails here, naming the field
                self.policy(role)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{role}_{exc}") from None
        for role in ("planner", "aggregator"):
            check_model_name(getattr(self, f"{role}_model"), f"{role}_model")
