"""Run-scoped settings, passed as `context=Context(...)` to invoke/stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from comp_llm_graph import prompts

__all__ = ["Context", "Mode", "MODES"]

Mode = Literal["comp", "monolithic", "sequential"]
MODES: tuple[str, ...] = ("comp", "monolithic", "sequential")


@dataclass(kw_only=True)
class Context:
    """Settings for one run of the graph."""

    mode: Mode = "comp"
    """comp: plan, run sub-queries in parallel, aggregate. monolithic: one model answers the
    whole query. sequential: the same plan, one sub-query at a time."""
    max_subqueries: int = 5
    """Largest plan accepted; a larger one is sent back to the planner once."""
    planner_prompt: str = prompts.PLANNER_SYSTEM_PROMPT
    """System prompt of the sub-query generator."""
    aggregator_prompt: str = prompts.AGGREGATOR_SYSTEM_PROMPT
    """System prompt of the response aggregator."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}.")
        if not 1 <= self.max_subqueries <= 32:
            raise ValueError(f"max_subqueries must be between 1 and 32; got {self.max_subqueries}.")
