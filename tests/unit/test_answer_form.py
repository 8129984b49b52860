"""The form of an answer a question asks for (experts/answer_form.py): choice, yes/no, number, open."""

from __future__ import annotations

from comp_llm_graph.experts.answer_form import answer_form, choice_answer


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
