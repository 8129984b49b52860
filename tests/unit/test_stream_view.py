"""What a chat app sees (stream_view.py and the messages stream): no echo, the reply once,
updates without internal keys, the reply's text and the output's shape."""

from __future__ import annotations

import json

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver

from comp_llm_graph import Context, build_graph
from comp_llm_graph.answers.text import without_scaffolding
from tests.fakes import fake_registry, planner

TWO = json.dumps({"subqueries": [
    {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
    {"id": "q2", "question": "When was {q1} founded?", "depends_on": ["q1"]}]})
INTERNAL = {"run_token", "react_finished", "schedule", "max_concurrency", "review"}


def _echoing_expert(payload: dict) -> str:
    """A small model's habit: the prompt repeated before the answer."""
    return f"{payload['context']}Question: {payload['question']}\nLima, in 1535."


def _graph(aggregator_text: str = "Lima was founded in 1535.", **kwargs):
    experts = {name: RunnableLambda(_echoing_expert)
               for name in ("geography", "math", "history", "generalist")}
    return build_graph(planner=planner(TWO), registry=fake_registry(experts),
                       aggregator=planner(aggregator_text), **kwargs)


async def test_the_messages_stream_has_one_reply_and_no_echo_of_the_question():
    seen = []
    async for message, metadata in _graph().astream(
            {"query": "When was the capital of Peru founded?"}, stream_mode="messages",
            context=Context(aggregate="llm")):
        seen.append((message.type, message.id, metadata["langgraph_node"]))
    assert [t for t, _, _ in seen if t == "human"] == []
    assert {node for _, _, node in seen} == {"aggregate"}
    assert len({message_id for _, message_id, _ in seen}) == 1, seen


async def test_the_reply_in_the_state_has_the_streamed_id():
    graph = _graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "ids"}}
    streamed = set()
    async for message, _ in graph.astream({"query": "When was the capital of Peru founded?"},
                                          config, stream_mode="messages",
                                          context=Context(aggregate="llm")):
        streamed.add(message.id)
    state = (await graph.aget_state(config)).values
    assert [m.type for m in state["messages"]] == ["human", "ai"]
    assert {state["messages"][-1].id} == streamed


@pytest.mark.parametrize("mode", ["updates", "values", "debug", "tasks"])
async def test_no_stream_mode_shows_internal_keys(mode):
    leaked = set()
    async for chunk in _graph().astream({"query": "When was the capital of Peru founded?"},
                                        stream_mode=mode):
        text = json.dumps(chunk, default=str)
        leaked |= {key for key in INTERNAL if f'"{key}"' in text}
    assert leaked == set()


async def test_echoed_prompt_scaffolding_never_reaches_an_answer():
    state = await _graph("Original question: When?\n\nSub-answers:\n[q1] What?\n=> Lima\n\n"
                         "Final answer: Lima was founded in 1535.").ainvoke(
        {"query": "When was the capital of Peru founded?"}, context=Context(aggregate="llm"))
    texts = [state["final_answer"], *(a["answer"] for a in state["answers"].values())]
    for text in texts:
        for scaffold in ("Answers to earlier", "Question:", "Sub-answers", "[q1]", "=>",
                         "Final answer:"):
            assert scaffold not in text, (scaffold, text)
    assert state["final_answer"] == "Lima was founded in 1535."
    assert state["answers"]["q2"]["answer"] == "Lima, in 1535."


def test_scaffolding_alone_is_an_empty_answer():
    assert without_scaffolding("Answers to earlier sub-questions:\n[q1] A?\n=> a") == ""
    assert without_scaffolding("Paris.\nIt has 2 million people.") == (
        "Paris.\nIt has 2 million people.")


async def test_sub_answers_are_in_the_custom_events():
    finished = []
    async for event in _graph().astream({"query": "When was the capital of Peru founded?"},
                                        stream_mode="custom"):
        if event.get("event") == "subquery_finished":
            finished.append((event["id"], event["answer"]))
    assert sorted(finished) == [("q1", "Lima, in 1535."), ("q2", "Lima, in 1535.")]


async def test_the_users_words_and_the_standalone_question_are_both_kept():
    one = json.dumps({"subqueries": [{"id": "q1", "question": "Who founded Lima?"}]})
    experts = {name: RunnableLambda(lambda p: "Francisco Pizarro founded Lima in 1535.")
               for name in ("geography", "math", "history", "generalist")}
    graph = build_graph(planner=planner(one, one), registry=fake_registry(experts),
                        aggregator=planner("FINAL"), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke({"messages": [("user", "Who founded Lima?")]}, config)
    state = await graph.ainvoke({"messages": [("user", "When did he die?")]}, config)
    assert state["query"] == "When did he die?"
    assert state["standalone_query"] == "When did Francisco Pizarro die?"
    assert state["planning"]["condensed"] == {"asked": "When did he die?",
                                              "referent": "Francisco Pizarro"}


async def test_a_system_message_reaches_every_expert_and_the_aggregator():
    seen: list[str] = []

    def expert(payload: dict) -> str:
        seen.append(payload.get("instructions", ""))
        return "Lima."

    aggregator_saw: list[str] = []

    def aggregator(messages) -> str:
        aggregator_saw.append(messages[0].content)
        return "Lima, 1535."

    experts = {name: RunnableLambda(expert)
               for name in ("geography", "math", "history", "generalist")}
    graph = build_graph(planner=planner(TWO), registry=fake_registry(experts),
                        aggregator=RunnableLambda(aggregator))
    await graph.ainvoke({"messages": [("system", "Answer briefly."),
                                      ("user", "When was the capital of Peru founded?")]},
                        context=Context(aggregate="llm"))
    assert seen == ["Answer briefly.", "Answer briefly."]
    assert aggregator_saw[0].endswith("\n\nAnswer briefly.")


def test_the_card_prompt_comes_first_then_the_conversations_instructions():
    from langchain_core.messages import AIMessage

    from comp_llm_graph.experts.llm_expert import llm_expert
    from tests.fakes import card

    prompts: list = []
    model = RunnableLambda(lambda messages: prompts.append(messages) or AIMessage("Lima."))
    expert = llm_expert(card("geo", "Geography.", ["Capital of Peru?"]), model)
    expert.invoke({"question": "Where is Lima?", "context": "", "instructions": "Be brief."})
    system = prompts[-1][0].content
    assert system.endswith("\n\nBe brief.") and not system.startswith("Be brief.")
