"""Scheduling rules with fake experts: readiness, limits, priority, resume, react, pool, batching."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from comp_llm_graph import Context, ExpertCard, ExpertRegistry, build_graph
from comp_llm_graph.runtimes.batching import Batcher, Generation, Request
from comp_llm_graph.runtimes.pool import MemoryBudgetError, ModelPool
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
    """C starts when A ends, not when the slow B of A's wave ends: makespan = critical path."""
    calls: list[str] = []
    ready = await graph_on(BARRIER_DAG, timed_expert(calls)).ainvoke(
        {"query": "barrier"}, context=Context(schedule="ready"))
    waves = await graph_on(BARRIER_DAG, timed_expert(calls)).ainvoke(
        {"query": "barrier"}, context=Context(schedule="waves"))
    assert ready["timings"]["execute"] < 1.1, ready["timings"]
    assert waves["timings"]["execute"] > 1.4, waves["timings"]
    r = spans(ready)
    assert r["q3"][0] - r["q1"][1] < 0.05  # C right after A
    assert r["q3"][0] < r["q2"][1] - 0.3  # ... while B still runs
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


async def test_react_mode_asks_one_sub_query_at_a_time_until_finish():
    decisions = planner(
        '{"action": "ask", "question": "What is the capital of Peru?"}',
        '{"action": "ask", "question": "What is 3 plus 4?"}',
        '{"action": "finish"}',
    )
    calls: list[str] = []
    registry = registry_with(timed_expert(calls, {"W": 0.05}))
    graph = build_graph(planner=decisions, registry=registry, aggregator=planner("FINAL"),
                        baselines=True)
    state = await graph.ainvoke({"query": "Capital of Peru and 3 plus 4?"},
                                context=Context(mode="react"))
    assert [(s["id"], s["expert"], s["depends_on"]) for s in state["plan"]] == [
        ("q1", "geography", []), ("q2", "math", ["q1"])]
    assert state["planning"]["status"] == "react"
    assert len(state["planning"]["attempts"]) == 3
    assert calls == ["W", "W"]
    # The end point's answer is not in "FINAL": it is added, labelled.
    assert state["final_answer"] == "FINAL\n\nWhat is 3 plus 4? answer W"
    assert state["aggregation"]["added"] == ["q2"]
    s = spans(state)
    assert s["q2"][0] >= s["q1"][1]


async def test_react_mode_stops_at_max_subqueries_and_never_finishes_empty():
    asks = planner('{"action": "finish"}', *[json.dumps({"action": "ask", "question": f"Q{i}?"})
                                            for i in range(5)])
    calls: list[str] = []
    registry = registry_with(timed_expert(calls))
    graph = build_graph(planner=asks, registry=registry, aggregator=planner("FINAL"),
                        baselines=True)
    state = await graph.ainvoke({"query": "What is 3 plus 4?"},
                                context=Context(mode="react", max_subqueries=2))
    assert state["plan"][0]["question"] == "What is 3 plus 4?"
    assert "finished before asking anything" in state["planning"]["attempts"][0]["repairs"][0]
    assert len(state["plan"]) == 2


# -- the model pool ------------------------------------------------------------------------------


def test_pool_unloads_the_least_recently_used_idle_model_to_stay_in_budget():
    pool = ModelPool(budget_bytes=100)
    loads: list[str] = []

    def loader(name):
        return lambda: (loads.append(name) or name, None)

    for name in ["a", "b", "a", "c"]:
        with pool.use(name, loader(name), 45) as (model, _):
            assert model == name
            assert sum(pool.resident.values()) <= 100
    assert loads == ["a", "b", "c"]  # "a" was resident when used again
    assert set(pool.resident) == {"a", "c"}  # "b" was the least recently used
    assert pool.unloads["b"] == 1


def test_pool_refuses_a_model_larger_than_the_budget():
    pool = ModelPool(budget_bytes=10)
    with pytest.raises(MemoryBudgetError, match="more than the memory budget"):
        with pool.use("big", lambda: ("big", None), 11):
            pass


def test_pool_waits_for_a_busy_model_instead_of_exceeding_the_budget():
    pool = ModelPool(budget_bytes=100)
    resident_max: list[int] = []
    order: list[str] = []
    holding = threading.Event()

    def hold_a():
        with pool.use("a", lambda: ("a", None), 60):
            holding.set()
            time.sleep(0.3)
            order.append("a done")

    thread = threading.Thread(target=hold_a)
    thread.start()
    holding.wait()
    with pool.use("b", lambda: ("b", None), 60):
        order.append("b loaded")
        resident_max.append(sum(pool.resident.values()))
    thread.join()
    assert order == ["a done", "b loaded"]
    assert resident_max == [60]


# -- batching ------------------------------------------------------------------------------------


def fake_batch_runner(sizes: list[int], seconds: float = 0.1):
    def run(batch: list[Request]) -> list[Generation]:
        sizes.append(len(batch))
        time.sleep(seconds)
        return [Generation(r.chat[-1]["content"].upper(), 1, 1, len(batch)) for r in batch]

    return run


def request(text: str, grammar: str | None = None) -> Request:
    return Request([{"role": "user", "content": text}], 8, None, grammar)


async def test_concurrent_calls_are_generated_in_one_batch():
    sizes: list[int] = []
    batcher = Batcher(fake_batch_runner(sizes), max_batch_size=8)
    futures = [asyncio.wrap_future(batcher.submit(request(f"q{i}"))) for i in range(4)]
    results = await asyncio.gather(*futures)
    assert [r.text for r in results] == ["Q0", "Q1", "Q2", "Q3"]
    assert sizes == [4]
    assert {r.batch_size for r in results} == {4}


async def test_calls_arriving_during_a_batch_form_the_next_one_and_grammar_runs_alone():
    sizes: list[int] = []
    batcher = Batcher(fake_batch_runner(sizes, 0.2), max_batch_size=3)
    first = batcher.submit(request("a"))
    await asyncio.sleep(0.05)  # the first batch is running
    later = [batcher.submit(request(t)) for t in ("b", "c", "d", "e")]
    constrained = batcher.submit(request("plan", grammar="root ::= \"x\""))
    await asyncio.gather(*(asyncio.wrap_future(f) for f in [first, *later, constrained]))
    assert sizes[0] == 1
    assert sorted(sizes[1:]) == [1, 1, 3]  # b, c, d together; e; the constrained call alone
    assert constrained.result().batch_size == 1


async def test_batch_size_one_runs_calls_one_by_one():
    sizes: list[int] = []
    batcher = Batcher(fake_batch_runner(sizes, 0.01), max_batch_size=1)
    await asyncio.gather(*(asyncio.wrap_future(batcher.submit(request(str(i))))
                           for i in range(3)))
    assert sizes == [1, 1, 1]


def test_card_max_concurrency_must_be_positive():
    with pytest.raises(ValueError, match="max_concurrency"):
        ExpertCard(name="x", description="a long enough description", examples=["e"],
                   backend="smollm2", max_concurrency=0)


# -- the benchmark -------------------------------------------------------------------------------


def test_random_dags_respect_the_suite_bounds():
    import random

    from comp_llm_graph.evaluation.executor_bench import random_dag

    rng = random.Random(1)
    for k in range(50):
        items, latency = random_dag(rng, f"d{k}")
        ids = [item["id"] for item in items]
        assert 1 <= len(items) <= 12
        for position, item in enumerate(items):
            assert set(item["depends_on"]) <= set(ids[:position])
        plan = [{**item, "expert": ""} for item in items]
        levels = remaining_path(plan, {i: 1.0 for i in ids})
        assert 1 <= max(levels.values()) <= 5
        assert all(0.02 <= s <= 1.0 for s in latency.values())


def test_bench_scheduler_and_overhead_write_json_and_a_timeline(tmp_path):
    from typer.testing import CliRunner

    from comp_llm_graph.cli import app

    out = tmp_path / "bench.json"
    png = tmp_path / "timeline.png"
    result = CliRunner().invoke(app, ["bench", "scheduler", "overhead", "--dags", "3",
                                      "--json", str(out), "--timeline", str(png)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    for schedule in ("sequential", "waves", "start_as_ready"):
        assert doc["scheduler"][schedule]["median_ratio_to_critical_path"] >= 0.99
        assert doc["scheduler"][schedule]["worst_ratio_to_critical_path"] >= (
            doc["scheduler"][schedule]["median_ratio_to_critical_path"])
    assert len(doc["scheduler"]["dags"]) == 3
    assert doc["overhead"]["ms_per_subquery"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Scheduler suite: 3 random DAGs" in result.output
