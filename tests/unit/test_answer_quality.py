"""Part coverage, answer forms, query separation and the plan-demonstration bank (issue 10)."""

from __future__ import annotations

import json

from comp_llm_graph import Context, build_graph
from comp_llm_graph.answers.coverage import answer_key, represented
from comp_llm_graph.experts.answer_form import answer_form, choice_answer
from comp_llm_graph.nodes.execute import expert_input
from comp_llm_graph.planning.demonstrations import _plan_json
from comp_llm_graph.planning.query_parts import separate
from tests.fakes import fake_registry, planner

PAIR = ("Part 1: Capital of France? (A) Lyon (B) Paris (C) Nice (D) Metz\n\n"
        "Part 2: What is 2 plus 3? (A) 4 (B) 6 (C) 5 (D) 1\n\n"
        "Answer both multiple-choice questions.")


def test_answer_keys_and_coverage():
    assert answer_key("(15/100)*240 = 36") == ("number", "36")
    assert represented("(15/100)*240 = 36", "Paris, and 36.0")
    assert not represented("(15/100)*240 = 36", "The capital of France is Paris.")
    assert represented("(B) Paris", "Part 1: B") and not represented("(B) Paris", "Part 1: C")
    assert answer_key("Yes, it is.") == ("yesno", "yes")
    assert represented("The capital of France is Paris.", "It is Paris, France's capital.")
    assert not represented("The capital of France is Paris.", "It is 36.")


def test_answer_forms():
    form = answer_form("Capital of France? (A) Lyon (B) Paris (C) Nice (D) Metz")
    assert (form.kind, form.stem, form.choices) == ("choice", "Capital of France?",
                                                    ("Lyon", "Paris", "Nice", "Metz"))
    assert choice_answer(form, 1) == "(B) Paris"
    assert answer_form("Which?\nA. one\nB. two").choices == ("one", "two")
    assert answer_form("Is Paris in France?").kind == "yesno"
    assert answer_form("Is it red or blue?").kind == "open"
    assert answer_form("How many legs has a spider?").kind == "number"
    assert answer_form("Who wrote Hamlet?").kind == "open"
    assert answer_form("Pick (B) or (A)").kind == "open"  # not A, B in order


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


def test_shared_context_is_delimited_before_earlier_answers():
    sub = {"id": "q2", "question": "Where did {q1} go?", "depends_on": ["q1"],
           "context": "shared"}
    dep = {"id": "q1", "question": "Who?", "answer": "Celoron", "error": None}
    payload = expert_input(sub, {"q1": dep}, "Celoron went to Lake Ontario.")
    assert payload["question"] == "Where did Celoron go?"
    assert payload["context"].startswith("Context:\n<<<\nCeloron went to Lake Ontario.\n>>>\n")
    assert "[q1] Who?\n=> Celoron" in payload["context"]
    assert "Context:" not in expert_input({**sub, "context": None}, {"q1": dep}, "x")["context"]


async def test_enumerated_parts_are_the_plan_and_every_part_reaches_the_answer():
    seen = []

    def expert(payload):
        seen.append(payload["question"])
        return "(B) Paris" if "France" in payload["question"] else "(C) 5"

    from langchain_core.runnables import RunnableLambda

    from tests.fakes import CARDS
    experts = {c.name: RunnableLambda(expert) for c in CARDS}
    graph = build_graph(planner=planner("never called"), registry=fake_registry(experts),
                        aggregator=planner("never called either"))
    state = await graph.ainvoke({"query": PAIR})
    assert state["planning"]["status"] == "enumerated"
    assert [s["label"] for s in state["plan"]] == ["Part 1", "Part 2"]
    assert sorted(seen) == sorted(p.text for p in separate(PAIR).parts)
    assert state["final_answer"] == "Part 1: (B) Paris\nPart 2: (C) 5"
    assert state["aggregation"]["method"] == "compose"
    assert state["aggregation"]["added"] == [] and state["aggregation"]["checked"] == ["q1", "q2"]


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


def test_gold_steps_become_planner_json():
    plan = json.loads(_plan_json(["Who wrote Green?", "Who is the spouse of #1 ?"]))
    assert plan["subqueries"] == [
        {"id": "q1", "question": "Who wrote Green?", "depends_on": []},
        {"id": "q2", "question": "Who is the spouse of {q1}?", "depends_on": ["q1"]}]
    assert _plan_json(["A?", "B of #2?"]) is None  # a self reference is not a demonstration


def test_capability_embeddings_in_chroma_give_the_heads_logits():
    import numpy as np

    from comp_llm_graph.experts.routing.capabilities import CapabilityIndex
    from comp_llm_graph.experts.routing.chroma import ChromaStore
    from comp_llm_graph.experts.routing.learned import LearnedRouter
    from tests.fakes import ephemeral_client

    rng = np.random.default_rng(0)
    router = LearnedRouter(experts=["a", "b"], fallback="a", topics=["t1", "t2", "t3"],
                           topic_experts=["a", "b", "b"], coef=rng.normal(size=(3, 8)),
                           intercept=rng.normal(size=3), thresholds={})
    index = CapabilityIndex(ChromaStore(None, ephemeral_client()), "caps_unit_test")
    features = rng.normal(size=(5, 8)).astype(np.float32)
    logits = index.logits(router, features)
    assert np.allclose(logits, features @ router.coef.T + router.intercept, atol=1e-4)
    assert np.allclose(router.probabilities(features, logits), router.probabilities(features),
                       atol=1e-5)
    import dataclasses

    refit = dataclasses.replace(router, coef=-router.coef)  # a new fit rewrites the vectors
    assert np.allclose(index.logits(refit, features), features @ -router.coef.T
                       + router.intercept, atol=1e-4)
