"""`comp-llm bench`: measure the executor (scheduler, overhead, batching, models, reliability)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from comp_llm_graph.cli.render import fail, out, plain, print_bench, progress_bar


def bench(
    parts: Annotated[
        list[str] | None,
        typer.Argument(help="Any of: scheduler, overhead, batching, models, fleet, "
                            "reliability (default: all)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
    timeline: Annotated[
        Path, typer.Option(help="Gantt chart (PNG) of one run: the models part's if it ran.")
    ] = Path("bench-timeline.png"),
    dags: Annotated[int, typer.Option(help="Random DAGs in the scheduler suite.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the random DAGs.")] = 0,
    queries: Annotated[int, typer.Option(
        help="Concurrent queries per replica count in the fleet part.")] = 100,
    runs: Annotated[int, typer.Option(
        help="Runs of the concurrent load in the reliability part (100 at once).")] = 500,
    fleet_plot: Annotated[Path, typer.Option(
        help="Throughput and p95 latency against replicas (PNG), when the fleet part ran.")
    ] = Path("bench-fleet.png"),
) -> None:
    """Measure the executor: scheduler, overhead, batching, real models, fleets, reliability."""
    from comp_llm_graph.evaluation.bench import PARTS, run_bench

    chosen = list(parts or PARTS)
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        fail(ValueError(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}"))
    if min(dags, queries, runs) < 1:
        fail(ValueError(f"--dags, --queries and --runs must be at least 1; got {dags}, "
                        f"{queries}, {runs}"))
    with progress_bar() as bar:

        def progress(description: str, total: int):
            task = bar.add_task(description, total=total)
            return lambda: bar.advance(task)

        results = asyncio.run(run_bench(chosen, n_dags=dags, seed=seed, timeline=timeline,
                                        fleet_queries=queries, load_runs=runs,
                                        progress=progress))
    print_bench(results)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        out.print(plain(f"results: {json_path}", "dim"))
    if "timeline" in results:
        out.print(plain(f"timeline: {results['timeline']}", "dim"))
    if "fleet" in results:
        from comp_llm_graph.evaluation.reports import plot_fleet

        out.print(plain(f"fleet plot: {plot_fleet(results['fleet'], fleet_plot)}", "dim"))
