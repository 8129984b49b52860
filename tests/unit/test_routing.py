"""Routing through a real Chroma store (in memory and on disk) with a keyword embedding."""

from __future__ import annotations

import pytest

from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts import ExpertRegistry
from tests.fakes import CARDS, KeywordEmbeddings, card, fake_registry


def test_routes_in_one_embedding_batch(keyword_embeddings):
    registry = fake_registry(embeddings=keyword_embeddings)
    routes = registry.route(["What is the capital of Chile?", "What is 5 plus 6?",
                             "When did the empire fall apart?", "Capital city of Peru?"])
    assert [r.expert for r in routes] == ["geography", "math", "history", "geography"]
    # one call for the cards, one for all four questions
    assert keyword_embeddings.calls[-1] == 4
    assert len(keyword_embeddings.calls) == 2


def test_candidates_are_best_first_and_scored(keyword_embeddings):
    route = fake_registry(embeddings=keyword_embeddings).route(["capital of Peru"], top_k=3)[0]
    assert len(route.candidates) == 3
    scores = [s for _, s in route.candidates]
    assert scores == sorted(scores, reverse=True)
    assert route.score == scores[0] and 0 < route.score <= 1


def test_below_threshold_uses_fallback():
    route = fake_registry(threshold=0.9).route(["capital of Peru today"])[0]
    assert route.fallback and route.expert == "generalist"
    assert route.candidates[0][0] == "geography"


def test_persistent_index_reembeds_only_changed_cards(tmp_path):
    first = KeywordEmbeddings()
    ExpertRegistry(CARDS, embeddings=first, persist_directory=tmp_path, experts={}).index_cards()
    assert first.calls == [sum(len(c.routing_texts()) for c in CARDS)]

    again = KeywordEmbeddings()
    registry = ExpertRegistry(CARDS, embeddings=again, persist_directory=tmp_path)
    assert registry.index_cards() == {"embedded": 0, "reused": len(CARDS)}
    assert again.calls == []

    changed = [*CARDS[:-1], card("generalist", "general knowledge trivia and culture",
                                 ["Tell me a fact.", "Who sings it?"])]
    third = KeywordEmbeddings()
    registry = ExpertRegistry(changed, embeddings=third, persist_directory=tmp_path)
    assert registry.index_cards() == {"embedded": 1, "reused": len(CARDS) - 1}
    assert third.calls == [3]
    # the old texts of the changed card are gone
    assert registry.route(["general knowledge anything else"])[0].candidates[0][1] < 0.99


def test_registry_only_routes_to_its_own_cards(tmp_path):
    """Two registries sharing a store do not see each other's experts."""
    ExpertRegistry([*CARDS, card("astronomy", "stars planets galaxies", ["What is a star?"])],
                   embeddings=KeywordEmbeddings(), persist_directory=tmp_path).index_cards()
    registry = ExpertRegistry(CARDS, embeddings=KeywordEmbeddings(), persist_directory=tmp_path)
    route = registry.route(["What is a star? stars planets galaxies"])[0]
    assert "astronomy" not in [name for name, _ in route.candidates]


def test_duplicate_names_and_missing_fallback_are_errors():
    with pytest.raises(ExpertCardError, match="already used"):
        ExpertRegistry([*CARDS, CARDS[0]], embeddings=KeywordEmbeddings())
    with pytest.raises(ExpertCardError, match="fallback expert 'generalist' is not among"):
        ExpertRegistry(CARDS[:2], embeddings=KeywordEmbeddings())


def test_unknown_backend_fails_at_registry_build():
    bad = card("astronomy", "stars planets galaxies", ["What is a star?"], backend="gpt9")
    with pytest.raises(ExpertCardError, match="unknown backend .gpt9.. Known backends: gguf, llamacpp, openai, program, smollm2, sympy, transformers"):
        ExpertRegistry([*CARDS, bad], embeddings=KeywordEmbeddings())


def test_a_route_during_the_first_sync_waits_for_it_instead_of_reading_an_empty_index():
    import threading
    import time

    class SlowFirstEmbedding(KeywordEmbeddings):
        def embed_documents(self, texts):
            if len(texts) > 1:  # the cards' texts, embedded by the first route's sync
                time.sleep(0.5)
            return super().embed_documents(texts)

    registry = fake_registry(embeddings=SlowFirstEmbedding())
    routes: list = []
    first = threading.Thread(target=lambda: routes.append(
        registry.route(["What is the capital of Peru?"])[0]))
    first.start()
    time.sleep(0.1)  # the first route is embedding the cards
    second = registry.route(["What is 3 plus 4?"])[0]
    first.join()
    assert second.expert == "math" and second.candidates
    assert routes[0].expert == "geography"


def test_a_card_added_to_the_pack_announces_the_change_of_router(tmp_path):
    import warnings

    from comp_llm_graph.experts import DEFAULT_PACK, load_card
    from comp_llm_graph.experts.routing.router import Router, RoutingChangedWarning

    pack = {path.stem: load_card(path) for path in sorted(DEFAULT_PACK.glob("*.yaml"))}
    astronomy = pack["physics"].model_copy(update={"name": "astronomy",
                                                   "description": "Stars and planets."})
    options = {"fallback": "generalist", "threshold": 0.2, "method": "auto",
               "persist_directory": tmp_path, "collection_name": "cards"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Router(pack, **options).method == "learned"  # the packaged fit: no warning
    without = {name: card for name, card in pack.items() if name != "law"}
    router = Router({**without, "astronomy": astronomy}, **options)  # a fitted card gone
    with pytest.warns(RoutingChangedWarning, match=r"added: astronomy; removed: law.*experts fit"):
        assert router.method == "similarity"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert router.method == "similarity"  # said once
