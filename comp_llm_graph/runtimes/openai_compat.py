"""Chat models on an OpenAI-compatible endpoint (vLLM, TGI, Ollama, llama.cpp's server, OpenAI).

`openai_chat_model(base_url, model)` is a LangChain `ChatOpenAI` for such a server; it can be the
planner or the aggregator of `build_graph`, and the `openai` expert backend builds one per card
from the card's `options` (validated by `OpenAIOptions`).

Needs the optional `langchain-openai` package: `pip install 'comp-llm-graph[openai]'`.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from comp_llm_graph.errors import ModelNotInstalledError

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "Endpoint",
    "INSTALL_HINT",
    "PLACEHOLDER_API_KEY",
    "OpenAIOptions",
    "langchain_openai_installed",
    "openai_chat_model",
]

DEFAULT_MAX_TOKENS = 256
"""Generation limit per call unless `max_tokens` says otherwise."""
PLACEHOLDER_API_KEY = "not-needed"
"""Sent when no key is configured: local servers ignore the key, but the client needs one."""
INSTALL_HINT = "pip install 'comp-llm-graph[openai]' (or: pip install langchain-openai)"
"""How to install the client."""


class Endpoint(BaseModel):
    """One replica of the served model (an entry of `OpenAIOptions.endpoints`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(pattern=r"^https?://\S+$")
    """The replica's API root, e.g. `http://10.0.0.2:8000/v1`."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Most calls in flight on this replica (None: no limit); more wait for a free replica."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds one call may take here before it is retried on another replica (None: the
    card's `timeout`)."""


class OpenAIOptions(BaseModel):
    """How to reach an OpenAI-compatible chat endpoint (an `openai` expert card's `options`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """The API root, e.g. `http://127.0.0.1:8000/v1` (vLLM) or `http://127.0.0.1:11434/v1`
    (Ollama). Give it, or `endpoints`."""
    endpoints: list[Endpoint] | None = Field(default=None, min_length=1)
    """Replicas of the same model instead of one `base_url`: calls go to the least busy, and a
    failed or timed-out call is retried on another (`comp_llm_graph.runtimes.replicas`)."""
    model: str = Field(min_length=1)
    """The model name the server serves, e.g. `Qwen/Qwen2.5-7B-Instruct`."""
    api_key_env: str | None = Field(default=None, min_length=1)
    """Environment variable holding the API key. Without it, or while it is unset, the key is
    `PLACEHOLDER_API_KEY`. No other variable is read: a key meant for one server is never sent
    to another."""
    max_tokens: int | None = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    """Most tokens generated per call (None: the server's default). Sent as `max_tokens`, the
    field every OpenAI-compatible server reads (vLLM also reads `max_completion_tokens`;
    Ollama and llama-cpp-python read only `max_tokens`)."""
    temperature: float | None = Field(default=0.0, ge=0.0, le=2.0)
    """Sampling temperature; 0 (the default) is greedy, as the local models are."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds to wait for one response."""
    max_retries: int = Field(default=2, ge=0)
    """Retries of a failed request (connection errors, 429, 5xx)."""

    @model_validator(mode="after")
    def _one_address(self) -> OpenAIOptions:
        if (self.base_url is None) == (self.endpoints is None):
            raise ValueError("give base_url (one server) or endpoints (replicas), not both")
        return self

    def api_key(self) -> str:
        """The key from `api_key_env`, or the placeholder if it is not configured or unset."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return key or PLACEHOLDER_API_KEY

    def chat_model(self) -> Any:
        """A `ChatOpenAI` on these settings, or a `ReplicaPool` of one per endpoint.

        Nothing is sent until the first call.

        Raises:
            ModelNotInstalledError: `langchain-openai` is not installed.
        """
        if self.endpoints:
            from comp_llm_graph.runtimes.replicas import ReplicaPool

            # Each replica tries once: the pool retries a failed call on another replica.
            return ReplicaPool(
                replicas=[self.model_copy(update={"base_url": e.base_url, "endpoints": None,
                                                  "max_retries": 0}).chat_model()
                          for e in self.endpoints],
                names=[e.base_url for e in self.endpoints],
                limits=[e.max_concurrency for e in self.endpoints],
                timeouts=[e.timeout or self.timeout for e in self.endpoints])
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise ModelNotInstalledError(
                f"OpenAI-compatible models need langchain-openai, which is not installed. "
                f"Run: {INSTALL_HINT}"
            ) from exc
        return ChatOpenAI(
            base_url=self.base_url,
            model=self.model,
            api_key=self.api_key(),
            temperature=self.temperature,
            # Not ChatOpenAI's own max_tokens: it is sent as max_completion_tokens, which
            # Ollama and llama-cpp-python ignore (they would generate without a limit).
            extra_body={"max_tokens": self.max_tokens} if self.max_tokens else None,
            timeout=self.timeout,
            max_retries=self.max_retries,
            use_responses_api=False,  # /v1/chat/completions: the endpoint every server has
            http_async_client=_async_client_without_idle_connections(),
        )


def _async_client_without_idle_connections() -> Any:
    """An async HTTP client for the openai SDK that keeps no idle connections.

    By default langchain-openai shares one pooled async client per base URL in the process. A
    pooled connection belongs to the event loop that opened it, so a later `asyncio.run` in the
    same process (a script answering one question at a time, an evaluation after a run, each
    test) fails on it with "Event loop is closed". Without idle connections every call opens
    its own, which is cheap next to a generation.
    """
    import openai

    # The SDK is built on httpx2 from openai 3 on, on httpx before; Limits must match it.
    major = int(openai.__version__.split(".", 1)[0])
    httpx = importlib.import_module("httpx2" if major >= 3 else "httpx")
    return openai.DefaultAsyncHttpxClient(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=0))


def langchain_openai_installed() -> bool:
    """Whether `langchain-openai` can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("langchain_openai") is not None
    except ValueError:  # in sys.modules without a spec
        return False


def openai_chat_model(base_url: str, model: str, **options: Any) -> Any:
    """A LangChain chat model on an OpenAI-compatible endpoint, e.g. as planner or aggregator.

    Args:
        base_url: The API root, e.g. `http://127.0.0.1:8000/v1`.
        model: The served model's name.
        **options: Other `OpenAIOptions` fields: `api_key_env`, `max_tokens`, `temperature`,
            `timeout`, `max_retries`.

    Raises:
        pydantic.ValidationError: an option is unknown or out of range (a `ValueError`).
        ModelNotInstalledError: `langchain-openai` is not installed.
    """
    return OpenAIOptions(base_url=base_url, model=model, **options).chat_model()
