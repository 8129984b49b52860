"""Plans as values, at their old import path: the module is `comp_llm_graph.planning.plan_schema`.

Kept so that `from comp_llm_graph.plan_schema import Plan, PlanStep` goes on working (both are
also `from comp_llm_graph import Plan, PlanStep`).
"""

from comp_llm_graph.planning.plan_schema import *  # noqa: F403 - the same names, re-exported
from comp_llm_graph.planning.plan_schema import __all__  # noqa: F401
