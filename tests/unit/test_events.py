"""Progress events (events.py) and the named runs a tracer sees."""

from __future__ import annotations

import json

from langchain_core.runnables import RunnableLambda

from comp_llm_graph import Context, build_graph
from tests.fakes import fake_registry, planner


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


TWO = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []}]})


def _graph(*plans: str, checkpointer=None, questions: list[str] | None = None):
    def answer(payload: dict, name: str) -> str:
        if questions is not None:
            questions.append(payload["question"])
        return f"{name} answers {payload['question']}"

    experts = {name: RunnableLambda(lambda p, n=name: answer(p, n))
               for name in ("geography", "math", "history", "generalist")}
    return build_graph(planner=planner(*plans), registry=fake_registry(experts),
                       aggregator=planner("FINAL"), checkpointer=checkpointer)
