"""Fitting the learned router on labelled questions, with out-of-fold accuracy and thresholds.

`fit_router` trains the head of `comp_llm_graph.experts.routing.learned.LearnedRouter` on router
features (`comp_llm_graph.experts.routing.features`). Each training question is seen twice, alone
and with its answer choices when it has them; routing reads the question alone. Accuracy is
estimated out of fold (each question scored by a head trained without it), and the per-expert
thresholds are tuned on those out-of-fold scores, so neither is measured on the data it came from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.routing.features import DEFAULT_MAX_LENGTH
from comp_llm_graph.experts.routing.learned import LearnedRouter
from comp_llm_graph.experts.routing.router import Router

__all__ = ["DEFAULT_C", "FitReport", "Labelled", "fit", "fit_router", "training_texts"]

DEFAULT_C = 8.0
"""Inverse regularisation of the logistic regression (tuned by 5-fold CV on MMLU dev+val)."""
BEFORE_BATCH = 256
"""Questions routed per call when scoring card similarity before a fit."""


@dataclass(frozen=True)
class Labelled:
    """A question and the expert it belongs to."""

    question: str
    expert: str
    source: str = ""
    """Where it came from (e.g. the MMLU subject, or file:line)."""
    topic: str = ""
    """A finer label inside the expert (the MMLU subject); the learned router predicts topics."""
    choices: tuple[str, ...] = ()
    """Answer choices of a multiple-choice question (extra training text for the router)."""


def training_texts(row: Labelled) -> list[str]:
    """The views of a labelled question the head is trained on: alone, and with its choices."""
    texts = [row.question]
    if row.choices:
        texts.append(row.question + "\n" + "\n".join(
            f"{chr(ord('A') + i)}. {choice}" for i, choice in enumerate(row.choices)))
    return texts



@dataclass
class FitReport:
    """What `fit_router` did and how well the router routes, before and after."""

    rows: int
    topics: int
    experts: list[str]
    before: float | None
    """Top-1 of the registry's routing before fitting, on the training questions."""
    after: float
    """Top-1 of the new router, out-of-fold (each question scored by a head that never saw it)."""
    after_top3: float
    folds: int
    thresholds: dict[str, float]
    seconds: float
    per_expert: dict[str, float] = field(default_factory=dict)
    """Out-of-fold recall per expert."""


def _softmax_head(classifier: Any, topics: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(coef, intercept) with one row per topic, also for a two-topic classifier."""
    coef, intercept = classifier.coef_, classifier.intercept_
    if len(topics) == 2 and coef.shape[0] == 1:  # sigmoid(z) == softmax([-z/2, z/2])
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef.astype(np.float32), intercept.astype(np.float32)


def _fit_head(features: np.ndarray, labels: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000).fit(features, labels)


def _tune_thresholds(probabilities: np.ndarray, gold: list[str], experts: list[str],
                     fallback: str) -> dict[str, float]:
    """Per expert, the threshold that routes the most out-of-fold questions right."""
    best = probabilities.argmax(axis=1)
    thresholds = {}
    for column, expert in enumerate(experts):
        rows = np.flatnonzero(best == column)
        if expert == fallback or not len(rows):
            thresholds[expert] = 0.0
            continue
        scores = probabilities[rows, column]
        right_here = np.array([gold[i] == expert for i in rows], dtype=int)
        right_fallback = np.array([gold[i] == fallback for i in rows], dtype=int)
        order = np.argsort(scores)
        # threshold just above the k lowest scores: those k go to the fallback
        gains = np.concatenate([[0], np.cumsum(right_fallback[order] - right_here[order])])
        k = int(np.argmax(gains))  # first maximum: the lowest threshold that does best
        ranked = scores[order]
        if k == 0:
            thresholds[expert] = 0.0
        elif k == len(rows):  # all of them fall back: just above the highest
            thresholds[expert] = float(np.nextafter(ranked[-1], np.inf))
        else:  # between the k-th and the (k+1)-th lowest
            thresholds[expert] = float((ranked[k - 1] + ranked[k]) / 2)
    return thresholds


def fit_router(rows: Sequence[Labelled], encoder: Callable[[Sequence[str]], np.ndarray], *,
               experts: Sequence[str], fallback: str, c: float = DEFAULT_C, folds: int = 5,
               seed: int = 0, max_length: int = DEFAULT_MAX_LENGTH,
               extra: Sequence[Labelled] = (),
               progress: Callable[[str], None] | None = None,
               ) -> tuple[LearnedRouter, FitReport, np.ndarray]:
    """Fit the head on labelled questions and estimate its accuracy out of fold.

    Args:
        rows: Labelled questions; `topic` (when set) is the fine label, else the expert.
        encoder: Features of a batch of texts (a `FeatureEncoder`).
        experts: The registry's experts; every label must be one of them.
        fallback: The fallback expert.
        c: Inverse regularisation strength.
        folds: Folds of the out-of-fold estimate and of threshold tuning (at least 2).
        seed: Seed of the folds.
        max_length: Tokens the encoder reads (recorded with the router).
        extra: More training rows that are not scored (e.g. the cards' own phrasings); they
            take part in the fit and in tuning the thresholds.
        progress: Called with a short description of each stage.

    Returns:
        The router (fitted on all rows), a report, and the question-only features of `rows`
        (for storing the examples in Chroma).

    Raises:
        CompLLMError: when labels name unknown experts or there are too few labels to fit.
    """
    started = time.perf_counter()
    experts = sorted(experts)
    scored = len(rows)
    rows = [*rows, *extra]
    unknown = sorted({row.expert for row in rows} - set(experts))
    if unknown:
        raise CompLLMError(f"labels name experts that are not in the registry: "
                           f"{', '.join(unknown[:10])}; add cards for them or relabel the data.")
    topics_of = [row.topic or row.expert for row in rows]
    topics = sorted(set(topics_of))
    if len(topics) < 2:
        raise CompLLMError("fitting a router needs questions of at least two experts or topics; "
                           f"got only {topics[0] if topics else 'none'}.")
    topic_expert: dict[str, str] = {}
    for topic, row in zip(topics_of, rows, strict=True):
        if topic_expert.setdefault(topic, row.expert) != row.expert:
            raise CompLLMError(f"topic {topic!r} is labelled with two experts "
                               f"({topic_expert[topic]} and {row.expert}); a topic needs one.")
    if not 2 <= folds <= len(rows):
        raise CompLLMError(f"folds must be between 2 and the number of questions; got {folds}")

    if progress:
        progress("features")
    # Every question is encoded in one or two *views* (alone, and with its answer choices);
    # `view_question[v]` is the question a view belongs to. A question's folds decide where all
    # of its views go, so no view of a held-out question is ever trained on.
    views = [training_texts(row) for row in rows]
    features = encoder([text for texts in views for text in texts])
    view_question = np.repeat(np.arange(len(rows)), [len(texts) for texts in views])
    first_view = np.concatenate([[0], np.cumsum([len(t) for t in views])[:-1]])
    question_only = features[first_view]  # what routing reads: the question alone
    labels = np.array([topics.index(topic) for topic in topics_of])
    view_labels = labels[view_question]

    if progress:
        progress("cross-validation")
    # A seeded permutation dealt round-robin: fold sizes differ by at most one question.
    question_fold = np.random.default_rng(seed).permutation(len(rows)) % folds
    view_fold = question_fold[view_question]
    out_of_fold = np.zeros((len(rows), len(experts)), np.float32)
    for fold in range(folds):
        train_views = view_fold != fold
        held_questions = question_fold == fold
        if not held_questions.any():
            continue
        if len(set(view_labels[train_views])) < 2:
            raise CompLLMError("too few questions for cross-validation; give more labelled "
                               "questions or fewer --folds.")
        head = _fit_head(features[train_views], view_labels[train_views], c)
        fold_topics = [topics[i] for i in head.classes_]
        coef, intercept = _softmax_head(head, fold_topics)
        fold_router = LearnedRouter(experts, fallback, fold_topics,
                                    [topic_expert[t] for t in fold_topics], coef, intercept, {})
        out_of_fold[held_questions] = fold_router.probabilities(question_only[held_questions])
    gold = [row.expert for row in rows]
    thresholds = _tune_thresholds(out_of_fold, gold, experts, fallback)

    if progress:
        progress("final fit")
    head = _fit_head(features, view_labels, c)
    fitted_topics = [topics[i] for i in head.classes_]
    coef, intercept = _softmax_head(head, fitted_topics)
    router = LearnedRouter(experts, fallback, fitted_topics,
                           [topic_expert[t] for t in fitted_topics], coef, intercept,
                           thresholds, max_length)

    # The report scores the caller's rows only (the first `scored`); `extra` rows were trained on.
    best = out_of_fold[:scored].argmax(axis=1)
    decided = [fallback if out_of_fold[i, b] < thresholds[experts[b]] else experts[b]
               for i, b in enumerate(best)]
    ranked = np.argsort(-out_of_fold[:scored], axis=1)[:, :3]
    gold = gold[:scored]
    per_expert = {}
    for expert in sorted(set(gold)):
        mine = [i for i, g in enumerate(gold) if g == expert]
        per_expert[expert] = round(sum(decided[i] == expert for i in mine) / len(mine), 4)
    report = FitReport(
        rows=scored, topics=len(topics), experts=experts, before=None,
        after=round(float(np.mean([d == g for d, g in zip(decided, gold, strict=True)])), 4),
        after_top3=round(float(np.mean([experts.index(g) in ranked[i]
                                        for i, g in enumerate(gold)])), 4),
        folds=folds, thresholds=thresholds, seconds=round(time.perf_counter() - started, 1),
        per_expert=per_expert)
    router.info = {"rows": scored, "extra_rows": len(rows) - scored, "topics": len(topics),
                   "folds": folds, "c": c, "out_of_fold_top1": report.after,
                   "out_of_fold_top3": report.after_top3,
                   "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return router, report, question_only[:scored]


def fit(router: Router, rows: Sequence[Labelled], *, folds: int = 5, seed: int = 0,
        encoder: Any = None, progress: Callable[[str], None] | None = None,
        trained_on: str = "", cards: bool = True) -> FitReport:
    """Fit `router`'s learned router on labelled questions and keep it (and the examples).

    Scores the router's card similarity on the same questions first (the report's `before`),
    fits the head with out-of-fold accuracy and thresholds (`after`), stores the questions in
    Chroma for `examples` routing and `route --explain`, then saves the router beside the index
    (last, so a failed fit leaves the previous router in place).

    Args:
        router: The registry's router (its cards, index and fitted-router store).
        rows: Labelled questions; every label must name one of the router's experts.
        folds: Folds of the out-of-fold estimate.
        seed: Seed of the folds.
        encoder: Features of a batch of texts (default: the router's `FeatureEncoder`).
        progress: Called with the name of each stage.
        trained_on: What the rows are (recorded with the router).
        cards: Also train on each card's description and examples (topic `card:<name>`), so
            the router knows the everyday phrasings the cards show, and the fallback card's
            examples teach the thresholds when to fall back. Not scored.
    """
    from comp_llm_graph.experts.routing.features import FeatureEncoder

    if not rows:
        raise CompLLMError("no labelled questions to fit on.")
    unknown = sorted({row.expert for row in rows} - set(router.cards))
    if unknown:
        raise CompLLMError(
            f"labels name experts that are not in the registry: {', '.join(unknown[:10])}; "
            "add cards for them (--experts DIR) or relabel the data.")
    encoder = encoder or router.given_encoder or FeatureEncoder(router.folder)
    if progress:
        progress("routing before (similarity to the cards)")
    before = [route.expert for start in range(0, len(rows), BEFORE_BATCH) for route in
              router.index.route([row.question for row in rows[start:start + BEFORE_BATCH]], 1,
                                 threshold=router.threshold, fallback=router.fallback)]
    extra = [Labelled(text, card.name, card.source or card.name, f"card:{card.name}")
             for card in router.cards.values() for text in card.routing_texts()] if cards else []
    learned, report, features = fit_router(
        rows, encoder, experts=sorted(router.cards), fallback=router.fallback, folds=folds,
        seed=seed, max_length=getattr(encoder, "max_length", 32), extra=extra,
        progress=progress)
    report.before = round(sum(b == row.expert for b, row in zip(before, rows, strict=True))
                          / len(rows), 4)
    learned.info["before_top1"] = report.before
    learned.info["before_method"] = "similarity"
    learned.info["trained_on"] = trained_on
    learned.info["card_phrasings"] = cards
    if progress:
        progress("storing")
    router.examples.replace([row.question for row in rows], [row.expert for row in rows],
                            [row.topic or row.expert for row in rows], features)
    router.fitted.save(learned)  # after the examples: all or nothing
    return report
