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

from comp_llm_graph.context import MODES, Context
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
    experts: Annotated[
        list[Path] | None,
        typer.Option("--experts", help="A folder of your own expert cards (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    max_subqueries: Annotated[int, typer.Option(help="Largest plan accepted.")] = 5,
    max_concurrency: Annotated[int, typer.Option(help="Sub-queries running at once.")] = 4,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Folder of the persistent routing index.")
    ] = None,
) -> None:
    """Answer QUERY: print the plan, each sub-answer with its time, and the final answer."""
    try:
        text = _read_query(query)
        context = Context(mode=mode, max_subqueries=max_subqueries)  # type: ignore[arg-type]
        if max_concurrency < 1:
            raise CompLLMError(f"--max-concurrency must be at least 1; got {max_concurrency}.")
        from comp_llm_graph.graph import build_graph, default_components

        components = default_components(
            expert_folders=[str(p) for p in experts or []],
            **({"persist_directory": cache_dir} if cache_dir else {}),
        )
        graph = build_graph(**components)
        started = time.time()
        with err.status("Answering (models load on first use)...", spinner="dots"):
            state = asyncio.run(graph.ainvoke(
                {"query": text}, config={"max_concurrency": max_concurrency}, context=context))
    except (CompLLMError, ValueError) as exc:
        _fail(exc)
    doc = result_document(state)
    doc["timings"]["wall"] = round(time.time() - started, 4)
    if as_json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _print_human(doc)


@app.callback()
def _root() -> None:
    """Comp-LLM: decompose, route, execute in parallel, aggregate."""


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
