"""Progress events (events.py) and the named runs a tracer sees."""

from __future__ import annotations

from comp_llm_graph import Context
from tests.unit.test_generate_subqueries import TWO, _graph


async def test_progress_events_in_the_custom_stream():
    events = [chunk async for chunk in _graph(TWO).astream(
        {"query": "Capital of Peru, and 3 plus 4?"}, context=Context(schedule="waves"),
        stream_mode="custom")]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "aggregation"
    assert [p["id"] for p in events[0]["plan"]] == ["q1", "q2"]
    finished = {e["id"]: e for e in events if e["event"] == "subquery_finished"}
    assert set(finished) == {"q1", "q2"} and all(e["error"] is None for e in finished.values())
    assert kinds.count("subquery_started") == 2


async def test_runs_are_named_by_stage_and_experts_carry_their_sub_query():
    starts: dict[str, dict] = {}
    async for event in _graph(TWO).astream_events(
            {"query": "Capital of Peru, and 3 plus 4?"}, context=Context(aggregate="llm"),
            version="v2"):
        if event["event"].endswith("_start"):
            starts.setdefault(event["name"], event)
    assert {"planner", "route", "expert:geography", "expert:math", "aggregator"} <= set(starts)
    assert starts["expert:math"]["metadata"]["subquery_id"] == "q2"
    assert "nostream" in starts["planner"]["tags"]


