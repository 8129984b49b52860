"""The conversation turn (planning/conversation.py, planning/referents.py): a follow-up's question made standalone."""

from __future__ import annotations

import pytest

from comp_llm_graph.planning.conversation import standalone


def test_standalone_questions_from_the_previous_turn():
    paris = ("What is the capital of France?", "The capital of France is Paris.")
    assert standalone("And what is its population?", paris).question == (
        "What is Paris's population?")
    assert standalone("When was he born?", ("Who wrote Hamlet?", "William Shakespeare wrote "
                                            "Hamlet.")).question == "When was William Shakespeare born?"
    assert standalone("What is its capital?", ("Tell me about France.", "A country.")
                      ).question == "What is France's capital?"
    unchanged = standalone("What is the capital of Spain?", paris)
    assert (unchanged.question, unchanged.referent) == ("What is the capital of Spain?", None)
    assert standalone("What is it?", None).referent is None


def test_follow_up_sets_resolve_to_the_right_kind_and_never_to_a_number():
    """The conversations of `tests/data/followups*.json` (`benchmarks/followups.py`)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "followups.py"
    spec = importlib.util.spec_from_file_location("followups", path)
    followups = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(followups)
    totals = [followups.rates(name) for name in followups.SETS]
    right, total = sum(t[0] for t in totals), sum(t[1] for t in totals)
    assert total >= 30 and right / total >= 0.9, [t[3] for t in totals]
    assert sum(t[2] for t in totals) == 0  # no number, date or code taken for an entity


@pytest.mark.parametrize(("history", "follow_up", "expected"), [
    (("Who was the first person to walk on the Moon?",
      "Neil Armstrong was the first person to walk on the Moon, during Apollo 11 in 1969."),
     "When was he born?", "When was Neil Armstrong born?"),
    (("How many stars are in the Milky Way?", "About 10 billion."), "What is its diameter?",
     "What is Milky Way's diameter?"),
    (("Who founded Microsoft?", "Bill Gates and Paul Allen founded Microsoft in 1975."),
     "When did he step down?", "When did he step down?"),  # two men: left as asked
])
def test_a_follow_up_takes_an_entity_of_the_kind_its_word_needs(history, follow_up, expected):
    assert standalone(follow_up, history).question == expected
