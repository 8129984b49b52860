"""Greedy decoding on transformers weights: batched rows that leave when done, or constrained.

`generate_batch` decodes several prompts together (left padding, one KV cache); a row leaves the
batch and the cache as soon as it ends, which is what makes batching pay for answers of uneven
length. A grammar-constrained call runs alone through `generate` with an xgrammar logits
processor.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from comp_llm_graph.planning.grammar import cut_at_repeat

__all__ = ["generate_batch"]


@lru_cache(maxsize=8)
def _compiled_grammar(tokenizer: Any, vocab_size: int, grammar: str) -> Any:
    import xgrammar

    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
    return xgrammar.GrammarCompiler(info).compile_grammar(grammar)


def generate_batch(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: list[int],
                   grammar: str | None = None,
                   stop_on_repeat: bool = False) -> list[tuple[str, int, int]]:
    """Greedy completions of several prompts, decoded together (left padding, one KV cache).

    A row leaves the batch as soon as it ends (end-of-sequence or its own `max_new_tokens`), so
    a short answer does not keep the batch at full width while a long one finishes. A
    constrained call (`grammar`, one prompt) runs through `generate` with an xgrammar logits
    processor; with `stop_on_repeat` it stops at the first repeated plan sub-question.

    Returns:
        `(text, prompt_tokens, output_tokens)` per prompt.
    """
    import torch

    eos = model.generation_config.eos_token_id
    stop_ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id,
                                                               tokenizer.pad_token_id}
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    prompt_tokens = [int(m.sum()) for m in encoded["attention_mask"]]
    with torch.inference_mode():
        if grammar is not None:
            rows = [_generate_constrained(model, tokenizer, encoded, max_new_tokens, grammar,
                                          stop_on_repeat)]
        else:
            rows = _decode_greedy(model, encoded, max_new_tokens, stop_ids)
    results = []
    for tokens, count in zip(rows, prompt_tokens, strict=True):
        for i, token in enumerate(tokens):
            if token in stop_ids:
                tokens = tokens[:i]
                break
        results.append((tokenizer.decode(tokens, skip_special_tokens=True), count, len(tokens)))
    return results


def _generate_constrained(model: Any, tokenizer: Any, encoded: Any, max_new_tokens: list[int],
                          grammar: str, stop_on_repeat: bool) -> list[int]:
    import torch
    from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList
    from xgrammar.contrib.hf import LogitsProcessor

    if len(max_new_tokens) != 1:
        raise ValueError("constrained decoding runs one prompt at a time")
    width = encoded["input_ids"].shape[1]

    class _RepeatStop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            text = tokenizer.decode(input_ids[0, width:], skip_special_tokens=True)
            done = text.endswith(('"', "\n")) and cut_at_repeat(text) is not None
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool)

    compiled = _compiled_grammar(tokenizer, model.config.vocab_size, grammar)
    output = model.generate(
        **encoded, max_new_tokens=max_new_tokens[0], do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        logits_processor=LogitsProcessorList([LogitsProcessor(compiled)]),
        stopping_criteria=StoppingCriteriaList([_RepeatStop()] if stop_on_repeat else []))
    return output[0, width:].tolist()


def _decode_greedy(model: Any, encoded: Any, max_new_tokens: list[int],
                   stop_ids: set[int]) -> list[list[int]]:
    """Greedy decoding that drops finished rows from the batch and the KV cache."""
    import torch
    from transformers import DynamicCache

    mask = encoded["attention_mask"]
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
    cache = DynamicCache()
    # transformers renamed `past_key_values` to `cache` (the old name warns from 5.2x on).
    cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else (
        "past_key_values")
    logits = model(input_ids=encoded["input_ids"], attention_mask=mask, position_ids=positions,
                   use_cache=True, logits_to_keep=1, **{cache_arg: cache}).logits[:, -1, :]
    outputs: list[list[int]] = [[] for _ in max_new_tokens]
    active = list(range(len(max_new_tokens)))
    while True:
        chosen = logits.argmax(-1).tolist()
        keep = []
        for position, (row, token) in enumerate(zip(active, chosen, strict=True)):
            if token in stop_ids:
                continue
            outputs[row].append(token)
            if len(outputs[row]) < max_new_tokens[row]:
                keep.append(position)
        if not keep:
            return outputs
        if len(keep) < len(active):
            index = torch.tensor(keep)
            cache.batch_select_indices(index)
            mask = mask[index]
            active = [active[i] for i in keep]
            chosen = [chosen[i] for i in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        step_positions = mask.long().sum(-1, keepdim=True) - 1
        logits = model(input_ids=torch.tensor(chosen)[:, None], attention_mask=mask,
                       position_ids=step_positions, use_cache=True, logits_to_keep=1,
                       **{cache_arg: cache}).logits[:, -1, :]


