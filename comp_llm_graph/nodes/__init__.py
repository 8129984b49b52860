"""The graph's nodes, and the edges between them (`edges.py`).

The nodes: the sub-query generator, the plan's reviewer, the executor's branches and their join,
the response aggregator, and the react baseline's `decide`.
"""

from comp_llm_graph.nodes.aggregate import make_aggregate
from comp_llm_graph.nodes.edges import after_planning, dispatch
from comp_llm_graph.nodes.execute import collect, make_execute_subquery
from comp_llm_graph.nodes.generate_subqueries import make_generate_subqueries
from comp_llm_graph.nodes.react import make_decide
from comp_llm_graph.nodes.review import make_review_plan

__all__ = [
    "after_planning",
    "collect",
    "dispatch",
    "make_aggregate",
    "make_decide",
    "make_execute_subquery",
    "make_generate_subqueries",
    "make_review_plan",
]
