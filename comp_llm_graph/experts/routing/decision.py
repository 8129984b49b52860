"""What a router decides for one question, and the names of the routers."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ROUTERS", "Route"]

ROUTERS = ("auto", "similarity", "learned", "examples")
"""Ways to route (see `comp_llm_graph.experts.routing`)."""


@dataclass(frozen=True)
class Route:
    """Where one question goes and why."""

    question: str
    expert: str
    """The chosen expert."""
    score: float
    """Score of the best candidate (similarity, or probability for the learned router)."""
    candidates: list[tuple[str, float]]
    """Best experts and their scores, best first."""
    fallback: bool
    """True when the best score was below the threshold."""
    method: str = "similarity"
    """Which router decided: similarity, learned or examples."""
    threshold: float = 0.0
    """The threshold the best candidate had to reach."""
    examples: list[tuple[str, str, float]] = field(default_factory=list)
    """With `explain=True`: the nearest labelled questions (question, expert, similarity)."""
    error: str | None = None
    """Why routing failed, when the question went to the fallback expert for that reason."""
