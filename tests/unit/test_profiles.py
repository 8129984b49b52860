"""Expert profiles: the choosing rule, the saved file, and the registry applying it.

The rule is the paper's size reduction made explicit: the smallest model within a margin of the
best accuracy, optionally within a time budget. A card's own `model:` always wins.
"""

from __future__ import annotations

import json

import pytest

from comp_llm_graph.errors import CompLLMError, ExpertCardError
from comp_llm_graph.evaluation.profile import domain_items, profile_half, profile_markdown
from comp_llm_graph.experts import ExpertCard, ExpertRegistry
from comp_llm_graph.experts.profiles import choose, load_profile, save_profile
from tests.fakes import DATA, KeywordEmbeddings

CANDIDATES = {
    "smollm2-135m": {"accuracy": 0.30, "parameters_b": 0.135, "mean_s": 0.7},
    "qwen2.5-coder-0.5b": {"accuracy": 0.49, "parameters_b": 0.494, "mean_s": 2.0},
    "qwen2.5-coder-1.5b": {"accuracy": 0.50, "parameters_b": 1.54, "mean_s": 3.9},
}


def test_the_smallest_model_within_the_margin_is_chosen():
    assert choose(CANDIDATES, margin=0.02) == "qwen2.5-coder-0.5b"
    assert choose(CANDIDATES, margin=0.0) == "qwen2.5-coder-1.5b"
    assert choose(CANDIDATES, margin=0.25) == "smollm2-135m"


def test_a_budget_trades_accuracy_for_time():
    assert choose(CANDIDATES, margin=0.0, budget_s=2.5) == "qwen2.5-coder-0.5b"
    assert choose(CANDIDATES, margin=0.0, budget_s=0.1) == "smollm2-135m"  # none fits: fastest


def _registry(tmp_path, cards):
    return ExpertRegistry(cards, embeddings=KeywordEmbeddings(), persist_directory=tmp_path,
                          fallback=cards[0].name)


def _card(name, **extra):
    return ExpertCard(name=name, description=f"{name} questions and facts",
                      examples=[f"A question about {name}?"], **{"backend": "smollm2", **extra})


def test_the_registry_gives_the_profile_choice_to_cards_without_a_model(tmp_path):
    cards = [_card("generalist"), _card("coding", model="qwen2.5-coder-0.5b")]
    key = _registry(tmp_path, cards).router.key
    save_profile(tmp_path / "router", key, {"experts": {
        "generalist": {"chosen": "qwen2.5-coder-1.5b"},
        "coding": {"chosen": "smollm2-135m"}}})
    registry = _registry(tmp_path, cards)
    assert registry.cards["generalist"].model == "qwen2.5-coder-1.5b"
    assert registry.cards["coding"].model == "qwen2.5-coder-0.5b"  # the card's own wins
    assert registry.profiled == {"generalist": "qwen2.5-coder-1.5b"}


def test_expert_model_puts_every_model_expert_on_one_model(tmp_path):
    cards = [_card("generalist"), _card("coding", model="qwen2.5-coder-0.5b"),
             _card("arithmetic", backend="sympy")]
    registry = ExpertRegistry(cards, embeddings=KeywordEmbeddings(), persist_directory=tmp_path,
                              fallback="generalist", expert_model="qwen2.5-coder-1.5b")
    assert [registry.cards[n].model for n in ("generalist", "coding", "arithmetic")] == [
        "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b", None]
    with pytest.raises(ExpertCardError, match="not an instruct model"):
        ExpertRegistry(cards, embeddings=KeywordEmbeddings(), persist_directory=tmp_path,
                       fallback="generalist", expert_model="gemma3-270m")


def test_a_broken_or_unknown_profile_is_refused_with_what_to_do(tmp_path):
    folder = tmp_path / "router"
    save_profile(folder, "k", {"experts": {"a": {"chosen": "gpt-9"}}})
    with pytest.raises(CompLLMError, match="not in the catalogue"):
        load_profile([folder], "k")
    (folder / "k.profile.json").write_text("[1, 2]")
    with pytest.raises(CompLLMError, match="not an expert profile"):
        load_profile([folder], "k")
    assert load_profile([folder], "other") == {}


def test_domain_items_keep_profile_and_check_halves_apart():
    card = _card("physics")
    _, profile = domain_items(DATA, card, "generalist", per_expert=50, seed=0)
    _, check = domain_items(DATA, card, "generalist", per_expert=50, seed=0, half=False)
    assert len(profile) == len(check) == 50
    assert all(profile_half(i.question.split("\n")[0]) for i in profile)
    assert not {i.question for i in profile} & {i.question for i in check}
    assert all(i.gold in "ABCD" and "(D) " in i.question for i in profile)
    math = _card("math", backend="program")
    domain, problems = domain_items(DATA, math, "generalist", per_expert=5, seed=0)
    assert domain == "GSM8K train" and all(isinstance(p.gold, float) for p in problems)
    domain, _ = domain_items(DATA, math, "generalist", per_expert=5, seed=0, half=False)
    assert domain == "GSM8K test"


def test_profile_markdown_marks_the_choice():
    document = {"rule": "smallest", "margin": 0.02, "per_expert": 20, "seed": 0, "experts": {
        "physics": {"domain": "MMLU test", "candidates": CANDIDATES, "best": "qwen2.5-coder-1.5b",
                    "chosen": "qwen2.5-coder-0.5b"},
        "astronomy": {"skipped": "no labelled questions"}}}
    table = profile_markdown(document)
    assert "| physics | MMLU test | 0.30 (0.7 s) | 0.49 (2.0 s) | 0.50 (3.9 s) |" in table
    assert "**qwen2.5-coder-0.5b**" in table and "astronomy | skipped" in table
    json.dumps(document)


def test_named_profiles_choose_planner_aggregator_and_experts(tmp_path, monkeypatch):
    from comp_llm_graph.defaults import default_components

    monkeypatch.delenv("COMP_LLM_PROFILE", raising=False)
    fast = default_components(persist_directory=tmp_path)
    assert (fast["planner"].model, fast["aggregator"].model) == ("smollm2-135m", "smollm2-135m")
    assert fast["registry"].cards["biology"].model is None  # SmolLM2, the card's backend
    monkeypatch.setenv("COMP_LLM_PROFILE", "quality")
    quality = default_components(persist_directory=tmp_path)
    assert quality["planner"].model == quality["aggregator"].model == "qwen2.5-coder-1.5b"
    assert {card.model for card in quality["registry"].cards.values()
            if card.backend in ("smollm2", "program")} == {"qwen2.5-coder-1.5b"}
    mixed = default_components(persist_directory=tmp_path, profile="quality", planner="smollm2")
    assert mixed["planner"].model == "smollm2-135m"  # a named planner wins over the profile
    with pytest.raises(ValueError, match="unknown profile 'best'"):
        default_components(persist_directory=tmp_path, profile="best")
