"""Routing a (sub-)question to an expert: three routers behind one `Router`.

- `similarity` (`similarity.py`): each card's description and example questions are embedded
  and stored in Chroma; a question goes to the expert whose texts are most similar to it, below
  a threshold to the fallback expert.
- `learned` (`learned.py`, fitted by `comp_llm_graph.experts.training`): a logistic-regression
  head over MiniLM features (`features.py`), with per-expert thresholds below which the fallback
  answers.
- `examples` (`examples.py`): the labelled questions stored by `fit` in Chroma; the five nearest
  vote with their similarity, summed per expert (the semantic-router recipe; a baseline).

`auto` (the default) uses the learned router when one was fitted for exactly these experts (by
you, in the cache folder, or shipped with the package for the default pack), and similarity
otherwise.
"""

from comp_llm_graph.experts.routing.decision import ROUTERS, Route
from comp_llm_graph.experts.routing.router import Router

__all__ = ["ROUTERS", "Route", "Router"]
