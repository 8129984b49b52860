"""Labelled questions in Chroma: the `examples` router and `route --explain`.

`comp-llm experts fit` stores its training questions with their sentence embeddings, in a
collection named after the cards they were fitted for. The `examples` router sums the similarity
of the five nearest per expert (the semantic-router recipe, kept as a baseline); `explain` shows
the three nearest next to any router's decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.routing.chroma import ChromaStore
from comp_llm_graph.experts.routing.decision import Route
from comp_llm_graph.experts.routing.features import sentence_part

__all__ = ["EXAMPLES_TOP_K", "ExamplesIndex"]

EXAMPLES_TOP_K = 5
"""Nearest labelled examples summed per expert by the `examples` router (semantic-router's 5)."""
EXPLAIN_TOP_K = 3
"""Nearest labelled examples shown by `explain`."""
STORE_BATCH = 1000
"""Examples added to Chroma per call."""


class ExamplesIndex:
    """The labelled questions a router was fitted on, for one set of cards."""

    def __init__(self, store: ChromaStore, collection_name: str):
        """The collection `collection_name` in `store` (it exists once `fit` has stored it)."""
        self.store = store
        self.collection_name = collection_name

    def collection(self) -> Any:
        """The stored collection.

        Raises:
            CompLLMError: nothing was stored for these cards (`fit` was not run).
        """
        from chromadb.errors import NotFoundError

        try:
            return self.store.collection(self.collection_name, create=False)
        except NotFoundError as exc:
            raise CompLLMError("no labelled examples stored for these experts; run "
                               "`comp-llm experts fit --data DIR` first.") from exc

    def replace(self, questions: Sequence[str], experts: Sequence[str], topics: Sequence[str],
                features: np.ndarray) -> None:
        """Store these labelled questions instead of any stored before."""
        collection = self.store.collection(self.collection_name, fresh=True)
        vectors = sentence_part(features)
        for start in range(0, len(questions), STORE_BATCH):
            end = min(start + STORE_BATCH, len(questions))
            collection.add(
                ids=[f"ex{i}" for i in range(start, end)],
                embeddings=vectors[start:end].tolist(),
                documents=list(questions[start:end]),
                metadatas=[{"expert": experts[i], "topic": topics[i]} for i in range(start, end)])

    def _nearest(self, features: np.ndarray, n: int, collection: Any = None) -> dict[str, Any]:
        return (collection or self.collection()).query(
            query_embeddings=sentence_part(features).tolist(), n_results=n,
            include=["metadatas", "distances", "documents"])

    def route(self, questions: Sequence[str], features: np.ndarray, top_k: int) -> list[Route]:
        """Each question to the expert whose nearest examples are the most similar in sum."""
        result = self._nearest(features, EXAMPLES_TOP_K)
        routes = []
        for question, metadatas, distances in zip(
                questions, result["metadatas"], result["distances"], strict=True):
            votes: dict[str, float] = {}
            for metadata, distance in zip(metadatas, distances, strict=True):
                expert = str(metadata["expert"])
                votes[expert] = votes.get(expert, 0.0) + 1.0 - float(distance)
            ranked = sorted(votes.items(), key=lambda item: item[1], reverse=True)[:top_k]
            routes.append(Route(question=question, expert=ranked[0][0],
                                score=round(ranked[0][1], 4),
                                candidates=[(e, round(v, 4)) for e, v in ranked],
                                fallback=False, method="examples"))
        return routes

    def explain(self, routes: list[Route], features: Callable[[], np.ndarray]) -> list[Route]:
        """The routes with their nearest labelled questions (unchanged if none are stored).

        `features` computes the questions' features; it is not called when nothing is stored.
        """
        try:
            collection = self.collection()
        except CompLLMError:
            return routes  # no labelled questions stored (not fitted here): nothing to show
        result = self._nearest(features(), EXPLAIN_TOP_K, collection)
        return [
            Route(**{**route.__dict__, "examples": [
                (str(doc), str(meta["expert"]), round(1.0 - float(dist), 4))
                for doc, meta, dist in zip(docs, metas, dists, strict=True)]})
            for route, docs, metas, dists in zip(
                routes, result["documents"], result["metadatas"], result["distances"],
                strict=True)
        ]
