"""Experts and planners as Python objects; the narrow output; models named per run (fakes)."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from comp_llm_graph import Context, build_graph
from comp_llm_graph.errors import CompLLMError, ExpertCardError
from comp_llm_graph.experts import DEFAULT_PACK, ExpertRegistry, load_cards
from comp_llm_graph.planning.plan_schema import Plan, PlanStep
from tests.fakes import CARDS, KeywordEmbeddings, ephemeral_client, fake_registry, planner

TWO = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []}]})


@tool
def calculator(expression: str) -> str:
    """Arithmetic: sums, products and equations, e.g. what is 3 plus 4?"""
    return "7" if "3 plus 4" in expression else "?"


def _index() -> dict:
    return {"embeddings": KeywordEmbeddings(), "client": ephemeral_client(),
            "collection_name": "python_experts"}


async def test_chat_models_tools_and_functions_as_experts_without_cards():
    model = FakeListChatModel(responses=["Lima."])
    registry = ExpertRegistry.from_experts({
        "geography": {"runnable": model, "description": "countries capitals cities rivers",
                      "examples": ["What is the capital of Peru?"]},
        "math": calculator,
        "generalist": {"runnable": lambda payload: "I do not know.",
                       "description": "general knowledge anything else"},
    }, **_index())
    graph = build_graph(planner=planner(TWO), registry=registry, aggregator=planner("FINAL"))
    state = await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"})
    assert {s["id"]: s["expert"] for s in state["plan"]} == {"q1": "geography", "q2": "math"}
    assert state["answers"]["q1"]["answer"] == "Lima."  # the chat model got the expert prompt
    assert state["answers"]["q2"]["answer"] == "7"  # the tool got the question as its argument
    assert registry.cards["math"].description.startswith("Arithmetic")


async def test_build_graph_with_experts_alone_takes_the_pack_cards_of_their_names():
    model = FakeListChatModel(responses=["answer"])
    graph = build_graph(planner=planner(TWO), aggregator=planner("FINAL"),
                        experts={"math": calculator, "generalist": model},
                        registry_options=_index())
    state = await graph.ainvoke({"query": "What is 3 plus 4?"}, context=Context(
        mode="monolithic"))
    assert state["answers"]["q1"]["expert"] == "generalist"
    assert state["final_answer"] == "answer"


async def test_experts_replace_a_registrys_cards_and_unknown_names_are_refused():
    registry = fake_registry()
    graph = build_graph(planner=planner(TWO), registry=registry, aggregator=planner("FINAL"),
                        experts={"math": calculator})
    state = await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"})
    assert state["answers"]["q2"]["answer"] == "7"
    with pytest.raises(ExpertCardError, match="astrology have no card among"):
        build_graph(planner=planner(TWO), registry=registry, aggregator=planner("x"),
                    experts={"astrology": calculator})
    with pytest.raises(ExpertCardError, match="astrology have no card among"):
        ExpertRegistry(CARDS, experts={"astrology": calculator}, **_index())


@pytest.mark.parametrize(("experts", "message"), [
    ({"poetry": FakeListChatModel(responses=["x"])}, "no description to route by"),
    ({"Poetry": (lambda p: "x", "rhymes and verse, sonnets")}, "name: String should match"),
    ({"poetry": (lambda p: "x", "short")}, "at least 10 characters"),
    ({"poetry": 42}, "an expert is a chat model, a tool, a Runnable or a function"),
    ({"poetry": {"description": "rhymes and verse"}}, "a dict has `runnable`"),
])
def test_an_expert_that_cannot_be_used_is_refused_when_the_graph_is_built(experts, message):
    with pytest.raises(ExpertCardError, match=message):
        build_graph(planner=planner(TWO), aggregator=planner("x"), experts=experts,
                    registry_options=_index())


def test_a_tool_of_several_arguments_is_refused():
    @tool
    def lookup(country: str, field: str) -> str:
        """Look up a field of a country's record."""
        return ""

    with pytest.raises(ExpertCardError, match="takes 2 arguments"):
        ExpertRegistry.from_experts({"generalist": lookup}, **_index())


@pytest.mark.parametrize("output", [
    Plan(subqueries=[PlanStep(id="q1", question="What is the capital of Peru?"),
                     PlanStep(id="q2", question="What is 3 plus 4?")]),
    json.loads(TWO),
    json.loads(TWO)["subqueries"],
    {"raw": None, "parsed": Plan(subqueries=[PlanStep(id="q1", question="What is 3 plus 4?")])},
])
async def test_structured_planner_outputs_are_plans(output):
    graph = build_graph(planner=RunnableLambda(lambda m: output), registry=fake_registry(),
                        aggregator=planner("FINAL"))
    state = await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"})
    assert state["planning"]["status"] == "valid"
    assert state["plan"][-1]["question"] == "What is 3 plus 4?"


async def test_a_failing_planner_is_recorded_and_the_query_still_answered():
    def broken(messages):
        raise ConnectionError("planner server down")

    graph = build_graph(planner=RunnableLambda(broken), registry=fake_registry(),
                        aggregator=planner("FINAL"))
    state = await graph.ainvoke({"query": "Who wrote Hamlet?"})
    assert state["planning"]["status"] == "fallback"
    assert [a["problems"] for a in state["planning"]["attempts"]] == [
        ["the planner failed: ConnectionError: planner server down"]] * 2
    assert state["answers"]["q1"]["answer"]


async def test_the_output_is_narrow_and_the_branch_payload_is_not_state():
    graph = build_graph(planner=planner(TWO), registry=fake_registry(),
                        aggregator=planner("FINAL"))
    state = await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"})
    assert not {"run_token", "react_finished", "schedule", "review"} & set(state)
    assert {"messages", "final_answer", "plan", "answers", "aggregation"} <= set(state)
    channels = set(graph.channels)
    assert not {"sub_query", "dependencies", "token", "priority", "index"} & channels
    assert set(graph.get_output_jsonschema()["properties"]) == set(state) | {"shared_context"}


async def test_models_named_per_run_are_checked_and_used(monkeypatch):
    from comp_llm_graph import models

    with pytest.raises(ValueError, match="planner_model names a model: gemma3 or smollm2"):
        Context(planner_model="gpt")
    with pytest.raises(ValueError, match="gemma3 plans only"):
        Context(aggregator_model="gemma3")
    with pytest.raises(ValueError, match="openai:<model>@http://host:port/v1"):
        Context(planner_model="openai:m@localhost")
    named = FakeListChatModel(responses=[TWO])
    monkeypatch.setattr(models, "named_model", lambda name, role: named)
    graph = build_graph(planner=planner("not a plan"), registry=fake_registry(),
                        aggregator=planner("FINAL"))
    state = await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"},
                                context=Context(planner_model="openai:m@http://127.0.0.1:9/v1"))
    assert len(state["plan"]) == 2 and state["planning"]["status"] == "valid"


def test_a_provider_model_without_langchain_says_what_to_install():
    from comp_llm_graph.models import named_model

    try:
        import langchain  # noqa: F401
    except ImportError:
        with pytest.raises(CompLLMError, match="pip install langchain"):
            named_model("anthropic:claude", "planner")
    else:
        pytest.skip("langchain is installed here")


async def test_react_mode_needs_the_baselines():
    graph = build_graph(planner=planner(TWO), registry=fake_registry(),
                        aggregator=planner("FINAL"))
    with pytest.raises(CompLLMError, match="baselines=True"):
        await graph.ainvoke({"query": "What is 3 plus 4?"}, context=Context(mode="react"))
    assert "decide" not in graph.nodes
    assert "decide" in build_graph(planner=planner(TWO), registry=fake_registry(),
                                   aggregator=planner("FINAL"), baselines=True).nodes


def test_a_pack_card_takes_the_fields_given_with_the_expert_and_a_registry_refuses_them():
    registry = ExpertRegistry.from_experts(
        {"math": {"runnable": lambda payload: "7", "system_prompt": "Be exact.",
                  "max_concurrency": 2},
         "generalist": lambda payload: "x"}, **_index())
    math = registry.cards["math"]
    assert math.system_prompt == "Be exact." and math.max_concurrency == 2
    assert math.description == next(c for c in load_cards(DEFAULT_PACK)
                                    if c.name == "math").description
    with pytest.raises(ExpertCardError, match="described by its card"):
        fake_registry().use_experts({"math": (calculator, "sums of numbers and more")})
