"""The plan format's old import path: `comp_llm_graph.planning.plan` and `.grammar` now.

Kept so that code written against `comp_llm_graph.plan` (`parse_plan`, `repair_plan`, the
grammars) goes on working; new code imports from `comp_llm_graph.planning`.
"""

from comp_llm_graph.planning import grammar, plan
from comp_llm_graph.planning.grammar import *  # noqa: F403 - the same names, re-exported
from comp_llm_graph.planning.plan import *  # noqa: F403

__all__ = [*plan.__all__, *grammar.__all__]
