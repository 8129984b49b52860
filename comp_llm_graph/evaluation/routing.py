"""Evaluation of routing on labelled questions: accuracy, macro-F1, confusion, throughput."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from comp_llm_graph.experts.training import Labelled

__all__ = ["evaluate_routing", "routing_markdown"]

BATCH = 256
"""Questions routed per call (one embedding batch, one index query)."""


def evaluate_routing(registry: Any, rows: Sequence[Labelled], *,
                     progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Route every question and compare with its label.

    Returns:
        `top1`, `top3`, `macro_f1`, `per_expert` (precision, recall, f1, support),
        `confusion` (gold -> predicted -> count), `routes_per_s` and `n`.
    """
    questions = [row.question for row in rows]
    registry.route(questions[:8])  # load the model and open the index outside the timing
    routes = []
    started = time.perf_counter()
    for start in range(0, len(questions), BATCH):
        routes += registry.route(questions[start:start + BATCH], top_k=3)
        if progress:
            progress(min(BATCH, len(questions) - start))
    seconds = time.perf_counter() - started
    confusion: dict[str, Counter] = defaultdict(Counter)
    top3 = 0
    for row, route in zip(rows, routes, strict=True):
        confusion[row.expert][route.expert] += 1
        top3 += row.expert in [name for name, _ in route.candidates]
    predicted = Counter(route.expert for route in routes)
    per_expert = {}
    for expert in sorted(confusion):
        right = confusion[expert][expert]
        support = sum(confusion[expert].values())
        precision = right / predicted[expert] if predicted[expert] else 0.0
        recall = right / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_expert[expert] = {"precision": round(precision, 4), "recall": round(recall, 4),
                              "f1": round(f1, 4), "support": support}
    n = len(rows)
    return {
        "n": n,
        "top1": round(sum(c[e] for e, c in confusion.items()) / n, 4),
        "top3": round(top3 / n, 4),
        "macro_f1": round(sum(p["f1"] for p in per_expert.values()) / len(per_expert), 4),
        "routes_per_s": round(n / seconds, 1),
        "per_expert": per_expert,
        "confusion": {gold: dict(counts.most_common()) for gold, counts in confusion.items()},
    }


def routing_markdown(results: dict[str, Any], title: str) -> str:
    """A Markdown summary: overall numbers, then precision/recall/F1 and top confusions."""
    lines = [f"### {title}", "",
             f"top-1 **{results['top1']:.3f}**, top-3 {results['top3']:.3f}, macro-F1 "
             f"{results['macro_f1']:.3f}, {results['routes_per_s']:.0f} routes/s "
             f"({results['n']} questions)", "",
             "| expert | precision | recall | F1 | support | most often confused with |",
             "|---|---|---|---|---|---|"]
    for expert, row in results["per_expert"].items():
        wrong = [(p, c) for p, c in results["confusion"][expert].items() if p != expert][:2]
        confused = ", ".join(f"{p} ({c})" for p, c in wrong) or "-"
        lines.append(f"| {expert} | {row['precision']:.3f} | {row['recall']:.3f} | "
                     f"{row['f1']:.3f} | {row['support']} | {confused} |")
    return "\n".join(lines) + "\n"
