"""The shipped learned router decides through its capability embeddings in Chroma."""

from __future__ import annotations

import numpy as np
import pytest

from comp_llm_graph.experts import ExpertRegistry
from comp_llm_graph.experts.routing.learned import route_learned
from tests.real.test_pipeline import LABELLED

pytestmark = pytest.mark.real


def test_chroma_inner_products_give_the_learned_routers_decisions(tmp_path):
    registry = ExpertRegistry.from_folders(persist_directory=tmp_path)
    router = registry.router
    learned = router.learned_router()
    assert learned is not None and router.method == "learned"
    questions = [q for q, _ in LABELLED] + ["What is 15% of 240?", "Who wrote Hamlet?"]
    features = router.encoder()(questions)
    via_chroma = registry.route(questions)
    direct = route_learned(questions, features, learned, router.fallback, 3)
    assert [r.expert for r in via_chroma] == [r.expert for r in direct]
    assert [r.score for r in via_chroma] == pytest.approx([r.score for r in direct], abs=1e-3)
    logits = router.capabilities.logits(learned, features)
    assert np.allclose(logits, features @ learned.coef.T + learned.intercept, atol=1e-3)
    collection = router.store.collection(router.capabilities.name, create=False)
    assert collection.metadata["hnsw:space"] == "ip"
    assert collection.count() == len(learned.topics)
