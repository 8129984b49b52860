"""Capability vectors (experts/routing/capabilities.py): the cards' capability embeddings in Chroma."""

from __future__ import annotations


def test_capability_embeddings_in_chroma_give_the_heads_logits():
    import numpy as np

    from comp_llm_graph.experts.routing.capabilities import CapabilityIndex
    from comp_llm_graph.experts.routing.chroma import ChromaStore
    from comp_llm_graph.experts.routing.learned import LearnedRouter
    from tests.fakes import ephemeral_client

    rng = np.random.default_rng(0)
    router = LearnedRouter(experts=["a", "b"], fallback="a", topics=["t1", "t2", "t3"],
                           topic_experts=["a", "b", "b"], coef=rng.normal(size=(3, 8)),
                           intercept=rng.normal(size=3), thresholds={})
    index = CapabilityIndex(ChromaStore(None, ephemeral_client()), "caps_unit_test")
    features = rng.normal(size=(5, 8)).astype(np.float32)
    logits = index.logits(router, features)
    assert np.allclose(logits, features @ router.coef.T + router.intercept, atol=1e-4)
    assert np.allclose(router.probabilities(features, logits), router.probabilities(features),
                       atol=1e-5)
    import dataclasses

    refit = dataclasses.replace(router, coef=-router.coef)  # a new fit rewrites the vectors
    assert np.allclose(index.logits(refit, features), features @ -router.coef.T
                       + router.intercept, atol=1e-4)
