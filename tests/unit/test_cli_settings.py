"""`comp-llm ask` checks its settings before a run: threads, model settings, a run waiting for review."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app
from tests.unit.test_cli_reliability import _fake_pipeline

runner = CliRunner()
SECRET = "Hunter2Secret"


# -- unbounded cards ----------------------------------------------------------------------------


# -- secrets ------------------------------------------------------------------------------------


# -- settings checked where given ---------------------------------------------------------------


def test_ask_refuses_a_bad_threads_variable_before_running(monkeypatch):
    monkeypatch.setenv("COMP_LLM_THREADS", "abc")
    result = runner.invoke(app, ["ask", "--mode", "monolithic", "What is water?"])
    assert result.exit_code == 2
    assert "COMP_LLM_THREADS" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--batch-size", "2000"], r"--batch-size\) must be a whole number from 1 to 64"),
    (["--threads", "0"], r"--threads\) must be a whole number from 1 to 512"),
])
def test_model_settings_out_of_range_are_refused(args, message):
    result = runner.invoke(app, ["ask", *args, "x"])
    assert result.exit_code == 2
    assert __import__("re").search(message, result.output)


# -- a drawing that fails keeps the answer ------------------------------------------------------


# -- --cache-dir isolates the run ---------------------------------------------------------------


# -- a reviewer's edit is taken whole or refused ------------------------------------------------


def test_resume_of_a_run_waiting_for_review_needs_review_plan(monkeypatch, tmp_path):
    _fake_pipeline(monkeypatch, answer="Lima", final="Lima")
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    stopped = runner.invoke(app, ["ask", "--review-plan", "--checkpoint", db, "--thread", "t1",
                                  "Two things?"], input="n\n")
    assert stopped.exit_code == 2 and "stopped at the plan review" in stopped.output
    resumed = runner.invoke(app, ["ask", "--checkpoint", db, "--thread", "t1", "--resume"])
    assert resumed.exit_code == 2
    assert "waiting for its plan to be reviewed" in resumed.output
    assert "--resume --review-plan" in resumed.output


# -- one run per thread -------------------------------------------------------------------------


# -- route --file reads a bounded amount --------------------------------------------------------


