"""Run state in PostgreSQL: a conversation across processes, a killed run resumed (real server)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langgraph.types import Overwrite

from comp_llm_graph.checkpoints import open_checkpointer

pytestmark = pytest.mark.real
COMP_LLM = str(Path(sys.executable).parent / "comp-llm")
PARTS = ("1. What is the capital of France? 2. Who wrote Hamlet? "
         "3. What is the boiling point of water in Celsius?")


def _ask(*args: str, env: dict) -> dict:
    done = subprocess.run([COMP_LLM, "ask", "--json", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


async def _saved(url: str, thread: str) -> tuple[dict, list]:
    """The thread's latest checkpoint values and the answers its current step has saved."""
    async with open_checkpointer(url) as saver:
        saved = await saver.aget_tuple({"configurable": {"thread_id": thread}})
    if saved is None:
        return {}, []
    writes = [value for _task, channel, value in saved.pending_writes or []
              if channel == "answers" and not isinstance(value, Overwrite)]  # the plan's reset
    return saved.checkpoint["channel_values"], writes


def test_a_conversation_continues_in_a_new_process(postgres_url, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    first = _ask("--checkpoint", postgres_url, "--thread", "chat",
                 "What is the capital of France?", env=env)
    assert first["thread_id"] == "chat"
    second = _ask("--checkpoint", postgres_url, "--thread", "chat",
                  "And what is its population?", env=env)
    assert second["planning"]["condensed"]["referent"] in ("Paris", "France")
    values, _ = asyncio.run(_saved(postgres_url, "chat"))
    assert [m.type for m in values["messages"]] == ["human", "ai", "human", "ai"]


def test_a_killed_run_resumes_without_running_finished_sub_queries_again(postgres_url,
                                                                         tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    run = subprocess.Popen([COMP_LLM, "ask", "--checkpoint", postgres_url, "--thread", "kill",
                            "--max-concurrency", "1", PARTS], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, saved = time.time() + 180, []
    while time.time() < deadline and not saved and run.poll() is None:
        time.sleep(0.2)
        saved = asyncio.run(_saved(postgres_url, "kill"))[1]
    run.send_signal(signal.SIGKILL)
    run.wait()
    killed_at = time.time()
    assert saved, "no sub-query was saved before the run ended"
    kept = {sub_id: answer for write in saved for sub_id, answer in write.items()}
    assert len(kept) < 3, "every sub-query had finished: nothing left to resume"

    resumed = _ask("--checkpoint", postgres_url, "--thread", "kill", "--resume", env=env)
    assert list(resumed["answers"]) == ["q1", "q2", "q3"]
    values, _ = asyncio.run(_saved(postgres_url, "kill"))
    for sub_id, answer in values["answers"].items():
        if sub_id in kept:  # saved before the kill: kept, not run again
            assert answer == kept[sub_id]
        else:
            assert answer["started_at"] > killed_at
    assert resumed["final_answer"].strip()
