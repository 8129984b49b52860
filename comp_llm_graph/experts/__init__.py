"""Experts: cards (YAML), backends that run them, the registry, and routing among them."""

from comp_llm_graph.cache import default_cache_dir
from comp_llm_graph.experts.backends import BACKENDS, register_backend
from comp_llm_graph.experts.cards import DEFAULT_PACK, ExpertCard, load_card, load_cards
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.experts.routing import Route

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
