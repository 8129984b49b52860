"""How often does the planner's output become a valid sub-query DAG?

Runs the sub-query generator's planning step (planner call, parse, validate, repair, one re-ask,
fallback) on multi-hop questions from ../shared/data and counts the outcomes, for SmolLM2 with
grammar-constrained decoding and, with --compare-free, with free generation.

    python benchmarks/plan_validity.py --dataset musique --n 100 --compare-free --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from pathlib import Path

from tqdm import tqdm

from comp_llm_graph.context import Context
from comp_llm_graph.graph import PLANNER_MAX_NEW_TOKENS
from comp_llm_graph.models import smollm2
from comp_llm_graph.nodes.generate_subqueries import make_plan

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_questions(dataset: str, n: int, seed: int) -> list[str]:
    """`n` questions sampled with a fixed seed from a dev set with multi-hop questions."""
    if dataset == "musique":
        items = [x["question"] for x in json.loads((DATA / "musique" / "dev.json").read_text())]
    elif dataset == "strategyqa":
        items = [x["question"] for x in json.loads((DATA / "strategyqa" / "dev.json").read_text())]
    else:
        raise SystemExit(f"unknown dataset {dataset!r}: use musique or strategyqa")
    return random.Random(seed).sample(items, n)


async def measure(questions: list[str], *, constrained: bool, max_subqueries: int) -> dict:
    planner = smollm2(PLANNER_MAX_NEW_TOKENS, plan_grammar=constrained)
    planner.load()
    context = Context(max_subqueries=max_subqueries)
    counts = {"valid": 0, "repaired": 0, "replanned": 0, "fallback": 0}
    first_parsed, sizes, edges, seconds, repairs = 0, [], [], [], {}
    label = "constrained" if constrained else "free"
    for question in tqdm(questions, desc=f"planning ({label})", unit="q"):
        started = time.perf_counter()
        planned, planning = await make_plan(planner, question, context)
        seconds.append(time.perf_counter() - started)
        counts[planning["status"]] += 1
        first_parsed += planning["attempts"][0]["accepted"]
        for note in planning["attempts"][-1]["repairs"]:
            kind = ("repeat" if "repeated" in note or "appeared twice" in note else
                    "self" if "itself" in note else "unknown ref" if "unknown" in note else
                    "cycle" if "cycle" in note else "other")
            repairs[kind] = repairs.get(kind, 0) + 1
        if planning["status"] != "fallback":
            sizes.append(len(planned))
            edges.append(sum(len(s.depends_on) for s in planned))
    n = len(questions)
    return {
        "questions": n,
        "valid_as_generated": counts["valid"] / n,
        "valid_after_repair": (counts["valid"] + counts["repaired"]) / n,
        "valid_without_fallback": (n - counts["fallback"]) / n,
        "first_output_used": first_parsed / n,
        "replanned": counts["replanned"] / n,
        "fallback": counts["fallback"] / n,
        "mean_subqueries": statistics.mean(sizes) if sizes else 0.0,
        "share_multi_step": sum(s > 1 for s in sizes) / n,
        "share_with_dependency": sum(e > 0 for e in edges) / n,
        "repairs": repairs,
        "seconds_per_plan": statistics.mean(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="musique", choices=["musique", "strategyqa"])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-subqueries", type=int, default=5)
    parser.add_argument("--compare-free", action="store_true",
                        help="also measure free (unconstrained) generation")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    questions = load_questions(args.dataset, args.n, args.seed)
    results = {"dataset": args.dataset, "seed": args.seed, "constrained": asyncio.run(
        measure(questions, constrained=True, max_subqueries=args.max_subqueries))}
    if args.compare_free:
        results["free"] = asyncio.run(
            measure(questions, constrained=False, max_subqueries=args.max_subqueries))

    rows = ["valid_as_generated", "valid_after_repair", "valid_without_fallback",
            "first_output_used", "replanned", "fallback", "mean_subqueries", "share_multi_step",
            "share_with_dependency", "seconds_per_plan"]
    modes = [m for m in ("constrained", "free") if m in results]
    print(f"\nPlan validity, SmolLM2-135M planner, {args.n} {args.dataset} dev questions "
          f"(seed {args.seed})")
    print(f"| metric | {' | '.join(modes)} |\n|---|{'---|' * len(modes)}")
    for row in rows:
        print(f"| {row} | " + " | ".join(f"{results[m][row]:.2f}" for m in modes) + " |")
    for mode in modes:
        print(f"repairs ({mode}): {results[mode]['repairs']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
