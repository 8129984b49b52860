"""Experts: cards (YAML), backends that run them, and the registry that routes to them."""

from comp_llm_graph.experts.backends import BACKENDS, register_backend
from comp_llm_graph.experts.cards import DEFAULT_PACK, ExpertCard, load_card, load_cards
from comp_llm_graph.experts.registry import ExpertRegistry, Route, default_cache_dir

__all__ = [
    "BACKENDS",
    "DEFAULT_PACK",
    "ExpertCard",
    "ExpertRegistry",
    "Route",
    "default_cache_dir",
    "load_card",
    "load_cards",
    "register_backend",
]
