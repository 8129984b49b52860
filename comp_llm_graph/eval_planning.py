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
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable

from comp_llm_graph.context import Context
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.nodes.generate_subqueries import make_plan
from comp_llm_graph.plan import PlannedSubQuery, references

__all__ = [
    "DATASETS",
    "MATCH_THRESHOLD",
    "GoldPlan",
    "GoldStep",
    "PlanScore",
    "aevaluate_planning",
    "evaluate_planning",
    "gold_plans",
    "has_parallel_branches",
    "load_break",
    "load_gsm8k",
    "load_musique",
    "load_strategyqa",
    "match_sub_queries",
    "planning_markdown",
    "score_plan",
    "token_similarity",
]

MATCH_THRESHOLD = 0.25
"""Least `token_similarity` for a predicted sub-query to count as a gold step."""


# -- gold decompositions -------------------------------------------------------------------------

@dataclass(frozen=True)
class GoldStep:
    """One step of a gold decomposition."""

    text: str
    """The sub-question as the dataset writes it (with `#k` references to earlier steps)."""
    depends_on: tuple[int, ...] = ()
    """Positions (from 0) of the earlier steps whose answers it uses."""


@dataclass(frozen=True)
class GoldPlan:
    """A question and its gold decomposition."""

    dataset: str
    """musique, strategyqa, break or gsm8k."""
    id: str
    """The example's id in the dataset (or its line number)."""
    question: str
    """The question the planner is given."""
    steps: tuple[GoldStep, ...]
    """The gold steps; each depends only on earlier ones."""


_HASH_REF = re.compile(r"#(\d+)")


def _steps_from_refs(texts: Sequence[str]) -> tuple[GoldStep, ...] | None:
    """Steps whose dependencies are their `#k` references; None if one points to itself or later."""
    steps = []
    for position, text in enumerate(texts):
        refs = sorted({int(k) - 1 for k in _HASH_REF.findall(text)})
        if any(not 0 <= ref < position for ref in refs):
            return None
        steps.append(GoldStep(" ".join(text.split()), tuple(refs)))
    return tuple(steps)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CompLLMError(f"cannot read {path}: {exc}") from exc


def _sampled(plans: list[GoldPlan], sample: int | None, seed: int) -> list[GoldPlan]:
    if sample is not None and sample < len(plans):
        return random.Random(seed).sample(plans, sample)
    return plans


def load_musique(folder: str | Path, *, sample: int | None = None, seed: int = 0) -> list[GoldPlan]:
    """MuSiQue-Ans dev (`dev.json`): `question_decomposition`, steps linked by `#k`.

    Steps are natural-language questions or KB-style `Entity >> relation`; both are kept as
    written. Gold shapes: chains of 2 to 4 hops and three shapes with two parallel roots.

    Args:
        folder: The `musique` data folder.
        sample: Keep a random sample of this many (None: all).
        seed: Seed of the sample.
    """
    path = Path(folder) / "dev.json"
    plans = []
    for item in json.loads(_read(path)):
        steps = _steps_from_refs([s["question"] for s in item["question_decomposition"]])
        if steps:
            plans.append(GoldPlan("musique", item["id"], item["question"], steps))
    return _sampled(plans, sample, seed)


def load_strategyqa(folder: str | Path, *, sample: int | None = None,
                    seed: int = 0) -> list[GoldPlan]:
    """StrategyQA dev (`dev.json`, 10% of the official train set): `decomposition` with `#k`.

    Args:
        folder: The `strategyqa` data folder.
        sample: Keep a random sample of this many (None: all).
        seed: Seed of the sample.
    """
    path = Path(folder) / "dev.json"
    plans = []
    for item in json.loads(_read(path)):
        steps = _steps_from_refs(item["decomposition"])
        if steps:
            plans.append(GoldPlan("strategyqa", item["qid"], item["question"], steps))
    return _sampled(plans, sample, seed)


def load_break(folder: str | Path, *, sample: int | None = None, seed: int = 0) -> list[GoldPlan]:
    """Break dev, high-level QDMR (`QDMR-high-level/dev.csv`): steps split at `;`, linked by `#k`.

    High-level QDMR rather than QDMR: its steps are questions a planner would ask an expert
    ("return the country where Jamaican English is spoken"), while QDMR breaks them into
    retrieval operators ("return number of #1", "return #1 that is highest"); and its rows are
    text QA (HotpotQA, DROP, ComplexWebQuestions), while most QDMR dev rows are visual (CLEVR,
    NLVR2) or text-to-SQL. The leading `return` of each step is kept (it is a stopword to the
    matcher). One dev row, whose last step refers to itself, is skipped.

    Args:
        folder: The `break` data folder.
        sample: Keep a random sample of this many (None: all).
        seed: Seed of the sample.
    """
    path = Path(folder) / "QDMR-high-level" / "dev.csv"
    plans = []
    for row in csv.DictReader(io.StringIO(_read(path), newline="")):
        steps = _steps_from_refs([s for s in row["decomposition"].split(";") if s.strip()])
        if steps:
            plans.append(GoldPlan("break", row["question_id"], row["question_text"], steps))
    return _sampled(plans, sample, seed)


_CALCULATION = re.compile(r"<<([^=<>]*)=([^<>]*)>>")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
_OPERATOR = re.compile(r"[-+*/]")


def _numbers(text: str) -> list[float]:
    return [round(float(n.replace(",", "")), 6) for n in _NUMBER.findall(text)]


def _gsm8k_steps(question: str, answer: str) -> tuple[GoldStep, ...]:
    """Socratic sub-questions with dependencies inferred from the numbers each step uses.

    A step uses the operands of its calculator annotations (`<<48/2=24>>`) and produces their
    results; a step without annotations (or only with ones like `<<16=16>>`, whose working is in
    the text) uses every number in its text and produces those not in the question.

    A step depends on the latest earlier step that produced a number it uses (a number used k
    times links to the k latest producers), also when the question has that number too (reading
    the data, such numbers nearly always come from the earlier step). A step that finds no
    producer is a root when it has an annotation and uses numbers of the question; otherwise
    ("Simplify", "Write an equation", "x=<<40=40>>40") it depends on the step before.
    """
    in_question = set(_numbers(question))
    produced: list[list[float]] = []
    steps = []
    for line in answer.splitlines():
        if line.startswith("####") or not line.strip():
            continue
        sub_question, _, working = line.partition(" ** ")
        calculations = [c for c in _CALCULATION.findall(working) if _OPERATOR.search(c[0])]
        if calculations:
            used = [n for left, _ in calculations for n in _numbers(left)]
            made = [n for _, right in calculations for n in _numbers(right)]
        else:
            used = _numbers(_CALCULATION.sub(" ", working))
            made = [n for n in used if n not in in_question]
        depends: set[int] = set()
        for number, times in Counter(used).items():
            producers = [j for j, numbers in enumerate(produced) if number in numbers]
            depends.update(producers[-times:])
        annotated = _CALCULATION.search(working) is not None
        if not depends and produced and not (annotated and in_question.intersection(used)):
            depends.add(len(produced) - 1)
        produced.append(made)
        steps.append(GoldStep(" ".join(sub_question.split()), tuple(sorted(depends))))
    return tuple(steps)


def load_gsm8k(folder: str | Path, *, sample: int | None = None, seed: int = 0) -> list[GoldPlan]:
    """GSM8K test, Socratic format (`test_socratic.jsonl`): one step per `sub-question ** working`.

    The Socratic steps have no references, so dependencies are inferred from numbers: a step
    depends on the earlier steps that computed a number its calculation uses (see
    `_gsm8k_steps`). This keeps the parallel structure the solutions have (the price of the
    house and the value of the repairs are computed independently, then combined), which a chain
    would hide: 38% of the test problems come out with parallel steps. Ids are line numbers.

    Args:
        folder: The `gsm8k` data folder.
        sample: Keep a random sample of this many (None: all).
        seed: Seed of the sample.
    """
    path = Path(folder) / "test_socratic.jsonl"
    plans = []
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if line.strip():
            item = json.loads(line)
            steps = _gsm8k_steps(item["question"], item["answer"])
            plans.append(GoldPlan("gsm8k", str(number), item["question"], steps))
    return _sampled(plans, sample, seed)


DATASETS: dict[str, Callable[..., list[GoldPlan]]] = {
    "musique": load_musique,
    "strategyqa": load_strategyqa,
    "break": load_break,
    "gsm8k": load_gsm8k,
}
"""Dataset name -> loader of its gold plans (from the folder of that name)."""


def gold_plans(root: str | Path, datasets: Sequence[str] = tuple(DATASETS), *,
               sample: int | None = None, seed: int = 0) -> list[GoldPlan]:
    """Gold plans of several datasets, `sample` from each (fixed seed).

    Args:
        root: The shared data folder (holding `musique/`, `strategyqa/`, `break/`, `gsm8k/`).
        datasets: Which datasets, by name.
        sample: How many per dataset (None: all).
        seed: Seed of the samples.

    Raises:
        CompLLMError: an unknown dataset or a file that cannot be read.
    """
    unknown = [name for name in datasets if name not in DATASETS]
    if unknown:
        raise CompLLMError(f"unknown dataset {', '.join(unknown)}: use {', '.join(DATASETS)}.")
    plans: list[GoldPlan] = []
    for name in datasets:
        plans += DATASETS[name](Path(root) / name, sample=sample, seed=seed)
    return plans


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
            planned, planning = await make_plan(planner, example.question, context)
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
