"""Card files (experts/card_yaml.py): bounded size, alias expansion and nesting."""

from __future__ import annotations

import pytest

from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts import load_card
from comp_llm_graph.experts.card_yaml import MAX_CARD_BYTES


def _laughs(path, levels=9):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    path.write_text("\n".join([*lines, "name: laughs", f"description: *a{levels}",
                               "backend: smollm2"]) + "\n")
    return path


def test_a_billion_laughs_card_is_refused_with_its_expanded_size(tmp_path):
    with pytest.raises(ExpertCardError, match=r"aliases expand to 8,335,593,972 values"):
        load_card(_laughs(tmp_path / "laughs.yaml"))


def test_a_few_aliases_are_still_a_card(tmp_path):
    card = tmp_path / "ok.yaml"
    card.write_text("name: rivers\ndescription: &d Answers questions about rivers.\n"
                    "examples: [*d, 'Which river is longest?']\nbackend: smollm2\n")
    assert load_card(card).examples[0] == "Answers questions about rivers."


def test_a_card_over_the_size_bound_is_refused_before_parsing(tmp_path):
    card = tmp_path / "big.yaml"
    card.write_text("name: big\ndescription: " + "x" * MAX_CARD_BYTES + "\n")
    with pytest.raises(ExpertCardError, match="larger than 256 KiB"):
        load_card(card)


def test_a_card_nested_too_deeply_is_refused(tmp_path):
    card = tmp_path / "deep.yaml"
    card.write_text("[" * 20_000 + "]" * 20_000)
    with pytest.raises(ExpertCardError, match="nested too deeply"):
        load_card(card)
