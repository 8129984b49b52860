"""Bad input and a damaged cache at the real CLI (real MiniLM, Chroma, SmolLM2), in new processes.

What `shared/checks/reliability` runs: each case ends with a result or one clear error, never
a traceback. The corrupt index is made the way a crash mid-copy makes it: the SQLite file cut
to half its size after a first run built it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.real
ROOT = Path(__file__).resolve().parents[2]


def comp_llm(*args: str, stdin: bytes | None = None, timeout: float = 300
             ) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "comp_llm_graph.cli", *args], input=stdin,
                          capture_output=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "COMP_LLM_DEBUG": ""})
    for stream in (done.stdout, done.stderr):
        assert b"Traceback" not in stream, stream.decode(errors="replace")
    return done


def test_a_corrupt_routing_index_is_rebuilt_and_the_question_routed(tmp_path):
    cache = tmp_path / "cache"
    first = comp_llm("route", "--cache-dir", str(cache), "--router", "similarity",
                     "What is water?")
    assert first.returncode == 0, first.stderr
    db = cache / "chroma.sqlite3"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    again = comp_llm("route", "--cache-dir", str(cache), "--router", "similarity",
                     "What is water?")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout  # the same decision, on the rebuilt index
    [moved] = cache.glob("chroma-corrupt-*")
    warning = again.stderr.decode()
    assert f"the routing index in {cache} was corrupt" in warning and str(moved) in warning
    third = comp_llm("route", "--cache-dir", str(cache), "--router", "similarity",
                     "What is water?")
    assert third.returncode == 0 and b"corrupt" not in third.stderr


def test_markup_in_the_question_does_not_lose_the_answer():
    done = comp_llm("ask", "--mode", "monolithic", "What is [/b] the capital of France?")
    assert done.returncode == 0, done.stderr
    assert b"[/b]" in done.stdout  # the question, shown in the plan as it was asked
    assert b"Final answer" in done.stdout and b"\x1b" not in done.stdout


def test_bad_utf8_on_standard_input_and_a_file_as_cache_dir_exit_2(tmp_path):
    done = comp_llm("ask", "--mode", "monolithic", "-", stdin=b"\xff\xfe what is water?")
    assert done.returncode == 2
    assert b"standard input is not UTF-8 text" in done.stderr
    (tmp_path / "afile").touch()
    done = comp_llm("route", "--cache-dir", str(tmp_path / "afile"), "What is water?")
    assert done.returncode == 2 and b"is not a folder (it is a file)" in done.stderr


def test_bench_reliability_prints_its_tables_with_nothing_lost(tmp_path):
    done = comp_llm("bench", "reliability", "--runs", "50", "--json", str(tmp_path / "r.json"),
                    timeout=600)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    printed = done.stdout.decode()
    for title in ("Faults injected", "Bad input", "Random planner output",
                  "Killed (SIGKILL) and resumed", "Concurrent load: 50 runs"):
        assert title in printed, printed
    results = json.loads((tmp_path / "r.json").read_text())["reliability"]
    assert all(r["survived"] == r["runs"] for r in results["faults"])
    assert all(r["other"] == 0 for r in results["bad_inputs"].values())
    assert len(results["crash_resume"]) == 7
    assert all(r["complete"] and r["saved_run_again"] == 0 for r in results["crash_resume"])


def test_six_numbered_parts_past_the_limit_are_named_on_the_real_models(tmp_path):
    query = ("1. What is the capital of France?\n2. Who wrote Hamlet?\n3. What is 12 times 12?\n"
             "4. What is the chemical symbol of gold?\n5. Who painted the Mona Lisa?\n"
             "6. What is the largest planet?")
    done = comp_llm("ask", "--json", "--cache-dir", str(tmp_path), query, timeout=600)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    doc = json.loads(done.stdout)
    assert len(doc["plan"]) == 5 and doc["planning"]["unplanned"] == [
        "6. What is the largest planet?"]
    assert doc["aggregation"]["partial"] is True
    assert "6. What is the largest planet?" in doc["final_answer"]
    assert "144" in doc["final_answer"]  # the parts that ran are answered (12 times 12, exactly)
