"""comp-llm-graph: answer hard questions by composing small expert models (Comp-LLM on LangGraph).

    from comp_llm_graph import build_graph, default_components, Context
    graph = build_graph(**default_components())
    state = await graph.ainvoke({"query": "..."}, context=Context(mode="comp"))

Importing the package costs next to nothing: the graph, the experts and the model runtimes are
imported on first use of their names (module `__getattr__`). The compiled graph on the embedded
defaults is `comp_llm_graph.graph.graph` (what `langgraph.json` serves), built on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from comp_llm_graph.context import Context
from comp_llm_graph.errors import (
    CompLLMError,
    ExpertCardError,
    InvalidQueryError,
    ModelNotInstalledError,
    PlanError,
)

if TYPE_CHECKING:
    from comp_llm_graph.chat_model import CompLLMChat, comp_llm_tool
    from comp_llm_graph.defaults import default_components
    from comp_llm_graph.experts import ExpertCard, ExpertRegistry, register_backend
    from comp_llm_graph.graph import build_graph, builder
    from comp_llm_graph.planning.plan_schema import Plan, PlanStep

__all__ = [
    "CompLLMChat",
    "CompLLMError",
    "Context",
    "ExpertCard",
    "ExpertCardError",
    "ExpertRegistry",
    "InvalidQueryError",
    "ModelNotInstalledError",
    "Plan",
    "PlanError",
    "PlanStep",
    "build_graph",
    "builder",
    "comp_llm_tool",
    "default_components",
    "register_backend",
]
__version__ = "0.1.0"

_LAZY = {
    "CompLLMChat": "comp_llm_graph.chat_model",
    "comp_llm_tool": "comp_llm_graph.chat_model",
    "build_graph": "comp_llm_graph.graph",
    "builder": "comp_llm_graph.graph",
    "default_components": "comp_llm_graph.defaults",
    "ExpertCard": "comp_llm_graph.experts",
    "ExpertRegistry": "comp_llm_graph.experts",
    "register_backend": "comp_llm_graph.experts",
    "Plan": "comp_llm_graph.planning.plan_schema",
    "PlanStep": "comp_llm_graph.planning.plan_schema",
}


def __getattr__(name: str) -> Any:
    """Import the module behind a public name on its first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
