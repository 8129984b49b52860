"""What `langgraph.json` serves to LangGraph Studio / `langgraph dev` / LangGraph Server.

The server reads the variable from the module's namespace (not through a module `__getattr__`),
so this module builds the graph on the embedded defaults when it is imported. Building it reads
the card files only; the models and the routing index load on the first run.
"""

from comp_llm_graph.graph import graph

__all__ = ["graph"]
