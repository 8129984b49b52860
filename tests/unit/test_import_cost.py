"""Importing the package costs nothing: no model runtime, vector store or ML library is imported."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "chromadb", "sentence_transformers", "onnxruntime",
         "langgraph", "sklearn")


def _imported_after(statement: str) -> list[str]:
    code = (f"import sys; {statement}; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return result.stdout.split()


def test_package_context_and_plan_import_no_heavy_module():
    assert _imported_after("import comp_llm_graph, comp_llm_graph.context, "
                           "comp_llm_graph.planning.plan, comp_llm_graph.errors") == []


def test_the_graph_module_imports_no_model_runtime():
    """Building the graph needs LangGraph, not torch, Chroma or the embedding model."""
    imported = _imported_after("from comp_llm_graph.graph import build_graph")
    assert not set(imported) - {"langgraph"}


def test_public_names_resolve_lazily():
    imported = _imported_after("from comp_llm_graph import Context, build_graph, "
                               "default_components, builder, ExpertRegistry")
    assert not set(imported) - {"langgraph"}
