"""Wall time of one `comp-llm ask`, cold and warm, on the embedded default models.

- cold: a new `comp-llm ask` process with empty caches (imports, re-encoding the GGUF for the
  llama.cpp engine, card embedding and the run itself), as on a fresh install;
- second process: a new process again, with the routing index and the re-encoded model reused
  from the cache;
- warm: the same graph asked again inside one process (models already loaded), as in a server or
  notebook; the stage timings come from the graph's own `timings`.

    python benchmarks/ask_latency.py --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERY = "What is the capital of France, and what is 15% of 240?"


def cli_run(query: str, cache_dir: str) -> tuple[float, dict]:
    cli = str(Path(sys.executable).parent / "comp-llm")
    started = time.perf_counter()
    env = {**os.environ, "XDG_CACHE_HOME": cache_dir}
    proc = subprocess.run([cli, "ask", "--json", query], capture_output=True, text=True,
                          check=True, env=env)
    return time.perf_counter() - started, json.loads(proc.stdout)


async def warm_runs(query: str, cache_dir: str, repeats: int) -> list[dict]:
    from comp_llm_graph import Context, build_graph, default_components

    os.environ["XDG_CACHE_HOME"] = cache_dir
    graph = build_graph(**default_components())
    await graph.ainvoke({"query": query}, context=Context())  # loads everything
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        state = await graph.ainvoke({"query": query}, context=Context())
        runs.append({"wall": time.perf_counter() - started, **state["timings"],
                     "subqueries": len(state["plan"])})
    import psutil

    runs[0]["rss_mb"] = round(psutil.Process().memory_info().rss / 2**20)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default=QUERY)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache_dir:
        cold, cold_doc = cli_run(args.query, cache_dir)
        second, _ = cli_run(args.query, cache_dir)
        warm = asyncio.run(warm_runs(args.query, cache_dir, args.repeats))
    results = {
        "query": args.query,
        "cold_process_s": round(cold, 2),
        "second_process_s": round(second, 2),
        "warm_in_process_s": round(statistics.median(r["wall"] for r in warm), 2),
        "warm_stages_s": {k: round(statistics.median(r[k] for r in warm), 2)
                          for k in ("plan", "execute", "aggregate")},
        "subqueries": warm[0]["subqueries"],
        "warm_process_rss_mb": warm[0]["rss_mb"],
        "cold_plan": [(s["id"], s["expert"], s["question"]) for s in cold_doc["plan"]],
    }
    print(f"\n`comp-llm ask` on {args.query!r}")
    print("| run | wall s |\n|---|---|")
    print(f"| cold process (empty caches: re-encode the GGUF, embed cards) | "
          f"{results['cold_process_s']:.1f} |")
    print(f"| second process (caches reused) | {results['second_process_s']:.1f} |")
    print(f"| warm, in process (median of {args.repeats}) | {results['warm_in_process_s']:.1f} |")
    print("warm stages:", results["warm_stages_s"], "sub-queries:", results["subqueries"],
          "resident MB:", results["warm_process_rss_mb"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
