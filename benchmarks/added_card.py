"""Routing accuracy of the default pack plus one added card, before and after the extension.

The added card is `astronomy` (description and five examples from MMLU's astronomy dev split);
its questions are MMLU astronomy test questions, which the pack sends to `physics`. Before, one
added card switched `auto` routing from the learned router to similarity over every card; now
the fitted router is extended to the card by its capability vector
(`comp_llm_graph/experts/routing/extension.py`). Scored on every astronomy test question and a
seeded sample of the other subjects' test questions (gold: their pack expert), in one run:

    python benchmarks/added_card.py --data ../shared/data/mmlu --sample 600 --json out.json
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import warnings
from pathlib import Path

from comp_llm_graph.evaluation.data import mmlu_questions
from comp_llm_graph.experts import DEFAULT_PACK, ExpertCard, ExpertRegistry, load_card

DESCRIPTION = ("Astronomy: stars, planets, moons, galaxies, the solar system, telescopes, "
               "orbits and cosmology.")


def astronomy_card(root: Path) -> tuple[ExpertCard, list[str]]:
    """The added card (examples from the dev split) and the astronomy test questions."""
    def questions(split: str) -> list[str]:
        with (root / split / f"astronomy_{split}.csv").open(newline="", encoding="utf-8") as f:
            return [row[0] for row in csv.reader(f) if row]

    physics = load_card(DEFAULT_PACK / "physics.yaml")
    card = physics.model_copy(update={"name": "astronomy", "description": DESCRIPTION,
                                      "examples": questions("dev")[:5], "source": None})
    return card, questions("test")


def accuracy(registry: ExpertRegistry, rows: list[tuple[str, str]]) -> dict[str, float]:
    routes = registry.route([q for q, _ in rows])
    right = [r.expert == gold for r, (_, gold) in zip(routes, rows, strict=True)]
    added = [ok for ok, (_, gold) in zip(right, rows, strict=True) if gold == "astronomy"]
    others = [ok for ok, (_, gold) in zip(right, rows, strict=True) if gold != "astronomy"]
    return {"all": round(sum(right) / len(right), 4),
            "astronomy": round(sum(added) / len(added), 4),
            "other_experts": round(sum(others) / len(others), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mmlu"))
    parser.add_argument("--sample", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    card, astronomy = astronomy_card(args.data)
    others = [r for r in mmlu_questions(args.data, ["test"]) if r.topic != "astronomy"]
    others = random.Random(args.seed).sample(others, args.sample)
    rows = [(q, "astronomy") for q in astronomy] + [(r.question, r.expert) for r in others]
    pack = [load_card(path) for path in sorted(DEFAULT_PACK.glob("*.yaml"))]
    results = {"astronomy_questions": len(astronomy), "other_questions": len(others),
               "seed": args.seed}
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, router in (("before: similarity (what auto fell back to)", "similarity"),
                             ("after: learned, extended to the card", "auto")):
            registry = ExpertRegistry([*pack, card], persist_directory=Path(folder) / router,
                                      router=router)
            results[name] = accuracy(registry, rows)
            results[name]["method"] = registry.router.method
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
