"""What `langgraph.json` serves to LangGraph Studio / `langgraph dev` / LangGraph Server.

- `graph` (`comp_llm`): the paper's three stages and nothing else, as Studio draws them:
  sub-query generator (with its optional plan review), executor branches and their join,
  response aggregator;
- `baselines` (`comp_llm_baselines`): the same graph with the react loop's `decide` node, for
  comparing `mode="react"` (and `sequential`, `monolithic`, which both graphs run) in Studio.

Both share one set of components (models, experts, routing index). The server reads the
variables from the module's namespace (not through a module `__getattr__`), so this module builds
the graphs when it is imported; that reads the card files only: the models and the routing index
load on the first run.
"""

from comp_llm_graph.defaults import default_components
from comp_llm_graph.graph import build_graph

__all__ = ["baselines", "graph"]

_components = default_components()
graph = build_graph(**_components, name="comp_llm")
baselines = build_graph(**_components, baselines=True, name="comp_llm_baselines")
