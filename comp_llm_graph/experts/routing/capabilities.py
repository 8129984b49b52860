"""The learned router's topics as expert-capability embeddings, stored and queried in Chroma.

The design routes a sub-query by comparing it with expert-capability embeddings in Chroma. The
learned head is exactly that once read the right way: a topic's weight vector, with its bias as
one more dimension, is the topic's capability embedding, and its logit for a question is the
inner product with the question's features (with a 1 appended). `CapabilityIndex` keeps those
vectors in a Chroma collection in inner-product space (one per fitted router, named by its key)
and asks Chroma for every topic's inner product with each sub-query; the softmax over topics,
summed per expert, is the learned router's decision, unchanged (`tests` check they match).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from comp_llm_graph.experts.routing.chroma import ChromaStore
from comp_llm_graph.experts.routing.learned import LearnedRouter

__all__ = ["CapabilityIndex"]


class CapabilityIndex:
    """The topics' capability embeddings of one fitted router in a Chroma collection."""

    def __init__(self, store: ChromaStore, name: str):
        """Keep the embeddings in collection `name` of `store` (written on first use)."""
        self.store = store
        self.name = name
        self._collection: Any = None
        self._written_for: int | None = None
        self._lock = threading.Lock()

    def _collection_for(self, router: LearnedRouter) -> Any:
        """The collection holding `router`'s topics, written once per router."""
        with self._lock:
            if self._written_for != id(router):
                collection = self.store.collection(self.name, create=True, space="ip")
                vectors = np.hstack([router.coef, router.intercept[:, None]]).astype(np.float32)
                if not self._holds(collection, vectors):
                    collection = self.store.collection(self.name, fresh=True, space="ip")
                    collection.add(
                        ids=[f"topic:{i}" for i in range(len(router.topics))],
                        embeddings=vectors.tolist(),
                        metadatas=[{"topic": t, "expert": e} for t, e in
                                   zip(router.topics, router.topic_experts, strict=True)])
                self._collection, self._written_for = collection, id(router)
            return self._collection

    @staticmethod
    def _holds(collection: Any, vectors: np.ndarray) -> bool:
        """Whether the collection already holds exactly these topic vectors."""
        if collection.count() != len(vectors):
            return False
        stored = collection.get(include=["embeddings"])
        by_id = dict(zip(stored["ids"], stored["embeddings"], strict=True))
        return all(f"topic:{i}" in by_id and np.allclose(by_id[f"topic:{i}"], vector, atol=1e-6)
                   for i, vector in enumerate(vectors))

    def logits(self, router: LearnedRouter, features: np.ndarray) -> np.ndarray:
        """Every topic's inner product with each question, as Chroma returns it.

        Shape (questions, topics), columns in `router.topics` order. Chroma's inner-product
        distance is `1 - a.b`.
        """
        collection = self._collection_for(router)
        queries = np.hstack([features, np.ones((len(features), 1), features.dtype)])
        found = collection.query(query_embeddings=queries.astype(np.float32).tolist(),
                                 n_results=len(router.topics), include=["distances"])
        logits = np.empty((len(features), len(router.topics)), np.float64)
        for row, (ids, distances) in enumerate(zip(found["ids"], found["distances"],
                                                    strict=True)):
            for topic_id, distance in zip(ids, distances, strict=True):
                logits[row, int(topic_id.split(":", 1)[1])] = 1.0 - distance
        return logits
