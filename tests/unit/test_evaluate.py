"""Labelled data loading and the routing evaluation, on fakes and on the MMLU files."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.evaluation.data import labelled_questions, mmlu_questions, mmlu_subjects
from comp_llm_graph.evaluation.routing import evaluate_routing, routing_markdown
from comp_llm_graph.experts.training import Labelled
from tests.fakes import DATA, fake_registry

MMLU = DATA / "mmlu"


def test_mmlu_questions_cover_16_groups_and_skip_other():
    subjects = mmlu_subjects(MMLU)
    assert len(set(subjects.values())) == 16
    assert "other" not in subjects.values() and "computer_science" in subjects.values()
    dev = mmlu_questions(MMLU, ["dev"])
    assert len(dev) == 5 * len(subjects)  # 5 exemplars per subject
    assert mmlu_questions(MMLU, ["test"], sample=50, seed=1) == mmlu_questions(
        MMLU, ["test"], sample=50, seed=1)


def test_labelled_files_csv_and_jsonl(tmp_path):
    csv_file = tmp_path / "q.csv"
    csv_file.write_text("question,expert\nWhat is 3 plus 4?,math\n")
    assert labelled_questions(csv_file) == [Labelled("What is 3 plus 4?", "math", "q.csv:2")]
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"question": "Capital of Peru?", "expert": "geography"}\n\n')
    assert labelled_questions(jsonl)[0].expert == "geography"


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.jsonl", '{"question": "x"}\n', "bad.jsonl:1: needs a non-empty question and expert"),
    ("bad2.jsonl", "not json\n", "bad2.jsonl:1: not JSON"),
    ("bad.csv", "question,expert\n,math\n", "bad.csv:2: needs a non-empty question and expert"),
    ("bad.txt", "x", "use an MMLU folder, a .csv or a .jsonl file"),
])
def test_labelled_file_errors_name_the_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CompLLMError, match=message.replace(".", r"\.")):
        labelled_questions(path)


def test_evaluate_routing_counts_top1_top3_f1_and_confusion():
    rows = [Labelled("What is the capital of Peru?", "geography"),
            Labelled("What is 3 plus 4?", "math"),
            Labelled("When did the empire fall?", "history"),
            Labelled("What is the capital of France?", "history")]  # routed to geography
    results = evaluate_routing(fake_registry(), rows)
    assert results["n"] == 4 and results["top1"] == 0.75
    assert results["confusion"]["history"] == {"history": 1, "geography": 1}
    assert results["per_expert"]["history"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667,
                                                "support": 2}
    assert results["per_expert"]["geography"]["precision"] == 0.5
    assert results["top3"] >= results["top1"]
    table = routing_markdown(results, "fake")
    assert "| history | 1.000 | 0.500 | 0.667 | 2 | geography (1) |" in table


@pytest.mark.parametrize(("args", "message"), [
    (["speed"], "No such command 'speed'"),
    (["routing", "--data", str(MMLU), "--split", "train"], "--split must be dev, val or test"),
    (["routing", "--data", str(MMLU), "--sample", "0"], "--sample must be at least 1"),
    (["routing", "--data", "/nonexistent.csv"], "cannot read /nonexistent.csv"),
])
def test_eval_bad_input_exits_2(args, message):
    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code == 2
    assert message in result.output
