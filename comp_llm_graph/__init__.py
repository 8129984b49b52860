"""comp-llm-graph: answer hard questions by composing small expert models (Comp-LLM on LangGraph).

from comp_llm_graph import build_graph, default_components, Context
graph = build_graph(**default_components())
state = await graph.ainvoke({"query": "..."}, context=Context(mode="comp"))
"""

from comp_llm_graph.context import Context
from comp_llm_graph.errors import (
    CompLLMError,
    ExpertCardError,
    InvalidQueryError,
    ModelNotInstalledError,
    PlanError,
)
from comp_llm_graph.experts import ExpertCard, ExpertRegistry, register_backend
from comp_llm_graph.graph import build_graph, builder, default_components

__all__ = [
    "CompLLMError",
    "Context",
    "ExpertCard",
    "ExpertCardError",
    "ExpertRegistry",
    "InvalidQueryError",
    "ModelNotInstalledError",
    "PlanError",
    "build_graph",
    "builder",
    "default_components",
    "register_backend",
]
__version__ = "0.1.0"

