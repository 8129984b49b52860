"""`comp-llm bench`: how close the executor gets to the critical path, and what batching buys.

Parts (each runs alone; with none named, all run):

- `scheduler`: seeded random DAGs (1-12 sub-queries, depth 1-5, heavy-tailed latencies) on
  simulated-latency experts (no model), in modes sequential, waves and start-as-ready: makespan /
  critical path per mode, and speedup over sequential next to the ideal (total work / critical
  path).
- `overhead`: framework time per sub-query with zero-latency experts on a 32-sub-query plan.
- `batching`: 4 concurrent calls on one SmolLM2 copy, batched vs one by one (tokens/s).
- `models`: the default pack on SmolLM2 answering multi-part questions: sequential vs react vs
  start-as-ready with and without batching (wall time, tokens/s).
- `fleet`: one expert on 1, 2 and 4 replicas on loopback (`evaluation.fleet`).
- `reliability`: faults injected, bad input, crash and resume, concurrent load
  (`evaluation.reliability`).

With a `timeline` path, `run_bench` also draws one example run as a Gantt chart
(`comp_llm_graph.evaluation.reports.plot_timeline`).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from comp_llm_graph.context import Context
from comp_llm_graph.evaluation.reports import plot_timeline
from comp_llm_graph.evaluation.scripted import scripted_expert, scripted_model, scripted_registry
from comp_llm_graph.graph import build_graph
from comp_llm_graph.scheduler import critical_path

__all__ = ["PARTS", "random_dag", "run_bench"]

PARTS: tuple[str, ...] = ("scheduler", "overhead", "batching", "models", "fleet", "reliability")
SIM_EXPERTS = ("sim_a", "sim_b", "sim_c")
MODEL_QUESTIONS = [
    "What is the capital of France, and what is 15% of 240?",
    "Who wrote Hamlet, and what is the boiling point of water in Celsius?",
    "What is photosynthesis, and what is the largest planet in the solar system?",
]
BATCH_PROMPTS = [
    "What is the capital of France?",
    "Who wrote Hamlet?",
    "What is photosynthesis?",
    "What is the boiling point of water?",
]

Progress = Callable[[str, int], Callable[[], None]]
"""`progress(description, total)` returns a function to call once per finished step."""


def _no_progress(description: str, total: int) -> Callable[[], None]:
    return lambda: None


# -- simulated experts ---------------------------------------------------------------------------


def random_dag(rng: random.Random, name: str) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """A random plan (1-12 sub-queries, depth 1-5) and a heavy-tailed latency per sub-query.

    Returns:
        Plan items (`id`, `question`, `depends_on`) in a topological order, and seconds per
        sub-query id (log-normal, median 0.1 s, clipped to 0.02-1.0 s).
    """
    n = rng.randint(1, 12)
    depth = rng.randint(1, min(5, n))
    levels = sorted(list(range(depth)) + [rng.randrange(depth) for _ in range(n - depth)])
    items: list[dict[str, Any]] = []
    for i, level in enumerate(levels):
        earlier = [j for j in range(i) if levels[j] < level]
        parents = {rng.choice([j for j in earlier if levels[j] == level - 1])} if level else set()
        parents |= {j for j in earlier if rng.random() < 0.15}
        items.append({"id": f"q{i + 1}", "question": f"{name} step {i + 1}",
                      "depends_on": [f"q{j + 1}" for j in sorted(parents)]})
    latency = {item["id"]: min(1.0, max(0.02, rng.lognormvariate(math.log(0.1), 0.9)))
               for item in items}
    return items, latency


class _Simulation:
    """A graph whose planner replays given plans and whose experts sleep given latencies."""

    def __init__(self) -> None:
        self.plans: dict[str, str] = {}
        self.latency: dict[str, float] = {}

        async def plan(messages: list) -> str:
            return self.plans[messages[-1].content]

        async def expert(payload: dict) -> str:
            await asyncio.sleep(self.latency.get(payload["question"], 0.0))
            return "done"

        self.graph = build_graph(
            planner=scripted_model(plan), aggregator=scripted_model("done"),
            registry=scripted_registry(scripted_expert(expert), names=SIM_EXPERTS))

    async def run(self, query: str, items: list[dict], latency: dict[str, float],
                  context: Context) -> dict[str, Any]:
        self.plans[query] = json.dumps({"subqueries": items})
        self.latency.update({item["question"]: latency[item["id"]] for item in items})
        return await self.graph.ainvoke({"query": query}, context=context)


SCHEDULES: dict[str, dict[str, Any]] = {
    "sequential": {"mode": "sequential"},
    "waves": {"schedule": "waves"},
    "start_as_ready": {"schedule": "ready"},
}


def _summary(ratios: list[float], speedups: list[float]) -> dict[str, float]:
    return {
        "median_ratio_to_critical_path": round(statistics.median(ratios), 4),
        "worst_ratio_to_critical_path": round(max(ratios), 4),
        "median_speedup_over_sequential": round(statistics.median(speedups), 4),
    }


async def bench_scheduler(n_dags: int = 30, seed: int = 0,
                          progress: Progress = _no_progress) -> tuple[dict, dict]:
    """Makespan / critical path per schedule on seeded random DAGs.

    Returns:
        The results, and the states of the largest DAG under each schedule (for the timeline).
    """
    rng = random.Random(seed)
    sim = _Simulation()
    step = progress("scheduler: random DAGs", n_dags * len(SCHEDULES))
    dags, example = [], {}
    largest = -1
    for k in range(n_dags):
        items, latency = random_dag(rng, f"dag{k}")
        plan = [{**item, "expert": ""} for item in items]
        critical = critical_path(plan, latency)
        row = {"n": len(items), "depth": _depth(items), "critical_path_s": round(critical, 4),
               "total_work_s": round(sum(latency.values()), 4), "makespan_s": {}}
        states = {}
        for name, settings in SCHEDULES.items():
            state = await sim.run(f"dag{k} {name}", items, latency, Context(
                max_subqueries=32, **settings))
            row["makespan_s"][name] = state["timings"]["execute"]
            states[name] = state
            step()
        if len(items) > largest:
            largest, example = len(items), states
        dags.append(row)
    results: dict[str, Any] = {"n_dags": n_dags, "seed": seed}
    for name in SCHEDULES:
        ratios = [d["makespan_s"][name] / d["critical_path_s"] for d in dags]
        speedups = [d["makespan_s"]["sequential"] / d["makespan_s"][name] for d in dags]
        results[name] = _summary(ratios, speedups)
    results["median_ideal_speedup"] = round(statistics.median(
        d["total_work_s"] / d["critical_path_s"] for d in dags), 4)
    results["dags"] = dags
    return results, example


def _depth(items: list[dict]) -> int:
    level: dict[str, int] = {}
    for item in items:
        level[item["id"]] = 1 + max((level[d] for d in item["depends_on"]), default=0)
    return max(level.values())


async def bench_overhead(n: int = 32, repeats: int = 5,
                         progress: Progress = _no_progress) -> dict[str, Any]:
    """Executor time per sub-query with zero-latency experts (framework overhead)."""
    sim = _Simulation()
    shapes = {
        "independent": [{"id": f"q{i}", "question": f"o{i}", "depends_on": []}
                        for i in range(1, n + 1)],
        "chain": [{"id": f"q{i}", "question": f"c{i}", "depends_on": [f"q{i - 1}"] if i > 1 else []}
                  for i in range(1, n + 1)],
    }
    step = progress("overhead: zero-latency plans", repeats * len(shapes))
    results: dict[str, Any] = {"n_subqueries": n, "repeats": repeats}
    for shape, items in shapes.items():
        latency = {item["id"]: 0.0 for item in items}
        await sim.run(f"warm {shape}", items, latency, Context(max_subqueries=32))
        times = []
        for r in range(repeats):
            state = await sim.run(f"{shape} {r}", items, latency, Context(max_subqueries=32))
            times.append(state["timings"]["execute"])
            step()
        results[f"{shape}_ms_per_subquery"] = round(1000 * statistics.median(times) / n, 3)
    results["ms_per_subquery"] = results["independent_ms_per_subquery"]
    return results


# -- real models ---------------------------------------------------------------------------------


async def bench_batching(max_new_tokens: int = 48, repeats: int = 2,
                         progress: Progress = _no_progress) -> dict[str, Any]:
    """4 concurrent calls on one SmolLM2 (llama.cpp, continuous batching) vs one after another.

    Also the decoding speed of one stream (a 128-token answer). The prompt cache is off, so each
    repeat does the same work.
    """
    from langchain_core.messages import HumanMessage

    from comp_llm_graph.runtimes.llamacpp import smollm2

    step = progress("batching: SmolLM2 on llama.cpp", 2 + 2 * repeats)
    batched = smollm2(max_new_tokens, max_batch_size=4, cache_prompt=False)
    single = smollm2(max_new_tokens, max_batch_size=1, cache_prompt=False)
    started = time.time()
    batched.load()
    load_s = time.time() - started
    single.load()

    async def run(model) -> tuple[float, int, list[int]]:
        began = time.perf_counter()
        outputs = await asyncio.gather(*(model.ainvoke([HumanMessage(p)]) for p in BATCH_PROMPTS))
        seconds = time.perf_counter() - began
        tokens = sum(o.usage_metadata["output_tokens"] for o in outputs)
        return seconds, tokens, [o.response_metadata["batch_size"] for o in outputs]

    await run(batched)  # warm-up
    step()
    long = smollm2(128, max_batch_size=1, cache_prompt=False)
    began = time.perf_counter()
    answer = await long.ainvoke([HumanMessage("Write a long story about a dragon.")])
    stream_rate = answer.usage_metadata["output_tokens"] / (time.perf_counter() - began)
    step()
    rates: dict[str, list[float]] = {"batched": [], "one_by_one": []}
    sizes: dict[str, list[int]] = {}
    for _ in range(repeats):
        for name, model in (("one_by_one", single), ("batched", batched)):
            seconds, tokens, sizes[name] = await run(model)
            rates[name].append(tokens / seconds)
            step()
    batched_rate, single_rate = statistics.median(rates["batched"]), statistics.median(
        rates["one_by_one"])
    return {
        "engine": "llama.cpp",
        "concurrent": len(BATCH_PROMPTS),
        "max_new_tokens": max_new_tokens,
        "load_s": round(load_s, 2),
        "one_stream_tokens_per_s": round(stream_rate, 2),
        "batched_tokens_per_s": round(batched_rate, 2),
        "one_by_one_tokens_per_s": round(single_rate, 2),
        "batch_sizes": sizes,
        "throughput_ratio": round(batched_rate / single_rate, 3),
    }


MODEL_MODES: dict[str, tuple[dict[str, Any], int]] = {
    "monolithic": ({"mode": "monolithic"}, 1),
    "sequential": ({"mode": "sequential"}, 1),
    "react": ({"mode": "react", "max_subqueries": 3}, 1),
    "start_as_ready": ({"schedule": "ready"}, 1),
    "start_as_ready_batched": ({"schedule": "ready"}, 8),
}
"""Mode -> (Context settings, batch size of the local models)."""


async def bench_models(questions: Sequence[str] = MODEL_QUESTIONS,
                       progress: Progress = _no_progress) -> tuple[dict, dict]:
    """The default pack on SmolLM2: wall time and tokens/s per mode on multi-part questions."""
    from comp_llm_graph.defaults import default_components
    from comp_llm_graph.runtimes.pool import DEFAULTS, configure

    step = progress("models: default pack on SmolLM2", 1 + len(questions) * len(MODEL_MODES))
    graph = build_graph(**default_components(), baselines=True)
    previous = DEFAULTS["max_batch_size"]
    await graph.ainvoke({"query": questions[0]})  # loads the models and the routing index
    step()
    runs: dict[str, list[dict]] = {name: [] for name in MODEL_MODES}
    example: dict[str, Any] = {}
    names = list(MODEL_MODES)
    try:
        for index, question in enumerate(questions):
            # every mode on a question before the next; the order rotates between questions
            for name in names[index % len(names):] + names[:index % len(names)]:
                settings, batch_size = MODEL_MODES[name]
                configure(max_batch_size=batch_size)
                began = time.perf_counter()
                state = await graph.ainvoke({"query": question}, context=Context(**settings))
                wall = time.perf_counter() - began
                tokens = sum(a.get("output_tokens", 0) for a in state["answers"].values())
                runs[name].append({
                    "question": question, "wall_s": round(wall, 3),
                    "execute_s": state["timings"]["execute"],
                    "plan_s": state["timings"]["plan"], "subqueries": len(state["plan"]),
                    "expert_tokens": tokens, "final_answer": state["final_answer"]})
                if question == questions[0]:
                    example[name] = state
                step()
    finally:
        configure(max_batch_size=previous)
    summary = {}
    for name, rows in runs.items():
        execute = sum(r["execute_s"] for r in rows)
        summary[name] = {
            "median_wall_s": round(statistics.median(r["wall_s"] for r in rows), 3),
            "total_wall_s": round(sum(r["wall_s"] for r in rows), 3),
            "expert_tokens_per_s": round(sum(r["expert_tokens"] for r in rows) / execute, 2),
            "runs": rows,
        }
    total = {name: row["total_wall_s"] for name, row in summary.items()}
    ratios = {"comp_over_sequential": round(total["start_as_ready_batched"]
                                            / total["sequential"], 3),
              "comp_over_monolithic": round(total["start_as_ready_batched"]
                                            / total["monolithic"], 3)}
    return {"questions": list(questions), "modes": summary, "ratios": ratios}, example


# -- all parts -----------------------------------------------------------------------------------


async def run_bench(parts: Sequence[str] = PARTS, *, n_dags: int = 30, seed: int = 0,
                    timeline: str | Path | None = None, fleet_queries: int = 100,
                    load_runs: int = 500, progress: Progress = _no_progress) -> dict[str, Any]:
    """Run the named parts; returns one JSON-ready document (and writes the timeline PNG)."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown benchmark part(s) {unknown}; choose from {', '.join(PARTS)}")
    results: dict[str, Any] = {}
    example: tuple[dict, str] | None = None
    if "scheduler" in parts:
        results["scheduler"], states = await bench_scheduler(n_dags, seed, progress)
        example = (states, f"largest random DAG ({len(states['waves']['plan'])} sub-queries), "
                           "simulated experts")
    if "overhead" in parts:
        results["overhead"] = await bench_overhead(progress=progress)
    if "batching" in parts:
        results["batching"] = await bench_batching(progress=progress)
    if "models" in parts:
        results["models"], states = await bench_models(progress=progress)
        example = (states, f"SmolLM2 default pack: {MODEL_QUESTIONS[0]}")
    if "fleet" in parts:
        from comp_llm_graph.evaluation.fleet import bench_fleet

        results["fleet"] = await bench_fleet(fleet_queries, seed=seed, progress=progress)
    if "reliability" in parts:
        from comp_llm_graph.evaluation.reliability import run_reliability

        results["reliability"] = await run_reliability(runs=load_runs, seed=seed,
                                                       progress=progress)
    if timeline and example:
        results["timeline"] = str(plot_timeline(example[0], timeline, example[1]))
    return results
