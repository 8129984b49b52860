"""MultiExpertQA: the sets built from the shared data, part-by-part grading, the parts of a query."""

from __future__ import annotations

import csv

import pytest

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.evaluation.multiexpert import check_modes
from comp_llm_graph.evaluation.multiexpert_data import Part, grade, multiexpert_sets
from comp_llm_graph.evaluation.profile import profile_half
from comp_llm_graph.planning.query_parts import references, self_contained, separate
from tests.fakes import DATA

CHOICE = Part("letter", "Capital of France? (A) Berlin (B) Paris (C) Rome (D) Oslo", "B",
              "mmlu:x/1", "geography", ("Berlin", "Paris", "Rome", "Oslo"))
PLANET = Part("letter", "Largest planet? (A) Mars (B) Venus (C) Jupiter (D) Earth", "C",
              "mmlu:x/2", "physics", ("Mars", "Venus", "Jupiter", "Earth"))
SUM = Part("number", "Tom has 3 apples and buys 4. How many?", 7.0, "gsm8k:1", "math")
WHO = Part("text", "Who discovered penicillin?", ("Alexander Fleming", "Fleming"), "m:1",
           "multihop")


def _right(prediction, parts):
    return [v["right"] for v in grade(prediction, parts)]


def test_each_part_is_graded_in_its_labelled_stretch():
    assert _right("1. (B) Paris\n2. The answer is 7.\n3. Alexander Fleming",
                  [CHOICE, SUM, WHO]) == [True, True, True]
    assert _right("Part 1: C\nPart 2: 8 apples", [CHOICE, SUM]) == [False, False]
    assert _right("1. Paris 2. 3 + 4 = 7", [CHOICE, SUM]) == [True, True]


def test_without_labels_a_line_per_part_then_the_whole_answer():
    assert _right("Capital of France? (B) Paris\nHow many? 7", [CHOICE, SUM]) == [True, True]
    # one paragraph: a letter part counts by naming its choice; a lone letter could be either
    assert _right("It is Paris, and the largest is Jupiter.", [CHOICE, PLANET]) == [True, True]
    assert _right("B and C are my picks, I think, for these.", [CHOICE, PLANET]) == [False, False]


def test_a_text_part_is_contained_and_keeps_its_f1():
    verdict = grade("Penicillin was discovered by Alexander Fleming in 1928.", [WHO])[0]
    assert verdict["right"] and 0 < verdict["f1"] < 1
    assert grade("", [WHO])[0] == {"found": None, "right": False, "f1": 0.0}


def test_the_parts_a_query_enumerates_bullets_inline_numbers_and_also():
    bullets = separate("Answer these:\n- What is 2+2?\n- Who wrote Hamlet?")
    assert [p.text for p in bullets.parts] == ["What is 2+2?", "Who wrote Hamlet?"]
    inline = separate("1. Closest planet to the Sun? 2. Largest mammal? 3. What is 9 squared?")
    assert [p.label for p in inline.parts] == ["1.", "2.", "3."]
    also = separate("What is the boiling point of water in Fahrenheit? Also, who discovered "
                    "penicillin?")
    assert [p.text for p in also.parts] == ["What is the boiling point of water in Fahrenheit?",
                                            "Who discovered penicillin?"]
    assert separate("He paid 2. Then 3. What now?").parts == []
    assert separate("What is Also Sprach Zarathustra about?").parts == []  # a title


@pytest.mark.parametrize(("query", "parts"), [
    ("What is the boiling point of water in Fahrenheit, and who discovered penicillin?",
     ["What is the boiling point of water in Fahrenheit?", "Who discovered penicillin?"]),
    ("Who wrote War and Peace, and what is the symbol for sodium?",
     ["Who wrote War and Peace?", "What is the symbol for sodium?"]),
    ("What is 15% of 80 and who wrote Hamlet?", ["What is 15% of 80?", "Who wrote Hamlet?"]),
    # the second points back or leaves out its subject: the planner's to wire
    ("What is the capital of France, and what is its population?", []),
    ("Who directed Jaws and when was he born?", []),
    ("How many legs do spiders have, and how many do insects have?", []),
    ("Who painted the Mona Lisa, and what about the Last Supper?", []),
    ("What is the largest planet, and which one is smallest?", []),
    ("What do cats and dogs eat?", []),
    ("When did the empire of the capital of Peru fall, and what is 3 plus 4?", []),  # two hops
])
def test_two_questions_joined_by_and_are_two_parts_when_the_second_stands_alone(query, parts):
    assert [p.text for p in separate(query).parts] == parts


def test_a_part_naming_an_earlier_answer_depends_on_it():
    assert references("Take the answer to 1. and multiply it by 4.", 2) == (
        "Take {q1} and multiply it by 4.", ["q1"])
    assert references("Add the result of part 3 to 5.", 2) == ("Add the result of part 3 to 5.",
                                                               [])


def test_one_task_questions_are_not_split():
    assert self_contained("Capital of France? (A) Berlin (B) Paris (C) Rome (D) Oslo")
    assert self_contained("A book has 3 chapters. The first has 35 pages and the second 18. "
                          "How many more pages has the second than the third?")
    assert not self_contained("Who directed Jaws, and when was he born?")
    assert self_contained("What is 3/4 of 100?")  # arithmetic alone: the math expert's whole
    assert not self_contained("What is -5 + 3 and who wrote Hamlet?")


def test_modes_are_checked():
    assert check_modes(["comp", "monolithic:qwen2.5-coder-1.5b"])
    for bad in (["mono"], ["monolithic:gpt-5"], ["comp:smollm2-135m"], []):
        with pytest.raises(CompLLMError):
            check_modes(bad)


def test_the_sets_are_seeded_held_out_and_in_the_papers_shape():
    sets = multiexpert_sets(DATA, 12, seed=3)
    assert sets == multiexpert_sets(DATA, 12, seed=3)
    assert sets != multiexpert_sets(DATA, 12, seed=4)
    p, d = sets["P"], sets["D"]
    assert len(p) == len(d) == 12
    assert all(2 <= len(q.parts) <= 3 for q in p)
    assert {q.kind for q in p} == {"numbered", "bulleted", "and", "request"}
    assert all(len({part.expert for part in q.parts}) == len(q.parts) for q in p)
    letters = [part.source.removeprefix("mmlu:").split("/") for q in p for part in q.parts
               if part.kind == "letter"]
    for subject, row in letters:  # the profile's check half of MMLU test
        with (DATA / "mmlu" / "test" / f"{subject}_test.csv").open(encoding="utf-8") as f:
            assert not profile_half(list(csv.reader(f))[int(row)][0])
    assert {q.kind for q in d} == {"closed_book", "paragraphs", "chain"}
    chain = next(q for q in d if q.kind == "chain")
    assert chain.parts[1].text.startswith("Take the answer to 1.")
    assert separate(chain.query).parts[1].text == chain.parts[1].text
    with pytest.raises(CompLLMError, match="sample"):
        multiexpert_sets(DATA, 0)


async def test_enumerated_parts_keep_their_dependency_and_every_part_is_answered():
    """"Take the answer to 1." waits for part 1 and gets its value; both parts are in the answer."""
    from langchain_core.runnables import RunnableLambda

    from comp_llm_graph import Context, build_graph
    from tests.fakes import fake_registry, planner

    async def solve(payload: dict) -> str:
        return "5" if payload["question"].startswith("Tom") else f"got: {payload['question']}"

    experts = {name: RunnableLambda(lambda p: None, afunc=solve, name=name)
               for name in ("geography", "math", "history", "generalist")}
    graph = build_graph(planner=planner("NOT CALLED"), registry=fake_registry(experts),
                        aggregator=planner("AN LLM ANSWER THAT DROPS PART 1"))
    query = "1. Tom has 2 apples and buys 3. How many?\n2. Take the answer to 1. and double it."
    state = await graph.ainvoke({"query": query}, context=Context())
    assert state["planning"]["status"] == "enumerated"
    assert [s["depends_on"] for s in state["plan"]] == [[], ["q1"]]
    assert state["answers"]["q2"]["question"] == "Take 5 and double it."
    assert state["aggregation"]["method"] == "compose"
    assert state["final_answer"] == "1. 5\n2. got: Take 5 and double it."
    assert [v["right"] for v in grade(state["final_answer"], [
        Part("number", "", 5.0, "a", "math"), Part("text", "", ("double",), "b", "math")])] == [
        True, True]
