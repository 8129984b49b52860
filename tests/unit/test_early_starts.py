"""Sub-queries start while the planner is still writing (fakes: a piecewise planner, experts that
record when they were called)."""

from __future__ import annotations

import json
import re
import time

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import RunnableLambda

from comp_llm_graph import Context, build_graph
from tests.fakes import PiecewisePlanner, fake_registry, planner

PLAN = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []},
    {"id": "q3", "question": "When did the empire of {q1} fall?", "depends_on": ["q1"]},
]})


def _recording(name: str, calls: dict[str, list[float]]) -> RunnableLambda:
    async def answer(payload: dict) -> str:
        calls.setdefault(payload["question"], []).append(time.time())
        return f"{name} says {payload['question']}"

    return RunnableLambda(lambda payload: None, afunc=answer, name=name)


def _graph(plan_text: str, calls: dict[str, list[float]]) -> tuple[object, PiecewisePlanner]:
    experts = {name: _recording(name, calls)
               for name in ("geography", "math", "history", "generalist")}
    writer = PiecewisePlanner(responses=[plan_text], pause=0.05)
    graph = build_graph(planner=writer, registry=fake_registry(experts),
                        aggregator=planner("FINAL"))
    return graph, writer


async def test_sub_queries_start_before_the_plan_is_complete_and_run_once():
    calls: dict[str, list[float]] = {}
    graph, writer = _graph(PLAN, calls)
    state = await graph.ainvoke({"query": "Capital of Peru, 3 plus 4, and when did it fall?"},
                                context=Context(mode="comp"))
    assert state["planning"]["early_started"] == ["q1", "q2", "q3"]
    assert calls["What is the capital of Peru?"][0] < writer.finished_at[-1]  # during planning
    assert all(len(times) == 1 for times in calls.values())  # no expert was called twice
    q3 = state["answers"]["q3"]  # the dependent one received its dependency's early answer
    assert q3["question"] == (
        "When did the empire of geography says What is the capital of Peru? fall?")
    assert [state["answers"][i]["error"] for i in ("q1", "q2", "q3")] == [None, None, None]


async def test_other_modes_and_schedules_do_not_start_early():
    for context in (Context(mode="sequential"), Context(schedule="waves")):
        calls: dict[str, list[float]] = {}
        graph, writer = _graph(PLAN, calls)
        state = await graph.ainvoke({"query": "Peru?"}, context=context)
        assert "early_started" not in state["planning"]
        assert calls["What is the capital of Peru?"][0] > writer.finished_at[-1]


async def test_a_repeated_sub_question_is_not_started_and_the_repair_holds():
    repeated = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
        {"id": "q2", "question": "What is the capital of Peru?", "depends_on": []},
    ]})
    calls: dict[str, list[float]] = {}
    graph, _ = _graph(repeated, calls)
    state = await graph.ainvoke({"query": "Peru?"}, context=Context())
    assert [s["id"] for s in state["plan"]] == ["q1"]
    assert state["planning"]["early_started"] == ["q1"]
    assert len(calls["What is the capital of Peru?"]) == 1


async def test_kept_early_answers_of_abandoned_runs_are_dropped_beyond_the_cap(monkeypatch):
    """A run that never reaches its branches does not keep its early answers forever."""
    import asyncio

    from comp_llm_graph.planning import early_starts as early_start

    monkeypatch.setattr(early_start, "MAX_KEPT_RUNS", 1)
    starts = early_start.EarlyStarts()
    sub = {"id": "q1", "question": "What is the capital of Peru?", "depends_on": [],
           "expert": "geography"}
    tasks = []
    for token in ("first", "second"):
        task = asyncio.ensure_future(asyncio.sleep(10))
        tasks.append(task)
        starts._started[token] = {"q1": early_start._Early(task, dict(sub))}
        assert await starts.settle(token, [dict(sub)]) == ["q1"]
    await asyncio.sleep(0)
    assert tasks[0].cancelled() and not tasks[1].cancelled()
    assert starts.take("first", "q1") is None and starts.take("second", "q1") is tasks[1]
    tasks[1].cancel()


async def test_an_early_start_still_being_routed_when_the_plan_is_final_is_kept():
    """The first route of a fresh index is slow; the planner may finish before it."""
    import asyncio

    from comp_llm_graph.planning import early_starts as early_start

    starts = early_start.EarlyStarts()
    sub = {"id": "q1", "question": "What is the capital of Peru?", "depends_on": [],
           "expert": "geography"}
    early = early_start._Early(asyncio.ensure_future(asyncio.sleep(10)))
    starts._started["run"] = {"q1": early}

    async def route_later() -> None:
        await asyncio.sleep(0.05)
        early.sub = dict(sub)
        early.routed.set()

    routing = asyncio.ensure_future(route_later())
    assert await starts.settle("run", [dict(sub)]) == ["q1"]
    assert not early.task.cancelled() and starts.take("run", "q1") is early.task
    early.task.cancel()
    await routing


async def test_a_sub_query_on_two_early_ones_gets_both_after_the_plan_is_settled():
    """The plan settles while q3 waits on q1: q3 must still find q2 (it raised KeyError: 'q2')."""
    import asyncio

    async def slow(payload: dict) -> str:
        await asyncio.sleep(0.3)
        return f"slow says {payload['question']}"

    plan = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
        {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []},
        {"id": "q3", "question": "Compare {q1} with {q2}.", "depends_on": ["q1", "q2"]},
    ]})
    experts = {name: RunnableLambda(lambda payload: None, afunc=slow, name=name)
               for name in ("geography", "math", "history", "generalist")}
    graph = build_graph(planner=PiecewisePlanner(responses=[plan], pause=0.01),
                        registry=fake_registry(experts), aggregator=planner("FINAL"))
    state = await graph.ainvoke({"query": "Peru, 3 plus 4, compare them."}, context=Context())
    assert state["planning"]["early_started"] == ["q1", "q2", "q3"]
    assert [state["answers"][i]["error"] for i in ("q1", "q2", "q3")] == [None, None, None]
    assert "slow says What is 3 plus 4?" in state["answers"]["q3"]["question"]


class _StreamingPlanner(BaseChatModel):
    """A chat model that streams its reply token by token (`_astream`), as a model on an
    OpenAI-compatible server does, with no grammar: its JSON is spaced its own way."""

    text: str
    pause: float = 0.02
    finished_at: list[float] = []

    @property
    def _llm_type(self) -> str:
        return "streaming-fake"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        raise AssertionError("the planner is streamed, not invoked")

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):
        import asyncio

        for token in re.findall(r"\s*\S+", self.text):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager is not None:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
            await asyncio.sleep(self.pause)
        self.finished_at.append(time.time())


STREAMED = """Here is the plan:
```json
{"subqueries": [
  {"id":"q1","question":"What is the capital of Peru?","depends_on":[]},
  {"id":"q2","question":"When did the empire of {q1} fall?","depends_on":["q1"]}
]}
```"""


async def test_a_streaming_chat_model_starts_sub_queries_as_their_items_are_written():
    """Any LangChain chat model that streams (here: token by token, JSON in a code fence, spaced
    its own way) starts sub-queries early; no hook of this package's engines is involved."""
    calls: dict[str, list[float]] = {}
    experts = {name: _recording(name, calls)
               for name in ("geography", "math", "history", "generalist")}
    writer = _StreamingPlanner(text=STREAMED)
    graph = build_graph(planner=writer, registry=fake_registry(experts),
                        aggregator=planner("FINAL"))
    state = await graph.ainvoke({"query": "Capital of Peru, and when did its empire fall?"},
                                context=Context())
    assert state["planning"]["status"] == "valid"
    assert state["planning"]["early_started"] == ["q1", "q2"]
    assert calls["What is the capital of Peru?"][0] < writer.finished_at[-1]
    assert all(len(times) == 1 for times in calls.values())
    assert state["answers"]["q2"]["question"] == (
        "When did the empire of geography says What is the capital of Peru? fall?")


async def test_the_watcher_reads_each_call_afresh_and_hands_each_sub_query_on_once():
    from uuid import uuid4

    from comp_llm_graph.planning.early_starts import PlanWatcher

    handed: list[tuple[str, str]] = []
    watcher = PlanWatcher(lambda sub: handed.append((sub.id, sub.question)))
    first, retry = uuid4(), uuid4()
    await watcher.on_chat_model_start({}, [], run_id=first)
    for token in ["q1: What is the capital", " of Peru?\n", "q2: When did {q1}"]:
        await watcher.on_llm_new_token(token, run_id=first)
    assert handed == [("q1", "What is the capital of Peru?")]  # q2's line has not ended
    await watcher.on_llm_error(RuntimeError("timeout"), run_id=first)
    await watcher.on_chat_model_start({}, [], run_id=retry)
    await watcher.on_llm_new_token("q1: Who wrote Hamlet?\n", run_id=retry)
    assert handed[-1] == ("q1", "Who wrote Hamlet?")  # the retry's text, not the first call's
    await watcher.on_llm_new_token("q2: Who wrote Macbeth?\n", run_id=retry)
    assert [sub_id for sub_id, _ in handed] == ["q1", "q1", "q2"]  # each once per call


async def test_a_structured_output_planner_streams_to_the_early_starts_and_parses_whole():
    """A parser over a streaming chat model streams partial values, not text: the plan is the
    last one, and the chat model's tokens still start sub-queries early."""
    from langchain_core.output_parsers import JsonOutputParser

    calls: dict[str, list[float]] = {}
    experts = {name: _recording(name, calls)
               for name in ("geography", "math", "history", "generalist")}
    structured = _StreamingPlanner(text=STREAMED.split("```json")[1].split("```")[0],
                                   pause=0.01) | JsonOutputParser()
    graph = build_graph(planner=structured, registry=fake_registry(experts),
                        aggregator=planner("FINAL"))
    state = await graph.ainvoke({"query": "Capital of Peru, and when did its empire fall?"},
                                context=Context())
    assert [s["question"] for s in state["plan"]] == [
        "What is the capital of Peru?", "When did the empire of {q1} fall?"]
    assert state["planning"]["status"] == "valid"
    assert state["planning"]["early_started"] == ["q1", "q2"]
