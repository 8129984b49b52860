"""The executor's branch (nodes/execute.py): what an expert is given."""

from __future__ import annotations

from comp_llm_graph.nodes.execute import expert_input


def test_shared_context_is_delimited_before_earlier_answers():
    sub = {"id": "q2", "question": "Where did {q1} go?", "depends_on": ["q1"],
           "context": "shared"}
    dep = {"id": "q1", "question": "Who?", "answer": "Celoron", "error": None}
    payload = expert_input(sub, {"q1": dep}, "Celoron went to Lake Ontario.")
    assert payload["question"] == "Where did Celoron go?"
    assert payload["context"].startswith("Context:\n<<<\nCeloron went to Lake Ontario.\n>>>\n")
    assert "[q1] Who?\n=> Celoron" in payload["context"]
    assert "Context:" not in expert_input({**sub, "context": None}, {"q1": dep}, "x")["context"]
