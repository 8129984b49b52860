"""Planner demonstrations retrieved per query from a bank of gold decompositions.

A 135M planner given two fixed examples restates the question (1.5 sub-queries per plan, no
dependency written in 40 gold plans). Shown the gold decompositions of the questions most like
the user's, it copies their shape: steps, and `{q1}` references where a step needs an earlier
answer. The bank holds the *train* splits of the shared data (StrategyQA train: 2,061
decompositions with `#k` references; MuSiQue train: 100 step DAGs), never the dev/test items the
planning evaluation scores. GSM8K train is left out: its solutions are calculations, not
sub-questions (docs/planning.md).

The questions are embedded with the shipped MiniLM in their own Chroma collection (next to the
routing index); `PlanDemonstrations.nearest(query, k)` returns the k nearest as
(question, plan JSON) pairs for the planner's few-shot turns.

    bank = PlanDemonstrations.build("../shared/data")   # once (`comp-llm demonstrations`)
    bank = PlanDemonstrations.open()                      # later: None when never built
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comp_llm_graph.cache import default_cache_dir
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.routing.chroma import ChromaStore

__all__ = ["COLLECTION", "Demonstration", "PlanDemonstrations", "load_bank"]

COLLECTION = "comp_llm_plan_demonstrations"
"""The Chroma collection of the bank."""
DEFAULT_K = 2
"""Demonstrations shown per query."""
_HASH_REF = re.compile(r"#(\d+)")


@dataclass(frozen=True)
class Demonstration:
    """A question and its gold plan, in the planner's JSON format."""

    id: str
    question: str
    plan: str


def _plan_json(steps: list[str]) -> str | None:
    """Gold steps with `#k` references -> the planner's JSON, `{qk}` references."""
    subqueries = []
    for number, step in enumerate(steps, start=1):
        refs = sorted({int(k) for k in _HASH_REF.findall(step)})
        if any(not 1 <= k < number for k in refs):
            return None
        text = _HASH_REF.sub(lambda m: "{q" + m.group(1) + "}", " ".join(step.split()))
        subqueries.append({"id": f"q{number}", "question": text.replace(" ?", "?"),
                           "depends_on": [f"q{k}" for k in refs]})
    return json.dumps({"subqueries": subqueries}, ensure_ascii=False)


def load_bank(data: str | Path) -> list[Demonstration]:
    """The train-split decompositions under the shared data folder (StrategyQA, MuSiQue)."""
    root = Path(data)
    sources = {"strategyqa": (root / "strategyqa" / "train.json", "qid", "decomposition"),
               "musique": (root / "musique" / "musique_train.json", "id",
                           "question_decomposition")}
    bank: list[Demonstration] = []
    for name, (path, key, field) in sources.items():
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CompLLMError(f"cannot read {path}: {exc}") from exc
        for record in records:
            steps = [s["question"] if isinstance(s, dict) else s for s in record[field]]
            plan = _plan_json(steps) if len(steps) >= 2 else None
            if plan is not None:
                bank.append(Demonstration(f"{name}:{record[key]}", record["question"], plan))
    return bank


class PlanDemonstrations:
    """The bank in a Chroma collection; `nearest` retrieves demonstrations for a query."""

    def __init__(self, collection: Any, embeddings: Any, *, store: ChromaStore | None = None):
        """Wrap a collection and the embeddings of its questions (None: MiniLM).

        With `collection=None`, the bank's collection in `store` is looked for on first use.
        """
        self._collection = collection
        self._store = store
        self._embeddings = embeddings
        self._looked = collection is not None

    @classmethod
    def default(cls, folder: str | Path | None = None) -> PlanDemonstrations:
        """The bank in the cache `folder` (default: `default_cache_dir()`), opened on first use.

        It is empty when it was never built.
        """
        return cls(None, None, store=ChromaStore(Path(folder or default_cache_dir())))

    @property
    def collection(self) -> Any | None:
        """The bank's collection (None when it was never built)."""
        if not self._looked:
            from chromadb.errors import NotFoundError

            try:
                self._collection = self._store.collection(COLLECTION, create=False)
            except NotFoundError:
                self._collection = None
            self._looked = True
        return self._collection

    @property
    def embeddings(self) -> Any:
        """The embeddings of the bank's questions."""
        if self._embeddings is None:
            from comp_llm_graph.experts.routing.similarity import default_embeddings

            self._embeddings = default_embeddings()
        return self._embeddings

    @classmethod
    def build(cls, data: str | Path, *, client: Any = None, embeddings: Any = None,
              folder: str | Path | None = None) -> PlanDemonstrations:
        """Embed the bank of `load_bank(data)` into its collection (replacing an older one).

        `client`: a Chroma client (default: the persistent one of the routing index, in
        `folder`, else `default_cache_dir()`).
        """
        bank = load_bank(data)
        demonstrations = cls(None, embeddings)
        embeddings = demonstrations.embeddings
        store = ChromaStore(Path(folder or default_cache_dir()), client)
        collection = store.collection(COLLECTION, fresh=True)
        for start in range(0, len(bank), 256):
            chunk = bank[start:start + 256]
            collection.add(ids=[d.id for d in chunk], documents=[d.question for d in chunk],
                           metadatas=[{"plan": d.plan} for d in chunk],
                           embeddings=embeddings.embed_documents([d.question for d in chunk]))
        return cls(collection, embeddings)

    @classmethod
    def open(cls, *, client: Any = None, embeddings: Any = None,
             folder: str | Path | None = None) -> PlanDemonstrations | None:
        """The bank built earlier, or None when there is none.

        It is looked for in `client`, else in the cache `folder` (default: `default_cache_dir()`).
        """
        bank = cls(None, embeddings,
                   store=ChromaStore(Path(folder or default_cache_dir()), client))
        return bank if bank.collection is not None else None

    def __len__(self) -> int:
        return self.collection.count() if self.collection is not None else 0

    def nearest(self, query: str, k: int = DEFAULT_K) -> list[tuple[str, str]]:
        """The k demonstrations whose questions are nearest `query`, nearest last.

        Empty when the bank was never built: the planner keeps its fixed examples.
        """
        if self.collection is None:
            return []
        found = self.collection.query(query_embeddings=[self.embeddings.embed_query(query)],
                                      n_results=k, include=["documents", "metadatas"])
        pairs = [(question, meta["plan"]) for question, meta in
                 zip(found["documents"][0], found["metadatas"][0], strict=True)]
        return pairs[::-1]  # the nearest right before the query
