"""`comp-llm bench reliability`: faults injected, bad input, crash and resume, concurrent load.

On scripted graphs (`evaluation.scripted`: scripted planner and experts, real in-memory
Chroma), so it measures how the executor holds up, not model quality. A run *survives* when it
returns a final answer, every planned sub-query has an answer or an error, the answers of the
sub-queries that did not fail are kept, and `aggregation.partial` is true exactly when something
failed. Bad input is tried where users give it (`evaluation.bad_inputs`); crash and resume kills
real processes (`evaluation.crash_resume`). The CLI's own bad inputs are also checked end to
end by `../shared/checks/reliability`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.runnables import Runnable

from comp_llm_graph.context import Context
from comp_llm_graph.evaluation.scripted import (
    CARD_NAMES,
    scripted_expert,
    scripted_model,
    scripted_registry,
)
from comp_llm_graph.graph import build_graph

__all__ = ["FAULTS", "bad_plans", "faults", "load", "run_reliability"]

PLAN = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "When did the empire of {q1} fall?", "depends_on": ["q1"]},
    {"id": "q3", "question": "What is 3 plus 4?", "depends_on": []},
]})
QUERY = "When did the empire of the capital of Peru fall, and what is 3 plus 4?"
Behaviour = Callable[[Any], Awaitable[Any]]
Progress = Callable[[str, int], Callable[[], None]]


async def _hang(_: Any) -> None:
    await asyncio.sleep(60)


async def _cancel(_: Any) -> None:
    raise asyncio.CancelledError()


async def _raise(_: Any) -> None:
    raise ConnectionError("reset by peer")


def _returns(value: Any) -> Behaviour:
    async def run(_: Any) -> Any:
        return value

    return run


FAULTS: dict[str, tuple[str, Behaviour]] = {
    "expert raises": ("3 plus 4", _raise),
    "expert hangs (timeout)": ("3 plus 4", _hang),
    "expert raises CancelledError": ("3 plus 4", _cancel),
    "expert returns None": ("3 plus 4", _returns(None)),
    "expert returns a dict": ("3 plus 4", _returns({"text": "7"})),
    "input of a dependant fails": ("capital of Peru", _raise),
    "planner raises": ("planner", _raise),
    "planner hangs (timeout)": ("planner", _hang),
    "aggregator raises": ("aggregator", _raise),
    "aggregator hangs (timeout)": ("aggregator", _hang),
    "routing raises": ("routing", _raise),
}
"""Fault name -> where it is injected (a question's text, or a stage) and what happens there."""


def _expert(faulty: str = "", behaviour: Behaviour | None = None) -> Runnable:
    """Answers every question, except the one containing `faulty`, which gets `behaviour`."""

    async def run(payload: dict) -> Any:
        if behaviour is not None and faulty in payload["question"]:
            return await behaviour(payload)
        return f"answer to {payload['question']}"

    return scripted_expert(run)


def _broken_index(*_: Any, **__: Any) -> Any:
    raise RuntimeError("index")


def _survived(state: dict) -> bool:
    answers = state.get("answers") or {}
    complete = all(s["id"] in answers and (answers[s["id"]]["answer"] or answers[s["id"]]["error"])
                   for s in state["plan"])
    failed = any(a["error"] for a in answers.values())
    partial = state["aggregation"].get("partial", False)
    return bool(state["final_answer"]) and complete and partial == failed


async def faults(repeats: int) -> list[dict[str, Any]]:
    """Each fault in `FAULTS`, `repeats` times: how many runs survived it."""
    rows = []
    context = Context(aggregate="llm", expert_timeout=0.2, planner_timeout=0.2,
                      aggregator_timeout=0.2)
    routing_log = logging.getLogger("comp_llm_graph.experts.registry")  # "routing failed" warnings
    level = routing_log.level
    routing_log.setLevel(logging.ERROR)
    try:
        for name, (where, behaviour) in FAULTS.items():
            rows.append(await _fault(name, where, behaviour, repeats, context))
    finally:
        routing_log.setLevel(level)
    return rows


async def _fault(name: str, where: str, behaviour: Behaviour, repeats: int,
                 context: Context) -> dict[str, Any]:
    """`repeats` runs with one fault: how many survived it."""
    survived = 0
    for _ in range(repeats):
        stage = where in ("planner", "aggregator", "routing")
        registry = scripted_registry(_expert() if stage else _expert(where, behaviour))
        plan_model, aggregator = scripted_model(PLAN), scripted_model("1572; 7.")
        if where == "planner":
            plan_model = scripted_model(behaviour)
        elif where == "aggregator":
            aggregator = scripted_model(behaviour)
        elif where == "routing":
            registry.route = _broken_index
        graph = build_graph(planner=plan_model, registry=registry, aggregator=aggregator)
        try:
            state = await asyncio.wait_for(graph.ainvoke({"query": QUERY},
                                                         context=context), 30)
        except Exception:  # noqa: BLE001 - an escaped exception is a run that did not survive
            continue
        survived += _survived(state)
    return {"fault": name, "runs": repeats, "survived": survived}


def bad_plans(n: int, seed: int) -> dict[str, Any]:
    """`n` random planner outputs through the parser and validator: DAGs, `PlanError`s, time."""
    from comp_llm_graph.errors import PlanError
    from comp_llm_graph.planning.plan import parse_plan, repair_plan

    rng = random.Random(seed)
    pieces = ["{", "}", "[", "]", '"', ":", ",", "q1", "{q2}", "#3", "\n", " ", "id",
              '"question"', '"depends_on"', "9" * 5000, "What is x?", "1.", "- "]
    valid = errors = other = 0
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
        except Exception:  # noqa: BLE001 - counted: any other exception is a parser bug
            other += 1
        slowest = max(slowest, time.perf_counter() - started)
    return {"tried": n, "valid_dags": valid, "plan_errors": errors, "other_exceptions": other,
            "slowest_s": round(slowest, 3)}


async def load(runs: int, at_once: int, seed: int) -> dict[str, Any]:
    """`runs` runs, `at_once` at a time, 10% of expert calls failing, every card limited to 2."""
    rng = random.Random(seed)
    busy: dict[str, int] = dict.fromkeys(CARD_NAMES, 0)
    peak = dict(busy)

    def expert(card: str) -> Runnable:
        async def run(payload: dict) -> str:
            busy[card] += 1
            peak[card] = max(peak[card], busy[card])
            try:
                await asyncio.sleep(rng.random() * 0.02)
                if rng.random() < 0.1:
                    raise ConnectionError("injected")
                return f"answers: {payload['question']}"
            finally:
                busy[card] -= 1

        return scripted_expert(run)

    registry = scripted_registry(expert, limit=2)
    gate = asyncio.Semaphore(at_once)
    crosstalk = lost = 0

    async def one(i: int) -> None:
        nonlocal crosstalk, lost
        marker = f"run{i}"
        plan = PLAN.replace("Peru", f"Peru {marker}").replace("3 plus 4", f"3 plus 4 {marker}")
        graph = build_graph(planner=scripted_model(plan), registry=registry,
                            aggregator=scripted_model("ok"))
        async with gate:
            state = await graph.ainvoke({"query": QUERY})
        answers = state["answers"]
        lost += len({s["id"] for s in state["plan"]} ^ set(answers))
        crosstalk += sum(1 for a in answers.values() if a["answer"] and marker not in a["answer"])

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(runs)))
    return {"runs": runs, "at_once": at_once, "seconds": round(time.perf_counter() - started, 1),
            "crosstalk": crosstalk, "lost_or_duplicated": lost,
            "card_limit": 2, "peak_calls_per_card": peak,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


async def run_reliability(*, repeats: int = 5, plans: int = 2000,
                          kills: Sequence[str] | None = None, runs: int = 500,
                          at_once: int = 100, seed: int = 0,
                          progress: Progress | None = None) -> dict[str, Any]:
    """Every part of the suite; one JSON-ready document (printed by `cli.render`).

    `progress(description, total)`, as in `evaluation.bench`, returns a function called
    once per finished part.
    """
    from comp_llm_graph.evaluation.bad_inputs import bad_inputs
    from comp_llm_graph.evaluation.crash_resume import KILL_POINTS, crash_resume

    step = progress("reliability: faults, bad input, crashes, load", 5) if progress else None
    results: dict[str, Any] = {}
    parts: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("faults", lambda: faults(repeats)),
        ("bad_inputs", bad_inputs),
        ("plans", lambda: asyncio.to_thread(bad_plans, plans, seed)),
        ("crash_resume", lambda: crash_resume(KILL_POINTS if kills is None else kills)),
        ("load", lambda: load(runs, at_once, seed)),
    ]
    for name, part in parts:
        results[name] = await part()
        if step:
            step()
    return results
