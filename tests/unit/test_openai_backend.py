"""The `openai` backend: card options and the missing client package (clients built, nothing sent).

`tests/real/test_openai_server.py` runs the same backend against a real server on loopback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from comp_llm_graph.defaults import default_components
from comp_llm_graph.errors import ExpertCardError, ModelNotInstalledError
from comp_llm_graph.experts import ExpertCard, ExpertRegistry, load_card, register_backend
from comp_llm_graph.experts.backends import BACKEND_CHECKS, BACKENDS, build_expert, openai_options
from comp_llm_graph.runtimes.openai_compat import PLACEHOLDER_API_KEY, openai_chat_model
from tests.fakes import CARDS, KeywordEmbeddings, ephemeral_client

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
    return expert.chat_model


# -- options, checked when the registry is built ---------------------------------------------------


@pytest.mark.parametrize(("options", "field"), [
    ({"model": "m"}, "options: give base_url (one server) or endpoints (replicas), not both"),
    ({"model": "m", "endpoints": [{"base_url": "http://h/v1", "slots": 2}]},
     "options.endpoints.0.slots"),
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
    with pytest.raises(ExpertCardError, match=r"give base_url \(one server\) or endpoints"):
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
