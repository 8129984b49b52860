"""`ExpertRegistry`: its routing verbs, the router as its one routing attribute, the old names."""

from __future__ import annotations

import pytest

from comp_llm_graph import ExpertRegistry
from tests.fakes import CARDS, KeywordEmbeddings


def _registry(tmp_path) -> ExpertRegistry:
    return ExpertRegistry(CARDS, embeddings=KeywordEmbeddings(), persist_directory=tmp_path,
                          experts={}, router="similarity")


def test_index_cards_embeds_only_what_changed(tmp_path):
    assert _registry(tmp_path).index_cards() == {"embedded": len(CARDS), "reused": 0}
    again = _registry(tmp_path)
    assert again.index_cards() == {"embedded": 0, "reused": len(CARDS)}
    assert again.router.index.sync_stats == {"embedded": 0, "reused": len(CARDS)}


def test_the_router_is_the_one_routing_attribute(tmp_path):
    registry = _registry(tmp_path)
    assert (registry.router.requested, registry.router.method) == ("similarity", "similarity")
    assert registry.router.folder == tmp_path / "router"
    [route] = registry.route(["What is the capital city of Peru?"])
    assert route.expert == "geography" and route.method == "similarity"


@pytest.mark.parametrize(("old", "new"), [
    ("routing", lambda r: r.router), ("method", lambda r: r.router.method),
    ("router_key", lambda r: r.router.key), ("router_folder", lambda r: r.router.folder),
    ("sync_stats", lambda r: r.router.index.sync_stats),
])
def test_the_old_names_still_work_and_say_what_replaced_them(tmp_path, old, new):
    registry = _registry(tmp_path)
    registry.index_cards()
    with pytest.warns(DeprecationWarning, match=f"ExpertRegistry.{old} is now"):
        assert getattr(registry, old) == new(registry)


def test_the_old_sync_call_still_indexes(tmp_path):
    with pytest.warns(DeprecationWarning, match="ExpertRegistry.sync is now .*index_cards"):
        assert _registry(tmp_path).sync() == {"embedded": len(CARDS), "reused": 0}


def test_an_unknown_attribute_is_an_attribute_error(tmp_path):
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = _registry(tmp_path).nonsense
