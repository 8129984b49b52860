"""`comp-llm eval`: score routing, planning or the whole pipeline on public data."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from comp_llm_graph.cli.options import (
    Aggregate,
    ApiKeyEnv,
    CacheDir,
    ExpertFolders,
    JsonOut,
    MarkdownOut,
    MaxSubqueries,
    Planner,
    PlannerModel,
    PlannerUrl,
    Profile,
    RecordsOut,
    Router,
    Seed,
    Warmup,
    build_components,
    build_registry,
    cache_models,
    server_models,
)
from comp_llm_graph.cli.render import err, fail, progress_bar, write_results
from comp_llm_graph.context import Context
from comp_llm_graph.errors import CompLLMError

eval_app = typer.Typer(help="Evaluate routing, planning or the whole pipeline on public data.",
                       no_args_is_help=True)


@eval_app.command("routing")
def eval_routing(
    data: Annotated[
        Path, typer.Option(help="An MMLU folder, or a .csv/.jsonl file of question, expert.")
    ],
    split: Annotated[str, typer.Option(help="MMLU split to score on: dev, val or test.")] = "test",
    sample: Annotated[
        int | None, typer.Option(help="Score a random sample of this many (default: all).")
    ] = None,
    seed: Seed = 0,
    json_path: JsonOut = None,
    markdown: MarkdownOut = None,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
    router: Router = "auto",
) -> None:
    """Routing on labelled questions: top-1, top-3, macro-F1, confusion, routes/s."""
    from rich.progress import Progress

    from comp_llm_graph.evaluation.data import labelled_questions
    from comp_llm_graph.evaluation.routing import evaluate_routing, routing_markdown

    try:
        if split not in ("dev", "val", "test"):
            raise CompLLMError(f"--split must be dev, val or test; got {split!r}")
        if sample is not None and sample < 1:
            raise CompLLMError(f"--sample must be at least 1; got {sample}")
        rows = labelled_questions(data, splits=[split], sample=sample, seed=seed)
        if not rows:
            raise CompLLMError(f"{data}: no labelled questions found")
        registry = build_registry(experts, cache_dir, router)
        unknown = sorted({row.expert for row in rows} - set(registry.cards))
        if unknown:
            raise CompLLMError(
                f"labels name experts that are not in the registry: {', '.join(unknown[:10])}; "
                "add cards for them (--experts DIR) or relabel the data.")
        with Progress(console=err) as bar:
            task = bar.add_task(f"routing ({registry.router.method})", total=len(rows))
            results = evaluate_routing(registry, rows,
                                       progress=lambda n: bar.advance(task, n))
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    results["router"] = registry.router.method
    document = {"routing": {f"{Path(data).name}_{split}": results, "routes_per_s":
                            results["routes_per_s"], "router": registry.router.method}}
    table = routing_markdown(results, f"Routing ({registry.router.method}) on {Path(data).name} "
                                      f"{split} ({len(rows)} questions, seed {seed})")
    write_results(document, table, json_path, markdown)


@eval_app.command("planning")
def eval_planning(
    data: Annotated[Path, typer.Option(
        help="The data folder holding musique/, strategyqa/, break/, gsm8k/.")],
    dataset: Annotated[list[str] | None, typer.Option(
        "--dataset", help="A gold set to score on (repeatable; default: musique, strategyqa, "
                          "break, gsm8k).")] = None,
    sample: Annotated[int, typer.Option(help="Questions per dataset (random, seeded).")] = 25,
    seed: Seed = 0,
    max_subqueries: MaxSubqueries = 5,
    grammar: Annotated[bool, typer.Option(
        help="Constrain the SmolLM2 planner to valid plans (--no-grammar: free text).")] = True,
    demos: Annotated[bool, typer.Option(
        "--demonstrations/--no-demonstrations",
        help="Show the planner the nearest gold plans of the bank (`comp-llm demonstrations`; "
             "used when built) instead of fixed examples.")] = True,
    json_path: JsonOut = None,
    markdown: MarkdownOut = None,
    records: RecordsOut = None,
    planner: Planner = None,
    planner_url: PlannerUrl = None,
    planner_model: PlannerModel = None,
    api_key_env: ApiKeyEnv = None,
) -> None:
    """Planning against gold decompositions: valid plans, count error, edge F1, parallelism."""
    from comp_llm_graph.defaults import DEFAULT_PLANNER, embedded_planner
    from comp_llm_graph.evaluation.planning import evaluate_planning, planning_markdown
    from comp_llm_graph.evaluation.planning_gold import DATASETS, gold_plans

    try:
        if sample < 1:
            raise CompLLMError(f"--sample must be at least 1; got {sample}")
        examples = gold_plans(data, tuple(dataset or DATASETS), sample=sample, seed=seed)
        model = server_models(planner_url, planner_model, api_key_env).get("planner")
        if model is None:
            model = embedded_planner(planner or DEFAULT_PLANNER, grammar=grammar)
        bank = None
        if demos:
            from comp_llm_graph.planning.demonstrations import PlanDemonstrations

            bank = PlanDemonstrations.open()
        with progress_bar() as bar:
            task = bar.add_task("planning", total=len(examples))
            results = evaluate_planning(model, examples,
                                        context=Context(max_subqueries=max_subqueries),
                                        demonstrations=bank,
                                        keep_examples=records is not None,
                                        progress=lambda n: bar.advance(task, n))
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    per_question = results.pop("examples", [])
    results["demonstrations"] = len(bank) if bank is not None else 0
    results["planner"] = (getattr(model, "model_name", None) or planner_model or planner
                          or DEFAULT_PLANNER)
    title = (f"Planning ({len(examples)} questions: {sample} per dataset, seed {seed}; "
             + (f"{len(bank)} demonstrations)" if bank is not None else "fixed examples)"))
    write_results({"planning": results}, planning_markdown(results, title), json_path,
                  markdown, records, per_question)


@eval_app.command("e2e")
def eval_e2e(
    data: Annotated[Path, typer.Option(
        help="The data folder holding mmlu/ and musique/ (or 2wikimultihopqa/, hotpotqa/).")],
    pairs: Annotated[int, typer.Option(help="MMLU test pairs (two domains in one query).")] = 10,
    multihop: Annotated[int, typer.Option(help="Multi-hop questions with gold answers.")] = 10,
    multihop_set: Annotated[str, typer.Option(help="musique, 2wiki or hotpotqa (dev).")] = (
        "musique"),
    context: Annotated[str, typer.Option(
        help="Multi-hop paragraphs in the query: none (closed-book), supporting or all "
             "(musique/hotpotqa train files only).")] = "none",
    mode: Annotated[list[str] | None, typer.Option(
        "--mode", help="A mode to compare (repeatable; default: comp, monolithic, "
                       "sequential).")] = None,
    seed: Seed = 0,
    max_subqueries: MaxSubqueries = 5,
    aggregate: Aggregate = "auto",
    warmup: Warmup = True,
    json_path: JsonOut = None,
    markdown: MarkdownOut = None,
    records: RecordsOut = None,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
    router: Router = "auto",
    planner: Planner = None,
    profile: Profile = None,
    planner_url: PlannerUrl = None,
    planner_model: PlannerModel = None,
    api_key_env: ApiKeyEnv = None,
) -> None:
    """Whole pipeline: accuracy, wall time and tokens of each mode on the same questions."""
    from comp_llm_graph.evaluation.e2e import (
        E2E_MODES,
        e2e_markdown,
        e2e_records,
        e2e_summary,
        evaluate_e2e,
    )
    from comp_llm_graph.evaluation.e2e_data import mmlu_pairs, multihop_path, multihop_questions
    from comp_llm_graph.graph import build_graph

    modes = list(mode or E2E_MODES)
    try:
        for name in modes:
            Context(mode=name)  # type: ignore[arg-type]
        if pairs < 0 or multihop < 0 or pairs + multihop == 0:
            raise CompLLMError("--pairs and --multihop must be >= 0 and not both 0.")
        sets: dict[str, Any] = {}
        if pairs:
            sets["mmlu_pairs"] = mmlu_pairs(data / "mmlu", pairs, seed=seed)
        if multihop:
            sets[multihop_set] = multihop_questions(
                multihop_path(data, multihop_set, context=context),  # type: ignore[arg-type]
                multihop, seed=seed, context=context)  # type: ignore[arg-type]
        graph = build_graph(**build_components(experts, cache_dir, router, planner_url,
                                               planner_model, api_key_env, planner,
                                               profile=profile),
                            baselines="react" in modes)
        total = sum(len(items) for items in sets.values()) * len(modes)
        with progress_bar() as bar:
            task = bar.add_task("e2e" + (" (after a warm-up run per mode)" if warmup else ""),
                                total=total)
            results = asyncio.run(evaluate_e2e(
                graph, sets, modes=modes,
                context={"max_subqueries": max_subqueries, "aggregate": aggregate},
                warmup=warmup, progress=lambda n: bar.advance(task, n)))
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    title = (f"End to end ({', '.join(f'{len(v)} {k}' for k, v in sets.items())}, "
             f"seed {seed})")
    write_results({"e2e": e2e_summary(results)}, e2e_markdown(results, title), json_path,
                  markdown, records, e2e_records(results))


@eval_app.command("multiexpert")
def eval_multiexpert(
    data: Annotated[Path, typer.Option(
        help="The data folder holding mmlu/, gsm8k/, 2wikimultihopqa/, musique/, hotpotqa/.")],
    sample: Annotated[int, typer.Option(help="Questions per set (P and D).")] = 30,
    seed: Seed = 0,
    modes: Annotated[str, typer.Option(
        help="Comma-separated modes: comp, sequential, react, monolithic (the graph's fallback "
             "expert), monolithic:<model> (the whole query to one catalogue model).")] = (
        ",".join(("comp", "sequential", "monolithic:qwen2.5-coder-1.5b",
                  "monolithic:smollm2-135m"))),
    sets: Annotated[str, typer.Option(help="Comma-separated sets: P, D.")] = "P,D",
    expert_model: Annotated[str | None, typer.Option(
        help="Run every expert that runs a catalogue model on this one (its card's model and "
             "the profile aside).")] = None,
    aggregator_model: Annotated[str | None, typer.Option(
        help="The aggregator by name (as Context.aggregator_model).")] = None,
    max_subqueries: MaxSubqueries = 5,
    aggregate: Aggregate = "auto",
    warmup: Warmup = True,
    json_path: JsonOut = None,
    markdown: MarkdownOut = None,
    records: RecordsOut = None,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
    router: Router = "auto",
    planner: Planner = None,
    profile: Profile = None,
) -> None:
    """MultiExpertQA: comp against sequential and monolithic models, part by part, timed.

    P has parallel parts for different experts, D parts that depend on earlier answers.
    """
    from comp_llm_graph.evaluation.multiexpert import (
        check_modes,
        evaluate_multiexpert,
        multiexpert_markdown,
    )
    from comp_llm_graph.evaluation.multiexpert_data import multiexpert_sets

    try:
        names = check_modes(_names(modes))
        questions = multiexpert_sets(data, sample, seed=seed, sets=_names(sets))
        components = build_components(experts, cache_dir, router, None, None, None, planner,
                                      expert_model, profile)
        context = {"max_subqueries": max_subqueries, "aggregate": aggregate,
                   "aggregator_model": aggregator_model}
        Context(**context)  # type: ignore[arg-type]
        with progress_bar() as bar:
            task = bar.add_task("multiexpert" + (" (after a warm-up run per mode)"
                                                 if warmup else ""),
                                total=sum(map(len, questions.values())) * len(names))
            document = asyncio.run(evaluate_multiexpert(
                components, questions, modes=names, context=context, warmup=warmup,
                progress=lambda n: bar.advance(task, n)))
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    rows = document.pop("records")
    document.update({"data": str(data), "sample": sample, "seed": seed, "profile": profile,
                     "planner": planner, "expert_model": expert_model,
                     "aggregator_model": aggregator_model})
    title = f"MultiExpertQA ({sample} per set, seed {seed})"
    write_results(document, multiexpert_markdown(document, title), json_path, markdown,
                  records, rows)


@eval_app.command("math")
def eval_math(
    data: Annotated[Path, typer.Option(help="The GSM8K folder (test.jsonl, train.jsonl).")],
    sample: Annotated[int | None, typer.Option(
        help="Problems to score (random, seeded; default: the whole split).")] = None,
    seed: Seed = 0,
    split: Annotated[str, typer.Option(help="test or train.")] = "test",
    models: Annotated[str, typer.Option(
        help="Comma-separated catalogue models (`comp-llm models`).")] = "qwen2.5-coder-1.5b",
    methods: Annotated[str, typer.Option(
        help="Comma-separated: program (a program of thought, run by the bounded evaluator), "
             "free_text (step by step in words), expert (the sympy expert with its SmolLM2 "
             "fallback, as before programs).")] = "program,free_text,expert",
    concurrency: Annotated[int, typer.Option(help="Problems answered at once.")] = 4,
    json_path: JsonOut = None,
    markdown: MarkdownOut = None,
    records: RecordsOut = None,
    cache_dir: CacheDir = None,
) -> None:
    """The math expert's methods on GSM8K per model: accuracy, seconds and tokens per problem."""
    from rich.progress import Progress

    from comp_llm_graph.evaluation.math_eval import evaluate_math, gsm8k_problems, math_markdown

    try:
        cache_models(cache_dir)
        if split not in ("test", "train"):
            raise CompLLMError(f"--split must be test or train; got {split!r}")
        if sample is not None and sample < 1:
            raise CompLLMError(f"--sample must be at least 1; got {sample}")
        if concurrency < 1:
            raise CompLLMError(f"--concurrency must be at least 1; got {concurrency}")
        problems = gsm8k_problems(data, split=split, sample=sample, seed=seed)
        with Progress(console=err) as bar:
            def progress(label: str, total: int):
                task = bar.add_task(label, total=total)
                return lambda: bar.advance(task)

            document, rows = asyncio.run(evaluate_math(
                problems, _names(models), _names(methods), concurrency=concurrency,
                progress=progress))
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    document.update({"data": str(data), "split": split, "sample": len(problems), "seed": seed})
    table = math_markdown(document, f"GSM8K {split}: {len(problems)} problems, seed {seed}")
    write_results(document, table, json_path, markdown, records, rows)


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise CompLLMError(f"give at least one name; got {text!r}")
    return names
