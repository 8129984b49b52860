"""The reliability suite (`comp-llm bench reliability`) on a small scale, and that it can fail.

The crash-and-resume part starts real processes and kills them (SIGKILL) on a real SQLite
checkpoint; the rest runs scripted models on real in-memory Chroma.
"""

from __future__ import annotations

from comp_llm_graph.evaluation.bad_inputs import _tally
from comp_llm_graph.evaluation.crash_resume import STEPS
from comp_llm_graph.evaluation.reliability import FAULTS, _survived, run_reliability


async def test_every_fault_survived_bad_input_sorted_and_killed_runs_resumed():
    results = await run_reliability(repeats=1, plans=50, runs=10, at_once=5,
                                    kills=["after 2 saved", "while aggregating"])
    assert [r["fault"] for r in results["faults"]] == list(FAULTS)
    assert all(r["survived"] == 1 for r in results["faults"]), results["faults"]
    for name, row in results["bad_inputs"].items():
        assert row["other"] == 0 and row["refused"] + row["accepted"] == row["tried"], name
    assert results["bad_inputs"]["expert cards"]["refused"] == results["bad_inputs"][
        "expert cards"]["tried"]
    assert results["plans"]["other_exceptions"] == 0
    killed = {r["killed"]: r for r in results["crash_resume"]}
    assert killed["after 2 saved"]["saved_before_kill"] >= 2
    assert killed["while aggregating"]["expert_calls_on_resume"] == 0
    for row in killed.values():
        assert row["complete"] and row["saved_run_again"] == 0
        assert row["expert_calls_on_resume"] == STEPS - row["saved_before_kill"]
    load = results["load"]
    assert load["crosstalk"] == 0 and load["lost_or_duplicated"] == 0
    assert max(load["peak_calls_per_card"].values()) <= load["card_limit"]


def test_a_run_that_hides_a_failure_does_not_count_as_survived():
    plan = [{"id": "q1"}, {"id": "q2"}]
    failed = {"q1": {"answer": "", "error": "boom"}, "q2": {"answer": "x", "error": None}}
    assert _survived({"plan": plan, "answers": failed, "final_answer": "x",
                      "aggregation": {"partial": True}})
    assert not _survived({"plan": plan, "answers": failed, "final_answer": "x",
                          "aggregation": {"partial": False}})  # partial not flagged
    assert not _survived({"plan": plan, "answers": {"q2": failed["q2"]}, "final_answer": "x",
                          "aggregation": {}})  # a sub-query lost


async def test_an_exception_that_is_not_a_clear_error_is_counted_as_a_bug():
    async def attempt(item):
        if item == "bug":
            raise KeyError("x")
        if item == "bad":
            raise ValueError("the value is bad: give a good one")

    row = await _tally(["ok", "bad", "bug"], attempt)
    assert (row["accepted"], row["refused"], row["other"]) == (1, 1, 1)
    assert row["others"] == ["'bug': KeyError: 'x'"]


async def test_saved_answers_are_read_through_the_plan_steps_overwrite(tmp_path):
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.types import Overwrite

    from comp_llm_graph.checkpoints import open_checkpointer
    from comp_llm_graph.evaluation.crash_resume import _saved

    url = f"sqlite:///{tmp_path}/state.db"
    async with open_checkpointer(url) as saver:
        config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        saved = await saver.aput(config, empty_checkpoint(), {}, {})
        await saver.aput_writes(saved, [("answers", Overwrite({}))], "plan")
        await saver.aput_writes(saved, [("answers", {"q1": {"answer": "x"}})], "branch")
        assert await _saved(saver, "t") == {"q1"}
