"""Expert cards: the default pack, user folders, and clear errors for malformed cards."""

from __future__ import annotations

from pathlib import Path

import pytest

from comp_llm_graph import ExpertCard
from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts import DEFAULT_PACK, ExpertRegistry, load_card, load_cards
from tests.fakes import KeywordEmbeddings

REQUIRED_DOMAINS = {"math", "physics", "chemistry", "biology", "health", "computer_science", "law",
                    "history", "economics", "geography", "philosophy", "generalist"}


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_default_pack_covers_the_domains_and_has_a_tool_expert():
    cards = {c.name: c for c in load_cards(DEFAULT_PACK)}
    assert REQUIRED_DOMAINS <= set(cards)
    assert cards["math"].backend == "program" and cards["math"].model == "qwen2.5-coder-1.5b"
    assert all(len(c.examples) >= 5 for c in cards.values())


def test_user_folder_adds_and_overrides(tmp_path):
    write(tmp_path, "astro.yaml", "name: astronomy\ndescription: Stars, planets and galaxies.\n"
          "examples: ['What is a star?']\nbackend: smollm2\n")
    write(tmp_path, "law.yml", "name: law\ndescription: Contract law in Scotland only.\n"
          "examples: ['Is this contract valid in Scotland?']\nbackend: smollm2\n")
    registry = ExpertRegistry.from_folders([tmp_path], embeddings=KeywordEmbeddings())
    assert "astronomy" in registry.names
    assert registry.cards["law"].description == "Contract law in Scotland only."
    assert REQUIRED_DOMAINS <= set(registry.names)


@pytest.mark.parametrize(("text", "message"), [
    ("- just\n- a list\n", "is a YAML mapping"),
    ("name: ok_name\n", "description: Field required"),
    ("name: x\ndescription: Long enough text.\nexamples: ['a']\nbackend: smollm2\ncolour: red\n",
     "colour: Extra inputs are not permitted"),
    ("name: Bad Name\ndescription: Long enough text.\nexamples: ['a']\nbackend: smollm2\n",
     "name: String should match pattern"),
    ("name: x\ndescription: Long enough text.\nexamples: ['  ']\nbackend: smollm2\n",
     "blank"),
    ("name: [unclosed\n", "not valid YAML"),
])
def test_malformed_card_names_the_file_and_the_problem(tmp_path, text, message):
    path = write(tmp_path, "card.yaml", text)
    with pytest.raises(ExpertCardError) as info:
        load_card(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_empty_or_missing_folder_and_duplicate_names(tmp_path):
    with pytest.raises(ExpertCardError, match="not found"):
        load_cards(tmp_path / "nope")
    with pytest.raises(ExpertCardError, match="no expert cards"):
        load_cards(tmp_path)
    body = "description: Long enough text.\nexamples: ['a']\nbackend: smollm2\n"
    write(tmp_path, "a.yaml", "name: same\n" + body)
    write(tmp_path, "b.yaml", "name: same\n" + body)
    with pytest.raises(ExpertCardError, match="already used by"):
        load_cards(tmp_path)


def test_card_max_concurrency_must_be_positive():
    with pytest.raises(ValueError, match="max_concurrency"):
        ExpertCard(name="x", description="a long enough description", examples=["e"],
                   backend="smollm2", max_concurrency=0)


@pytest.mark.parametrize("timeout", [".inf", ".nan", "0", "3600"])
def test_a_sympy_timeout_that_is_not_a_bounded_number_is_a_card_error(tmp_path, timeout):
    card = tmp_path / "m.yaml"
    card.write_text(f"name: m\ndescription: arithmetic\nexamples: ['What is 2+2?']\n"
                    f"backend: sympy\n"
                    f"options: {{sympy_timeout: {timeout}}}\n")
    from comp_llm_graph.experts import ExpertRegistry
    from tests.fakes import KeywordEmbeddings

    with pytest.raises(ExpertCardError, match="sympy_timeout must be a number of seconds"):
        ExpertRegistry.from_folders([tmp_path], embeddings=KeywordEmbeddings(),
                                    persist_directory=tmp_path / "index")
