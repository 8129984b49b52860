"""The learned router: a logistic-regression head over router features, saved per set of cards.

The head predicts fine topics (MMLU subjects, or the experts themselves when the data has no
topics); a topic's probability goes to its expert, so an expert's score is the summed probability
of its topics. A question whose best expert scores below that expert's threshold goes to the
fallback expert. `comp_llm_graph.experts.training.fit_router` fits it.

A router is saved under a key naming exactly the cards it was fitted for (`router_key`): adding,
removing or editing a card gives another key, and the old router no longer applies.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.routing.decision import Route
from comp_llm_graph.experts.routing.features import DEFAULT_MAX_LENGTH

__all__ = ["FORMAT_VERSION", "FittedRouters", "LearnedRouter", "route_learned", "router_key"]

FORMAT_VERSION = 1
"""Version of the saved router files."""


def router_key(fingerprints: Mapping[str, str], fallback: str) -> str:
    """Names the fitted router of one set of cards (expert name -> card fingerprint).

    A router fits only the experts, and the card texts, it was trained with: adding, removing or
    editing a card gives another key, and the old router no longer applies.
    """
    text = json.dumps([sorted(fingerprints.items()), fallback])
    return hashlib.sha256(text.encode()).hexdigest()[:12]



@dataclass
class LearnedRouter:
    """A fitted head: topic probabilities from features, summed per expert; thresholds."""

    experts: list[str]
    """The experts it routes to, in column order."""
    fallback: str
    """Where a question below its expert's threshold goes."""
    topics: list[str]
    """Fine labels the head predicts (MMLU subjects, or the expert names)."""
    topic_experts: list[str]
    """The expert of each topic."""
    coef: np.ndarray
    intercept: np.ndarray
    thresholds: dict[str, float]
    max_length: int = DEFAULT_MAX_LENGTH
    info: dict[str, Any] = field(default_factory=dict)
    """What it was trained on and how it scored (written by `fit_router`)."""

    def __post_init__(self) -> None:
        column = {name: i for i, name in enumerate(self.experts)}
        self._topic_to_expert = np.zeros((len(self.topics), len(self.experts)), np.float32)
        for row, expert in enumerate(self.topic_experts):
            self._topic_to_expert[row, column[expert]] = 1.0

    def probabilities(self, features: np.ndarray, logits: np.ndarray | None = None) -> np.ndarray:
        """Per-expert probabilities, shape (questions, experts); rows sum to 1.

        `logits`: the topics' logits when computed elsewhere (by Chroma, `CapabilityIndex`).
        """
        if logits is None:
            logits = features @ self.coef.T + self.intercept
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return (exp / exp.sum(axis=1, keepdims=True)) @ self._topic_to_expert

    def decide(self, probabilities: np.ndarray) -> list[tuple[int, bool]]:
        """(best expert column, below its threshold) per question."""
        best = probabilities.argmax(axis=1)
        return [(int(b), bool(probabilities[i, b] < self.thresholds.get(self.experts[b], 0.0)))
                for i, b in enumerate(best)]

    def save(self, folder: Path, key: str) -> Path:
        """Write `<key>.npz` (weights) and `<key>.json` (everything else) into `folder`.

        Each file is written under a temporary name and renamed, so a reader (or an interrupted
        fit) never sees half a file.
        """
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT_VERSION, "key": key, "experts": self.experts,
                "fallback": self.fallback, "topics": self.topics,
                "topic_experts": self.topic_experts, "thresholds": self.thresholds,
                "max_length": self.max_length, "info": self.info}
        weights, staging = folder / f"{key}.npz", folder / f".{key}.staging.npz"
        np.savez(staging, coef=self.coef, intercept=self.intercept)
        os.replace(staging, weights)
        meta_path, staging = folder / f"{key}.json", folder / f".{key}.staging.json"
        staging.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        os.replace(staging, meta_path)
        return meta_path

    @classmethod
    def load(cls, folder: Path, key: str) -> LearnedRouter | None:
        """The router saved under `key` in `folder`, or None if there is none.

        Raises:
            CompLLMError: the files exist but cannot be read (naming them and what to do).
        """
        meta_path, weights_path = folder / f"{key}.json", folder / f"{key}.npz"
        if not meta_path.is_file() or not weights_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT_VERSION:
                return None
            with np.load(weights_path) as weights:
                coef, intercept = weights["coef"], weights["intercept"]
            if not coef.shape[0] == intercept.shape[0] == len(meta["topics"]):
                raise ValueError("weights and topics disagree")
            return cls(experts=meta["experts"], fallback=meta["fallback"],
                       topics=meta["topics"], topic_experts=meta["topic_experts"], coef=coef,
                       intercept=intercept, thresholds=meta["thresholds"],
                       max_length=meta["max_length"], info=meta.get("info", {}))
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise CompLLMError(
                f"{meta_path}: cannot read the fitted router ({type(exc).__name__}: {exc}); "
                f"delete {meta_path.name} and {weights_path.name} and run `comp-llm experts fit` "
                "again.") from exc




class FittedRouters:
    """The learned router of one set of cards: the user's fit first, then the package's.

    Looked up once (on first use) and kept; `save` replaces it with a new fit.
    """

    def __init__(self, folders: Sequence[Path], key: str):
        """Look in `folders` in order (the first is where `save` writes) under `key`."""
        self.folders = list(folders)
        self.key = key
        self._router: LearnedRouter | None = None
        self._looked = False
        self._lock = threading.Lock()

    def get(self) -> LearnedRouter | None:
        """The fitted router, or None when none was fitted for these cards."""
        with self._lock:
            if not self._looked:
                self._router = next((router for folder in self.folders
                                     if (router := LearnedRouter.load(folder, self.key))), None)
                self._looked = True
            return self._router

    def fitted_for(self) -> list[tuple[list[str], str, Path, str]]:
        """(experts, fallback, folder, key) of every router saved in the folders."""
        found = []
        for folder in self.folders:
            for meta_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                try:
                    meta = json.loads(meta_path.read_text(encoding="utf-8"))
                    found.append((list(meta["experts"]), str(meta["fallback"]), folder,
                                  str(meta["key"])))
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # not a router's file, or one `load` reports when it is used
        return found

    def save(self, router: LearnedRouter) -> None:
        """Keep `router` in the first folder and use it from now on."""
        router.save(self.folders[0], self.key)
        with self._lock:
            self._router, self._looked = router, True


def route_learned(questions: Sequence[str], features: np.ndarray, learned: LearnedRouter,
                  fallback: str, top_k: int, logits: np.ndarray | None = None) -> list[Route]:
    """Each question to its most probable expert, or to `fallback` below that one's threshold.

    `logits`: the topics' logits as Chroma computed them (`CapabilityIndex`), else numpy's.
    """
    probabilities = learned.probabilities(features, logits)
    routes = []
    for question, row, (best, below) in zip(
            questions, probabilities, learned.decide(probabilities), strict=True):
        ranked = row.argsort()[::-1][:top_k]
        top = learned.experts[best]
        routes.append(Route(
            question=question, expert=fallback if below else top,
            score=round(float(row[best]), 4),
            candidates=[(learned.experts[i], round(float(row[i]), 4)) for i in ranked],
            fallback=below, method="learned", threshold=learned.thresholds.get(top, 0.0)))
    return routes
