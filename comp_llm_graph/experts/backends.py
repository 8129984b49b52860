"""Backends turn an expert card into a LangChain Runnable.

An expert is any Runnable that takes `{"question": str, "context": str}` and returns a string or
a chat message. Register your own with `register_backend("name", factory)`, where
`factory(card) -> Runnable`; cards then say `backend: name`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.prompts import EXPERT_USER_PROMPT

__all__ = [
    "BACKENDS",
    "BackendFactory",
    "backend_factory",
    "build_expert",
    "llm_expert",
    "register_backend",
]

BackendFactory = Callable[[ExpertCard], Runnable]

DEFAULT_MAX_NEW_TOKENS = 96


def llm_expert(card: ExpertCard, chat_model: Runnable) -> Runnable:
    """Prompt (card's system prompt + question with earlier answers) piped into a chat model."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", card.system_prompt or f"You are an expert in {card.name}."),
         ("human", EXPERT_USER_PROMPT)],
    )
    return (prompt | chat_model).with_config(run_name=f"expert:{card.name}")


def _smollm2(card: ExpertCard) -> Runnable:
    from comp_llm_graph.models import smollm2

    max_new_tokens = int(card.options.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
    return llm_expert(card, smollm2(max_new_tokens))


def _sympy(card: ExpertCard) -> Runnable:
    from comp_llm_graph.experts.math_tool import sympy_expert

    fallback_name = card.options.get("fallback_backend", "smollm2")
    fallback = None
    if fallback_name not in (None, "none"):
        fallback = backend_factory(fallback_name, card)(card)
    return sympy_expert(fallback).with_config(run_name=f"expert:{card.name}")


BACKENDS: dict[str, BackendFactory] = {"smollm2": _smollm2, "sympy": _sympy}
"""Known backends by name."""


def register_backend(name: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Make `backend: name` in expert cards run `factory(card)`."""
    if name in BACKENDS and not replace:
        raise ValueError(f"backend {name!r} is already registered; pass replace=True to replace it")
    BACKENDS[name] = factory


def backend_factory(name: Any, card: ExpertCard) -> BackendFactory:
    """The factory registered as `name`; raises `ExpertCardError` naming the card's file."""
    if name not in BACKENDS:
        raise ExpertCardError(
            f"{card.source or card.name}: unknown backend {name!r}. Known backends: "
            f"{', '.join(sorted(BACKENDS))} (or register one with "
            "comp_llm_graph.experts.register_backend)."
        )
    return BACKENDS[name]


def build_expert(card: ExpertCard) -> Runnable:
    """The Runnable for a card."""
    return backend_factory(card.backend, card)(card)
