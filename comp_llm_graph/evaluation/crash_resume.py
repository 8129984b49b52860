"""Crash and resume: a run in its own process is killed (SIGKILL) at a chosen point, then resumed.

The run has six sub-queries (four independent, then a chain of two) on a SQLite checkpoint,
one expert call at a time, each call 0.3 s long, and an aggregator that never returns, so the
process is always killed mid-run. Each point it is killed at: while planning, after 1-5 answers
were saved, while aggregating. The resume, in this process on the same thread, counts its
expert calls: a sound resume calls the expert once for each sub-query whose answer was not
saved, never again for one that was, and ends with all six answered.

    python -m comp_llm_graph.evaluation.crash_resume DB THREAD LOG   # the run that is killed
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph.types import Overwrite

from comp_llm_graph.context import Context
from comp_llm_graph.evaluation.scripted import scripted_expert, scripted_model, scripted_registry

__all__ = ["KILL_POINTS", "crash_resume"]

STEPS = 6
PLAN = json.dumps({"subqueries": [
    {"id": f"q{i}", "question": f"Step {i}: what comes next?", "depends_on": deps}
    for i, deps in [(1, []), (2, []), (3, []), (4, []), (5, ["q1", "q2"]), (6, ["q5"])]]})
QUERY = "Take six steps."
KILL_POINTS = ["while planning", *(f"after {k} saved" for k in range(1, STEPS)),
               "while aggregating"]
CONTEXT = Context(max_subqueries=STEPS, max_concurrency=1, aggregate="llm")


def _graph(log: Path, *, aggregator_hangs: bool, checkpointer: Any) -> Any:
    from comp_llm_graph.graph import build_graph

    def note(line: str) -> None:
        with log.open("a") as out:
            out.write(line + "\n")

    async def plan(_: list) -> str:
        note("plan")
        await asyncio.sleep(0.5)
        return PLAN

    async def expert(payload: dict) -> str:
        note(f"call {payload['question'].split(':')[0]}")
        await asyncio.sleep(0.3)
        return f"done: {payload['question']}"

    async def aggregate(_: list) -> str:
        note("aggregate")
        if aggregator_hangs:
            await asyncio.sleep(3600)
        return "All six steps taken."

    return build_graph(planner=scripted_model(plan),
                       registry=scripted_registry(scripted_expert(expert)),
                       aggregator=scripted_model(aggregate), checkpointer=checkpointer)


async def _saved(saver: Any, thread: str) -> set[str] | None:
    """Sub-query ids whose answers the thread's checkpoint holds (step values and writes).

    None while the thread has no checkpoint (a run killed then has nothing to resume).
    """
    saved = await saver.aget_tuple({"configurable": {"thread_id": thread}})
    if saved is None:
        return None
    ids = set(saved.checkpoint["channel_values"].get("answers") or {})
    for _task, channel, value in saved.pending_writes or []:
        if channel == "answers":  # the plan step's write is `Overwrite({})`, the branches' dicts
            ids |= set(value.value if isinstance(value, Overwrite) else value)
    return ids


async def _kill_at(point: str, url: str, saver: Any, thread: str, log: Path) -> set[str]:
    """Start the run in a child process, SIGKILL it at `point`; the ids it had saved."""
    errors = log.with_suffix(".stderr")
    with errors.open("wb") as stderr:  # a file, not a pipe: a full pipe would stall the child
        child = subprocess.Popen([sys.executable, "-m", __name__, url, thread, str(log)],
                                 stdout=subprocess.DEVNULL, stderr=stderr)
    want = int(point.split()[1]) if point.startswith("after") else None
    deadline, reached = time.monotonic() + 120, False
    try:
        while not reached and time.monotonic() < deadline and child.poll() is None:
            await asyncio.sleep(0.05)
            lines = log.read_text().splitlines() if log.exists() else []
            saved = await _saved(saver, thread)
            reached = saved is not None and (
                point == "while planning" and "plan" in lines
                or point == "while aggregating" and "aggregate" in lines
                or want is not None and len(saved) >= want)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    if not reached:
        raise RuntimeError(f"the run to be killed {point} ended or stalled first: "
                           f"{errors.read_text(errors='replace')[-800:]}")
    return await _saved(saver, thread) or set()


async def _one(point: str, folder: Path) -> dict[str, Any]:
    from comp_llm_graph.checkpoints import open_checkpointer

    url, thread = f"sqlite:///{folder}/state.db", point.replace(" ", "-")
    killed_log, resumed_log = folder / f"{thread}.killed", folder / f"{thread}.resumed"
    async with open_checkpointer(url) as saver:
        saved = await _kill_at(point, url, saver, thread, killed_log)
        graph = _graph(resumed_log, aggregator_hangs=False, checkpointer=saver)
        config = {"configurable": {"thread_id": thread}}
        state = await graph.ainvoke(None, config, context=CONTEXT)
    calls = [line.split()[-1] for line in resumed_log.read_text().splitlines()
             if line.startswith("call")]
    answered = {sid for sid, a in (state.get("answers") or {}).items() if a.get("answer")}
    started = sum(1 for line in killed_log.read_text().splitlines() if line.startswith("call"))
    return {"killed": point, "saved_before_kill": len(saved), "calls_before_kill": started,
            "expert_calls_on_resume": len(calls),
            "saved_run_again": len({f"q{c}" for c in calls} & saved),
            "complete": len(answered) == STEPS and bool(state.get("final_answer"))}


async def crash_resume(points: Sequence[str] = KILL_POINTS) -> list[dict[str, Any]]:
    """One killed and resumed run per point of `KILL_POINTS` named."""
    unknown = [p for p in points if p not in KILL_POINTS]
    if unknown:
        raise ValueError(f"unknown kill point(s) {unknown}; choose from {KILL_POINTS}")
    with tempfile.TemporaryDirectory(prefix="comp-llm-crash-") as tmp:
        return [await _one(point, Path(tmp)) for point in points]


async def _run_to_be_killed(url: str, thread: str, log: Path) -> None:
    from comp_llm_graph.checkpoints import open_checkpointer

    async with open_checkpointer(url) as saver:
        graph = _graph(log, aggregator_hangs=True, checkpointer=saver)
        await graph.ainvoke({"query": QUERY}, {"configurable": {"thread_id": thread}},
                            context=CONTEXT)


if __name__ == "__main__":
    asyncio.run(_run_to_be_killed(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
