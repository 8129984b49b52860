"""The local-model backends check their `model_path` when the registry is built."""

from __future__ import annotations

import pytest

from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts import ExpertCard, ExpertRegistry
from tests.fakes import CARDS, KeywordEmbeddings, ephemeral_client


def _card(backend: str, **options) -> ExpertCard:
    return ExpertCard(name="local", description="a local model for anything", examples=["Hi?"],
                      backend=backend, options=options, source="local.yaml")


@pytest.mark.parametrize(("backend", "options", "message"), [
    ("gguf", {}, "needs options.model_path"),
    ("gguf", {"model_path": "/nowhere/model.gguf"}, "is not a .gguf file"),
    ("transformers", {"model_path": "/nowhere"}, "is not a folder"),
    ("transformers", {"model_path": "."}, None),
])
def test_model_path_is_checked_at_build(backend, options, message, tmp_path):
    build = lambda: ExpertRegistry([*CARDS, _card(backend, **options)],  # noqa: E731
                                   embeddings=KeywordEmbeddings(), client=ephemeral_client())
    if message is None:
        assert "local" in build().names
    else:
        with pytest.raises(ExpertCardError, match=f"local.yaml: .*{message}"):
            build()


def test_gguf_card_builds_a_llama_cpp_expert(tmp_path):
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    registry = ExpertRegistry([*CARDS, _card("gguf", model_path=str(model), max_new_tokens=7)],
                              embeddings=KeywordEmbeddings(), client=ephemeral_client())
    llm = registry.expert("local").chat_model
    assert type(llm).__name__ == "LlamaCppChatModel"
    assert llm.model_path == str(model) and llm.max_new_tokens == 7
    assert llm.weight_format is None  # a user's file is used as it is
