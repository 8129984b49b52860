"""The learned router: fitting, thresholds, saving, and the registry routing with it (fakes)."""

from __future__ import annotations

import numpy as np
import pytest

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.experts.routing.learned import LearnedRouter
from comp_llm_graph.experts.routing.router import RoutingChangedWarning
from comp_llm_graph.experts.training import Labelled, _tune_thresholds, fit_router, training_texts
from tests.fakes import CARDS, KeywordEmbeddings, card, fake_registry


class KeywordFeatures:
    """768 numbers per text from the keyword embedding (twice), like the MiniLM encoder's."""

    max_length = 32

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, texts):
        self.calls.append(len(texts))
        vectors = np.array([KeywordEmbeddings._vector(t) for t in texts], np.float32)
        vectors = np.concatenate([vectors, vectors[:, :128]], axis=1)  # 384
        return np.concatenate([vectors, vectors], axis=1) / np.sqrt(2)


ROWS = [
    *(Labelled(f"What is the capital city of country {c}?", "geography", topic="capitals")
      for c in "ABCDEFGH"),
    *(Labelled(f"Which river flows through region {c}?", "geography", topic="rivers")
      for c in "ABCDEF"),
    *(Labelled(f"What is {a} plus {a} times the sum?", "math") for a in range(8)),
    *(Labelled(f"When did empire {c} fall after the war?", "history") for c in "ABCDEFGH"),
]

ART = card("art", "paintings and painters", ["Who painted it?"])


def test_fit_learns_topics_and_routes_unseen_questions():
    """Topics are the head's classes; their probabilities add up to the expert's."""
    router, report, features = fit_router(ROWS, KeywordFeatures(), experts=[c.name for c in CARDS],
                                          fallback="generalist", folds=4)
    assert router.topics == ["capitals", "history", "math", "rivers"]
    assert features.shape == (len(ROWS), 768)
    questions = ["What is the capital city of country Z?", "What is 9 plus 9 times the sum?",
                 "Which river flows through region Q?"]
    probabilities = router.probabilities(KeywordFeatures()(questions))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    best = [router.experts[i] for i in probabilities.argmax(axis=1)]
    assert best == ["geography", "math", "geography"]
    assert report.after == 1.0 and report.before is None and report.rows == len(ROWS)
    assert set(report.per_expert) == {"geography", "math", "history"}


def test_choices_are_a_second_training_view():
    row = Labelled("Which is a prime?", "math", choices=("4", "6", "7", "9"))
    assert training_texts(row) == ["Which is a prime?", "Which is a prime?\nA. 4\nB. 6\nC. 7\nD. 9"]
    assert training_texts(Labelled("Which is a prime?", "math")) == ["Which is a prime?"]


def test_thresholds_send_unsure_questions_to_the_fallback():
    """Out-of-fold: math questions the router is unsure of were really generalist ones."""
    experts = ["generalist", "math"]
    probabilities = np.array([[0.1, 0.9], [0.2, 0.8], [0.45, 0.55], [0.4, 0.6], [0.3, 0.7]])
    gold = ["math", "math", "generalist", "generalist", "math"]
    thresholds = _tune_thresholds(probabilities, gold, experts, "generalist")
    assert thresholds == {"generalist": 0.0, "math": pytest.approx(0.65)}  # between 0.6 and 0.7
    # nothing labelled generalist: no reason to ever fall back
    assert _tune_thresholds(probabilities, ["math"] * 5, experts, "generalist")["math"] == 0.0


def test_saved_router_loads_only_for_the_same_experts(tmp_path):
    router, _, _ = fit_router(ROWS, KeywordFeatures(), experts=[c.name for c in CARDS],
                              fallback="generalist", folds=3)
    registry = fake_registry()
    router.save(tmp_path, registry.router.key)
    again = LearnedRouter.load(tmp_path, registry.router.key)
    features = KeywordFeatures()(["When did empire Q fall?"])
    assert np.allclose(again.probabilities(features), router.probabilities(features))
    edited = [*CARDS[:-1], card("generalist", "general knowledge, trivia and culture",
                                ["Tell me something."])]
    other_key = ExpertRegistry(edited, embeddings=KeywordEmbeddings(), experts={}).router.key
    assert other_key != registry.router.key  # an edited card: the router no longer applies
    assert LearnedRouter.load(tmp_path, other_key) is None


def test_a_damaged_router_file_is_a_clear_error(tmp_path):
    router, _, _ = fit_router(ROWS, KeywordFeatures(), experts=[c.name for c in CARDS],
                              fallback="generalist", folds=3)
    router.save(tmp_path, "k")
    (tmp_path / "k.npz").write_bytes(b"not a zip")
    with pytest.raises(CompLLMError, match="delete k.json and k.npz and run `comp-llm experts fit"):
        LearnedRouter.load(tmp_path, "k")


def test_registry_fit_switches_auto_routing_to_learned(tmp_path):
    features = KeywordFeatures()
    registry = fake_registry(encoder=features, persist_directory=tmp_path)
    assert registry.router.method == "similarity"
    report = registry.fit(ROWS, folds=4)
    assert registry.router.method == "learned"
    assert 0.0 <= report.before <= 1.0 and report.after == 1.0
    assert registry.router.learned_router().info["before_method"] == "similarity"
    routes = registry.route(["What is the capital city of country Q?", "What is 2 plus 2?"],
                            explain=True)
    assert [r.expert for r in routes] == ["geography", "math"]
    assert routes[0].method == "learned" and routes[0].candidates[0][0] == "geography"
    assert len(routes[0].examples) == 3 and routes[0].examples[0][1] == "geography"
    # a new registry over the same folder finds the saved router; one batch of features
    fresh_features = KeywordFeatures()
    fresh = ExpertRegistry(CARDS, encoder=fresh_features, persist_directory=tmp_path,
                           embeddings=KeywordEmbeddings(), experts={})
    assert fresh.router.method == "learned"
    fresh.route(["a", "b", "c", "d"])
    assert fresh_features.calls == [4]
    # a card added: the saved router is extended to it by its capability vector, and says so
    other = ExpertRegistry([*CARDS, ART],
                           encoder=features, persist_directory=tmp_path,
                           embeddings=KeywordEmbeddings(), experts={})
    with pytest.warns(RoutingChangedWarning, match="extended to them.*added: art"):
        assert other.router.method == "learned"
    assert other.router.learned_router().experts[-1] == "art"
    assert other.route(["Who painted the paintings of painters?"])[0].expert == "art"
    assert other.route(["What is the capital city of country C?"])[0].expert == "geography"
    # a fitted card gone: the saved router does not apply
    others = [c for c in CARDS if c.name != "history"]
    assert ExpertRegistry([*others, ART], encoder=features, persist_directory=tmp_path,
                          embeddings=KeywordEmbeddings(), experts={}).router.method == "similarity"
    with pytest.raises(CompLLMError, match="run `comp-llm experts fit"):
        ExpertRegistry([*others, ART],
                       encoder=features, persist_directory=tmp_path, router="learned",
                       embeddings=KeywordEmbeddings(), experts={}).route(["x"])


def test_examples_router_sums_the_nearest_labelled_questions(tmp_path):
    registry = fake_registry(encoder=KeywordFeatures(), persist_directory=tmp_path)
    registry.fit(ROWS, folds=4)
    examples = fake_registry(encoder=KeywordFeatures(), persist_directory=tmp_path,
                             client=registry.router.store.client, router="examples",
                             collection_name=registry.router.index.collection_name)
    route = examples.route(["When did empire Z fall after the war?"])[0]
    assert route.method == "examples" and route.expert == "history"
    assert route.score == pytest.approx(sum(s for _, s in route.candidates[:1]))
    assert route.score > 1.0  # five neighbours' similarities, summed


@pytest.mark.parametrize(("rows", "message"), [
    ([Labelled("q", "astronomy"), Labelled("r", "math")], "not in the registry: astronomy"),
    ([Labelled("q", "math"), Labelled("r", "math")], "at least two experts or topics"),
    ([Labelled("q", "math", topic="t"), Labelled("r", "history", topic="t"),
      Labelled("s", "history", topic="u")],
     "topic 't' is labelled with two experts"),
])
def test_bad_training_data_is_refused(rows, message):
    with pytest.raises(CompLLMError, match=message):
        fit_router(rows, KeywordFeatures(), experts=[c.name for c in CARDS],
                   fallback="generalist")
