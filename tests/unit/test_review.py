"""Plan review (`interrupt` / `Command(resume=...)`), `update_state`, interrupts inside experts."""

from __future__ import annotations

import asyncio
import json

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt

from comp_llm_graph import Context, build_graph
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.planning.plan_schema import Plan, PlanStep
from tests.fakes import fake_registry, planner, whole_planner

TWO = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []}]})
CHAIN = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []},
    {"id": "q3", "question": "When did the empire of {q1} fall?", "depends_on": ["q1"]}]})
CONFIG = {"configurable": {"thread_id": "review"}}


def _graph(plan: str, asked: list[str], experts=None, whole: bool = False):
    """`whole`: the planner gives its plan at the end (nothing starts early, during planning)."""
    def answer(payload: dict, name: str) -> str:
        asked.append(f"{name}: {payload['question']}")
        return f"{name} answers {payload['question']}"

    experts = experts or {name: RunnableLambda(lambda p, n=name: answer(p, n))
                          for name in ("geography", "math", "history", "generalist")}
    return build_graph(planner=(whole_planner if whole else planner)(plan),
                       registry=fake_registry(experts), aggregator=planner("FINAL"),
                       checkpointer=InMemorySaver())


async def test_review_pauses_with_the_plan_and_nothing_runs_before_approval():
    asked: list[str] = []
    graph = _graph(TWO, asked)
    paused = await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"}, CONFIG,
                                 context=Context(review_plan=True))
    request = paused["__interrupt__"][0].value
    assert request["kind"] == "plan_review"
    assert [s["question"] for s in request["plan"]] == ["What is the capital of Peru?",
                                                        "What is 3 plus 4?"]
    assert asked == []  # no expert ran while waiting
    state = await graph.ainvoke(Command(resume=True), CONFIG, context=Context(review_plan=True))
    assert sorted(state["answers"]) == ["q1", "q2"]
    assert state["planning"]["reviewed"]["edited"] is False


@pytest.mark.parametrize("edit", [
    [{"id": "q1", "question": "What is the capital of Chile?", "depends_on": []},
     {"id": "q2", "question": "When did the empire of {q1} fall?", "depends_on": ["q1"],
      "expert": "history"}],
    Plan(subqueries=[PlanStep(id="q1", question="What is the capital of Chile?"),
                     PlanStep(id="q2", question="When did the empire of {q1} fall?",
                              depends_on=["q1"])]),
    "q1: What is the capital of Chile?\nq2: When did the empire of {q1} fall?",
])
async def test_an_edited_plan_runs_after_validation_and_routing(edit):
    asked: list[str] = []
    graph = _graph(TWO, asked)
    await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"}, CONFIG,
                        context=Context(review_plan=True))
    state = await graph.ainvoke(Command(resume=edit), CONFIG, context=Context(review_plan=True))
    plan = state["plan"]
    assert [s["question"] for s in plan] == ["What is the capital of Chile?",
                                             "When did the empire of {q1} fall?"]
    assert plan[1]["depends_on"] == ["q1"] and plan[1]["expert"] == "history"
    assert plan[0]["expert"] == "geography"  # routed again: the question changed
    assert asked[0] == "geography: What is the capital of Chile?"
    assert asked[1].startswith("history: When did the empire of geography answers")
    assert state["planning"]["reviewed"]["edited"] is True


async def test_an_invalid_edit_is_sent_back_with_its_problems_not_run():
    asked: list[str] = []
    graph = _graph(TWO, asked)
    await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"}, CONFIG,
                        context=Context(review_plan=True))
    bad = [{"id": "q1", "question": "A?"}, {"id": "q1", "question": "B?"}]
    again = await graph.ainvoke(Command(resume=bad), CONFIG, context=Context(review_plan=True))
    assert "duplicate id q1" in again["__interrupt__"][0].value["problems"][0]
    assert asked == []
    unknown = [{"id": "q1", "question": "What is 3 plus 4?", "expert": "astrology"}]
    again = await graph.ainvoke(Command(resume=unknown), CONFIG,
                                context=Context(review_plan=True))
    assert "unknown expert(s) astrology" in again["__interrupt__"][0].value["problems"][0]
    state = await graph.ainvoke(Command(resume=[{"id": "q1", "question": "What is 3 plus 4?"}]),
                                CONFIG, context=Context(review_plan=True))
    assert asked == ["math: What is 3 plus 4?"]
    assert state["planning"]["reviewed"]["rejected"][0] == ["duplicate id q1 for different "
                                                            "questions"]


async def test_update_state_replaces_the_plan_before_the_executor():
    asked: list[str] = []
    graph = _graph(TWO, asked, whole=True)  # early starts would run experts before it
    config = {"configurable": {"thread_id": "update"}}
    graph.interrupt_before_nodes = ["execute_subquery"]
    await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"}, config)
    plan = (await graph.aget_state(config)).values["plan"]
    await graph.aupdate_state(config, {"plan": plan[1:]}, as_node="generate_subqueries")
    graph.interrupt_before_nodes = []
    state = await graph.ainvoke(None, config)
    assert asked == ["math: What is 3 plus 4?"]
    assert list(state["answers"]) == ["q2"]


def _asking_geography(asked: list[str]):
    async def geography(payload: dict) -> str:
        approved = interrupt(f"May I answer {payload['question']!r}?")
        asked.append(f"geography ({approved}): {payload['question']}")
        return "Lima"

    async def other(payload: dict, name: str) -> str:
        await asyncio.sleep(0.01)
        asked.append(f"{name}: {payload['question']}")
        return f"{name} answer"

    experts = {name: RunnableLambda(lambda p: None, afunc=lambda p, n=name: other(p, n))
               for name in ("math", "history", "generalist")}
    experts["geography"] = RunnableLambda(lambda p: None, afunc=geography)
    return experts


@pytest.mark.parametrize(("context", "limit"), [
    (Context(), None), (Context(schedule="waves"), None), (Context(mode="sequential"), None),
    (Context(max_concurrency=1), None), (Context(), 1), (Context(), 2)])
async def test_an_interrupt_inside_an_expert_resumes_without_hanging(context, limit):
    asked: list[str] = []
    graph = _graph(CHAIN, asked, experts=_asking_geography(asked))
    config = {**CONFIG, "max_concurrency": limit}  # LangGraph's own limit on tasks at once
    paused = await asyncio.wait_for(graph.ainvoke({"query": "Peru, 3 plus 4, its empire?"},
                                                  config, context=context), 10)
    assert paused["__interrupt__"][0].value == "May I answer 'What is the capital of Peru?'?"
    assert not any(line.startswith("history") for line in asked)  # q3 waits for q1
    state = await asyncio.wait_for(graph.ainvoke(Command(resume="yes"), config,
                                                 context=context), 10)
    assert sorted(state["answers"]) == ["q1", "q2", "q3"]
    assert "geography (yes): What is the capital of Peru?" in asked
    assert "history: When did the empire of Lima fall?" in asked
    assert asked.count("math: What is 3 plus 4?") == 1  # the finished sibling is not re-run


@pytest.mark.parametrize("edit", [
    [{"question": "What is 3 plus 4?", "Expert": "history"}],  # no id, key in capitals
    {"sub_queries": [{"id": 1, "question": "What is 3 plus 4?", "expert": "history"}]},
    Plan(subqueries=[PlanStep(id="q1", question="What is 3 plus 4?", expert="history")]),
])
async def test_an_expert_named_in_any_form_of_edit_is_kept(edit):
    graph = _graph(TWO, [])
    await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"}, CONFIG,
                        context=Context(review_plan=True))
    state = await graph.ainvoke(Command(resume=edit), CONFIG, context=Context(review_plan=True))
    assert [(s["expert"], s["routed_by"]) for s in state["plan"]] == [("history", "review")]


async def test_the_same_plan_sent_back_is_not_an_edit_and_material_stays_shared():
    graph = _graph(TWO, [])
    query = ("Passage: Lima is the capital of Peru.\n\nQuestion: What is the capital of Peru, "
             "and what is 3 plus 4?")
    paused = await graph.ainvoke({"query": query}, CONFIG, context=Context(review_plan=True))
    same = [{k: s[k] for k in ("id", "question", "depends_on")}
            for s in paused["__interrupt__"][0].value["plan"]]
    state = await graph.ainvoke(Command(resume=[*same, {"id": "q9", "question": "Who am I?"}]),
                                CONFIG, context=Context(review_plan=True))
    assert state["planning"]["reviewed"]["edited"] is True
    assert all(s.get("context") == "shared" for s in state["plan"])  # the new one too
    await graph.ainvoke({"query": query}, CONFIG, context=Context(review_plan=True))
    state = await graph.ainvoke(Command(resume=same), CONFIG, context=Context(review_plan=True))
    assert state["planning"]["reviewed"]["edited"] is False


async def test_review_needs_a_checkpointer_and_a_plan():
    graph = build_graph(planner=planner(TWO), registry=fake_registry(),
                        aggregator=planner("FINAL"))
    with pytest.raises(CompLLMError, match="needs a checkpointer"):
        await graph.ainvoke({"query": "Capital of Peru?"}, context=Context(review_plan=True))
    with pytest.raises(ValueError, match="use mode comp or sequential"):
        Context(review_plan=True, mode="monolithic")


async def test_a_failing_planner_in_the_react_loop_is_recorded_not_raised():
    def broken(messages):
        raise ConnectionError("planner server down")

    graph = build_graph(planner=RunnableLambda(broken), registry=fake_registry(),
                        aggregator=planner("FINAL"), baselines=True)
    state = await graph.ainvoke({"query": "What is 3 plus 4?"}, context=Context(mode="react"))
    problems = [a["problems"] for a in state["planning"]["attempts"]]
    assert problems[0] == ["the planner failed: ConnectionError: planner server down"]
    assert state["plan"][0]["question"] == "What is 3 plus 4?"  # the whole query was asked


@pytest.mark.parametrize(("edit", "problem"), [
    ([{"id": f"q{i}", "question": f"Question {i}? " + "x" * 4_990} for i in range(1, 6)],
     "characters, more than 20,000 (MAX_PLAN_CHARS)"),
    ([{"id": "q1", "question": "What? " + "x" * 4_100}], "more than 4,000 characters"),
    ('{"subqueries": [{"id": "q1", "question": "A?"}, {"id": "q2", "question": "B?"}, {"id": "q3',
     "not complete JSON"),
])
async def test_an_edit_that_would_be_cut_is_refused_and_nothing_runs(edit, problem):
    from langgraph.types import Command

    from comp_llm_graph import Context
    from tests.unit.test_review import CONFIG, TWO, _graph

    asked: list[str] = []
    graph = _graph(TWO, asked)
    await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"}, CONFIG,
                        context=Context(review_plan=True))
    again = await graph.ainvoke(Command(resume=edit), CONFIG, context=Context(review_plan=True))
    assert problem in again["__interrupt__"][0].value["problems"][0]
    assert asked == []
