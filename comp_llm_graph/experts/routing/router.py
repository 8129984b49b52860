"""`Router`: picks the router for a set of cards (resolving `auto`) and routes with it."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.cards import DEFAULT_PACK, ExpertCard
from comp_llm_graph.experts.routing.capabilities import CapabilityIndex
from comp_llm_graph.experts.routing.chroma import ChromaStore
from comp_llm_graph.experts.routing.decision import ROUTERS, Route
from comp_llm_graph.experts.routing.examples import ExamplesIndex
from comp_llm_graph.experts.routing.learned import FittedRouters, route_learned, router_key
from comp_llm_graph.experts.routing.similarity import CardIndex

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from comp_llm_graph.experts.routing.features import FeatureEncoder
    from comp_llm_graph.experts.routing.learned import LearnedRouter

__all__ = ["PACKAGED_ROUTERS", "Router", "RoutingChangedWarning"]

PACKAGED_ROUTERS = DEFAULT_PACK / "router"
"""Routers shipped with the package: the default pack's, fitted on MMLU dev+val."""


class RoutingChangedWarning(UserWarning):
    """`auto` routing fell back to similarity because the cards differ from the fitted ones."""


class Router:
    """Routes questions among a set of cards with the chosen method.

    Holds the three routers' state: the cards' similarity index, the fitted learned router (if
    any) with its feature encoder, and the stored labelled examples.
    """

    def __init__(self, cards: Mapping[str, ExpertCard], *, fallback: str, threshold: float,
                 method: str, persist_directory: Path, client: Any = None,
                 collection_name: str, embeddings: Embeddings | None = None,
                 encoder: Any = None, chroma_url: str | None = None):
        """A router over `cards` (see `ExpertRegistry` for the arguments)."""
        if method not in ROUTERS:
            raise ValueError(f"router must be one of {', '.join(ROUTERS)}; got {method!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1; got {threshold}")
        self.cards = cards
        self.fallback = fallback
        self.threshold = threshold
        self.requested = method
        self.store = ChromaStore(persist_directory, client, chroma_url)
        self.index = CardIndex(cards, self.store, collection_name, embeddings)
        self.key = router_key({name: card.fingerprint() for name, card in cards.items()},
                              fallback)
        self.folder = persist_directory / "router"
        """Where fitted routers and the exported feature model are kept (beside the index)."""
        self.fitted = FittedRouters([self.folder, PACKAGED_ROUTERS], self.key)
        self.examples = ExamplesIndex(self.store, f"{collection_name}_examples_{self.key}")
        self.capabilities = CapabilityIndex(self.store,
                                            f"{collection_name}_capabilities_{self.key}")
        self.given_encoder = encoder
        """The encoder passed in (e.g. a fake in tests), or None: the MiniLM one."""
        self._encoder: Any = None
        self._lock = threading.RLock()  # `method` holds it while `encoder` takes it again
        self._announced = False
        self._extension: LearnedRouter | None = None
        self._base: LearnedRouter | None = None

    @property
    def method(self) -> str:
        """The router in use: the requested one, with `auto` resolved.

        When `auto` cannot use a router fitted for exactly these cards but one was fitted for
        all of them but the added ones, that one is extended to them (`extension.py`); else it
        is similarity. Either change is announced once with a `RoutingChangedWarning`.
        """
        if self.requested != "auto":
            return self.requested
        return "learned" if self._learned() is not None else "similarity"

    def _learned(self) -> LearnedRouter | None:
        """The router fitted for these cards, else the extended one (see `method`).

        The extension is made, and announced, once.
        """
        fitted = self.fitted.get()
        if fitted is not None:
            return fitted
        with self._lock:
            if not self._announced:
                self._announced = True
                saved = self.fitted.fitted_for()
                self._extension = self._extend(saved)
                self._announce_change(saved)
        return self._extension

    def _extend(self, saved: list[tuple[list[str], str, Path, str]]) -> LearnedRouter | None:
        """A saved router whose cards are all here unchanged, extended to the added ones."""
        from comp_llm_graph.experts.routing.extension import extended
        from comp_llm_graph.experts.routing.learned import LearnedRouter, router_key

        for experts, fallback, folder, key in saved:
            if (fallback != self.fallback or not set(experts) < set(self.cards)
                    or router_key({n: self.cards[n].fingerprint() for n in experts},
                                  fallback) != key):
                continue
            added = {n: card for n, card in self.cards.items() if n not in experts}
            fitted = LearnedRouter.load(folder, key)
            if fitted is not None and 2 * len(added) <= len(experts):
                self._base = fitted  # the encoder reads what its fit read
                return extended(fitted, added, self.encoder())
        return None

    def _announce_change(self, saved: list[tuple[list[str], str, Path, str]]) -> None:
        """Say once that `auto` is not using a router fitted for exactly these cards, and why."""
        cards = set(self.cards)
        alike = [set(experts) for experts, *_ in saved
                 if 2 * len(set(experts) & cards) >= len(experts)]
        if not alike:
            return  # no fit for cards like these (another pack): similarity is the default
        nearest = min(alike, key=lambda experts: len(experts ^ cards))
        added, removed = sorted(cards - nearest), sorted(nearest - cards)
        what = "; ".join(part for part in (
            f"added: {', '.join(added)}" if added else "",
            f"removed: {', '.join(removed)}" if removed else "",
            "" if added or removed else "a card's text changed") if part)
        if self._extension is not None:
            change = (f"routing by the learned router fitted without {', '.join(added)}, "
                      "extended to them by their cards' capability vectors")
        else:
            change = "routing by similarity: the learned router was fitted for other experts"
        warnings.warn(
            f"{change} ({what}). Fit one for these cards with `comp-llm experts fit --data DIR` "
            "(or pass router='similarity' to choose similarity).", RoutingChangedWarning,
            stacklevel=4)

    def encoder(self) -> FeatureEncoder | Any:
        """The feature encoder of the learned and examples routers (reads what the fit read)."""
        from comp_llm_graph.experts.routing.features import DEFAULT_MAX_LENGTH, FeatureEncoder

        if self.given_encoder is not None:
            return self.given_encoder
        learned = self.fitted.get() or self._base
        max_length = learned.max_length if learned else DEFAULT_MAX_LENGTH
        with self._lock:
            if self._encoder is None or self._encoder.max_length != max_length:
                self._encoder = FeatureEncoder(self.folder, max_length=max_length)
            return self._encoder

    def route(self, questions: Sequence[str], *, top_k: int = 3,
              explain: bool = False) -> list[Route]:
        """Route questions, in one batch (see `ExpertRegistry.route`)."""
        if not questions:
            return []
        method = self.method
        features = None
        if method == "similarity":
            routes = self.index.route(questions, top_k, threshold=self.threshold,
                                      fallback=self.fallback)
        else:
            learned = self._learned()
            if learned is None:
                raise CompLLMError(
                    f"router {method!r} needs a fitted router for these experts "
                    f"({', '.join(sorted(self.cards))}); run `comp-llm experts fit --data DIR` "
                    "first.")
            features = self.encoder()(list(questions))
            if method == "learned":
                logits = self.capabilities.logits(learned, features)
                routes = route_learned(questions, features, learned, self.fallback, top_k,
                                       logits)
            else:
                routes = self.examples.route(questions, features, top_k)
        if explain:
            routes = self.examples.explain(
                routes, lambda: features if features is not None else self.encoder()(
                    list(questions)))
        return routes

    def learned_router(self) -> LearnedRouter | None:
        """The router fitted for these cards, or the one extended to the added ones."""
        return self._learned()
