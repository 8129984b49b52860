"""The embedded defaults: SmolLM2 planner and aggregator, and the default expert pack.

`default_components()` returns the keyword arguments of `build_graph`; nothing is loaded until the
first run (models load on first call, the routing index on first route).
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable

from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.models import (
    AGGREGATOR_MAX_NEW_TOKENS,
    DEFAULT_PLANNER,
    PLANNER_MAX_NEW_TOKENS,
    PLANNERS,
    embedded_planner,
)

__all__ = ["AGGREGATOR_MAX_NEW_TOKENS", "DEFAULT_PLANNER", "PLANNERS", "PLANNER_MAX_NEW_TOKENS",
           "default_components", "embedded_planner"]


def default_components(
    *,
    expert_folders: tuple[str, ...] | list[str] = (),
    planner: Runnable | str | None = None,
    aggregator: Runnable | None = None,
    **registry_kwargs: Any,
) -> dict[str, Any]:
    """The embedded defaults: SmolLM2 planner (or `planner="gemma3"`), aggregator, default pack.

    The planner is shown demonstrations from the bank when it was built (`comp-llm
    demonstrations`); it is looked for on the first run, not here.

    Args:
        expert_folders: Folders of expert cards added to (or replacing cards of) the default pack.
        planner: A name in `PLANNERS`, or a chat model to plan with, e.g.
            `openai_chat_model(base_url, model, max_tokens=PLANNER_MAX_NEW_TOKENS)`
            (`comp_llm_graph.runtimes.openai_compat`).
        aggregator: Chat model to aggregate with instead of SmolLM2.
        **registry_kwargs: Passed on to `ExpertRegistry.from_folders`.
    """
    from comp_llm_graph.runtimes.llamacpp import smollm2

    if planner is None or isinstance(planner, str):
        planner = embedded_planner(planner or DEFAULT_PLANNER)
    if aggregator is None:
        aggregator = smollm2(AGGREGATOR_MAX_NEW_TOKENS)
    from comp_llm_graph.demonstrations import PlanDemonstrations

    return {
        "planner": planner,
        "registry": ExpertRegistry.from_folders(expert_folders, **registry_kwargs),
        "aggregator": aggregator,
        "demonstrations": PlanDemonstrations.default(),
    }
