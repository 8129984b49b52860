"""The gemma3 planner on the real Gemma 3 270M, MiniLM, Chroma and the train-split bank."""

from __future__ import annotations

import pytest

from comp_llm_graph import Context, build_graph, default_components
from comp_llm_graph.planning.demonstrations import PlanDemonstrations
from comp_llm_graph.planning.planner import make_plan
from tests.fakes import DATA, ephemeral_client

pytestmark = pytest.mark.real

QUESTION = "Who is the spouse of the performer of the album Thriller?"


@pytest.fixture(scope="module")
def bank() -> PlanDemonstrations:
    return PlanDemonstrations.build(DATA, client=ephemeral_client())


async def test_gemma3_writes_a_two_hop_plan_with_its_dependency(bank):
    planner = default_components(planner="gemma3")["planner"]
    plan, planning = await make_plan(planner, QUESTION, Context(), demonstrations=bank)
    assert planning["status"] == "valid", planning
    assert len(plan) >= 2 and plan[-1].depends_on  # the spouse step needs the performer
    assert "Thriller" in plan[0].question
    raw = planning["attempts"][0]["raw"]
    assert raw.startswith("q1: ") and "{q1}" in raw  # the line format, with a reference


async def test_the_gemma3_planner_starts_sub_queries_before_its_plan_is_complete(tmp_path, bank):
    components = default_components(planner="gemma3", persist_directory=tmp_path)
    components["registry"].route(["warm-up"])  # the index is built, as after a first run
    graph = build_graph(**{**components, "demonstrations": bank})
    state = await graph.ainvoke({"query": QUESTION}, context=Context(mode="comp"))
    assert state["planning"]["early_started"][:1] == ["q1"]
    plan_done = state["run_started"] + state["timings"]["plan"]
    first = state["answers"]["q1"]
    assert first["started_at"] < plan_done and first["error"] is None and first["answer"]
    assert state["final_answer"]


async def test_a_run_names_gemma3_as_its_planner_on_the_default_graph(tmp_path, bank):
    graph = build_graph(**{**default_components(persist_directory=tmp_path),
                           "demonstrations": bank})
    state = await graph.ainvoke({"query": QUESTION},
                                context=Context(mode="comp", planner_model="gemma3"))
    assert state["planning"]["attempts"][0]["raw"].startswith("q1: ")  # Gemma's line format
    default = await graph.ainvoke({"query": QUESTION}, context=Context(mode="comp"))
    assert default["planning"]["attempts"][0]["raw"].lstrip().startswith("{")  # SmolLM2's JSON
