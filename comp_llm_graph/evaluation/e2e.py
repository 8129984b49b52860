"""End-to-end evaluation: the same questions through the graph in comp, monolithic, sequential.

`evaluate_e2e(graph, {"mmlu_pairs": pairs, "musique": questions})` runs every question in every
mode on whatever planner and experts the graph holds (the default pack, or cards pointing at
OpenAI-compatible endpoints) and reports accuracy, wall time and generated tokens per mode;
`e2e_markdown` renders the tables and `e2e_records` the per-question rows (JSON lines).

The question sets (`mmlu_pairs`, `multihop_questions`) are in
`comp_llm_graph.evaluation.e2e_data`, the answer scoring (`extract_letters`, `qa_scores`) in
`comp_llm_graph.evaluation.scoring`; this module only runs, summarises and reports.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from comp_llm_graph.answers.coverage import asked_parts, missing_parts
from comp_llm_graph.context import MODES, Context
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.evaluation.e2e_data import Item

__all__ = [
    "E2E_MODES",
    "part_coverage",
    "e2e_markdown",
    "e2e_records",
    "e2e_summary",
    "evaluate_e2e",
    "run_graph",
]

E2E_MODES: tuple[str, ...] = ("comp", "monolithic", "sequential")
"""The modes compared by default (the paper's comparison)."""


# -- the evaluator -----------------------------------------------------------------------------


def _tokens(state: dict[str, Any]) -> dict[str, int]:
    """Generated tokens of one run by role, and the model calls that reported none."""
    answers = (state.get("answers") or {}).values()
    attempts = (state.get("planning") or {}).get("attempts", [])
    aggregation = state.get("aggregation") or {}
    expert = sum(a.get("output_tokens", 0) for a in answers)
    planner = sum(a.get("output_tokens", 0) for a in attempts)
    aggregator = aggregation.get("output_tokens", 0)
    unreported = (sum(1 for a in answers if "output_tokens" not in a and not a.get("error"))
                  + sum(1 for a in attempts if "output_tokens" not in a)
                  + int(aggregation.get("method") == "llm" and "output_tokens" not in aggregation))
    return {"tokens": expert + planner + aggregator, "expert_tokens": expert,
            "planner_tokens": planner, "aggregator_tokens": aggregator,
            "calls_without_token_counts": unreported}


def part_coverage(state: dict[str, Any]) -> float | None:
    """Share of the parts asked whose answer the final answer carries.

    The parts asked: the user's enumerated parts and the plan's end points (`asked_parts`).
    None when there is no plan or a single sub-query. Checked on the final state, independently
    of what the aggregator recorded; a part that failed counts as covered when the final
    answer names it (its id), as it must.
    """
    plan, answers = state.get("plan") or [], state.get("answers") or {}
    points = asked_parts(plan)
    if len(plan) < 2 or not points:
        return None
    missing = missing_parts(plan, answers, state.get("final_answer", ""))
    return 1 - len(missing) / len(points)


async def run_graph(graph: Any, item: Item, context: Context, config: Any) -> dict[str, Any]:
    """One question in one mode: prediction, scores, wall time, tokens; a failure recorded."""
    started = time.perf_counter()
    try:
        state = await graph.ainvoke({"query": item.query}, context=context, config=config)
    except Exception as exc:  # noqa: BLE001 - one failed run is recorded and scored wrong
        wall = time.perf_counter() - started
        return {"prediction": "", "scores": item.score(""), "wall_s": round(wall, 4),
                **_tokens({}), "subqueries": 0, "planning": None, "aggregation": None,
                "part_coverage": None, "error": f"{type(exc).__name__}: {exc}"}
    wall = time.perf_counter() - started
    prediction = state.get("final_answer", "")
    return {
        "prediction": prediction,
        "scores": item.score(prediction),
        "wall_s": round(wall, 4),
        **_tokens(state),
        "subqueries": len(state.get("plan") or []),
        "planning": (state.get("planning") or {}).get("status"),
        "aggregation": (state.get("aggregation") or {}).get("method"),
        "part_coverage": part_coverage(state),
        "error": None,
    }


def _summary(runs: list[dict[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    def mean(values: list[float]) -> float:
        return round(statistics.fmean(values), 4) if values else 0.0

    walls = [r["wall_s"] for r in runs]
    coverage = [r["part_coverage"] for r in runs if r.get("part_coverage") is not None]
    summary: dict[str, Any] = {"n": len(runs)}
    summary |= {m: mean([float(r["scores"][m]) for r in runs]) for m in metrics}
    summary |= {
        "wall_s_mean": mean(walls),
        "wall_s_median": round(statistics.median(walls), 4) if walls else 0.0,
        "wall_s_total": round(sum(walls), 4),
        "tokens_mean": mean([r["tokens"] for r in runs]),
        "expert_tokens_mean": mean([r["expert_tokens"] for r in runs]),
        "planner_tokens_mean": mean([r["planner_tokens"] for r in runs]),
        "aggregator_tokens_mean": mean([r["aggregator_tokens"] for r in runs]),
        "calls_without_token_counts": sum(r["calls_without_token_counts"] for r in runs),
        "subqueries_mean": mean([r["subqueries"] for r in runs]),
        "part_coverage": mean(coverage) if coverage else None,
        "part_coverage_min": min(coverage) if coverage else None,
        "multi_part_runs": len(coverage),
        "planning": dict(Counter(r["planning"] for r in runs if r["planning"]).most_common()),
        "errors": sum(r["error"] is not None for r in runs),
    }
    return summary


async def evaluate_e2e(
    graph: Any,
    sets: Mapping[str, Sequence[Item]],
    *,
    modes: Sequence[str] = E2E_MODES,
    context: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    warmup: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Answer every question of every set in every mode; score, time and count tokens.

    Order: question by question, every mode on a question before the next question, the
    modes' order rotating by one each question. Interleaving exposes every mode to the same
    drift in machine load (other processes, thermal state, a remote endpoint's queue), and a
    run stopped early still has every mode on the same questions; rotating keeps any mode
    from always running first, right after the previous question. Runs are one at a time (no
    two questions overlap), so wall time is each run's latency. Before anything is timed, the
    first question runs once in each mode, unscored (`warmup`): this loads the models, opens
    the routing index and compiles the plan grammar, for every mode's models. A warm-up
    failure raises (misconfiguration); a failure in a scored run is recorded in its record,
    counted in `errors`, and scored as a wrong answer.

    Tokens are generated (output) tokens as the models report them (`usage_metadata`):
    experts' (`answers[*].output_tokens`), the planner's (every plan attempt) and the
    aggregator's. Model calls that report none (e.g. the sympy math tool) count 0 and are
    counted in `calls_without_token_counts`. In react mode the `decide` steps are not counted.

    Args:
        graph: A compiled Comp-LLM graph, or the components for `build_graph` (planner,
            registry, aggregator), on any experts.
        sets: Set name -> questions (`mmlu_pairs`, `multihop_questions`, or anything with
            `id`, `query`, `gold`, `metrics` and `score(prediction)`).
        modes: The modes to compare, each a `Context.mode`.
        context: Other `Context` settings for every run (e.g. `max_subqueries`, `schedule`).
        config: RunnableConfig for every run (e.g. `{"max_concurrency": 4}`).
        warmup: Run the first question once per mode before timing.
        progress: Called with 1 after each scored run (a run is one question in one mode;
            there are `sum(len(s) for s in sets.values()) * len(modes)` of them).

    Returns:
        Set name -> `{"n", "metrics", "modes": {mode: summary}, "records": [...]}`. A mode's
        summary holds the mean of each metric (MMLU pairs: part_accuracy, both_correct,
        letters_found; multi-hop: exact, normalised, contains, f1), wall_s_mean/median/total,
        tokens_mean and its split (expert, planner, aggregator), subqueries_mean, planning
        (plan status counts), part_coverage (mean share of plan end points the final answer
        carries, over runs whose plan has several sub-queries; `multi_part_runs` of them) and
        part_coverage_min, errors and n. A record is `{"set", "id", "query", "gold",
        "modes": {mode: run}}`, a run holding the prediction, its scores, wall_s and tokens.
    """
    if isinstance(graph, Mapping):
        from comp_llm_graph.graph import build_graph

        graph = build_graph(**{"baselines": "react" in modes, **graph})
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise CompLLMError(f"modes must be some of {', '.join(MODES)}; got {list(modes)}")
    settings = dict(context or {})
    contexts = {mode: Context(mode=mode, **settings) for mode in modes}  # type: ignore[arg-type]
    run_config = dict(config) if config else None
    first = next((items[0] for items in sets.values() if items), None)
    if warmup and first is not None:
        for mode in modes:
            await graph.ainvoke({"query": first.query}, context=contexts[mode], config=run_config)
    results: dict[str, Any] = {}
    turn = 0
    for name, items in sets.items():
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        records = []
        for item in items:
            order = list(modes[turn % len(modes):]) + list(modes[:turn % len(modes)])
            turn += 1
            record: dict[str, Any] = {"set": name, "id": item.id, "query": item.query,
                                      "gold": item.gold, "modes": {}}
            for mode in order:
                run = await run_graph(graph, item, contexts[mode], run_config)
                runs[mode].append(run)
                if progress:
                    progress(1)
            record["modes"] = {mode: runs[mode][-1] for mode in modes}
            records.append(record)
        metrics = items[0].metrics if items else ()
        results[name] = {"n": len(items), "metrics": list(metrics),
                         "modes": {mode: _summary(runs[mode], metrics) for mode in modes},
                         "records": records}
    return results


def e2e_summary(results: dict[str, Any]) -> dict[str, Any]:
    """The results without the per-question records (the JSON summary)."""
    return {name: {k: v for k, v in result.items() if k != "records"}
            for name, result in results.items()}


def e2e_records(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every question's record, set by set (one JSON line each)."""
    return [record for result in results.values() for record in result["records"]]


METRIC_LABELS = {
    "part_accuracy": "part acc.", "both_correct": "both right", "letters_found": "letter found",
    "exact": "EM", "normalised": "norm. EM", "contains": "contains", "f1": "F1",
}
CHANCE = {"part_accuracy": 0.25, "both_correct": 0.0625}
"""Random guessing on four choices."""


def _coverage(row: dict[str, Any]) -> str:
    if row.get("part_coverage") is None:
        return "-"
    return f"{row['part_coverage']:.2f} (min {row['part_coverage_min']:.2f})"


def e2e_markdown(results: dict[str, Any], title: str) -> str:
    """One Markdown table per set: metrics, wall time and generated tokens per mode."""
    lines = [f"### {title}", ""]
    for name, result in results.items():
        metrics = result["metrics"]
        lines += [f"**{name}** ({result['n']} questions)", "",
                  "| mode | " + " | ".join(METRIC_LABELS.get(m, m) for m in metrics)
                  + " | part coverage | wall s mean | wall s median | tokens/question | "
                  "sub-queries | errors |",
                  "|---|" + "---|" * (len(metrics) + 6)]
        for mode, row in result["modes"].items():
            lines.append(
                f"| {mode} | " + " | ".join(f"{row[m]:.3f}" for m in metrics)
                + f" | {_coverage(row)} | {row['wall_s_mean']:.2f} | {row['wall_s_median']:.2f} | "
                f"{row['tokens_mean']:.0f} | {row['subqueries_mean']:.2f} | {row['errors']} |")
        chance = [f"{METRIC_LABELS[m]} {CHANCE[m]:g}" for m in metrics if m in CHANCE]
        if chance:
            lines += ["", "Chance: " + ", ".join(chance) + "."]
        lines.append("")
    return "\n".join(lines)
