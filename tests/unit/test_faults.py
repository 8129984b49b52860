"""The fault policy: time limits, retries, invalid expert output, failed inputs, partial answers."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from comp_llm_graph import Context, build_graph
from comp_llm_graph.faults import CallPolicy, ExpertCancelledError, call_with_policy
from tests.fakes import CARDS, fake_registry, planner, slow_expert

CHAIN = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "When did the empire of {q1} fall?", "depends_on": ["q1"]},
    {"id": "q3", "question": "What is 3 plus 4?", "depends_on": []},
]})
QUERY = "When did the empire of the capital of Peru fall, and what is 3 plus 4?"


def experts_with(**special):
    """Every card answers `<name>: <question>` except the given ones (by expert name)."""
    experts = {c.name: slow_expert(c.name, 0.0) for c in CARDS}
    experts.update(special)
    return experts


def returning(value):
    async def run(payload):
        return value

    return RunnableLambda(lambda p: value, afunc=run)


def raising(exc: BaseException, calls: list | None = None):
    async def run(payload):
        if calls is not None:
            calls.append(payload["question"])
        raise exc

    return RunnableLambda(lambda p: None, afunc=run)


def hanging(seconds: float = 30.0):
    async def run(payload):
        await asyncio.sleep(seconds)
        return "too late"

    return RunnableLambda(lambda p: None, afunc=run)


def run_graph(experts, *, aggregator=None, plan=CHAIN, context=None, registry_kwargs=None):
    registry = fake_registry(experts, **(registry_kwargs or {}))
    graph = build_graph(planner=planner(plan), registry=registry,
                        aggregator=aggregator or planner("The empire fell in 1572; 7."))
    return graph.ainvoke({"query": QUERY}, context=context or Context(aggregate="llm"))


@pytest.mark.parametrize("value", [None, {"text": "Lima"}, 42, ["Lima"]])
async def test_an_expert_output_that_is_not_text_is_a_failure(value):
    """None, a dict, a number or a list were stored as answers ("None", a repr) and passed on."""
    state = await run_graph(experts_with(geography=returning(value)))
    q1 = state["answers"]["q1"]
    assert q1["answer"] == ""
    assert q1["error"].startswith("ExpertOutputError: the expert returned "
                                  f"{type(value).__name__}, not text or a message")
    assert "None" not in state["answers"]["q2"]["question"]


@pytest.mark.parametrize("value", ["Lima", AIMessage("Lima"), {"answer": "Lima"},
                                   {"answer": AIMessage("Lima")}])
async def test_text_messages_and_answer_dicts_are_answers(value):
    state = await run_graph(experts_with(geography=returning(value)))
    assert state["answers"]["q1"]["answer"] == "Lima"
    assert state["answers"]["q2"]["question"] == "When did the empire of Lima fall?"


async def test_a_failed_input_skips_its_dependants_and_the_answer_names_the_parts():
    history_calls: list[str] = []
    experts = experts_with(geography=raising(ValueError("index down")),
                           history=raising(AssertionError("must not run"), history_calls))
    state = await run_graph(experts)
    q1, q2, q3 = (state["answers"][i] for i in ("q1", "q2", "q3"))
    assert q1["error"] == "ValueError: index down"
    assert q2["skipped"] is True and history_calls == []
    assert q2["error"] == "skipped: its input q1 failed (ValueError: index down)"
    assert q2["question"] == "When did the empire of {q1} fall?"  # never "the empire of  fall"
    assert q3["answer"] == "math: What is 3 plus 4?"  # the sibling kept running
    aggregation = state["aggregation"]
    assert aggregation["partial"] is True and aggregation["failed"] == ["q2"]
    assert "q2 failed: skipped: its input q1 failed" in state["final_answer"]
    meta = state["messages"][-1].response_metadata["comp_llm"]
    assert meta["aggregation"]["partial"] is True


async def test_a_skipped_input_propagates_down_the_chain():
    plan = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
        {"id": "q2", "question": "When did the empire of {q1} fall?", "depends_on": ["q1"]},
        {"id": "q3", "question": "Who ruled in {q2}?", "depends_on": ["q2"]},
    ]})
    state = await run_graph(experts_with(geography=raising(ValueError("down"))), plan=plan)
    assert state["answers"]["q3"]["error"] == "skipped: its input q2 was skipped"
    assert "q3 failed" in state["final_answer"]


async def test_when_the_aggregator_fails_too_every_failed_end_point_is_named():
    experts = experts_with(geography=raising(ValueError("down")))
    state = await run_graph(experts, aggregator=raising(RuntimeError("aggregator down")))
    assert state["aggregation"]["method"] == "fallback"
    assert "q2 failed" in state["final_answer"]
    assert "math: What is 3 plus 4?" in state["final_answer"]
    assert state["aggregation"]["partial"] is True


async def test_when_every_expert_failed_no_llm_writes_an_answer():
    calls: list[str] = []
    experts = {c.name: raising(ValueError("all down")) for c in CARDS}
    aggregator = raising(AssertionError("must not be called"), calls)
    state = await run_graph(experts, aggregator=aggregator)
    assert calls == []
    assert state["aggregation"]["method"] == "compose"
    assert state["aggregation"]["reason"] == "no sub-query was answered"
    assert state["aggregation"]["partial"] is True
    assert "q2 failed" in state["final_answer"] and "q3 failed" in state["final_answer"]


async def test_an_expert_raising_cancelled_error_fails_alone():
    """It used to cancel the whole run (NodeCancelledError), losing the finished answers."""
    state = await run_graph(experts_with(math=raising(asyncio.CancelledError())))
    assert state["answers"]["q3"]["error"].startswith("ExpertCancelledError")
    assert state["answers"]["q1"]["answer"] == "geography: What is the capital of Peru?"
    assert state["answers"]["q2"]["answer"].startswith("history:")


async def test_a_hung_expert_times_out_and_the_rest_of_the_run_goes_on():
    started = time.perf_counter()
    state = await run_graph(experts_with(math=hanging()),
                            context=Context(aggregate="llm", expert_timeout=0.3))
    assert time.perf_counter() - started < 10
    assert state["answers"]["q3"]["error"] == "TimeoutError: no answer within 0.3 s"
    assert state["answers"]["q2"]["answer"].startswith("history:")
    assert state["aggregation"]["partial"] is True


async def test_a_timed_out_expert_frees_its_card_slot_for_the_next_run():
    """With a card limit of 1, a second run used to wait forever behind a hung one."""
    experts = experts_with(math=hanging())
    registry = fake_registry(experts)
    card = registry.cards["math"]
    registry.cards["math"] = card.model_copy(update={"max_concurrency": 1})
    graph = build_graph(planner=planner(CHAIN), registry=registry, aggregator=planner("x"))
    context = Context(expert_timeout=0.3)
    first, second = await asyncio.wait_for(asyncio.gather(
        graph.ainvoke({"query": QUERY}, context=context),
        graph.ainvoke({"query": QUERY}, context=context)), timeout=20)
    for state in (first, second):
        assert state["answers"]["q3"]["error"] == "TimeoutError: no answer within 0.3 s"


async def test_failed_expert_calls_are_retried_when_asked():
    attempts: list[str] = []

    async def flaky(payload):
        attempts.append(payload["question"])
        if len(attempts) < 2:
            raise ConnectionError("reset by peer")
        return "7"

    state = await run_graph(experts_with(math=RunnableLambda(lambda p: "", afunc=flaky)),
                            context=Context(aggregate="llm", expert_retries=1))
    assert len(attempts) == 2
    assert state["answers"]["q3"]["answer"] == "7" and state["answers"]["q3"]["error"] is None


async def test_call_with_policy_backs_off_and_says_how_often_it_tried():
    calls: list[float] = []

    async def failing():
        calls.append(time.perf_counter())
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await call_with_policy(failing, CallPolicy(timeout=1, retries=2, backoff=0.05))
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.04 and calls[2] - calls[1] >= 0.08  # it doubles


async def test_call_with_policy_does_not_swallow_a_real_cancellation():
    async def slow():
        await asyncio.sleep(5)

    task = asyncio.ensure_future(call_with_policy(slow, CallPolicy(timeout=10)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_error_of_a_call_itself_becomes_an_error():
    async def cancels():
        raise asyncio.CancelledError()

    with pytest.raises(ExpertCancelledError):
        await call_with_policy(cancels, CallPolicy())


async def test_a_hung_planner_times_out_and_the_query_runs_as_one_sub_query():
    async def hang(messages):
        await asyncio.sleep(30)

    registry = fake_registry(experts_with())
    graph = build_graph(planner=RunnableLambda(lambda m: None, afunc=hang), registry=registry,
                        aggregator=planner("x"))
    started = time.perf_counter()
    state = await graph.ainvoke({"query": QUERY}, context=Context(planner_timeout=0.2))
    assert time.perf_counter() - started < 10
    assert state["planning"]["status"] == "fallback"
    assert [a["problems"] for a in state["planning"]["attempts"]] == [
        ["the planner failed: TimeoutError: no answer within 0.2 s"]] * 2
    assert state["final_answer"]


async def test_a_planner_failing_on_its_replan_falls_back():
    outputs = iter(["no plan here", ConnectionError("connection refused")])

    async def plan(messages):
        value = next(outputs)
        if isinstance(value, Exception):
            raise value
        return AIMessage(value)

    graph = build_graph(planner=RunnableLambda(lambda m: None, afunc=plan),
                        registry=fake_registry(experts_with()), aggregator=planner("x"))
    state = await graph.ainvoke({"query": QUERY})
    assert state["planning"]["status"] == "fallback"
    assert state["planning"]["attempts"][1]["problems"] == [
        "the planner failed: ConnectionError: connection refused"]


async def test_a_hung_aggregator_times_out_to_the_composed_answer():
    state = await run_graph(experts_with(), aggregator=hanging(),
                            context=Context(aggregate="llm", aggregator_timeout=0.2))
    assert state["aggregation"]["method"] == "fallback"
    assert state["aggregation"]["reason"] == (
        "the aggregator failed: TimeoutError: no answer within 0.2 s")
    assert "math: What is 3 plus 4?" in state["final_answer"]


async def test_a_routing_failure_sends_the_sub_queries_to_the_fallback():
    registry = fake_registry(experts_with())

    def broken(*args, **kwargs):
        raise RuntimeError("embedding server unreachable")

    registry.route = broken
    graph = build_graph(planner=planner(CHAIN), registry=registry, aggregator=planner("x"))
    state = await graph.ainvoke({"query": QUERY})
    assert {sub["expert"] for sub in state["plan"]} == {registry.fallback}
    assert all(sub["routed_by"] == "fallback" for sub in state["plan"])
    assert state["plan"][0]["route_error"].startswith(
        "routing failed (RuntimeError: embedding server unreachable)")
    assert state["answers"]["q3"]["answer"].startswith("generalist:")


@pytest.mark.parametrize("field, value", [("expert_timeout", 0), ("expert_timeout", "1"),
                                          ("expert_retries", -1), ("planner_timeout", -2.0)])
def test_bad_policy_settings_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        Context(**{field: value})


async def test_abnormal_run_endings_leave_no_scheduler_entries():
    """A cancelled run and a failed one used to stay in the scheduler until 256 runs later."""
    from comp_llm_graph.scheduler import SCHEDULER

    before = set(SCHEDULER._runs)
    registry = fake_registry(experts_with(math=hanging()))
    graph = build_graph(planner=planner(CHAIN), registry=registry, aggregator=planner("x"))
    task = asyncio.ensure_future(graph.ainvoke({"query": QUERY}))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    class Abort(BaseException):
        pass

    failing = build_graph(planner=planner(CHAIN), registry=registry,
                          aggregator=raising(Abort()))
    with pytest.raises(Abort):
        await failing.ainvoke({"query": QUERY}, context=Context(aggregate="llm",
                                                               expert_timeout=0.1))
    assert set(SCHEDULER._runs) == before


async def test_a_card_sets_its_own_timeout_and_retries():
    attempts: list[str] = []

    async def flaky(payload):
        attempts.append(payload["question"])
        await asyncio.sleep(5 if len(attempts) == 1 else 0)
        return "7"

    registry = fake_registry(experts_with(math=RunnableLambda(lambda p: "", afunc=flaky)))
    card = registry.cards["math"]
    registry.cards["math"] = card.model_copy(update={"timeout": 0.2, "retries": 1})
    graph = build_graph(planner=planner(CHAIN), registry=registry, aggregator=planner("x"))
    state = await graph.ainvoke({"query": QUERY})
    assert len(attempts) == 2 and state["answers"]["q3"]["answer"] == "7"
