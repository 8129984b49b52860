"""`comp-llm ask`: answer one question and show the plan, the sub-answers and the final answer."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Annotated

import typer
from langgraph.checkpoint.memory import InMemorySaver

from comp_llm_graph.cli.options import (
    Aggregate,
    ApiKeyEnv,
    CacheDir,
    ExpertFolders,
    MaxSubqueries,
    Planner,
    PlannerModel,
    PlannerUrl,
    Router,
    build_components,
)
from comp_llm_graph.cli.render import err, fail, print_final, print_human, result_document
from comp_llm_graph.context import MODES, SCHEDULES, Context
from comp_llm_graph.errors import CompLLMError, validate_query


def read_query(query: str) -> str:
    """QUERY validated, read from standard input when it is '-'."""
    if query == "-":
        query = sys.stdin.read()
    return validate_query(query)


def ask(
    query: Annotated[str, typer.Argument(help="The question; '-' reads it from standard input.")],
    mode: Annotated[str, typer.Option(help=f"One of: {', '.join(MODES)}.")] = "comp",
    experts: ExpertFolders = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    max_subqueries: MaxSubqueries = 5,
    aggregate: Aggregate = "auto",
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
    threads: Annotated[
        int | None, typer.Option(help="CPU threads per local model (default: the CPU count).")
    ] = None,
    stream: Annotated[bool, typer.Option(
        "--stream", help="Show the plan, each sub-answer and the final answer as they come.")
    ] = False,
    review_plan: Annotated[bool, typer.Option(
        "--review-plan", help="Show the plan and ask before running it: run, edit it in "
                              "$EDITOR (JSON), or stop.")
    ] = False,
    cache_dir: CacheDir = None,
    router: Router = "auto",
    planner: Planner = "smollm2",
    planner_url: PlannerUrl = None,
    planner_model: PlannerModel = None,
    api_key_env: ApiKeyEnv = None,
) -> None:
    """Answer QUERY: print the plan, each sub-answer with its time, and the final answer."""
    try:
        if stream and as_json:
            raise CompLLMError("--stream shows the answer as it comes; --json prints one "
                               "document at the end: use one of them.")
        if review_plan and (stream or query == "-"):
            raise CompLLMError("--review-plan asks on the terminal: give the query as an "
                               "argument, without --stream.")
        text = read_query(query)
        context = Context(mode=mode, max_subqueries=max_subqueries,  # type: ignore[arg-type]
                          aggregate=aggregate, schedule=schedule,  # type: ignore[arg-type]
                          max_concurrency=max_concurrency, review_plan=review_plan)
        from comp_llm_graph.graph import build_graph
        from comp_llm_graph.runtimes.pool import configure

        configure(memory_budget=memory_budget, max_batch_size=batch_size, threads=threads)
        graph = build_graph(**build_components(experts, cache_dir, router, planner_url,
                                               planner_model, api_key_env, planner),
                            baselines=mode == "react",
                            checkpointer=InMemorySaver() if review_plan else None)
        started = time.time()
        if review_plan:
            from comp_llm_graph.cli.review import reviewed_run

            state = asyncio.run(reviewed_run(graph, text, context))
        elif stream:
            from comp_llm_graph.cli.live import stream_answer

            state = asyncio.run(stream_answer(graph, text, context))
        else:
            with err.status("Answering (models load on first use)...", spinner="dots"):
                state = asyncio.run(graph.ainvoke({"query": text}, context=context))
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    streamed = state.pop("_streamed", "")
    doc = result_document(state)
    doc["timings"]["wall"] = round(time.time() - started, 4)
    if as_json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    elif stream:  # the final answer is shown again when it is not what was streamed
        print_final(doc, answer=streamed.strip() != doc["final_answer"].strip())
    else:
        print_human(doc)
