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


def _registry_options(experts: list[Path] | None, cache_dir: Path | None) -> dict[str, Any]:
    """`ExpertRegistry.from_folders` / `default_components` arguments from the CLI options."""
    options: dict[str, Any] = {"expert_folders": [str(p) for p in experts or []]}
    if cache_dir:
        options["persist_directory"] = cache_dir
    return options


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
    max_subqueries: Annotated[int, typer.Option(help="Largest plan accepted.")] = 5,
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
) -> None:
    """Answer QUERY: print the plan, each sub-answer with its time, and the final answer."""
    try:
        text = _read_query(query)
        context = Context(mode=mode, max_subqueries=max_subqueries,  # type: ignore[arg-type]
                          schedule=schedule, max_concurrency=max_concurrency)  # type: ignore[arg-type]
        from comp_llm_graph.graph import build_graph, default_components
        from comp_llm_graph.models import configure

        configure(memory_budget=memory_budget, max_batch_size=batch_size)
        components = default_components(**_registry_options(experts, cache_dir))
        graph = build_graph(**components)
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
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
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
        from comp_llm_graph.experts.registry import ExpertRegistry

        options = _registry_options(experts, cache_dir)
        registry = ExpertRegistry.from_folders(options.pop("expert_folders"), **options)
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    for start in range(0, len(questions), ROUTE_BATCH):
        for decision in registry.route(questions[start:start + ROUTE_BATCH], top_k=top_k):
            if as_json:
                print(json.dumps({
                    "question": decision.question, "expert": decision.expert,
                    "fallback": decision.fallback,
                    "candidates": [{"expert": e, "score": s} for e, s in decision.candidates],
                }, ensure_ascii=False), flush=False)
            else:
                _print_route(decision, registry.threshold)
    sys.stdout.flush()


EVAL_PARTS = ("routing",)


@app.command("eval")
def evaluate(
    part: Annotated[str, typer.Argument(help=f"What to evaluate: {', '.join(EVAL_PARTS)}.")],
    data: Annotated[
        Path, typer.Option(help="An MMLU folder, or a .csv/.jsonl file of question, expert.")
    ],
    split: Annotated[str, typer.Option(help="MMLU split to score on: dev, val or test.")] = "test",
    sample: Annotated[
        int | None, typer.Option(help="Score a random sample of this many (default: all).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option(help="Write the Markdown table here.")
    ] = None,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
) -> None:
    """Evaluate on labelled data: routing (top-1, top-3, macro-F1, confusion, routes/s)."""
    from rich.progress import Progress

    from comp_llm_graph.data import labelled_questions
    from comp_llm_graph.evaluate import evaluate_routing, routing_markdown
    from comp_llm_graph.experts.registry import ExpertRegistry

    try:
        if part not in EVAL_PARTS:
            raise CompLLMError(f"unknown part {part!r}; choose from {', '.join(EVAL_PARTS)}")
        if split not in ("dev", "val", "test"):
            raise CompLLMError(f"--split must be dev, val or test; got {split!r}")
        if sample is not None and sample < 1:
            raise CompLLMError(f"--sample must be at least 1; got {sample}")
        rows = labelled_questions(data, splits=[split], sample=sample, seed=seed)
        if not rows:
            raise CompLLMError(f"{data}: no labelled questions found")
        options = _registry_options(experts, cache_dir)
        registry = ExpertRegistry.from_folders(options.pop("expert_folders"), **options)
        unknown = sorted({row.expert for row in rows} - set(registry.cards))
        if unknown:
            raise CompLLMError(
                f"labels name experts that are not in the registry: {', '.join(unknown[:10])}; "
                "add cards for them (--experts DIR) or relabel the data.")
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    with Progress(console=err) as bar:
        task = bar.add_task("routing", total=len(rows))
        results = evaluate_routing(registry, rows,
                                   progress=lambda n: bar.advance(task, n))
    document = {"routing": {f"{Path(data).name}_{split}": results, "routes_per_s":
                            results["routes_per_s"]}}
    table = routing_markdown(results, f"Routing on {Path(data).name} {split} "
                                      f"({len(rows)} questions, seed {seed})")
    out.print(table, markup=False)
    if json_path:
        json_path.write_text(json.dumps(document, indent=2) + "\n")
    if markdown:
        markdown.write_text(table)


def _print_route(decision: Any, threshold: float) -> None:
    out.print(Text(decision.question, style="bold"))
    for rank, (expert, score) in enumerate(decision.candidates, start=1):
        out.print(f"  {rank}. {expert:<20} {score:.3f}")
    reason = (f"below the threshold {threshold:.2f}: fallback" if decision.fallback
              else "best similarity")
    out.print(f"  -> [bold]{decision.expert}[/bold] ({reason})")


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from comp_llm_graph.bench import PARTS, run_bench

    chosen = list(parts or PARTS)
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        _fail(ValueError(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}"))
    if dags < 1:
        _fail(ValueError(f"--dags must be at least 1; got {dags}"))
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err) as bar:

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
