"""llama.cpp's server inside the process: one loaded GGUF model serving parallel sequences.

`LlamaServer` wraps `xllamacpp.Server` (llama.cpp's C++ server, in-process): `chat` streams one
chat completion's text, `complete` returns one whole response (with token log-probabilities when
asked). `use_server` holds a loaded server in the process-wide `MODEL_POOL`, which loads it on
first use within the memory budget and unloads the least recently used; every server is closed
at interpreter exit. The LangChain chat model on top is `comp_llm_graph.runtimes.llamacpp`.
"""

from __future__ import annotations

import atexit
import functools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comp_llm_graph.errors import ModelNotInstalledError
from comp_llm_graph.runtimes.gguf_file import gguf_integers
from comp_llm_graph.runtimes.pool import MODEL_POOL

__all__ = ["CONTEXT_TOKENS", "LlamaServer", "ServerSettings", "use_server"]

CONTEXT_TOKENS = 8192
"""KV cache size shared by all parallel sequences of one model (a planner call needs ~700)."""


@dataclass(frozen=True)
class ServerSettings:
    """Which model to load and how: the GGUF file, parallel sequences, threads, KV size."""

    path: str
    slots: int
    threads: int
    context: int = CONTEXT_TOKENS


class LlamaServer:
    """One loaded GGUF model: llama.cpp's server with `slots` parallel sequences."""

    def __init__(self, settings: ServerSettings):
        """Load the model (about 0.2 s for the embedded SmolLM2)."""
        try:
            import xllamacpp
        except ImportError as exc:  # a broken install: it is a required dependency
            raise ModelNotInstalledError(
                "The llama.cpp engine needs xllamacpp: pip install xllamacpp") from exc
        params = xllamacpp.CommonParams()
        params.model.path = settings.path
        params.n_ctx = settings.context
        params.n_parallel = settings.slots
        params.kv_unified = True  # one KV cache for all slots: memory does not grow with them
        params.cpuparams.n_threads = settings.threads
        params.cpuparams_batch.n_threads = settings.threads
        params.verbosity = -1
        params.warmup = False
        # llama.cpp's server also listens on a random loopback port; nothing here uses it, so
        # it gets a key nobody knows (in-process calls do not go through HTTP).
        params.api_keys = [secrets.token_hex(16)]
        self.settings = settings
        self._server: Any = xllamacpp.Server(params)
        self._lock = threading.Lock()
        self._in_flight = 0

    def chat(self, request: dict[str, Any],
             on_delta: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """Run one chat completion, streaming its text to `on_delta` (True from it: stop).

        A request with a `prompt` instead of `messages` is a plain text completion (a base
        model given a few-shot prompt, `runtimes/completion_planner.py`).

        Returns:
            `text`, `finish_reason`, `usage` (prompt and completion tokens), `timings`, and
            `batch_size`: the most calls this model was generating at once during this one.
        """
        text: list[str] = []
        final: dict[str, Any] = {}
        with self._lock:
            self._in_flight += 1
            widest = [min(self._in_flight, self.settings.slots)]

        def on_chunk(chunk: Any) -> bool:  # calls beyond the slots wait in llama.cpp's queue
            widest[0] = max(widest[0], min(self._in_flight, self.settings.slots))
            if isinstance(chunk, dict) and "error" in chunk:
                final["error"] = chunk["error"]
                return True
            for choice in chunk.get("choices") or []:
                if choice.get("finish_reason"):
                    final["finish_reason"] = choice["finish_reason"]
                delta = choice.get("text") or (choice.get("delta") or {}).get("content")
                if delta:
                    text.append(delta)
                    if on_delta is not None and on_delta(delta):
                        final["finish_reason"] = "stopped"
                        return True
            if "usage" in chunk:
                final["usage"], final["timings"] = chunk["usage"], chunk.get("timings", {})
            return False

        try:
            handle = (self._server.handle_completions if "prompt" in request
                      else self._server.handle_chat_completions)
            result = handle({**request, "stream": True, "stream_options": {"include_usage": True}},
                            on_chunk)
        finally:
            with self._lock:
                self._in_flight -= 1
        if isinstance(result, dict) and "error" in result:
            final["error"] = result["error"]
        if "error" in final:
            error = final["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RuntimeError(f"llama.cpp: {message}")
        return {"text": "".join(text), "finish_reason": final.get("finish_reason"),
                "usage": final.get("usage", {}), "timings": final.get("timings", {}),
                "batch_size": widest[0]}

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one chat completion and return llama.cpp's whole response (OpenAI's shape).

        Raises:
            RuntimeError: llama.cpp reported an error.
        """
        chunks: list[Any] = []
        result = self._server.handle_chat_completions(
            {**request, "stream": False}, lambda chunk: chunks.append(chunk) or False)
        response = result if result is not None else (chunks[-1] if chunks else {})
        if not isinstance(response, dict) or "error" in response or not response.get("choices"):
            error = response.get("error", response) if isinstance(response, dict) else response
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RuntimeError(f"llama.cpp: {message}")
        return response

    def close(self) -> None:
        """Free the model, its KV cache and its threads."""
        self._server = None


@functools.lru_cache(maxsize=32)
def _estimate_bytes(settings: ServerSettings) -> int:
    """Weights plus the f16 KV cache, from the file's metadata (to make room before loading).

    Kept per setting: reading the header takes about 40 ms (the vocabulary is skipped entry by
    entry), and every call asks.
    """
    meta = gguf_integers(settings.path)
    arch = next((k.split(".")[0] for k in meta if k.endswith(".block_count")), "llama")
    layers = meta.get(f"{arch}.block_count", 0)
    heads = max(meta.get(f"{arch}.attention.head_count", 1), 1)
    kv_heads = meta.get(f"{arch}.attention.head_count_kv", heads)
    head_dim = meta.get(f"{arch}.embedding_length", 0) // heads
    kv_bytes = settings.context * 2 * layers * kv_heads * head_dim * 2
    return Path(settings.path).stat().st_size + kv_bytes


def use_server(settings: ServerSettings) -> Any:
    """Hold the server of `settings` in the pool (loading it first if needed)."""
    return MODEL_POOL.use(("llama.cpp", settings), lambda: (LlamaServer(settings), None),
                          _estimate_bytes(settings))


@atexit.register
def _close_servers() -> None:
    MODEL_POOL.unload(lambda key: isinstance(key, tuple) and key[:1] == ("llama.cpp",))
