"""The planner's demonstration bank (planning/demonstrations.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from comp_llm_graph.planning.demonstrations import _plan_json

runner = CliRunner()


def test_gold_steps_become_planner_json():
    plan = json.loads(_plan_json(["Who wrote Green?", "Who is the spouse of #1 ?"]))
    assert plan["subqueries"] == [
        {"id": "q1", "question": "Who wrote Green?", "depends_on": []},
        {"id": "q2", "question": "Who is the spouse of {q1}?", "depends_on": ["q1"]}]
    assert _plan_json(["A?", "B of #2?"]) is None  # a self reference is not a demonstration


def test_the_demonstration_bank_lives_in_the_given_cache_folder(monkeypatch, tmp_path):
    import comp_llm_graph.defaults as defaults
    from comp_llm_graph.experts.registry import ExpertRegistry

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("the default cache cannot be here")
    monkeypatch.setattr(ExpertRegistry, "from_folders", classmethod(lambda cls, *a, **k: None))
    monkeypatch.setattr(defaults, "embedded_planner", lambda *a, **k: None)
    components = defaults.default_components(persist_directory=tmp_path / "ok")
    assert components["demonstrations"]._store.persist_directory == tmp_path / "ok"
    assert len(components["demonstrations"]) == 0  # opened there: empty, and no error
