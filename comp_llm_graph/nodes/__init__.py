"""The graph's nodes: sub-query generator, executor branches, response aggregator."""

from comp_llm_graph.nodes.aggregate import make_aggregate
from comp_llm_graph.nodes.execute import collect, dispatch, make_execute_subquery
from comp_llm_graph.nodes.generate_subqueries import make_generate_subqueries
from comp_llm_graph.nodes.react import make_decide
from comp_llm_graph.nodes.review import after_planning, make_review_plan

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
