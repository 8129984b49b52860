"""A query's parts (planning/query_parts.py): material kept aside for every expert, parts the user enumerated."""

from __future__ import annotations

import json

from comp_llm_graph import Context, build_graph
from comp_llm_graph.planning.query_parts import separate
from tests.fakes import fake_registry, planner


def test_separate_finds_material_parts_and_instructions():
    parts = separate(PAIR)
    assert [(p.label, p.text) for p in parts.parts] == [
        ("Part 1", "Capital of France? (A) Lyon (B) Paris (C) Nice (D) Metz"),
        ("Part 2", "What is 2 plus 3? (A) 4 (B) 6 (C) 5 (D) 1")]
    assert parts.instructions == "Answer both multiple-choice questions."
    labelled = separate("Paragraphs:\nLake: Celoron went to Lake Ontario.\n\nQuestion: Which lake?")
    assert (labelled.context, labelled.questions) == ("Lake: Celoron went to Lake Ontario.",
                                                      "Which lake?")
    passage = "The expedition " + "went on and on " * 20 + "to Lake Ontario."
    unlabelled = separate(f"{passage}\n\nWhich lake did it reach?")
    assert (unlabelled.context, unlabelled.questions) == (passage, "Which lake did it reach?")
    plain = separate("What is the capital of France, and what is 15% of 240?")
    assert plain.context == "" and [p.text for p in plain.parts] == [
        "What is the capital of France?", "What is 15% of 240?"]  # two questions, one sentence


async def test_passage_reaches_every_expert_and_not_the_planner():
    plan = json.dumps({"subqueries": [
        {"id": "q1", "question": "Who led the expedition?", "depends_on": []},
        {"id": "q2", "question": "Which lake did {q1} reach?", "depends_on": ["q1"]}]})
    contexts, planned_from = [], []

    def expert(payload):
        contexts.append(payload["context"])
        return "Celoron" if "Who" in payload["question"] else "Lake Ontario"

    def plan_model(messages):
        planned_from.append(messages[-1].content)
        return plan

    from langchain_core.runnables import RunnableLambda

    from tests.fakes import CARDS
    graph = build_graph(planner=RunnableLambda(plan_model),
                        registry=fake_registry({c.name: RunnableLambda(expert) for c in CARDS}),
                        aggregator=planner("FINAL"))
    query = "Passage: Celoron went to Lake Ontario.\nQuestion: Which lake did the leader reach?"
    state = await graph.ainvoke({"query": query}, context=Context(aggregate="llm"))
    assert planned_from == ["Which lake did the leader reach?"]
    assert state["shared_context"] == "Celoron went to Lake Ontario."
    assert all(s["context"] == "shared" for s in state["plan"])
    assert all(c.startswith("Context:\n<<<\nCeloron went to Lake Ontario.") for c in contexts)
    assert state["final_answer"] == "FINAL\n\nWhich lake did Celoron reach? Lake Ontario"


PAIR = ("Part 1: Capital of France? (A) Lyon (B) Paris (C) Nice (D) Metz\n\n"
        "Part 2: What is 2 plus 3? (A) 4 (B) 6 (C) 5 (D) 1\n\n"
        "Answer both multiple-choice questions.")
