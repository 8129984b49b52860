"""The `comp-llm` command line: ask a question; see the plan, the sub-answers, the final answer."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from comp_llm_graph.context import MODES, SCHEDULES, Context
from comp_llm_graph.errors import CompLLMError, validate_query

__all__ = ["app", "main", "result_document"]

app = typer.Typer(
    name="comp-llm",
    help="Answer composite questions by composing small expert models (Comp-LLM on LangGraph).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)


ExpertFolders = Annotated[
    list[Path] | None,
    typer.Option("--experts", help="A folder of your own expert cards (repeatable)."),
]
CacheDir = Annotated[Path | None, typer.Option(help="Folder of the persistent routing index.")]
Router = Annotated[str, typer.Option(
    help="auto (learned if `experts fit` was run, else similarity), similarity, learned or "
         "examples.")]


def _registry_options(experts: list[Path] | None, cache_dir: Path | None,
                      router: str = "auto") -> dict[str, Any]:
    """`ExpertRegistry.from_folders` / `default_components` arguments from the CLI options."""
    options: dict[str, Any] = {"expert_folders": [str(p) for p in experts or []],
                               "router": router}
    if cache_dir:
        options["persist_directory"] = cache_dir
    return options


PlannerUrl = Annotated[str | None, typer.Option(
    help="Plan and aggregate on an OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1) "
         "instead of the embedded SmolLM2.")]
PlannerModel = Annotated[str | None, typer.Option(help="Model name served at --planner-url.")]
ApiKeyEnv = Annotated[str | None, typer.Option(
    help="Environment variable holding the endpoint's API key (default: none sent).")]
MaxSubqueries = Annotated[int, typer.Option(help="Largest plan accepted.")]
Seed = Annotated[int, typer.Option(help="Seed of the sample.")]
RecordsOut = Annotated[Path | None, typer.Option(
    help="Write one JSON line per question (the question, gold and what was predicted) here.")]


def _server_models(planner_url: str | None, planner_model: str | None,
                   api_key_env: str | None) -> dict[str, Any]:
    """Planner and aggregator on an OpenAI-compatible server, or {} for the embedded ones."""
    from comp_llm_graph.graph import AGGREGATOR_MAX_NEW_TOKENS, PLANNER_MAX_NEW_TOKENS

    if (planner_url is None) != (planner_model is None):
        raise CompLLMError("give both --planner-url and --planner-model (or neither).")
    if not (planner_url and planner_model):
        return {}
    from comp_llm_graph.openai_compat import openai_chat_model

    return {role: openai_chat_model(planner_url, planner_model, api_key_env=api_key_env,
                                    max_tokens=tokens)
            for role, tokens in (("planner", PLANNER_MAX_NEW_TOKENS),
                                 ("aggregator", AGGREGATOR_MAX_NEW_TOKENS))}


def _components(experts: list[Path] | None, cache_dir: Path | None, router: str,
                planner_url: str | None, planner_model: str | None,
                api_key_env: str | None) -> dict[str, Any]:
    """Planner, registry and aggregator: the embedded defaults or an OpenAI-compatible server."""
    from comp_llm_graph.graph import default_components

    components = default_components(**_registry_options(experts, cache_dir, router),
                                    **_server_models(planner_url, planner_model, api_key_env))
    _check_router(components["registry"])
    return components


def _registry(experts: list[Path] | None, cache_dir: Path | None, router: str = "auto") -> Any:
    from comp_llm_graph.experts.registry import ExpertRegistry

    options = _registry_options(experts, cache_dir, router)
    registry = ExpertRegistry.from_folders(options.pop("expert_folders"), **options)
    _check_router(registry)
    return registry


def _check_router(registry: Any) -> None:
    """Fail before any run when `--router learned|examples` has nothing fitted to use."""
    if registry.router in ("learned", "examples") and registry.learned_router() is None:
        raise CompLLMError(
            f"--router {registry.router} needs a router fitted for these experts; run "
            "`comp-llm experts fit --data DIR` (with the same --experts) first.")


def result_document(state: dict[str, Any]) -> dict[str, Any]:
    """The JSON document `ask --json` prints: plan, answers, final answer, timings."""
    started = state.get("run_started", 0.0)
    answers = state.get("answers") or {}
    return {
        "query": state["query"],
        "mode": state.get("mode"),
        "plan": [
            {key: sub[key] for key in
             ("id", "question", "depends_on", "expert", "score", "routed_by", "candidates")}
            for sub in state.get("plan", [])
        ],
        "planning": state.get("planning"),
        "answers": [
            {
                "id": a["id"],
                "question": a["question"],
                "expert": a["expert"],
                "answer": a["answer"],
                "error": a["error"],
                "start_s": round(a["started_at"] - started, 4),
                "end_s": round(a["finished_at"] - started, 4),
                "seconds": round(a["finished_at"] - a["started_at"], 4),
                **({"output_tokens": a["output_tokens"]} if "output_tokens" in a else {}),
            }
            for a in (answers[sub["id"]] for sub in state.get("plan", []) if sub["id"] in answers)
        ],
        "final_answer": state.get("final_answer", ""),
        "aggregation": state.get("aggregation"),
        "timings": state.get("timings", {}),
    }


def _print_human(doc: dict[str, Any]) -> None:
    planning = doc["planning"] or {}
    plan = Table(title=f"Plan ({planning.get('status', '?')})", title_justify="left")
    for column in ("id", "depends on", "expert", "score", "question"):
        plan.add_column(column, overflow="fold")
    for sub in doc["plan"]:
        routed = " (fallback)" if sub["routed_by"] == "fallback" else ""
        plan.add_row(sub["id"], ", ".join(sub["depends_on"]) or "-", sub["expert"] + routed,
                     f"{sub['score']:.3f}", sub["question"])
    out.print(plan)
    for attempt in planning.get("attempts", []):
        for note in attempt["problems"] + attempt["repairs"]:
            out.print(f"  [dim]plan:[/dim] {note}")
    answers = Table(title="Sub-answers", title_justify="left")
    for column in ("id", "expert", "start s", "time s", "answer"):
        answers.add_column(column, overflow="fold")
    for a in doc["answers"]:
        text = a["answer"] if not a["error"] else f"[red]error: {a['error']}[/red]"
        answers.add_row(a["id"], a["expert"], f"{a['start_s']:.2f}", f"{a['seconds']:.2f}", text)
    out.print(answers)
    aggregation = doc["aggregation"] or {}
    note = ""
    if aggregation.get("reason"):
        note = f" ({aggregation['method']}: {aggregation['reason']})"
    out.print(f"[bold]Final answer[/bold]{note}:")
    out.print(doc["final_answer"], markup=False)
    timings = doc["timings"]
    out.print("[dim]" + "  ".join(f"{k} {v:.2f}s" for k, v in timings.items()) + "[/dim]")


def _fail(exc: Exception) -> NoReturn:
    message = Text("error: ", style="red")
    message.append(str(exc))
    err.print(message)
    raise typer.Exit(2)


def _read_query(query: str) -> str:
    if query == "-":
        query = sys.stdin.read()
    return validate_query(query)


@app.command()
def ask(
    query: Annotated[str, typer.Argument(help="The question; '-' reads it from standard input.")],
    mode: Annotated[str, typer.Option(help=f"One of: {', '.join(MODES)}.")] = "comp",
    experts: ExpertFolders = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    max_subqueries: MaxSubqueries = 5,
    schedule: Annotated[
        str, typer.Option(help=f"One of: {', '.join(SCHEDULES)} (start as ready, or in rounds).")
    ] = "ready",
    max_concurrency: Annotated[
        int | None, typer.Option(help="Most sub-queries running at once (default: no limit).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Most concurrent calls on one local model per batch (1: none).")
    ] = 8,
    memory_budget: Annotated[
        str | None, typer.Option(help="Memory for resident local models, e.g. 2GiB.")
    ] = None,
    cache_dir: CacheDir = None,
    router: Router = "auto",
    planner_url: PlannerUrl = None,
    planner_model: PlannerModel = None,
    api_key_env: ApiKeyEnv = None,
) -> None:
    """Answer QUERY: print the plan, each sub-answer with its time, and the final answer."""
    try:
        text = _read_query(query)
        context = Context(mode=mode, max_subqueries=max_subqueries,  # type: ignore[arg-type]
                          schedule=schedule, max_concurrency=max_concurrency)  # type: ignore[arg-type]
        from comp_llm_graph.graph import build_graph
        from comp_llm_graph.models import configure

        configure(memory_budget=memory_budget, max_batch_size=batch_size)
        graph = build_graph(**_components(experts, cache_dir, router, planner_url,
                                          planner_model, api_key_env))
        started = time.time()
        with err.status("Answering (models load on first use)...", spinner="dots"):
            state = asyncio.run(graph.ainvoke({"query": text}, context=context))
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    doc = result_document(state)
    doc["timings"]["wall"] = round(time.time() - started, 4)
    if as_json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _print_human(doc)


ROUTE_BATCH = 256
"""Questions embedded and routed per batch by `route --file`."""


@app.command()
def route(
    question: Annotated[
        str | None, typer.Argument(help="A question to route ('-' reads it from standard input).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Route every line of this file (one question each)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per question.")] = False,
    top_k: Annotated[int, typer.Option(help="Candidates shown per question.")] = 3,
    explain: Annotated[bool, typer.Option(
        help="Also show the nearest labelled questions (stored by `experts fit`).")] = False,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
    router: Router = "auto",
) -> None:
    """Show which expert a question goes to, with the top candidates and their scores."""
    try:
        if (question is None) == (file is None):
            raise CompLLMError("give either a QUESTION or --file QUESTIONS.txt (one per line).")
        if top_k < 1:
            raise CompLLMError(f"--top-k must be at least 1; got {top_k}.")
        if file is not None:
            try:
                lines = file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise CompLLMError(f"cannot read {file}: {exc}") from exc
            blank = [i + 1 for i, line in enumerate(lines) if not line.strip()]
            if blank:
                raise CompLLMError(
                    f"{file}: line(s) {', '.join(map(str, blank[:10]))} are blank; every line must "
                    "be a question (remove the blank lines).")
            questions = [validate_query(line) for line in lines]
        else:
            questions = [_read_query(question or "")]
        registry = _registry(experts, cache_dir, router)
        for start in range(0, len(questions), ROUTE_BATCH):
            for decision in registry.route(questions[start:start + ROUTE_BATCH], top_k=top_k,
                                           explain=explain):
                if as_json:
                    print(json.dumps(_route_document(decision, explain), ensure_ascii=False))
                else:
                    _print_route(decision)
                    if explain and not decision.examples:
                        out.print("     [dim](no labelled questions stored for these experts: "
                                  "run `comp-llm experts fit` to see them)[/dim]")
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    sys.stdout.flush()


def _route_document(decision: Any, explain: bool) -> dict[str, Any]:
    doc = {"question": decision.question, "expert": decision.expert,
           "router": decision.method, "fallback": decision.fallback,
           "candidates": [{"expert": e, "score": s} for e, s in decision.candidates]}
    if explain:
        doc["examples"] = [{"question": q, "expert": e, "similarity": s}
                           for q, e, s in decision.examples]
    return doc


eval_app = typer.Typer(help="Evaluate routing, planning or the whole pipeline on public data.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")]
MarkdownOut = Annotated[Path | None, typer.Option(help="Write the Markdown table here.")]


def _progress() -> Any:
    """A progress bar on stderr: description, bar, done/total, elapsed time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=err)


def _write_results(document: dict[str, Any], table: str, json_path: Path | None,
                   markdown: Path | None, records: Path | None = None,
                   rows: list[Any] = ()) -> None:
    out.print(table, markup=False)
    try:
        if json_path:
            json_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        if markdown:
            markdown.write_text(table)
        if records:
            records.write_text("".join(json.dumps(row, ensure_ascii=False, default=str) + "\n"
                                       for row in rows))
    except OSError as exc:
        _fail(CompLLMError(f"cannot write the results: {exc}"))


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

    from comp_llm_graph.data import labelled_questions
    from comp_llm_graph.evaluate import evaluate_routing, routing_markdown

    try:
        if split not in ("dev", "val", "test"):
            raise CompLLMError(f"--split must be dev, val or test; got {split!r}")
        if sample is not None and sample < 1:
            raise CompLLMError(f"--sample must be at least 1; got {sample}")
        rows = labelled_questions(data, splits=[split], sample=sample, seed=seed)
        if not rows:
            raise CompLLMError(f"{data}: no labelled questions found")
        registry = _registry(experts, cache_dir, router)
        unknown = sorted({row.expert for row in rows} - set(registry.cards))
        if unknown:
            raise CompLLMError(
                f"labels name experts that are not in the registry: {', '.join(unknown[:10])}; "
                "add cards for them (--experts DIR) or relabel the data.")
        with Progress(console=err) as bar:
            task = bar.add_task(f"routing ({registry.method})", total=len(rows))
            results = evaluate_routing(registry, rows,
                                       progress=lambda n: bar.advance(task, n))
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    results["router"] = registry.method
    document = {"routing": {f"{Path(data).name}_{split}": results, "routes_per_s":
                            results["routes_per_s"], "router": registry.method}}
    table = routing_markdown(results, f"Routing ({registry.method}) on {Path(data).name} "
                                      f"{split} ({len(rows)} questions, seed {seed})")
    _write_results(document, table, json_path, markdown)


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
        help="Constrain the embedded planner to valid plans (--no-grammar: free text).")] = True,
    json_path: JsonOut = None,
    markdown: MarkdownOut = None,
    records: RecordsOut = None,
    planner_url: PlannerUrl = None,
    planner_model: PlannerModel = None,
    api_key_env: ApiKeyEnv = None,
) -> None:
    """Planning against gold decompositions: valid plans, count error, edge F1, parallelism."""
    from comp_llm_graph.eval_planning import (
        DATASETS,
        evaluate_planning,
        gold_plans,
        planning_markdown,
    )

    try:
        if sample < 1:
            raise CompLLMError(f"--sample must be at least 1; got {sample}")
        examples = gold_plans(data, tuple(dataset or DATASETS), sample=sample, seed=seed)
        planner = _server_models(planner_url, planner_model, api_key_env).get("planner")
        if planner is None:
            from comp_llm_graph.graph import PLANNER_MAX_NEW_TOKENS
            from comp_llm_graph.models import smollm2

            planner = smollm2(PLANNER_MAX_NEW_TOKENS, plan_grammar=grammar)
        with _progress() as bar:
            task = bar.add_task("planning", total=len(examples))
            results = evaluate_planning(planner, examples,
                                        context=Context(max_subqueries=max_subqueries),
                                        keep_examples=records is not None,
                                        progress=lambda n: bar.advance(task, n))
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    per_question = results.pop("examples", [])
    title = (f"Planning ({len(examples)} questions: {sample} per dataset, seed {seed})")
    _write_results({"planning": results}, planning_markdown(results, title), json_path,
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
    warmup: Annotated[bool, typer.Option(
        help="Run the first question once per mode, unscored, before timing.")] = True,
    json_path: JsonOut = None,
    markdown: MarkdownOut = None,
    records: RecordsOut = None,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
    router: Router = "auto",
    planner_url: PlannerUrl = None,
    planner_model: PlannerModel = None,
    api_key_env: ApiKeyEnv = None,
) -> None:
    """Whole pipeline: accuracy, wall time and tokens of each mode on the same questions."""
    from comp_llm_graph.eval_e2e import (
        E2E_MODES,
        e2e_markdown,
        e2e_records,
        e2e_summary,
        evaluate_e2e,
        mmlu_pairs,
        multihop_path,
        multihop_questions,
    )
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
        graph = build_graph(**_components(experts, cache_dir, router, planner_url,
                                          planner_model, api_key_env))
        total = sum(len(items) for items in sets.values()) * len(modes)
        with _progress() as bar:
            task = bar.add_task("e2e" + (" (after a warm-up run per mode)" if warmup else ""),
                                total=total)
            results = asyncio.run(evaluate_e2e(
                graph, sets, modes=modes, context={"max_subqueries": max_subqueries},
                warmup=warmup, progress=lambda n: bar.advance(task, n)))
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    title = (f"End to end ({', '.join(f'{len(v)} {k}' for k, v in sets.items())}, "
             f"seed {seed})")
    _write_results({"e2e": e2e_summary(results)}, e2e_markdown(results, title), json_path,
                   markdown, records, e2e_records(results))


experts_app = typer.Typer(help="Inspect the experts and fit the router.", no_args_is_help=True)
app.add_typer(experts_app, name="experts")


@experts_app.command("list")
def experts_list(experts: ExpertFolders = None, cache_dir: CacheDir = None) -> None:
    """The experts: name, backend, card file, and which router is in use."""
    try:
        registry = _registry(experts, cache_dir)
        table = Table(title=f"Experts (router: {registry.method})", title_justify="left")
        for column in ("name", "backend", "max concurrency", "card"):
            table.add_column(column, overflow="fold")
        for name in registry.names:
            card = registry.cards[name]
            table.add_row(name + (" (fallback)" if name == registry.fallback else ""),
                          str(card.backend), str(card.max_concurrency or "-"),
                          str(card.source or "-"))
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    out.print(table)


@experts_app.command("fit")
def experts_fit(
    data: Annotated[
        Path, typer.Option(help="An MMLU folder (fits on dev+val), or a .csv/.jsonl file of "
                                "question, expert[, topic].")
    ],
    other_as: Annotated[str | None, typer.Option(
        help="MMLU only: label the 'other' group (global facts, miscellaneous, ...) with this "
             "expert, e.g. generalist, so thresholds learn when to fall back.")] = None,
    cards: Annotated[bool, typer.Option(
        help="Also train on the cards' descriptions and examples (everyday phrasings).")] = True,
    folds: Annotated[int, typer.Option(help="Folds of the out-of-fold accuracy.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the folds.")] = 0,
    json_path: JsonOut = None,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
) -> None:
    """Fit the learned router on labelled questions; print accuracy before and after.

    Never reads MMLU's test split: score the result with `comp-llm eval routing --split test`.
    """
    from comp_llm_graph.data import labelled_questions

    try:
        if other_as and not Path(data).is_dir():
            raise CompLLMError("--other-as applies to an MMLU folder only; in a file, label "
                               "those questions with the fallback expert yourself.")
        rows = labelled_questions(data, splits=["dev", "val"], other=other_as)
        registry = _registry(experts, cache_dir)
        with err.status("fitting", spinner="dots") as status:
            report = registry.fit(rows, folds=folds, seed=seed, trained_on=str(data), cards=cards,
                                  progress=lambda stage: status.update(f"fitting: {stage}"))
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    table = Table(title=f"Router fitted on {report.rows} questions ({report.topics} topics) "
                        f"in {report.seconds:.0f} s", title_justify="left")
    table.add_column("")
    table.add_column("top-1")
    table.add_column("top-3")
    table.add_row("before (similarity to the cards, on these questions)",
                  f"{report.before:.3f}", "")
    table.add_row(f"after (learned, {report.folds}-fold out-of-fold)", f"{report.after:.3f}",
                  f"{report.after_top3:.3f}")
    out.print(table)
    raised = {e: t for e, t in report.thresholds.items() if t > 0}
    out.print("thresholds (below: fallback to "
              f"{registry.fallback}): " + (", ".join(f"{e} {t:.3f}" for e, t in raised.items())
                                           or "all 0 (no question labelled with the fallback)"))
    weakest = sorted(report.per_expert.items(), key=lambda item: item[1])[:3]
    out.print("weakest recall: " + ", ".join(f"{e} {r:.3f}" for e, r in weakest))
    out.print(f"[dim]saved in {registry.router_folder}; `comp-llm route` and `ask` use it[/dim]")
    _write_results({"fit": report.__dict__}, "", json_path, None)


def _print_route(decision: Any) -> None:
    out.print(Text(decision.question, style="bold"))
    for rank, (expert, score) in enumerate(decision.candidates, start=1):
        out.print(f"  {rank}. {expert:<20} {score:.3f}")
    reason = (f"{decision.method}: best score below its threshold {decision.threshold:.2f}, "
              "fallback" if decision.fallback else f"{decision.method}: best score")
    out.print(f"  -> [bold]{decision.expert}[/bold] ({reason})")
    for question, expert, similarity in decision.examples:
        out.print(Text(f"     near: [{expert} {similarity:.2f}] {question[:100]}", style="dim"))


@app.command()
def bench(
    parts: Annotated[
        list[str] | None,
        typer.Argument(help="Any of: scheduler, overhead, batching, models (default: all)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
    timeline: Annotated[
        Path, typer.Option(help="Gantt chart (PNG) of one run: the models part's if it ran.")
    ] = Path("bench-timeline.png"),
    dags: Annotated[int, typer.Option(help="Random DAGs in the scheduler suite.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the random DAGs.")] = 0,
) -> None:
    """Measure the executor: scheduler suite, overhead, batching, real models."""
    from comp_llm_graph.bench import PARTS, run_bench

    chosen = list(parts or PARTS)
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        _fail(ValueError(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}"))
    if dags < 1:
        _fail(ValueError(f"--dags must be at least 1; got {dags}"))
    with _progress() as bar:

        def progress(description: str, total: int):
            task = bar.add_task(description, total=total)
            return lambda: bar.advance(task)

        results = asyncio.run(run_bench(chosen, n_dags=dags, seed=seed, timeline=timeline,
                                        progress=progress))
    _print_bench(results)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        out.print(f"[dim]results: {json_path}[/dim]")
    if "timeline" in results:
        out.print(f"[dim]timeline: {results['timeline']}[/dim]")


def _print_bench(results: dict[str, Any]) -> None:
    if "scheduler" in results:
        s = results["scheduler"]
        table = Table(title=f"Scheduler suite: {s['n_dags']} random DAGs (seed {s['seed']}), "
                            f"median ideal speedup {s['median_ideal_speedup']:.2f}x",
                      title_justify="left")
        for column in ("schedule", "median makespan/critical path", "worst",
                       "median speedup over sequential"):
            table.add_column(column)
        for name in ("sequential", "waves", "start_as_ready"):
            row = s[name]
            table.add_row(name, f"{row['median_ratio_to_critical_path']:.3f}",
                          f"{row['worst_ratio_to_critical_path']:.3f}",
                          f"{row['median_speedup_over_sequential']:.2f}x")
        out.print(table)
    if "overhead" in results:
        o = results["overhead"]
        out.print(f"Overhead ({o['n_subqueries']} zero-latency sub-queries): "
                  f"{o['independent_ms_per_subquery']:.2f} ms/sub-query independent, "
                  f"{o['chain_ms_per_subquery']:.2f} ms/sub-query as a chain")
    if "batching" in results:
        b = results["batching"]
        out.print(f"Batching ({b['concurrent']} concurrent calls, one SmolLM2): "
                  f"{b['batched_tokens_per_s']:.1f} tokens/s batched vs "
                  f"{b['one_by_one_tokens_per_s']:.1f} one by one = "
                  f"{b['throughput_ratio']:.2f}x")
    if "models" in results:
        table = Table(title="Default pack on SmolLM2", title_justify="left")
        for column in ("mode", "median wall s", "total wall s", "expert tokens/s"):
            table.add_column(column)
        for name, row in results["models"]["modes"].items():
            table.add_row(name, f"{row['median_wall_s']:.2f}", f"{row['total_wall_s']:.2f}",
                          f"{row['expert_tokens_per_s']:.1f}")
        out.print(table)


@app.callback()
def _root() -> None:
    """Comp-LLM: decompose, route, execute in parallel, aggregate."""


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
