"""The evaluation commands on the embedded models: `comp-llm eval routing|planning|e2e`.

Small runs (a few questions) that check the documented structure and ranges of each report.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app
from tests.fakes import DATA

MMLU = DATA / "mmlu"


@pytest.mark.real
def test_eval_routing_on_mmlu_writes_the_documented_keys(tmp_path):
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["eval", "routing", "--data", str(MMLU), "--sample", "200",
                                      "--json", str(out), "--cache-dir", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    scores = doc["routing"]["mmlu_test"]
    assert scores["n"] == 200 and 0.3 <= scores["top1"] <= scores["top3"]
    assert doc["routing"]["routes_per_s"] > 0
    assert sum(row["support"] for row in scores["per_expert"].values()) == 200


@pytest.mark.real
def test_real_eval_planning_command_on_the_embedded_planner(tmp_path):
    """`comp-llm eval planning` with SmolLM2 under the plan grammar, one question per set."""
    import json

    from typer.testing import CliRunner

    from comp_llm_graph.cli import app

    out, records = tmp_path / "planning.json", tmp_path / "records.jsonl"
    result = CliRunner().invoke(app, [
        "eval", "planning", "--data", str(DATA), "--dataset", "musique", "--dataset", "break",
        "--sample", "1", "--json", str(out), "--records", str(records)])
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())["planning"]
    assert results["n"] == 2 and set(results["datasets"]) == {"musique", "break"}
    for row in [results, *results["datasets"].values()]:
        for key in ("valid_plan_rate", "valid_as_generated_rate", "edge_f1", "parallel_share",
                    "false_parallel_rate", "edge_precision", "edge_recall"):
            assert row[key] is None or 0.0 <= row[key] <= 1.0, key
        assert row["count_mae"] >= 0 and row["seconds_per_plan"] > 0
    # The grammar makes every output parse, so nothing falls back.
    assert results["valid_plan_rate"] == 1.0
    plans = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(plans) == 2 and all(1 <= len(r["plan"]) <= 5 for r in plans)


@pytest.mark.real
def test_real_eval_e2e_command_on_one_pair_and_one_multihop_question(tmp_path):
    """`comp-llm eval e2e` on the embedded models: SmolLM2 planner/experts/aggregator, MiniLM
    routing. Structure, ranges and token accounting, in comp and monolithic mode."""
    from typer.testing import CliRunner

    from comp_llm_graph.cli import app

    out, records = tmp_path / "e2e.json", tmp_path / "records.jsonl"
    result = CliRunner().invoke(app, [
        "eval", "e2e", "--data", str(DATA), "--pairs", "1", "--multihop", "1", "--mode", "comp",
        "--mode", "monolithic", "--no-warmup", "--cache-dir", str(tmp_path / "cache"),
        "--json", str(out), "--records", str(records)])
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())["e2e"]
    assert set(results) == {"mmlu_pairs", "musique"}
    for name, result_set in results.items():
        assert result_set["n"] == 1 and set(result_set["modes"]) == {"comp", "monolithic"}
        for mode, row in result_set["modes"].items():
            assert row["errors"] == 0
            assert all(0.0 <= row[m] <= 1.0 for m in result_set["metrics"])
            assert 0.1 < row["wall_s_mean"] < 300
            assert row["expert_tokens_mean"] > 0
            # An MMLU pair numbers its parts: they are the plan, with no planner call.
            planned = mode != "monolithic" and name != "mmlu_pairs"
            assert (row["planner_tokens_mean"] > 0) == planned
            if mode == "comp" and name == "mmlu_pairs":
                assert row["planning"] == {"enumerated": 1} and row["part_coverage"] == 1.0
            assert row["tokens_mean"] == pytest.approx(
                row["expert_tokens_mean"] + row["planner_tokens_mean"]
                + row["aggregator_tokens_mean"])
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(lines) == 2
    assert all(run["prediction"].strip() for line in lines for run in line["modes"].values())


@pytest.mark.real
def test_eval_multiexpert_on_the_embedded_models(tmp_path):
    """`comp-llm eval multiexpert`: P and D, comp and a monolithic model, the documented JSON."""
    out, records = tmp_path / "me.json", tmp_path / "me.jsonl"
    result = CliRunner().invoke(app, [
        "eval", "multiexpert", "--data", str(DATA), "--sample", "1", "--seed", "5",
        "--modes", "comp,monolithic:smollm2-135m", "--no-warmup", "--json", str(out),
        "--records", str(records), "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    sets = json.loads(out.read_text())["sets"]
    assert set(sets) == {"P", "D", "All"} and sets["All"]["n"] == 2
    for mode in ("comp", "monolithic:smollm2-135m"):
        row = sets["All"]["modes"][mode]
        assert {"part_accuracy", "all_parts_accuracy", "part_coverage", "mean_s", "p95_s"} <= set(row)
        assert 0 <= row["part_accuracy"] <= 1 and row["mean_s"] > 0 and row["errors"] == 0
    assert sets["P"]["modes"]["monolithic:smollm2-135m"]["total_params_b"] == 0.135
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert [r["set"] for r in lines] == ["P", "D"]
    assert all(run["scores"]["parts"] for r in lines for run in r["modes"].values())
    comp = lines[0]["modes"]["comp"]
    assert comp["planning"] in ("enumerated", "whole", "valid", "repaired")
