"""Planning a turn (planning/planner.py): enumerated parts past the sub-query limit are named in
the answer, and the run is partial."""

from comp_llm_graph import Context
from tests.unit.test_graph import graph_with

SIX = ("1. What is the capital of France?\n2. Who wrote Hamlet?\n3. What is 12 times 12?\n"
       "4. What is the chemical symbol of gold?\n5. Who painted the Mona Lisa?\n"
       "6. What is the largest planet?")


async def test_the_sixth_part_is_named_and_the_run_partial():
    state = await graph_with(["unused"]).ainvoke({"query": SIX}, context=Context(max_subqueries=5))
    assert len(state["plan"]) == 5
    assert state["planning"]["unplanned"] == ["6. What is the largest planet?"]
    aggregation = state["aggregation"]
    assert aggregation["partial"] is True
    assert aggregation["unplanned"] == ["6. What is the largest planet?"]
    assert "6. What is the largest planet?" in state["final_answer"]
    assert "--max-subqueries" in state["final_answer"]


async def test_forty_parts_keep_the_first_ones_in_order():
    query = "\n".join(f"{i}. What is {i} plus {i}?" for i in range(1, 41))
    state = await graph_with(["unused"]).ainvoke({"query": query},
                                                 context=Context(max_subqueries=32))
    assert [s["question"] for s in state["plan"]] == [f"What is {i} plus {i}?"
                                                      for i in range(1, 33)]
    assert len(state["aggregation"]["unplanned"]) == 8
    assert state["aggregation"]["partial"] is True


async def test_parts_within_the_limit_are_not_partial():
    state = await graph_with(["unused"]).ainvoke({"query": SIX}, context=Context(max_subqueries=6))
    assert len(state["plan"]) == 6
    assert "unplanned" not in state["planning"]
    assert state["aggregation"]["partial"] is False
