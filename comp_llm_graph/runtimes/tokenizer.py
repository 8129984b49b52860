"""The tokenizer of a GGUF model, built from the vocabulary in its file (no model hub).

Scoring a continuation (`LlamaCppChatModel.score_continuations`) forces llama.cpp to generate
exactly its canonical tokens (a grammar of token ids); forcing the text instead would let the
sampler spell it in odd pieces ("B" "e" "rlin"), whose log-probabilities are not the model's
probability of the text. llama.cpp's bindings do not expose tokenization, so the tokenizer is
rebuilt here with `tokenizers` from the file's `tokenizer.ggml.*` metadata. Byte-level BPE
vocabularies (`tokenizer.ggml.model = gpt2`: SmolLM2, Llama 3, Qwen, GPT-2 style) are supported;
for others `gguf_tokenizer` returns None and callers use a method that needs no tokenizer.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path
from typing import Any

from comp_llm_graph.runtimes.gguf_file import gguf_vocabulary

__all__ = ["gguf_tokenizer"]


@functools.lru_cache(maxsize=8)
def gguf_tokenizer(path: str | Path) -> Any | None:
    """A `tokenizers.Tokenizer` for the GGUF file, or None for vocabularies it cannot rebuild.

    Takes about 0.3 s for SmolLM2's 49,152 tokens; kept per file.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    try:
        strings, tokens, merges = gguf_vocabulary(path)
    except (OSError, ValueError, struct.error):
        return None
    if strings.get("tokenizer.ggml.model") != "gpt2" or not tokens or not merges:
        return None
    vocab = {token: index for index, token in enumerate(tokens)}
    pairs = [tuple(merge.split(" ", 1)) for merge in merges if " " in merge]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer
