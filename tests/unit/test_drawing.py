"""The plan drawn as Mermaid text and as a PNG (`comp_llm_graph.drawing`)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from comp_llm_graph.cli import app
from comp_llm_graph.drawing import draw_plan, plan_depths, plan_mermaid
from tests.unit.test_cli_reliability import _fake_pipeline

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

runner = CliRunner()


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


def test_draw_to_mmd_writes_the_mermaid_text_after_the_answer(monkeypatch, tmp_path):
    _fake_pipeline(monkeypatch, answer="Lima", final="Lima")
    result = runner.invoke(app, ["ask", "--draw", str(tmp_path / "plan.mmd"), "Two things?"])
    assert result.exit_code == 0, result.output
    assert "Lima" in result.output
    assert (tmp_path / "plan.mmd").read_text().startswith("flowchart")


def test_draw_to_an_unknown_format_is_refused_before_the_run(monkeypatch, tmp_path):
    asked = _fake_pipeline(monkeypatch)
    result = runner.invoke(app, ["ask", "--draw", str(tmp_path / "plan.foo"), "Two things?"])
    assert result.exit_code == 2
    assert "--draw writes an image" in result.output and asked == []


def test_a_question_with_dollar_signs_is_drawn_as_text(monkeypatch, tmp_path):
    _fake_pipeline(monkeypatch, answer="Yes", final="Yes")
    from comp_llm_graph.drawing import draw_plan

    state = {"query": "Is $a_$ a variable name?", "plan": [
        {"id": "q1", "question": "Is $a_$ a variable name?", "depends_on": [], "expert": "x"}],
        "answers": {}}
    assert draw_plan(state, tmp_path / "m.png").stat().st_size > 0


def test_a_drawing_that_fails_after_the_run_keeps_the_answer(monkeypatch, tmp_path):
    _fake_pipeline(monkeypatch, answer="Lima", final="Lima")
    import comp_llm_graph.drawing as drawing

    def broken(*_args, **_kwargs):
        raise ValueError("cannot render")

    monkeypatch.setattr(drawing, "draw_plan", broken)
    result = runner.invoke(app, ["ask", "--json", "--draw", str(tmp_path / "p.png"), "Two?"])
    assert result.exit_code == 2
    assert json.loads(result.stdout[:result.stdout.rindex("}") + 1])["final_answer"] == "Lima"
    assert "the answer is above; the drawing could not be written" in result.output
