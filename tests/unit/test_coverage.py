"""Part coverage (answers/coverage.py): every part asked is represented in the final answer."""

from __future__ import annotations

from comp_llm_graph import build_graph
from comp_llm_graph.answers.coverage import answer_key, represented
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


