"""Evaluation of planning against gold decompositions (MuSiQue, StrategyQA, Break, GSM8K).

Each gold example is a question with a list of steps; a step depends on earlier steps whose answers
it uses. The planner under test runs through `make_plan`, the planning step of the graph (plan,
validate/repair, re-ask once, fall back to one sub-query), without routing. Each plan is compared
with the gold:

- **count error**: predicted minus gold number of sub-queries (mean absolute and mean signed).
- **matching**: predicted sub-queries are paired one-to-one with gold steps by the Hungarian
  assignment on `token_similarity`; pairs below `MATCH_THRESHOLD` stay unmatched. Step
  precision and recall: matched pairs over predicted sub-queries and over gold steps.
- **edge F1**: a predicted edge (a needs b) is correct when a and b are both matched and the gold
  step matched to a depends directly on the one matched to b. Edges touching an unmatched node
  count as wrong (predicted) or missed (gold). Edges are compared as written, with no transitive
  closure. Precision and recall are micro-averaged: edges are summed over the examples first.
- **parallel share**: among examples whose gold has two steps with no path between them (they could
  run in parallel), the share whose plan also has such a pair. `false_parallel_rate` is the same
  share among examples whose gold has no such pair (a chain or a single step).
- **valid-plan rate**: share of queries whose plan became a valid DAG (as generated, repaired or
  re-planned) rather than falling back to the whole query as one sub-query;
  `valid_as_generated_rate` counts only plans used exactly as generated.

Fallback plans are scored like any other (one sub-query, no edges): they are what the graph runs.

    examples = gold_plans("../shared/data", sample=50, seed=0)
    results = evaluate_planning(smollm2(PLANNER_MAX_NEW_TOKENS, plan_grammar=True), examples)
    print(planning_markdown(results, "Planning, SmolLM2"))

The gold plans and their loaders are in `comp_llm_graph.evaluation.planning_gold`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import Runnable

from comp_llm_graph.context import Context
from comp_llm_graph.evaluation.planning_gold import GoldPlan
from comp_llm_graph.planning.plan import PlannedSubQuery, references
from comp_llm_graph.planning.planner import make_plan

__all__ = [
    "MATCH_THRESHOLD",
    "PlanScore",
    "aevaluate_planning",
    "evaluate_planning",
    "has_parallel_branches",
    "match_sub_queries",
    "planning_markdown",
    "score_plan",
    "token_similarity",
]

MATCH_THRESHOLD = 0.25
"""Least `token_similarity` for a predicted sub-query to count as a gold step."""


# -- scoring one plan ----------------------------------------------------------------------------

_STOPWORDS = frozenset(
    "a an the of in on at to for from by with about into as and or but not no is are was were be "
    "been being am do does did has have had will would can could should shall may might must "
    "what which who whom whose when where why how many much that this these those there it its "
    "he she they them his her their i you we return if than then".split()
)
_TOKEN = re.compile(r"\{\s*q?\d+\s*\}|#\d+|[a-z0-9]+")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s", "ion", "ly")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> Counter[str]:
    tokens: Counter[str] = Counter()
    for token in _TOKEN.findall(text.lower()):
        if token[0] in "#{":
            tokens["#"] += 1  # a reference to an earlier answer, whichever it is
        elif token not in _STOPWORDS:
            tokens[_stem(token)] += 1
    return tokens


def token_similarity(a: str, b: str) -> float:
    """F1 of the content words two sub-questions share (0 to 1).

    Lowercased, stopwords (and Break's `return`) dropped, words cut to a crude stem
    ("performer", "performed" -> "perform"), and every reference to an earlier answer (`#2`,
    `{q1}`) read as the same word, since plans number their steps differently. Counts are
    kept, so "Is #1 more than #2?" is closer to "Is #3 smaller than #4?" than to "Who is #1?".
    """
    left, right = _tokens(a), _tokens(b)
    common = sum((left & right).values())
    if not common:
        return 0.0
    precision, recall = common / sum(left.values()), common / sum(right.values())
    return 2 * precision * recall / (precision + recall)


def match_sub_queries(predicted: Sequence[str], gold: Sequence[str], *,
                      similarity: Callable[[str, str], float] = token_similarity,
                      threshold: float = MATCH_THRESHOLD) -> list[tuple[int, int, float]]:
    """Pair predicted sub-queries with gold steps one-to-one, maximising total similarity.

    Pairs below `threshold` count for nothing in the assignment and are left out.

    Returns:
        (predicted position, gold position, similarity) for each matched pair.
    """
    if not predicted or not gold:
        return []
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    scores = np.array([[similarity(p, g) for g in gold] for p in predicted], dtype=float)
    scores[scores < threshold] = 0.0
    rows, columns = linear_sum_assignment(scores, maximize=True)
    return [(int(r), int(c), round(float(scores[r, c]), 4))
            for r, c in zip(rows, columns, strict=True) if scores[r, c] > 0.0]


def has_parallel_branches(depends_on: Sequence[Sequence[int]]) -> bool:
    """Whether some two steps of a DAG have no path between them (so they could run at once).

    Args:
        depends_on: For each step, the positions of the steps it depends on (no cycles).
    """
    ancestors: dict[int, set[int]] = {}

    def above(step: int) -> set[int]:
        if step not in ancestors:
            ancestors[step] = set()
            for parent in depends_on[step]:
                ancestors[step] |= {parent} | above(parent)
        return ancestors[step]

    n = len(depends_on)
    return any(j not in above(i) and i not in above(j) for i in range(n) for j in range(i))


def _predicted_edges(predicted: Sequence[PlannedSubQuery]) -> list[list[int]]:
    """For each sub-query, the positions it depends on (declared or referenced in its text)."""
    position = {sub.id: k for k, sub in enumerate(predicted)}
    edges = []
    for k, sub in enumerate(predicted):
        ids = dict.fromkeys([*sub.depends_on, *references(sub.question)])
        edges.append([position[i] for i in ids if i in position and position[i] != k])
    return edges


@dataclass
class PlanScore:
    """How one plan compares with its gold."""

    predicted: int
    """Number of predicted sub-queries."""
    gold: int
    """Number of gold steps."""
    matched: int
    """Predicted sub-queries paired with a gold step."""
    edges_predicted: int
    """Dependency edges in the plan."""
    edges_gold: int
    """Dependency edges in the gold."""
    edges_correct: int
    """Predicted edges that map, through the matching, onto a gold edge."""
    gold_parallel: bool
    """The gold has two steps with no path between them."""
    predicted_parallel: bool
    """The plan has two sub-queries with no path between them."""
    matching: list[tuple[int, int, float]] = field(default_factory=list)
    """(predicted position, gold position, similarity) per matched pair."""


def score_plan(gold: GoldPlan, predicted: Sequence[PlannedSubQuery], *,
               similarity: Callable[[str, str], float] = token_similarity,
               threshold: float = MATCH_THRESHOLD) -> PlanScore:
    """Compare a plan with its gold: sizes, matching, dependency edges, parallel branches."""
    matching = match_sub_queries([s.question for s in predicted], [s.text for s in gold.steps],
                                 similarity=similarity, threshold=threshold)
    to_gold = {p: g for p, g, _ in matching}
    predicted_deps = _predicted_edges(predicted)
    gold_deps = [step.depends_on for step in gold.steps]
    gold_edges = {(child, parent) for child, parents in enumerate(gold_deps) for parent in parents}
    correct = sum((to_gold[child], to_gold[parent]) in gold_edges
                  for child, parents in enumerate(predicted_deps) for parent in parents
                  if child in to_gold and parent in to_gold)
    return PlanScore(
        predicted=len(predicted),
        gold=len(gold.steps),
        matched=len(matching),
        edges_predicted=sum(len(parents) for parents in predicted_deps),
        edges_gold=len(gold_edges),
        edges_correct=correct,
        gold_parallel=has_parallel_branches(gold_deps),
        predicted_parallel=has_parallel_branches(predicted_deps),
        matching=matching,
    )


# -- the evaluation ------------------------------------------------------------------------------

_STATUSES = ("valid", "repaired", "replanned", "fallback")


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    """F1; 0 when one side is undefined (no edges) but the other has edges, None when both are."""
    if precision is None and recall is None:
        return None
    if not precision or not recall:
        return 0.0
    return round(2 * precision * recall / (precision + recall), 4)


def _repair_kind(note: str) -> str:
    """A repair note of `make_plan` -> a short kind, for counting."""
    kinds = (("repeat", ("repeated", "appeared twice")), ("self reference", ("itself",)),
             ("unknown reference", ("unknown",)), ("cycle", ("cycle",)),
             ("salvaged output", ("not JSON", "not complete JSON")))
    return next((kind for kind, words in kinds if any(w in note for w in words)), "other")


def _summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The metrics over some examples (see the module docstring)."""
    n = len(records)
    scores: list[PlanScore] = [r["score"] for r in records]
    statuses = Counter(r["status"] for r in records)
    correct = sum(s.edges_correct for s in scores)
    edge_precision = _ratio(correct, sum(s.edges_predicted for s in scores))
    edge_recall = _ratio(correct, sum(s.edges_gold for s in scores))
    matched = sum(s.matched for s in scores)
    parallel = [s for s in scores if s.gold_parallel]
    sequential = [s for s in scores if not s.gold_parallel]
    return {
        "n": n,
        "valid_plan_rate": _ratio(n - statuses["fallback"], n),
        "valid_as_generated_rate": _ratio(statuses["valid"], n),
        "status": {status: _ratio(statuses[status], n) for status in _STATUSES},
        "repairs": dict(Counter(_repair_kind(note) for r in records
                                for note in r["planning"]["attempts"][-1]["repairs"])),
        "count_mae": _ratio(sum(abs(s.predicted - s.gold) for s in scores), n),
        "count_mean_error": _ratio(sum(s.predicted - s.gold for s in scores), n),
        "mean_predicted": _ratio(sum(s.predicted for s in scores), n),
        "mean_gold": _ratio(sum(s.gold for s in scores), n),
        "multi_step_share": _ratio(sum(s.predicted > 1 for s in scores), n),
        "dependency_share": _ratio(sum(s.edges_predicted > 0 for s in scores), n),
        "step_precision": _ratio(matched, sum(s.predicted for s in scores)),
        "step_recall": _ratio(matched, sum(s.gold for s in scores)),
        "edge_precision": edge_precision,
        "edge_recall": edge_recall,
        "edge_f1": _f1(edge_precision, edge_recall),
        "gold_parallel": len(parallel),
        "parallel_share": _ratio(sum(s.predicted_parallel for s in parallel), len(parallel)),
        "false_parallel_rate": _ratio(sum(s.predicted_parallel for s in sequential),
                                      len(sequential)),
        "seconds_per_plan": _ratio(sum(r["seconds"] for r in records), n),
    }


async def aevaluate_planning(
    planner: Runnable,
    examples: Sequence[GoldPlan],
    *,
    context: Context | None = None,
    similarity: Callable[[str, str], float] = token_similarity,
    threshold: float = MATCH_THRESHOLD,
    concurrency: int = 1,
    progress: Callable[[int], None] | None = None,
    keep_examples: bool = False,
    demonstrations: Any = None,
) -> dict[str, Any]:
    """Plan every example's question with the graph's planning step and score it against gold.

    Args:
        planner: The planner chat model (any Runnable the graph accepts as planner, e.g. the
            default `smollm2(PLANNER_MAX_NEW_TOKENS, plan_grammar=True)` or an OpenAI-compatible
            chat model).
        examples: Gold plans, e.g. from `gold_plans`.
        context: Run settings; its `max_subqueries` and `planner_prompt` apply (default
            `Context()`, as in the graph).
        similarity: Similarity of a predicted sub-query and a gold step, 0 to 1.
        threshold: Least similarity of a matched pair.
        concurrency: Plans requested at once (local models batch concurrent calls; 1 gives
            per-plan latency without batching).
        progress: Called with 1 after each plan.
        keep_examples: Add `examples`, one record per example (question, status, plan, score).
        demonstrations: A `PlanDemonstrations` bank (built from train splits only) whose
            nearest plans the planner is shown, as in the graph.

    Returns:
        The metrics over all examples (`n`, `valid_plan_rate`, `valid_as_generated_rate`,
        `count_mae`, `count_mean_error`, `edge_f1`, `parallel_share`, `false_parallel_rate`,
        `seconds_per_plan`, ...; undefined rates are None; `status`: the share of each planning
        outcome; `repairs`: repairs of the used plans by kind; `multi_step_share` and
        `dependency_share`: plans with more than one sub-query, with at least one edge), and the
        same per dataset under `datasets`. `edge_f1_dataset_mean` is the mean of the datasets'
        edge F1; `seconds` is the wall time of the whole run.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1; got {concurrency}.")
    if not examples:
        raise ValueError("no examples to evaluate.")
    context = context or Context()
    load = getattr(planner, "load", None)
    if callable(load):  # local weights load outside the timing
        await asyncio.to_thread(load)
    limit = asyncio.Semaphore(concurrency)

    async def run(example: GoldPlan) -> dict[str, Any]:
        async with limit:
            started = time.perf_counter()
            planned, planning = await make_plan(planner, example.question, context,
                                                demonstrations=demonstrations)
            seconds = time.perf_counter() - started
        if progress:
            progress(1)
        score = score_plan(example, planned, similarity=similarity, threshold=threshold)
        return {"example": example, "plan": planned, "planning": planning,
                "status": planning["status"], "seconds": seconds, "score": score}

    started = time.perf_counter()
    records = await asyncio.gather(*(run(example) for example in examples))
    seconds = time.perf_counter() - started
    results = _summary(records)
    by_dataset = {}
    for name in dict.fromkeys(r["example"].dataset for r in records):
        by_dataset[name] = _summary([r for r in records if r["example"].dataset == name])
    dataset_f1 = [d["edge_f1"] for d in by_dataset.values() if d["edge_f1"] is not None]
    results["edge_f1_dataset_mean"] = (round(sum(dataset_f1) / len(dataset_f1), 4)
                                       if dataset_f1 else None)
    results["seconds"] = round(seconds, 2)
    results["max_subqueries"] = context.max_subqueries
    results["match_threshold"] = threshold
    results["datasets"] = by_dataset
    if keep_examples:
        results["examples"] = [_example_record(r) for r in records]
    return results


def _example_record(record: dict[str, Any]) -> dict[str, Any]:
    example: GoldPlan = record["example"]
    score: PlanScore = record["score"]
    return {
        "dataset": example.dataset,
        "id": example.id,
        "question": example.question,
        "gold": [{"text": s.text, "depends_on": list(s.depends_on)} for s in example.steps],
        "status": record["status"],
        "plan": [{"id": s.id, "question": s.question, "depends_on": list(s.depends_on)}
                 for s in record["plan"]],
        "raw": [attempt["raw"] for attempt in record["planning"]["attempts"]],
        "repairs": record["planning"]["attempts"][-1]["repairs"],
        "matching": [list(pair) for pair in score.matching],
        "edges": {"correct": score.edges_correct, "predicted": score.edges_predicted,
                  "gold": score.edges_gold},
        "gold_parallel": score.gold_parallel,
        "predicted_parallel": score.predicted_parallel,
        "seconds": round(record["seconds"], 3),
    }


def evaluate_planning(planner: Runnable, examples: Sequence[GoldPlan],
                      **kwargs: Any) -> dict[str, Any]:
    """`aevaluate_planning` for synchronous callers (runs its own event loop)."""
    return asyncio.run(aevaluate_planning(planner, examples, **kwargs))


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def planning_markdown(results: dict[str, Any], title: str) -> str:
    """A Markdown summary: the overall numbers, then one row per dataset and one for all."""
    lines = [
        f"### {title}", "",
        f"valid plans **{_cell(results['valid_plan_rate'], 3)}** (as generated "
        f"{_cell(results['valid_as_generated_rate'], 3)}), edge F1 "
        f"**{_cell(results['edge_f1'], 3)}**, parallel share "
        f"{_cell(results['parallel_share'], 3)}, {_cell(results['seconds_per_plan'])} s per plan "
        f"({results['n']} questions, at most {results['max_subqueries']} sub-queries)", "",
        "| dataset | n | valid | as generated | count MAE | count error | edge P | edge R "
        "| edge F1 | parallel share (n) | false parallel | s/plan |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [*results["datasets"].items(), ("**all**", results)]
    for name, row in rows:
        lines.append(
            f"| {name} | {row['n']} | {_cell(row['valid_plan_rate'])} | "
            f"{_cell(row['valid_as_generated_rate'])} | {_cell(row['count_mae'])} | "
            f"{row['count_mean_error']:+.2f} | {_cell(row['edge_precision'])} | "
            f"{_cell(row['edge_recall'])} | {_cell(row['edge_f1'])} | "
            f"{_cell(row['parallel_share'])} ({row['gold_parallel']}) | "
            f"{_cell(row['false_parallel_rate'])} | {_cell(row['seconds_per_plan'])} |")
    return "\n".join(lines) + "\n"
