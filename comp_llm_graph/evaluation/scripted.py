"""Scripted planners, experts and registries: graphs that measure the executor, not a model.

Routing is real (an in-memory Chroma collection) but its embedding is a deterministic fake, so
which card a sub-query lands on is arbitrary; the scripted experts act on the question's text
instead of their card's name.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableLambda

from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.experts.registry import ExpertRegistry

__all__ = ["CARD_NAMES", "scripted_expert", "scripted_model", "scripted_registry"]

CARD_NAMES = ("geography", "math", "history", "generalist")


def _async_only(_: Any) -> Any:
    raise NotImplementedError("scripted graphs run async only (ainvoke, astream)")


def scripted_model(reply: str | Callable[[list], Awaitable[Any]]) -> Runnable:
    """A chat model stand-in: returns `reply`, or awaits `reply(messages)` (may raise or hang)."""

    async def respond(messages: list) -> Any:
        if isinstance(reply, str):
            return AIMessage(reply)
        result = await reply(messages)
        return AIMessage(result) if isinstance(result, str) else result

    return RunnableLambda(_async_only, afunc=respond)


def scripted_expert(run: Callable[[dict], Awaitable[Any]]) -> Runnable:
    """An expert stand-in that awaits `run(payload)` (may raise, hang or return anything)."""
    return RunnableLambda(_async_only, afunc=run)


def scripted_registry(expert: Runnable | Callable[[str], Runnable], *,
                      names: tuple[str, ...] = CARD_NAMES,
                      limit: int | None = None) -> ExpertRegistry:
    """A card per name (the last is the fallback), each held to `limit` concurrent calls.

    `expert` serves them all, or `expert(name)` makes each card's expert.
    """
    from chromadb import EphemeralClient
    from chromadb.config import Settings
    from langchain_core.embeddings import DeterministicFakeEmbedding

    cards = [ExpertCard(name=name, description=f"scripted expert {name}", examples=[name],
                        backend="sympy", max_concurrency=limit) for name in names]
    return ExpertRegistry(
        cards, experts={name: expert if isinstance(expert, Runnable) else expert(name)
                        for name in names},
        embeddings=DeterministicFakeEmbedding(size=32),
        client=EphemeralClient(settings=Settings(anonymized_telemetry=False)),
        collection_name=f"scripted_{uuid.uuid4().hex[:12]}", threshold=0.0,
        fallback=names[-1])
