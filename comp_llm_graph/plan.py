"""The plan format's old import path: the module is `comp_llm_graph.planning.plan` now.

Kept so that code written against `comp_llm_graph.plan` (`parse_plan`, `repair_plan`, the
grammars) goes on working; new code imports from `comp_llm_graph.planning.plan`.
"""

from comp_llm_graph.planning.plan import *  # noqa: F403 - the same names, re-exported
from comp_llm_graph.planning.plan import __all__  # noqa: F401
