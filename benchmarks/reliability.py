"""Reliability suite: faults injected, bad planner output, concurrent load; prints a table.

    .venv/bin/python benchmarks/reliability.py [--runs 500] [--at-once 100]

On the graph with scripted planners and experts (`tests/fakes.py`: keyword embeddings in a real
in-memory Chroma), so it measures the executor's fault handling, not model quality. A run
"survives" when it returns a final answer, every planned sub-query has an answer or an error,
the answers of the sub-queries that did not fail are kept, and `aggregation.partial` says
whether something failed. The CLI's bad inputs are checked by `../shared/checks/reliability`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import AIMessage  # noqa: E402
from langchain_core.runnables import RunnableLambda  # noqa: E402

from comp_llm_graph import Context, build_graph  # noqa: E402
from tests.fakes import CARDS, fake_registry, planner, slow_expert  # noqa: E402

PLAN = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "When did the empire of {q1} fall?", "depends_on": ["q1"]},
    {"id": "q3", "question": "What is 3 plus 4?", "depends_on": []},
]})
QUERY = "When did the empire of the capital of Peru fall, and what is 3 plus 4?"


def _expert(behaviour):
    async def run(payload):
        return await behaviour(payload)

    return RunnableLambda(lambda p: None, afunc=run)


async def _hang(payload):
    await asyncio.sleep(60)


async def _cancel(payload):
    raise asyncio.CancelledError()


async def _raise(payload):
    raise ConnectionError("reset by peer")


def _returns(value):
    async def run(payload):
        return value

    return run


FAULTS = {
    "expert raises": ("math", _raise),
    "expert hangs (timeout)": ("math", _hang),
    "expert raises CancelledError": ("math", _cancel),
    "expert returns None": ("math", _returns(None)),
    "expert returns a dict": ("math", _returns({"text": "7"})),
    "input of a dependant fails": ("geography", _raise),
    "planner raises": ("planner", _raise),
    "planner hangs (timeout)": ("planner", _hang),
    "aggregator raises": ("aggregator", _raise),
    "aggregator hangs (timeout)": ("aggregator", _hang),
    "routing raises": ("routing", _raise),
}


def _survived(state) -> bool:
    answers = state.get("answers") or {}
    complete = all(s["id"] in answers and (answers[s["id"]]["answer"] or answers[s["id"]]["error"])
                   for s in state["plan"])
    failed = any(a["error"] for a in answers.values())
    partial = state["aggregation"].get("partial", False)
    return bool(state["final_answer"]) and complete and partial == failed


async def faults(repeats: int) -> list[tuple[str, int, int]]:
    rows = []
    context = Context(aggregate="llm", expert_timeout=0.2, planner_timeout=0.2,
                      aggregator_timeout=0.2)
    for name, (where, behaviour) in FAULTS.items():
        survived = 0
        for _ in range(repeats):
            experts = {c.name: slow_expert(c.name, 0.0) for c in CARDS}
            plan_model, aggregator = planner(PLAN), planner("The empire fell in 1572; 7.")
            if where in experts:
                experts[where] = _expert(behaviour)
            elif where == "planner":
                plan_model = _expert(behaviour)
            elif where == "aggregator":
                aggregator = _expert(behaviour)
            registry = fake_registry(experts)
            if where == "routing":
                registry.route = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("index"))
            graph = build_graph(planner=plan_model, registry=registry, aggregator=aggregator)
            try:
                state = await asyncio.wait_for(graph.ainvoke({"query": QUERY},
                                                             context=context), 30)
            except Exception:  # noqa: BLE001 - counted as not survived
                continue
            survived += _survived(state)
        rows.append((name, repeats, survived))
    return rows


def bad_plans(n: int, seed: int) -> tuple[int, int, float]:
    from comp_llm_graph.errors import PlanError
    from comp_llm_graph.plan import parse_plan, repair_plan

    rng = random.Random(seed)
    pieces = ["{", "}", "[", "]", '"', ":", ",", "q1", "{q2}", "#3", "\n", " ", "id",
              '"question"', '"depends_on"', "9" * 5000, "What is x?", "1.", "- "]
    valid = errors = 0
    slowest = 0.0
    for _ in range(n):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 400)))
        if rng.random() < 0.05:
            text = rng.choice(pieces[:4]) * 100_000
        started = time.perf_counter()
        try:
            repair_plan(parse_plan(text)[0], max_subqueries=8)
            valid += 1
        except PlanError:
            errors += 1
        slowest = max(slowest, time.perf_counter() - started)
    return valid, errors, slowest


async def load(runs: int, at_once: int, seed: int) -> dict:
    rng = random.Random(seed)
    busy: dict[str, int] = {}
    peak: dict[str, int] = {}

    def expert(name: str):
        async def run(payload):
            busy[name] = busy.get(name, 0) + 1
            peak[name] = max(peak.get(name, 0), busy[name])
            try:
                await asyncio.sleep(rng.random() * 0.02)
                if rng.random() < 0.1:
                    raise ConnectionError("injected")
                return f"{name} answers: {payload['question']}"
            finally:
                busy[name] -= 1

        return RunnableLambda(lambda p: None, afunc=run)

    registry = fake_registry({c.name: expert(c.name) for c in CARDS})
    registry.cards["math"] = registry.cards["math"].model_copy(update={"max_concurrency": 2})
    gate = asyncio.Semaphore(at_once)
    crosstalk = lost = 0

    async def one(i: int) -> None:
        nonlocal crosstalk, lost
        marker = f"run{i}"
        plan = PLAN.replace("Peru", f"Peru {marker}").replace("3 plus 4", f"3 plus 4 {marker}")
        graph = build_graph(planner=planner(plan), registry=registry, aggregator=planner("ok"))
        async with gate:
            state = await graph.ainvoke({"query": QUERY})
        answers = state["answers"]
        lost += len({s["id"] for s in state["plan"]} ^ set(answers))
        crosstalk += sum(1 for a in answers.values() if a["answer"] and marker not in a["answer"]
                         and "{q1}" not in a["question"])

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(runs)))
    return {"runs": runs, "at_once": at_once, "seconds": round(time.perf_counter() - started, 1),
            "crosstalk": crosstalk, "lost_or_duplicated": lost,
            "math_limit_2_peak": peak.get("math", 0),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--plans", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--at-once", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| fault injected | runs | survived |\n|---|---|---|")
    for name, tried, survived in asyncio.run(faults(args.repeats)):
        print(f"| {name} | {tried} | {survived} |")
    valid, errors, slowest = bad_plans(args.plans, args.seed)
    print(f"\nrandom planner outputs: {args.plans} tried, {valid} valid DAGs, {errors} PlanError "
          f"(re-plan, then one sub-query), other exceptions 0, slowest {slowest:.3f} s")
    result = asyncio.run(load(args.runs, args.at_once, args.seed))
    print(f"\nconcurrent load: {result['runs']} runs, {result['at_once']} at once, 10% of expert "
          f"calls failing, {result['seconds']} s: cross-talk {result['crosstalk']}, lost or "
          f"duplicated sub-queries {result['lost_or_duplicated']}, math card limit 2 peaked at "
          f"{result['math_limit_2_peak']}, peak RSS {result['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
