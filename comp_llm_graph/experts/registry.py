"""The expert registry: the cards, the Runnables that run them, and the router among them.

`ExpertRegistry` holds one validated set of cards (unique names, a fallback among them, known
backends), builds each expert's Runnable on first use, and routes questions through its `Router`
(`comp_llm_graph.experts.routing`: similarity to the cards in Chroma, the learned router, or the
nearest labelled examples).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.errors import GraphBubbleUp

from comp_llm_graph.cache import default_cache_dir, usable_cache_dir
from comp_llm_graph.errors import CompLLMError, ExpertCardError
from comp_llm_graph.experts.backends import backend_factory, build_expert
from comp_llm_graph.experts.cards import DEFAULT_PACK, ExpertCard, load_cards
from comp_llm_graph.experts.inline import as_expert, inline_cards, unmatched_error, unpack
from comp_llm_graph.experts.routing import ROUTERS, Route, Router
from comp_llm_graph.experts.routing.similarity import DEFAULT_THRESHOLD
from comp_llm_graph.faults import CallPolicy, describe, policy_of

if TYPE_CHECKING:
    from comp_llm_graph.experts.training import FitReport, Labelled

__all__ = ["ROUTERS", "ExpertRegistry", "Route"]


_log = logging.getLogger(__name__)


class ExpertRegistry:
    """Expert cards, the Runnables that run them, and the router used to pick one."""

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
        chroma_url: str | None = None,
        expert_model: str | None = None,
    ):
        """Create a registry.

        Args:
            cards: The expert cards; names must be unique.
            embeddings: LangChain embeddings for routing (default: the embedded MiniLM).
            client: A Chroma client; default: a persistent client in `persist_directory`.
            persist_directory: Folder of the persistent index (default: `default_cache_dir()`);
                made if missing. A file or a place that cannot be written is a `CompLLMError`.
            collection_name: Chroma collection; one per embedding model is kept.
            threshold: Best similarity below which the fallback expert is used.
            fallback: Name of the fallback (generalist) expert; must be one of the cards.
            experts: What runs some cards instead of their backends, keyed by card name: a
                chat model (given the expert prompt), a tool, a Runnable or a function
                (`comp_llm_graph.experts.inline`); a name without a card is an error.
            router: auto, similarity, learned or examples (`comp_llm_graph.experts.routing`).
            encoder: Features for the learned and examples routers: a callable from a list of
                texts to an array of shape (texts, 768) (default: the MiniLM `FeatureEncoder`).
            chroma_url: A Chroma server to keep the collections on, e.g.
                `http://127.0.0.1:8000` (default: `COMP_LLM_CHROMA_URL`, else on disk in
                `persist_directory`; fitted routers stay on disk either way).
            expert_model: A catalogue model (`comp-llm models`) for every card that runs one,
                over its own `model:` and the saved profile (to compare packs: everything on
                one model).
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
        folder = Path(persist_directory or default_cache_dir())
        if persist_directory is not None or client is None:  # written to: fail now, named
            folder = usable_cache_dir(folder, "the routing index folder (persist_directory)")
        self.router = Router(
            self.cards, fallback=fallback, threshold=threshold, method=router,
            persist_directory=folder, client=client,
            collection_name=collection_name, embeddings=embeddings, encoder=encoder,
            chroma_url=chroma_url)
        """Picks the expert of each question (`comp_llm_graph.experts.routing`): its method
        (`router.method`, `auto` resolved; `router.requested`), the fitted router for these
        cards (`router.learned_router()`, `router.key`, `router.folder`), the card index
        (`router.index`)."""
        self.profiled = self._apply_profile(expert_model)
        """Experts whose model the saved profile (or `expert_model`) chose."""
        self._experts: dict[str, Runnable] = {}
        self._lock = threading.Lock()
        self.use_experts(experts or {})
        for card in self.cards.values():
            if card.name not in (experts or {}):
                backend_factory(card.backend, card)  # an unknown backend fails here, not mid-run
        self.threshold = threshold
        self.fallback = fallback

    def _apply_profile(self, expert_model: str | None) -> dict[str, str]:
        """Give each card without its own model the profile's choice; the choices applied."""
        from comp_llm_graph.experts.profiles import PROFILED_BACKENDS, load_profile
        from comp_llm_graph.experts.routing.router import PACKAGED_ROUTERS
        from comp_llm_graph.models import INSTRUCT_MODELS

        if expert_model is not None and expert_model not in INSTRUCT_MODELS:
            raise ExpertCardError(f"expert_model {expert_model!r} is not an instruct model of "
                                  f"the catalogue: use one of {', '.join(INSTRUCT_MODELS)}.")
        chosen = (dict.fromkeys(self.cards, expert_model) if expert_model else
                  load_profile([self.router.folder, PACKAGED_ROUTERS], self.router.key))
        applied = {}
        for name, model in chosen.items():
            card = self.cards.get(name)
            if (card is not None and (card.model is None or expert_model)
                    and card.backend in PROFILED_BACKENDS):
                self.cards[name] = card.model_copy(update={"model": model})
                applied[name] = model
        return applied

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

    @classmethod
    def from_experts(cls, experts: Mapping[str, Any], *, fallback: str | None = None,
                     **kwargs: Any) -> ExpertRegistry:
        """A registry of experts given as Python objects (`comp_llm_graph.experts.inline`).

        An expert without a description of its own takes the default pack's card of its name.
        The fallback is `generalist` when there is one, else the first expert, unless named.
        """
        if not experts:
            raise ExpertCardError("No experts given: pass {name: chat model | runnable | tool}.")
        cards, objects = inline_cards(experts, {c.name: c for c in load_cards(DEFAULT_PACK)})
        if fallback is None:
            fallback = "generalist" if "generalist" in objects else next(iter(objects))
        return cls(cards, experts=objects, fallback=fallback, **kwargs)

    # -- the experts ---------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Expert names, sorted."""
        return sorted(self.cards)

    def max_concurrency(self, name: str) -> int | None:
        """The expert's limit on sub-queries at once (its card's `max_concurrency`)."""
        card = self.cards.get(name)
        return card.max_concurrency if card else None

    def call_policy(self, name: str, default: CallPolicy) -> CallPolicy:
        """The expert's time limit and retries: its card's `timeout` / `retries`, else `default`."""
        card = self.cards.get(name)
        if card is None:
            return default
        timeout = getattr(card, "timeout", None)
        if timeout is None and getattr(card, "backend", None) == "openai":
            timeout = _openai_total(card.options, default.timeout)
        return policy_of(timeout, getattr(card, "retries", None), default)

    def use_experts(self, experts: Mapping[str, Any]) -> None:
        """Run these cards on the given objects (chat model, tool, Runnable or function).

        The card describes each expert: a description or other card fields given with it are
        refused rather than ignored.

        Raises:
            ExpertCardError: a name that is not one of the cards, or card fields given.
        """
        unmatched = set(experts) - set(self.cards)
        if unmatched:
            raise unmatched_error(unmatched, self.cards)
        objects = {}
        for name, value in experts.items():
            objects[name], fields = unpack(name, value)
            if fields:
                source = self.cards[name].source or "given"
                raise ExpertCardError(
                    f"expert {name!r} is described by its card ({source}); give the object "
                    f"alone, not {', '.join(sorted(fields))}.")
        wrapped = {name: as_expert(self.cards[name], obj) for name, obj in objects.items()}
        with self._lock:
            self._experts.update(wrapped)

    def expert(self, name: str) -> Runnable:
        """The Runnable of an expert (built on first use; local models load on first call)."""
        if name not in self.cards:
            raise KeyError(f"unknown expert {name!r}; known: {', '.join(self.names)}")
        with self._lock:
            if name not in self._experts:
                self._experts[name] = build_expert(self.cards[name])
            return self._experts[name]

    # -- routing: the registry's verbs; the rest is `self.router`'s ---------------------------

    def route(self, questions: Sequence[str], *, top_k: int = 3,
              explain: bool = False) -> list[Route]:
        """Route questions, in one batch, to experts.

        Args:
            questions: The (sub-)questions.
            top_k: Candidates kept per question.
            explain: Also find the nearest labelled examples (needs `fit`).
        """
        return self.router.route(questions, top_k=top_k, explain=explain)

    async def aroute(self, questions: Sequence[str]) -> list[Route]:
        """Route questions in one batch, traced as a run named `route` (off the event loop).

        If routing fails at run time (the index or the embedding model raised), every question
        goes to the fallback expert, with the reason in its route (`SubQuery.route_error`): the
        run still answers. This package's setup errors (`CompLLMError`, e.g. an unusable index
        and how to recover) and LangGraph's interrupts are raised.
        """
        runnable = RunnableLambda(self.route, name="route")
        try:
            return await runnable.ainvoke(list(questions),
                                          config={"run_name": "route", "tags": ["comp_llm:route"]})
        except (GraphBubbleUp, CompLLMError):
            raise
        except Exception as exc:  # noqa: BLE001 - every question goes to the fallback, said why
            reason = f"routing failed ({describe(exc)}); sent to the fallback expert"
            _log.warning("%s", reason)
            return [Route(question=q, expert=self.fallback, score=0.0, candidates=[],
                          fallback=True, error=reason) for q in questions]

    def fit(self, rows: Sequence[Labelled], *, folds: int = 5, seed: int = 0,
            encoder: Any = None, progress: Any = None, trained_on: str = "",
            cards: bool = True) -> FitReport:
        """Fit the learned router on labelled questions and keep it (and the examples).

        See `comp_llm_graph.experts.training.fit` for the arguments.
        """
        from comp_llm_graph.experts.training import fit

        return fit(self.router, rows, folds=folds, seed=seed, encoder=encoder,
                   progress=progress, trained_on=trained_on, cards=cards)

    def index_cards(self) -> dict[str, int]:
        """Bring the cards' Chroma index up to date, embedding only changed cards.

        Returns what it did: cards `embedded` and `reused` (also `router.index.sync_stats`).
        """
        return self.router.index.sync()

    def __getattr__(self, name: str) -> Any:
        """The names this class had before `router` became the one routing attribute.

        Each still works for a while, with a `DeprecationWarning` naming its replacement.
        """
        if name not in _RENAMED:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        new, get = _RENAMED[name]
        warnings.warn(f"ExpertRegistry.{name} is now ExpertRegistry.{new}", DeprecationWarning,
                      stacklevel=2)
        return get(self)


_RENAMED: dict[str, tuple[str, Callable[[ExpertRegistry], Any]]] = {
    "routing": ("router", lambda r: r.router),
    "method": ("router.method", lambda r: r.router.method),
    "learned_router": ("router.learned_router", lambda r: r.router.learned_router),
    "router_key": ("router.key", lambda r: r.router.key),
    "router_folder": ("router.folder", lambda r: r.router.folder),
    "encoder": ("router.encoder", lambda r: r.router.encoder),
    "embeddings": ("router.index.embeddings", lambda r: r.router.index.embeddings),
    "sync": ("index_cards", lambda r: r.index_cards),
    "sync_stats": ("router.index.sync_stats", lambda r: r.router.index.sync_stats),
}


def _openai_total(options: Mapping[str, Any], default: float | None) -> float | None:
    """An openai card's `options.timeout` as a limit on the whole call, retries included.

    The HTTP client applies `timeout` between bytes, so a server that drips its reply would
    otherwise hold the call until the expert limit (300 s); None when the option is not set.
    """
    per_try = options.get("timeout")
    if not isinstance(per_try, (int, float)) or isinstance(per_try, bool):
        return None
    tries = 1 + int(options.get("max_retries", 2) or 0)
    total = float(per_try) * tries
    return total if default is None else min(total, default)
