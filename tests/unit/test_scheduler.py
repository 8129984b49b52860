"""Scheduling rules with fake experts: readiness, limits, priority, resume, react, pool, batching."""

from __future__ import annotations

import asyncio
import json

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from comp_llm_graph import Context, ExpertRegistry, build_graph
from comp_llm_graph.scheduler import SCHEDULER, critical_path, remaining_path
from tests.fakes import CARDS, KeywordEmbeddings, ephemeral_client, planner, whole_planner


def plan_json(*items: tuple[str, str, list[str]]) -> str:
    return json.dumps({"subqueries": [
        {"id": i, "question": q, "depends_on": d} for i, q, d in items]})


# A(0.3) -> C(0.3) -> D(0.3) beside B(0.9): critical path 0.9 s; waves take 1.5 s.
BARRIER_DAG = plan_json(
    ("q1", "A: What is the capital of Peru?", []),
    ("q2", "B: What is 3 plus 4?", []),
    ("q3", "C: When did the empire fall?", ["q1"]),
    ("q4", "D: Tell me about rivers.", ["q3"]),
)
LATENCY = {"A": 0.3, "B": 0.9, "C": 0.3, "D": 0.3}


def timed_expert(calls: list[str], latency: dict[str, float] = LATENCY, block=None):
    """Sleeps the latency named by the question's first letter; counts its calls."""

    async def run(payload: dict) -> str:
        letter = payload["question"][0]
        calls.append(letter)
        if block is not None and letter in block:
            await block[letter].wait()
        await asyncio.sleep(latency.get(letter, 0.0))
        return f"answer {letter}"

    return RunnableLambda(lambda p: asyncio.run(run(p)), afunc=run)


def registry_with(expert, cards=CARDS) -> ExpertRegistry:
    import uuid

    return ExpertRegistry(cards, experts={c.name: expert for c in cards},
                          embeddings=KeywordEmbeddings(), client=ephemeral_client(),
                          collection_name=f"test_{uuid.uuid4().hex[:12]}")


def graph_on(plan: str, expert, cards=CARDS, checkpointer=None):
    """The plan is given whole at the end: these tests are of the executor's own scheduling."""
    return build_graph(planner=whole_planner(plan), registry=registry_with(expert, cards),
                       aggregator=planner("FINAL"), checkpointer=checkpointer)


def spans(state) -> dict[str, tuple[float, float]]:
    return {k: (a["started_at"], a["finished_at"]) for k, a in state["answers"].items()}


def test_remaining_and_critical_path():
    plan = [{"id": "q1", "depends_on": []}, {"id": "q2", "depends_on": []},
            {"id": "q3", "depends_on": ["q1"]}, {"id": "q4", "depends_on": ["q3", "q2"]}]
    seconds = {"q1": 1.0, "q2": 5.0, "q3": 1.0, "q4": 2.0}
    assert remaining_path(plan, seconds) == {"q4": 2.0, "q3": 3.0, "q2": 7.0, "q1": 4.0}
    assert critical_path(plan, seconds) == 7.0


async def test_ready_schedule_starts_each_sub_query_when_its_inputs_are_done():
    """C starts when A ends, not when the slow B of A's wave ends (the makespans are measured by
    `comp-llm bench scheduler`, not asserted here)."""
    calls: list[str] = []
    ready = await graph_on(BARRIER_DAG, timed_expert(calls)).ainvoke(
        {"query": "barrier"}, context=Context(schedule="ready"))
    waves = await graph_on(BARRIER_DAG, timed_expert(calls)).ainvoke(
        {"query": "barrier"}, context=Context(schedule="waves"))
    r, w = spans(ready), spans(waves)
    assert r["q1"][1] <= r["q3"][0] < r["q2"][1]  # C after A, while B still runs
    assert w["q3"][0] >= w["q2"][1]  # in waves C waits for the slow B of A's wave
    assert r["q4"][0] >= r["q3"][1] - 0.001
    assert ready["answers"]["q3"]["question"].startswith("C: When did the empire fall?")
    assert {k: a["answer"] for k, a in ready["answers"].items()} == {
        k: a["answer"] for k, a in waves["answers"].items()}


async def test_dependency_answers_reach_the_branch_that_waited_for_them():
    """With the ready schedule the dependant is sent before its input exists."""
    chain = plan_json(("q1", "A: What is the capital of Peru?", []),
                      ("q2", "C: When did the empire of {q1} fall?", ["q1"]))
    seen: list[dict] = []

    async def expert(payload: dict) -> str:
        seen.append(payload)
        await asyncio.sleep(0.05)
        return "Lima" if payload["question"].startswith("A") else "never"

    state = await graph_on(chain, RunnableLambda(afunc=expert, func=lambda p: p)).ainvoke(
        {"query": "chain"})
    assert state["answers"]["q2"]["question"] == "C: When did the empire of Lima fall?"
    assert "[q1] A: What is the capital of Peru?\n=> Lima" in seen[1]["context"]


async def test_concurrency_limit_one_equals_sequential_execution():
    calls: list[str] = []
    limited = await graph_on(BARRIER_DAG, timed_expert(calls)).ainvoke(
        {"query": "barrier"}, context=Context(max_concurrency=1))
    sequential = await graph_on(BARRIER_DAG, timed_expert(calls)).ainvoke(
        {"query": "barrier"}, context=Context(mode="sequential"))
    ordered = sorted(spans(limited).values())
    assert all(b[0] >= a[1] - 0.001 for a, b in zip(ordered, ordered[1:], strict=False))
    assert {k: a["answer"] for k, a in limited["answers"].items()} == {
        k: a["answer"] for k, a in sequential["answers"].items()}
    assert limited["final_answer"] == sequential["final_answer"]


async def test_per_expert_limit_from_the_card():
    """Two sub-queries on `math` (limit 1) never overlap; the geography one runs beside them."""
    cards = [c.model_copy(update={"max_concurrency": 1}) if c.name == "math" else c
             for c in CARDS]
    plan = plan_json(("q1", "B: What is 3 plus 4 sums?", []),
                     ("q2", "B: What is 5 plus 6 sums products?", []),
                     ("q3", "B: What is the capital city of Peru?", []))
    calls: list[str] = []
    state = await graph_on(plan, timed_expert(calls, {"B": 0.3}), cards=cards).ainvoke(
        {"query": "limits"})
    assert [s["expert"] for s in state["plan"]] == ["math", "math", "geography"]
    s = spans(state)
    first, second = sorted([s["q1"], s["q2"]])
    assert second[0] >= first[1] - 0.001
    assert s["q3"][0] < first[1] and first[0] < s["q3"][1]


async def test_longest_remaining_path_goes_first_when_slots_are_short():
    plan = plan_json(("q1", "A: What is the capital of Peru?", []),
                     ("q2", "A: What is 3 plus 4?", []),
                     ("q3", "A: When did the empire fall after {q2}?", ["q2"]),
                     ("q4", "A: Tell me about rivers after {q3}.", ["q3"]))
    calls: list[str] = []
    SCHEDULER.reset_estimates()  # equal expected latency per expert: path length decides
    state = await graph_on(plan, timed_expert(calls, {"A": 0.05})).ainvoke(
        {"query": "priority"}, context=Context(max_concurrency=1))
    order = sorted(state["answers"], key=lambda k: state["answers"][k]["started_at"])
    # Remaining paths: q2 3, q3 2, q1 1, q4 1; ties go in plan order.
    assert order == ["q2", "q3", "q1", "q4"]


async def test_ready_schedule_under_langgraphs_own_concurrency_limit_completes():
    """Branches started one at a time still find the answers of branches that already ended."""
    chain = plan_json(("q1", "A: What is the capital of Peru?", []),
                      ("q2", "C: When did the empire of {q1} fall?", ["q1"]),
                      ("q3", "D: Tell me about {q2}.", ["q2"]))
    calls: list[str] = []
    state = await asyncio.wait_for(graph_on(chain, timed_expert(calls, {})).ainvoke(
        {"query": "chain"}, config={"max_concurrency": 1}), 10)
    assert calls == ["A", "C", "D"]
    assert state["answers"]["q3"]["question"] == "D: Tell me about answer C."
    assert SCHEDULER._runs == {}


async def test_max_concurrency_must_be_positive():
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        Context(max_concurrency=0)
    with pytest.raises(ValueError, match="schedule must be one of ready, waves"):
        Context(schedule="eager")


async def test_resume_from_checkpoint_does_not_rerun_finished_sub_queries(tmp_path):
    """Interrupted after A and C finished while B ran: the resumed run calls only B and D."""
    calls: list[str] = []
    gate = {"B": asyncio.Event()}
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "cp.sqlite")) as saver:
        dag = plan_json(("q1", "A: What is the capital of Peru?", []),
                        ("q2", "B: What is 3 plus 4?", []),
                        ("q3", "C: When did the empire of {q1} fall?", ["q1"]),
                        ("q4", "D: Tell me about {q3} and {q2}.", ["q3", "q2"]))
        graph = graph_on(dag, timed_expert(calls, {"A": 0.05, "C": 0.05}, block=gate),
                         checkpointer=saver)
        config = {"configurable": {"thread_id": "t1"}}
        run = asyncio.create_task(graph.ainvoke({"query": "resume"}, config, durability="sync"))
        while sorted(calls) != ["A", "B", "C"]:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # C's write reaches the checkpointer
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        snapshot = await graph.aget_state(config)
        assert snapshot.next == ("execute_subquery",) * 2  # A and C are saved

        calls.clear()
        gate["B"].set()
        state = await asyncio.wait_for(graph.ainvoke(None, config), 20)
    assert sorted(calls) == ["B", "D"]
    assert state["answers"]["q4"]["question"] == "D: Tell me about answer C and answer B."
    assert set(state["answers"]) == {"q1", "q2", "q3", "q4"}
    assert state["final_answer"].startswith("FINAL\n\n")
    assert state["aggregation"]["added"] == ["q4"]


# -- the model pool ------------------------------------------------------------------------------


# -- batching ------------------------------------------------------------------------------------


# -- the benchmark -------------------------------------------------------------------------------


