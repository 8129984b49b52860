"""The react baseline (nodes/react.py): one sub-query at a time until it finishes."""

from __future__ import annotations

import json

from comp_llm_graph import Context, build_graph
from tests.fakes import planner
from tests.unit.test_scheduler import registry_with, spans, timed_expert


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
