"""The graph with fake planner, experts and aggregator: stages, executor, aggregation, modes."""

from __future__ import annotations

import json
import time

import pytest
from langchain_core.runnables import RunnableLambda

from comp_llm_graph import Context, build_graph
from comp_llm_graph.nodes.aggregate import compose
from comp_llm_graph.nodes.execute import expert_input, short_answer
from tests.fakes import CARDS, fake_registry, planner, slow_expert

TWO_INDEPENDENT = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []},
]})
CHAIN = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "When did the empire of {q1} fall?", "depends_on": ["q1"]},
]})


def graph_with(plan_outputs, experts=None, aggregator=None, **registry_kwargs):
    registry = fake_registry(experts, **registry_kwargs)
    aggregator = aggregator or planner("FINAL")
    return build_graph(planner=planner(*plan_outputs), registry=registry, aggregator=aggregator)


async def test_full_run_routes_executes_and_aggregates():
    state = await graph_with([TWO_INDEPENDENT]).ainvoke({"query": "Capital of Peru and 3 plus 4?"},
                                                        context=Context(aggregate="llm"))
    assert [(s["id"], s["expert"]) for s in state["plan"]] == [("q1", "geography"), ("q2", "math")]
    assert state["planning"]["status"] == "valid"
    assert state["answers"]["q1"]["answer"] == "geography: What is the capital of Peru?"
    assert state["answers"]["q2"]["answer"] == "math: What is 3 plus 4?"
    # The aggregator's "FINAL" names neither part: both are added, labelled, and recorded.
    assert state["final_answer"] == (
        "FINAL\n\nWhat is the capital of Peru? geography: What is the capital of Peru?\n"
        "What is 3 plus 4? math: What is 3 plus 4?")
    assert state["aggregation"] == {"method": "llm", "reason": None, "checked": ["q1", "q2"],
                                    "added": ["q1", "q2"], "failed": [], "partial": False}
    assert {"plan", "execute", "aggregate", "total"} <= set(state["timings"])
    for sub in state["plan"]:
        assert sub["candidates"][0]["expert"] == sub["expert"]
        assert sub["candidates"] == sorted(sub["candidates"], key=lambda c: -c["score"])


async def test_independent_branches_run_in_parallel():
    """Two independent experts overlap: each starts before the other has finished.

    How much time that saves is measured by `comp-llm bench scheduler`, not asserted here.
    """
    experts = {c.name: slow_expert(c.name, 0.6) for c in CARDS}
    graph = graph_with([TWO_INDEPENDENT], experts=experts)
    state = await graph.ainvoke({"query": "Capital of Peru and 3 plus 4?"})
    a, b = state["answers"]["q1"], state["answers"]["q2"]
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]


async def test_max_concurrency_one_runs_one_at_a_time():
    experts = {c.name: slow_expert(c.name, 0.3) for c in CARDS}
    graph = graph_with([TWO_INDEPENDENT], experts=experts)
    state = await graph.ainvoke({"query": "Capital of Peru and 3 plus 4?"},
                                config={"max_concurrency": 1})
    a, b = sorted(state["answers"].values(), key=lambda x: x["started_at"])
    assert b["started_at"] >= a["finished_at"] - 0.01


async def test_sequential_mode_runs_the_same_plan_one_at_a_time():
    experts = {c.name: slow_expert(c.name, 0.3) for c in CARDS}
    graph = graph_with([TWO_INDEPENDENT], experts=experts)
    state = await graph.ainvoke({"query": "Capital of Peru and 3 plus 4?"},
                                context=Context(mode="sequential"))
    a, b = state["answers"]["q1"], state["answers"]["q2"]
    assert b["started_at"] >= a["finished_at"] - 0.01
    assert [s["id"] for s in state["plan"]] == ["q1", "q2"]
    assert state["mode"] == "sequential"


async def test_monolithic_mode_one_model_answers_the_whole_query():
    calls: list[str] = []
    experts = {c.name: slow_expert(c.name, 0.0, calls) for c in CARDS}
    plans = planner("should not be called")
    graph = build_graph(planner=plans, registry=fake_registry(experts),
                        aggregator=RunnableLambda(lambda m: pytest.fail("no aggregation")))
    state = await graph.ainvoke({"query": "Capital of Peru and 3 plus 4?"},
                                context=Context(mode="monolithic"))
    assert calls == ["Capital of Peru and 3 plus 4?"]
    assert state["plan"][0]["expert"] == "generalist"
    assert state["plan"][0]["routed_by"] == "mode"
    assert state["planning"]["status"] == "monolithic"
    assert state["final_answer"] == "generalist: Capital of Peru and 3 plus 4?"
    assert state["aggregation"]["method"] == "passthrough"
    assert plans.i == 0


async def test_dependent_sub_query_receives_the_answer():
    calls: list[str] = []
    experts = {c.name: slow_expert(c.name, 0.0, calls, answer=lambda p: "Lima")
               for c in CARDS}
    seen_context: list[str] = []
    history = RunnableLambda(lambda p: seen_context.append(p["context"]) or "1821")
    experts["history"] = history
    state = await graph_with([CHAIN], experts=experts).ainvoke({"query": "When did it fall?"})
    assert state["answers"]["q2"]["question"] == "When did the empire of Lima fall?"
    assert "[q1] What is the capital of Peru?\n=> Lima" in seen_context[0]
    assert state["answers"]["q2"]["started_at"] >= state["answers"]["q1"]["finished_at"]


def test_expert_input_delimits_dependency_answers():
    sub = {"id": "q2", "question": "Where was #1 born?", "depends_on": ["q1"]}
    deps = {"q1": {"id": "q1", "question": "Who wrote Hamlet?", "answer": "Shakespeare.\nMore.",
                   "error": None}}
    payload = expert_input(sub, deps)
    assert payload["question"] == "Where was Shakespeare born?"
    assert payload["context"].startswith("Answers to earlier sub-questions:\n[q1] Who wrote")
    assert short_answer("x" * 300).endswith("...")
    assert short_answer("The answer is: Austria.\nMore") == "Austria"


async def test_invalid_plan_is_replanned_once_then_used():
    state = await graph_with(["no plan here", TWO_INDEPENDENT]).ainvoke({"query": "Two things?"})
    planning = state["planning"]
    assert planning["status"] == "replanned"
    assert [a["accepted"] for a in planning["attempts"]] == [False, True]
    assert "no plan found" in planning["attempts"][0]["problems"][0]
    assert len(state["plan"]) == 2


async def test_two_failed_plans_fall_back_to_a_single_sub_query():
    query = "What is the capital of Peru?"
    state = await graph_with(["nothing", "still nothing"]).ainvoke({"query": query})
    assert state["planning"]["status"] == "fallback"
    assert [s["question"] for s in state["plan"]] == [query]
    assert state["plan"][0]["expert"] == "geography"
    assert state["aggregation"]["method"] == "passthrough"


async def test_repaired_plan_is_recorded():
    bad = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is the capital of Peru?", "depends_on": ["q1"]},
        {"id": "q2", "question": "What is the capital of Peru?", "depends_on": []},
        {"id": "q3", "question": "What is 3 plus 4?", "depends_on": ["q9"]},
    ]})
    state = await graph_with([bad]).ainvoke({"query": "Two things?"})
    assert state["planning"]["status"] == "repaired"
    repairs = state["planning"]["attempts"][0]["repairs"]
    assert len(repairs) == 3
    assert [s["id"] for s in state["plan"]] == ["q1", "q3"]


async def test_too_large_plan_is_sent_back_with_the_problem():
    big = json.dumps({"subqueries": [
        {"id": f"q{k}", "question": f"Question number {k}?", "depends_on": []} for k in range(1, 5)]})
    state = await graph_with([big, TWO_INDEPENDENT]).ainvoke(
        {"query": "Many things?"}, context=Context(max_subqueries=3))
    assert state["planning"]["status"] == "replanned"
    assert "more than the maximum of 3" in state["planning"]["attempts"][0]["problems"][0]


async def test_below_threshold_goes_to_fallback_expert_with_candidates_kept():
    plan = json.dumps({"subqueries": [{"id": "q1", "question": "Zebra quux blorp?",
                                       "depends_on": []}, {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []}]})
    state = await graph_with([plan], threshold=0.5).ainvoke({"query": "Odd things?"})
    first = state["plan"][0]
    assert first["expert"] == "generalist" and first["routed_by"] == "fallback"
    assert first["score"] < 0.5
    assert state["plan"][1]["expert"] == "math"


async def test_failing_aggregator_falls_back_to_synthesis_and_says_so():
    def boom(_):
        raise RuntimeError("model crashed")

    state = await graph_with([TWO_INDEPENDENT], aggregator=RunnableLambda(boom)).ainvoke(
        {"query": "Capital of Peru and 3 plus 4?"}, context=Context(aggregate="llm"))
    assert state["aggregation"]["method"] == "fallback"
    assert "model crashed" in state["aggregation"]["reason"]
    assert "geography: What is the capital of Peru?" in state["final_answer"]
    assert "math: What is 3 plus 4?" in state["final_answer"]


async def test_empty_aggregator_output_falls_back():
    state = await graph_with([CHAIN], aggregator=planner("   ")).ainvoke({"query": "When?"})
    assert state["aggregation"]["method"] == "fallback"
    assert state["aggregation"]["reason"] == "the aggregator returned an empty answer"
    assert state["final_answer"] == state["answers"]["q2"]["answer"]


def test_synthesis_uses_the_end_points_of_the_plan():
    plan = [{"id": "q1", "depends_on": []}, {"id": "q2", "depends_on": ["q1"]}]
    answers = {"q1": {"id": "q1", "question": "A?", "answer": "a", "error": None},
               "q2": {"id": "q2", "question": "B?", "answer": "b", "error": None}}
    assert compose(plan, answers) == "b"


async def test_failing_expert_is_recorded_and_the_run_completes():
    def boom(_):
        raise ValueError("expert down")

    experts = {c.name: slow_expert(c.name, 0.0) for c in CARDS}
    experts["math"] = RunnableLambda(boom)
    state = await graph_with([TWO_INDEPENDENT], experts=experts).ainvoke({"query": "Two?"})
    assert state["answers"]["q2"]["error"] == "ValueError: expert down"
    assert state["answers"]["q2"]["answer"] == ""
    assert state["answers"]["q1"]["error"] is None
    # Independent parts are composed; the failed one is named, not invented.
    assert state["final_answer"] == (
        "What is the capital of Peru? geography: What is the capital of Peru?\n"
        "What is 3 plus 4?: not answered (q2 failed: ValueError: expert down)")
    assert state["aggregation"]["method"] == "compose"
    assert (state["aggregation"]["failed"], state["aggregation"]["partial"]) == (["q2"], True)


@pytest.mark.parametrize("query", ["", "   \n", "x" * 4001])
async def test_bad_queries_are_rejected_before_planning(query):
    from comp_llm_graph.errors import InvalidQueryError

    with pytest.raises(InvalidQueryError):
        await graph_with([TWO_INDEPENDENT]).ainvoke({"query": query})


async def test_checkpointed_thread_starts_each_query_fresh():
    """A second query on the same thread does not inherit the first query's answers."""
    from langgraph.checkpoint.memory import InMemorySaver

    from comp_llm_graph.graph import builder

    registry = fake_registry()
    graph = builder(planner=planner(TWO_INDEPENDENT, CHAIN), registry=registry,
                    aggregator=planner("F")).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke({"query": "first"}, config=config)
    state = await graph.ainvoke({"query": "second"}, config=config)
    assert set(state["answers"]) == {"q1", "q2"}
    assert state["answers"]["q2"]["expert"] == "history"
    assert time.time() - state["run_started"] < 60


async def test_a_planner_stop_reason_is_recorded_as_a_repair():
    from langchain_core.messages import AIMessage

    async def plan(_messages):
        return AIMessage(TWO_INDEPENDENT, response_metadata={
            "stop_reason": "generation stopped at q3, which repeated an earlier sub-question"})

    registry = fake_registry()
    graph = build_graph(planner=RunnableLambda(lambda m: None, afunc=plan), registry=registry,
                        aggregator=planner("FINAL"))
    state = await graph.ainvoke({"query": "Capital of Peru and 3 plus 4?"})
    assert state["planning"]["status"] == "repaired"
    assert state["planning"]["attempts"][0]["repairs"] == [
        "generation stopped at q3, which repeated an earlier sub-question"]
    assert len(state["plan"]) == 2
