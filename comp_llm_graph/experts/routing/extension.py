"""A fitted learned router extended to cards added after its fit, instead of dropped whole.

A learned router is keyed by the exact set of cards it was fitted for (`learned.router_key`), so
one added card used to switch a whole pack back to similarity routing (docs/experts.md: the
pack's routing accuracy falls with it). When every card the router was fitted for is still
there, unchanged, the added cards join it as topics of their own: each card's capability vector
(`capabilities.py` stores the head's topics that way) is the direction of the mean features of
its routing texts (description and examples), scaled like the fitted topics' weights, with a
bias set so that the card's own texts score one logit above the best fitted topic on average.
The fitted topics and their thresholds are untouched; an added expert's threshold is the median
of theirs. It is an approximation of a fit, announced as such: `comp-llm experts fit` fits all
cards together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.experts.routing.learned import LearnedRouter

__all__ = ["MARGIN", "extended"]

MARGIN = 1.0
"""Logits by which an added card's own texts beat the best fitted topic, on average."""


def extended(router: LearnedRouter, added: Mapping[str, ExpertCard],
             encoder: Callable[[Sequence[str]], np.ndarray]) -> LearnedRouter:
    """`router` with one topic per added card (module docstring)."""
    coef, intercept = router.coef.astype(np.float64), router.intercept.astype(np.float64)
    scale = float(np.linalg.norm(coef, axis=1).mean())
    rows, biases = [], []
    for card in added.values():
        features = np.asarray(encoder(card.routing_texts()), np.float64)
        best_fitted = (features @ coef.T + intercept).max(axis=1)
        centroid = features.mean(axis=0)
        direction = centroid / (np.linalg.norm(centroid) or 1.0)
        projection = features @ direction
        rows.append(scale * direction)
        biases.append(float(best_fitted.mean() + MARGIN - scale * projection.mean()))
    names = list(added)
    threshold = float(np.median(list(router.thresholds.values()))) if router.thresholds else 0.0
    return LearnedRouter(
        experts=[*router.experts, *names], fallback=router.fallback,
        topics=[*router.topics, *(f"card:{name}" for name in names)],
        topic_experts=[*router.topic_experts, *names],
        coef=np.vstack([coef, np.array(rows)]).astype(router.coef.dtype),
        intercept=np.concatenate([intercept, biases]).astype(router.intercept.dtype),
        thresholds={**router.thresholds, **dict.fromkeys(names, threshold)},
        max_length=router.max_length,
        info={**router.info, "extended_with": names})
