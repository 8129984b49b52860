"""`comp-llm bench fleet`: one expert on 1, 2 and 4 replicas of an OpenAI-compatible server.

The servers (`fleet_server.py`, one process apart from the client) generate one request per slot
at a controlled per-token latency. The client is the real graph: a planner that replays random
DAGs, one expert card with `backend: openai` and `endpoints` (a `ReplicaPool`), the executor's
start-as-ready schedule and a composed answer. For each replica count, `queries` queries run at
once: throughput (queries/s), p50/p95 latency per query, and each query's makespan over its
critical path (the longest chain of its calls' service times, known from the plan). Then the
same with 4 replicas and one query at a time (replicas not saturated), where makespan over
critical path shows the executor's own overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from comp_llm_graph.context import Context
from comp_llm_graph.evaluation.fleet_server import reply_tokens
from comp_llm_graph.evaluation.scripted import scripted_model
from comp_llm_graph.experts import ExpertCard, ExpertRegistry
from comp_llm_graph.graph import build_graph
from comp_llm_graph.scheduler import critical_path

__all__ = ["bench_fleet", "fleet_servers", "free_ports", "random_plan"]

REPLICAS = (1, 2, 4)
Progress = Callable[[str, int], Callable[[], None]]


def free_ports(n: int) -> list[int]:
    """`n` free TCP ports on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def fleet_servers(ports: Sequence[int], *, per_token_ms: float, slots: int = 1,
                  failing: Sequence[int] = (), hanging: Sequence[int] = ()) -> Iterator[None]:
    """Run `fleet_server` on these ports (and failing/hanging ones) until the block ends."""
    command = [sys.executable, "-m", "comp_llm_graph.evaluation.fleet_server",
               "--per-token-ms", str(per_token_ms), "--slots", str(slots)]
    for flag, group in (("--port", ports), ("--failing-port", failing),
                        ("--hanging-port", hanging)):
        for port in group:
            command += [flag, str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        for port in [*ports, *failing]:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"the fleet server did not start: "
                                       f"{server.stderr.read().decode()[-1000:]}")
                time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


def random_plan(rng: random.Random, name: str, *, tokens: tuple[int, int] = (16, 48),
                size: tuple[int, int] = (2, 6)) -> list[dict[str, Any]]:
    """A random DAG of sub-queries, each asking for a reply of a random length (`[tokens=N]`)."""
    n = rng.randint(*size)
    items: list[dict[str, Any]] = []
    for i in range(n):
        deps = sorted({f"q{j + 1}" for j in range(i) if rng.random() < 0.35})
        items.append({"id": f"q{i + 1}", "depends_on": deps,
                      "question": f"{name} step {i + 1} [tokens={rng.randint(*tokens)}]"})
    return items


def _graph(ports: Sequence[int], slots: int, plans: dict[str, str]) -> tuple[Any, Any]:
    """The graph on one expert served by these replicas, and that expert's `ReplicaPool`."""
    from chromadb import EphemeralClient
    from chromadb.config import Settings
    from langchain_core.embeddings import DeterministicFakeEmbedding

    card = ExpertCard(
        name="served", description="an expert on a fleet of replicas", examples=["step"],
        backend="openai", system_prompt="Answer.",
        options={"model": "fleet", "max_tokens": 64, "endpoints": [
            {"base_url": f"http://127.0.0.1:{port}/v1", "max_concurrency": slots,
             "timeout": 60} for port in ports]})
    registry = ExpertRegistry(
        [card], fallback="served", threshold=0.0, embeddings=DeterministicFakeEmbedding(size=16),
        client=EphemeralClient(settings=Settings(anonymized_telemetry=False)),
        collection_name=f"fleet_{uuid.uuid4().hex[:12]}")

    async def plan(messages: list) -> str:
        return plans[messages[-1].content]

    graph = build_graph(planner=scripted_model(plan), registry=registry,
                        aggregator=scripted_model("unused: the answer is composed"))
    return graph, registry.expert("served").chat_model


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _run_all(graph: Any, plans: dict[str, list[dict]], per_token_s: float,
                   concurrent: bool, tick: Callable[[], None]) -> dict[str, Any]:
    context = Context(aggregate="compose")

    async def one(query: str) -> tuple[float, float, list[str]]:
        started = time.perf_counter()
        state = await graph.ainvoke({"query": query}, context=context)
        seconds = time.perf_counter() - started
        tick()
        items = plans[query]
        service = {i["id"]: reply_tokens(i["question"]) * per_token_s for i in items}
        errors = [a["error"] for a in state["answers"].values() if a["error"]]
        return seconds, seconds / critical_path(items, service), errors

    if not concurrent:  # the first query builds the routing index: a warm-up, not measured
        await one(next(iter(plans)))
        plans = dict(list(plans.items())[1:])
    started = time.perf_counter()
    if concurrent:
        runs = await asyncio.gather(*(one(q) for q in plans))
    else:
        runs = [await one(q) for q in plans]
    wall = time.perf_counter() - started
    latency = [r[0] for r in runs]
    ratio = [r[1] for r in runs]
    return {
        "queries": len(runs), "wall_s": round(wall, 3),
        "throughput_qps": round(len(runs) / wall, 3),
        "latency_p50_s": round(_percentile(latency, 0.5), 3),
        "latency_p95_s": round(_percentile(latency, 0.95), 3),
        "makespan_over_critical_path_p50": round(statistics.median(ratio), 3),
        "makespan_over_critical_path_p95": round(_percentile(ratio, 0.95), 3),
        "errors": sum(len(r[2]) for r in runs),
    }


async def bench_fleet(queries: int = 100, *, per_token_ms: float = 8.0, slots: int = 1,
                      replicas: Sequence[int] = REPLICAS, unsaturated: int = 20, seed: int = 0,
                      progress: Progress | None = None) -> dict[str, Any]:
    """Throughput and latency per replica count, and overhead when replicas are not saturated.

    Returns:
        `{"replicas": {n: figures}, "unsaturated": figures, "throughput_ratio_4_vs_1", ...}`;
        figures as `_run_all` reports them, plus each replica's calls and failures.
    """
    rng = random.Random(seed)
    plans = {f"fleet query {i}": random_plan(rng, f"fleet query {i}") for i in range(queries)}
    # At most as many sub-queries as replicas: none of them waits for a free replica.
    quiet = {f"quiet query {i}": random_plan(rng, f"quiet query {i}", size=(2, max(replicas)))
             for i in range(unsaturated + 1)}
    texts = {q: json.dumps({"subqueries": items}) for q, items in {**plans, **quiet}.items()}
    per_token_s = per_token_ms / 1000
    ports = free_ports(max(replicas))
    total = queries * len(replicas) + unsaturated + 1
    tick = progress("fleet: 1/2/4 replicas", total) if progress else (lambda: None)
    results: dict[str, Any] = {"queries": queries, "per_token_ms": per_token_ms,
                               "slots_per_replica": slots,
                               "calls_per_query": round(statistics.mean(
                                   len(p) for p in plans.values()), 2), "replicas": {}}
    with fleet_servers(ports, per_token_ms=per_token_ms, slots=slots):
        for n in replicas:
            graph, pool = _graph(ports[:n], slots, texts)
            figures = await _run_all(graph, plans, per_token_s, True, tick)
            figures["per_replica"] = pool.stats()
            results["replicas"][str(n)] = figures
        graph, _ = _graph(ports[:max(replicas)], slots, texts)
        results["unsaturated"] = await _run_all(graph, quiet, per_token_s, False, tick)
    one, four = results["replicas"].get("1"), results["replicas"].get("4")
    if one and four:
        results["throughput_ratio_4_vs_1"] = round(
            four["throughput_qps"] / one["throughput_qps"], 3)
    return results
