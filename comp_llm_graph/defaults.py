"""The embedded defaults: a named profile of planner, aggregator and the default expert pack.

`default_components()` returns the keyword arguments of `build_graph`; nothing is loaded until the
first run (models load on first call, the routing index on first route).

Profiles (`PROFILES`), measured on MultiExpertQA (`docs/multiexpert.md`):

- `fast`: SmolLM2-135M plans, aggregates and answers every expert of the pack (the math expert's
  card names its own model). For small machines: one 100 MB model does nearly everything.
- `quality`: Qwen2.5-Coder-1.5B plans (under the plan grammar), aggregates and answers every
  expert. On MultiExpertQA-All it answers 0.444 of the parts in 11.5 s, against 0.348 in 8.1 s
  for `fast` and 0.191 for the 1.5B asked the whole question. `fast` stays the default: it is the
  best within a budget of 10 s per compound question on 2 cores.
"""

from __future__ import annotations

import os
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

__all__ = ["AGGREGATOR_MAX_NEW_TOKENS", "DEFAULT_PLANNER", "DEFAULT_PROFILE", "PLANNERS",
           "PLANNER_MAX_NEW_TOKENS", "PROFILES", "PROFILE_VARIABLE", "default_components",
           "embedded_planner"]

PROFILES: dict[str, dict[str, str | None]] = {
    "fast": {"planner": DEFAULT_PLANNER, "aggregator": "smollm2-135m", "experts": None},
    "quality": {"planner": "qwen2.5-coder-1.5b", "aggregator": "qwen2.5-coder-1.5b",
                "experts": "qwen2.5-coder-1.5b"},
}
"""Profile name -> its planner, aggregator and experts' model (None: each card's own)."""
DEFAULT_PROFILE = "fast"
"""The profile used unless another is named."""
PROFILE_VARIABLE = "COMP_LLM_PROFILE"
"""Names the profile where no argument does (e.g. in `.env` for LangGraph Studio)."""


def default_components(
    *,
    expert_folders: tuple[str, ...] | list[str] = (),
    planner: Runnable | str | None = None,
    aggregator: Runnable | None = None,
    profile: str | None = None,
    **registry_kwargs: Any,
) -> dict[str, Any]:
    """The embedded defaults: the profile's planner, aggregator and experts, the default pack.

    The planner is shown demonstrations from the bank when it was built (`comp-llm
    demonstrations`); it is looked for on the first run, not here.

    Args:
        expert_folders: Folders of expert cards added to (or replacing cards of) the default pack.
        planner: A name in `PLANNERS`, or a chat model to plan with, e.g.
            `openai_chat_model(base_url, model, max_tokens=PLANNER_MAX_NEW_TOKENS)`
            (`comp_llm_graph.runtimes.openai_compat`).
        aggregator: Chat model to aggregate with instead of the profile's.
        profile: A name in `PROFILES` (default: `COMP_LLM_PROFILE`, else `DEFAULT_PROFILE`):
            the planner, aggregator and experts' model where the other arguments do not name
            them.
        **registry_kwargs: Passed on to `ExpertRegistry.from_folders`.

    Raises:
        ValueError: an unknown profile.
    """
    from comp_llm_graph.runtimes.llamacpp import local_chat_model

    profile = profile or os.environ.get(PROFILE_VARIABLE) or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: use {' or '.join(PROFILES)} (argument "
                         f"profile or {PROFILE_VARIABLE})")
    chosen = PROFILES[profile]
    if planner is None or isinstance(planner, str):
        planner = embedded_planner(planner or chosen["planner"] or DEFAULT_PLANNER)
    if aggregator is None:
        aggregator = local_chat_model(chosen["aggregator"] or "smollm2-135m",
                                      AGGREGATOR_MAX_NEW_TOKENS)
    if chosen["experts"] and registry_kwargs.get("expert_model") is None:
        registry_kwargs["expert_model"] = chosen["experts"]
    from comp_llm_graph.planning.demonstrations import PlanDemonstrations

    return {
        "planner": planner,
        "registry": ExpertRegistry.from_folders(expert_folders, **registry_kwargs),
        "aggregator": aggregator,
        "demonstrations": PlanDemonstrations.default(registry_kwargs.get("persist_directory")),
    }
