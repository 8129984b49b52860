"""The graph's nodes: sub-query generator, executor branches, response aggregator."""

from comp_llm_graph.nodes.aggregate import make_aggregate
from comp_llm_graph.nodes.execute import collect, dispatch, make_execute_subquery
from comp_llm_graph.nodes.generate_subqueries import make_generate_subqueries
from comp_llm_graph.nodes.react import make_decide

__all__ = [
    "collect",
    "dispatch",
    "make_aggregate",
    "make_decide",
    "make_execute_subquery",
    "make_generate_subqueries",
]
