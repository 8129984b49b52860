"""The plan drawn as Mermaid text and as a PNG (`comp_llm_graph.drawing`)."""

from __future__ import annotations

from comp_llm_graph.drawing import draw_plan, plan_depths, plan_mermaid

STATE = {
    "query": "Who led the country whose capital is Lima, and what is 3 plus 4?",
    "plan": [
        {"id": "q1", "question": 'What country has the capital "Lima"?', "depends_on": [],
         "expert": "geography"},
        {"id": "q2", "question": "Who led {q1}?", "depends_on": ["q1"], "expert": "history"},
        {"id": "q3", "question": "What is 3 plus 4?", "depends_on": [], "expert": "math"},
    ],
    "answers": {"q1": {"started_at": 10.0, "finished_at": 10.5},
                "q2": {"started_at": 10.5, "finished_at": 11.75}},
}


def test_mermaid_has_every_sub_query_its_expert_seconds_and_dependencies():
    text = plan_mermaid(STATE)
    assert text.startswith("flowchart LR\n")
    assert "q1[\"q1 [geography, 0.50 s]<br/>What country has the capital 'Lima'?\"]" in text
    assert "q3[\"q3 [math]<br/>What is 3 plus 4?\"]" in text  # not run: no seconds
    assert "    q1 --> q2\n" in text and text.count("-->") == 1


def test_depths_and_the_png(tmp_path):
    assert plan_depths(STATE["plan"]) == {"q1": 0, "q2": 1, "q3": 0}
    path = draw_plan(STATE, tmp_path / "plan.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 5000
