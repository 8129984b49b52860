"""A dependency described in words ("that director") gets its value in the expert's question."""

import pytest

from comp_llm_graph.nodes.execute import expert_input
from comp_llm_graph.planning.anaphora import name_dependencies


@pytest.mark.parametrize(("question", "expected"), [
    ("When was that director born?", "When was that director ({q1}) born?"),
    ("What country is this city in?", "What country is this city ({q1}) in?"),
    ("Who founded that company?", "Who founded that company ({q1})?"),
    ("How many people live in the same city?", "How many people live in the same city ({q1})?"),
    ("Where was she born?", "Where was she ({q1}) born?"),
    ("What is the population of that?", "What is the population of that ({q1})?"),
])
def test_a_description_gets_the_reference(question, expected):
    assert name_dependencies(question, ["q1"]) == (expected, ["q1"])


@pytest.mark.parametrize("question", [
    "Is it true that cats fly?",             # "that" opens a clause
    "Who is the person that wrote it?",      # a relative "that"
    "Who reported that the sky is blue?",    # "that the": not a description
    "What is it made of?",
    "Is it true?",
])
def test_no_description_leaves_the_text_as_written(question):
    assert name_dependencies(question, ["q1"]) == (question, [])


def test_two_dependencies_go_to_the_descriptions_in_reading_order():
    text, placed = name_dependencies("Is that man older than this woman?", ["q1", "q2"])
    assert text == "Is that man ({q1}) older than this woman ({q2})?"
    assert placed == ["q1", "q2"]


def test_the_expert_reads_the_value_not_the_description():
    sub = {"id": "q2", "question": "When was that director born?", "depends_on": ["q1"]}
    deps = {"q1": {"id": "q1", "question": "Who directed Jaws?", "answer": "Steven Spielberg.",
                   "error": None}}
    assert expert_input(sub, deps)["question"] == "When was that director (Steven Spielberg) born?"


def test_a_referenced_dependency_is_not_written_twice():
    sub = {"id": "q2", "question": "Is {q1} older than that actor?", "depends_on": ["q1"]}
    deps = {"q1": {"id": "q1", "question": "Who?", "answer": "Tom Hanks", "error": None}}
    assert expert_input(sub, deps)["question"] == "Is Tom Hanks older than that actor?"
