"""`comp-llm ask` input errors: a clear message and exit status 2, never a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app, result_document

runner = CliRunner()


def ask(*args: str, stdin: str | None = None):
    return runner.invoke(app, ["ask", *args], input=stdin)


def test_bench_rejects_an_unknown_part():
    result = runner.invoke(app, ["bench", "speed"])
    assert result.exit_code == 2
    assert "unknown part(s) speed; choose from scheduler, overhead, batching, models" in (
        result.output)


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["   "], None, "The query is empty"),
    (["-"], "  \n", "The query is empty"),
    (["x" * 4001], None, "limit is 4000"),
    (["--mode", "parallel", "hi"], None, "mode must be one of comp, monolithic, sequential"),
    (["--max-concurrency", "0", "hi"], None, "max_concurrency must be at least 1"),
    (["--max-subqueries", "0", "hi"], None, "max_subqueries must be between 1 and 32"),
    (["--schedule", "eager", "hi"], None, "schedule must be one of ready, waves"),
    (["--batch-size", "0", "hi"], None, "max_batch_size (--batch-size) must be a whole number from 1 to 64"),
    (["--memory-budget", "lots", "hi"], None, "cannot read 'lots' as a memory size"),
    (["--stream", "--json", "hi"], None, "--stream shows the answer as it comes"),
    (["--threads", "0", "hi"], None, "threads (--threads) must be a whole number from 1"),
    # The planner's model does not fit: refused before loading anything.
    (["--memory-budget", "1MiB", "hi"], None, "more than the memory budget of 1 MiB"),
])
def test_bad_input_exits_2_with_a_reason(args, stdin, message):
    result = ask(*args, stdin=stdin)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_malformed_card_folder_is_named(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: astro\ndescription: Stars and planets.\n"
                                       "examples: ['What is a star?']\nbackend: gpt9\n")
    result = ask("--experts", str(tmp_path), "What is a star?")
    assert result.exit_code == 2
    assert f"{tmp_path / 'bad.yaml'}: unknown backend 'gpt9'" in result.output
    missing = ask("--experts", str(tmp_path / "nope"), "hi")
    assert missing.exit_code == 2 and "expert card folder not found" in missing.output


def test_result_document_orders_answers_by_plan_and_offsets_times():
    state = {
        "query": "Q", "mode": "comp", "run_started": 100.0,
        "plan": [
            {"id": "q1", "question": "A?", "depends_on": [], "expert": "e", "score": 0.5,
             "routed_by": "similarity", "candidates": [{"expert": "e", "score": 0.5}]},
            {"id": "q2", "question": "B?", "depends_on": ["q1"], "expert": "f", "score": 0.4,
             "routed_by": "similarity", "candidates": [{"expert": "f", "score": 0.4}]},
        ],
        "planning": {"status": "valid", "attempts": []},
        "answers": {
            "q2": {"id": "q2", "question": "B?", "expert": "f", "answer": "b", "error": None,
                   "started_at": 102.0, "finished_at": 103.5},
            "q1": {"id": "q1", "question": "A?", "expert": "e", "answer": "a", "error": None,
                   "started_at": 100.5, "finished_at": 102.0, "output_tokens": 3},
        },
        "final_answer": "F", "aggregation": {"method": "llm", "reason": None},
        "timings": {"plan": 0.5, "execute": 3.0, "aggregate": 0.2, "total": 3.7},
    }
    doc = result_document(state)
    assert list(doc["answers"]) == ["q1", "q2"]  # keyed by id, in plan order
    assert doc["answers"]["q1"] | {} == {"id": "q1", "question": "A?", "expert": "e", "answer": "a",
                                      "error": None, "start_s": 0.5, "end_s": 2.0,
                                      "seconds": 1.5, "output_tokens": 3}
    assert {"query", "plan", "answers", "final_answer", "timings"} <= set(doc)
    assert set(doc["plan"][1]) >= {"id", "question", "depends_on", "expert", "score"}


@pytest.mark.parametrize(("args", "message"), [
    ([], "give either a QUESTION or --file"),
    (["hi", "--file", "x.txt"], "give either a QUESTION or --file"),
    (["--file", "does-not-exist.txt"], "cannot read does-not-exist.txt"),
    (["--top-k", "0", "hi"], "--top-k must be at least 1"),
    (["   "], "The query is empty"),
])
def test_route_bad_input_exits_2(args, message):
    result = runner.invoke(app, ["route", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_route_file_with_blank_lines_is_refused_with_their_numbers(tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("What is 2 plus 2?\n\nWho wrote Hamlet?\n   \n")
    result = runner.invoke(app, ["route", "--file", str(questions)])
    assert result.exit_code == 2
    assert "line(s) 2, 4 are blank" in result.output


def _fake_components(monkeypatch, asked: list[str]) -> None:
    import json

    from langchain_core.runnables import RunnableLambda

    from comp_llm_graph.cli import ask as ask_command
    from tests.fakes import fake_registry, planner

    plan = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
        {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []}]})
    experts = {name: RunnableLambda(lambda p, n=name: asked.append(p["question"]) or f"{n} ok")
               for name in ("geography", "math", "history", "generalist")}
    monkeypatch.setattr(ask_command, "build_components", lambda *a, **k: {
        "planner": planner(plan), "registry": fake_registry(experts),
        "aggregator": planner("FINAL")})


def test_review_plan_runs_the_plan_edited_in_the_editor(monkeypatch):
    import json

    import click

    asked: list[str] = []
    _fake_components(monkeypatch, asked)
    shown: list[str] = []

    def edit(text: str, extension: str) -> str:
        shown.append(text)
        plan = json.loads(text)
        return json.dumps([plan[1], {"id": "q3", "question": "What is 5 plus 6?"}])

    monkeypatch.setattr(click, "edit", edit)
    result = ask("--review-plan", "--json", "Capital of Peru, and 3 plus 4?", stdin="e\n")
    assert result.exit_code == 0, result.output
    assert "What is the capital of Peru?" in shown[0]  # the plan was offered for editing
    assert asked == ["What is 3 plus 4?", "What is 5 plus 6?"]
    document = json.loads(result.output[result.output.index("{"):])
    assert [s["id"] for s in document["plan"]] == ["q2", "q3"]


def test_review_plan_stopped_runs_nothing(monkeypatch):
    asked: list[str] = []
    _fake_components(monkeypatch, asked)
    result = ask("--review-plan", "Capital of Peru, and 3 plus 4?", stdin="n\n")
    assert result.exit_code == 2
    assert "stopped at the plan review; nothing was run" in result.output
    assert "What is the capital of Peru?" in result.output and asked == []
    result = ask("--review-plan", "-", stdin="hi\n")
    assert result.exit_code == 2 and "give the query as an argument" in result.output


def test_ask_answers_under_a_progress_spinner_and_json_is_only_the_document(monkeypatch):
    import json

    asked: list[str] = []
    _fake_components(monkeypatch, asked)
    result = ask("Capital of Peru, and 3 plus 4?")
    assert result.exit_code == 0, result.output
    assert "Final answer" in result.output and len(asked) == 2
    result = ask("--json", "Capital of Peru, and 3 plus 4?")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["final_answer"]  # nothing else on standard output
