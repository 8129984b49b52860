"""Backends turn an expert card into a LangChain Runnable.

An expert is any Runnable that takes `{"question": str, "context": str}` and returns a string or
a chat message. Register your own with `register_backend("name", factory)`, where
`factory(card) -> Runnable`; cards then say `backend: name`. A backend may also register a
`check(card)` that rejects bad `options` when the registry is built, before any run.

Built in: `llamacpp` (a catalogue model on llama.cpp: `model: qwen2.5-coder-1.5b` in the card;
`smollm2` is the same backend, named for its default model), `gguf` (any GGUF file on llama.cpp:
`options: {model_path: FILE.gguf}`), `transformers` (a Hugging Face model folder:
`options: {model_path: FOLDER}`), `sympy` (exact arithmetic with an LLM fallback), `program`
(math as a program of thought written by the card's `model`, run by the bounded evaluator;
`experts/math_program.py`) and `openai`
(any OpenAI-compatible chat endpoint: vLLM, TGI, Ollama, llama.cpp's server), e.g.

```yaml
backend: openai
options: {base_url: http://127.0.0.1:8000/v1, model: Qwen/Qwen2.5-7B-Instruct,
          api_key_env: MY_SERVER_KEY, max_tokens: 256, temperature: 0}
```

or, for replicas of one model (the least busy answers; a failed call is retried on another):

```yaml
backend: openai
options:
  model: Qwen/Qwen2.5-7B-Instruct
  endpoints:
    - {base_url: http://10.0.0.1:8000/v1, max_concurrency: 8, timeout: 30}
    - {base_url: http://10.0.0.2:8000/v1, max_concurrency: 8, timeout: 30}
```

(`comp_llm_graph.runtimes.openai_compat.OpenAIOptions` lists the options; it needs
`pip install 'comp-llm-graph[openai]'`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import ValidationError

from comp_llm_graph.errors import ExpertCardError, ModelNotInstalledError
from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.experts.llm_expert import llm_expert
from comp_llm_graph.runtimes.openai_compat import (
    INSTALL_HINT,
    OpenAIOptions,
    langchain_openai_installed,
)

__all__ = [
    "BACKENDS",
    "BACKEND_CHECKS",
    "BackendCheck",
    "BackendFactory",
    "backend_factory",
    "build_expert",
    "llm_expert",
    "openai_options",
    "register_backend",
]

BackendFactory = Callable[[ExpertCard], Runnable]
BackendCheck = Callable[[ExpertCard], None]

DEFAULT_MAX_NEW_TOKENS = 96


def _llamacpp(card: ExpertCard) -> Runnable:
    """The card's catalogue model (`card.model`, SmolLM2 when it names none) on llama.cpp."""
    from comp_llm_graph.runtimes.llamacpp import local_chat_model

    return llm_expert(card, local_chat_model(card.model or "smollm2-135m",
                                             _max_new_tokens(card)))


def _max_new_tokens(card: ExpertCard) -> int:
    return int(card.options.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))


def _gguf(card: ExpertCard) -> Runnable:
    from comp_llm_graph.runtimes.llamacpp import LlamaCppChatModel

    return llm_expert(card, LlamaCppChatModel(
        model_path=str(card.options["model_path"]), max_new_tokens=_max_new_tokens(card),
        weight_format=card.options.get("weight_format")))


def _transformers(card: ExpertCard) -> Runnable:
    from comp_llm_graph.runtimes.local import LocalChatModel

    return llm_expert(card, LocalChatModel(model_path=str(card.options["model_path"]),
                                           max_new_tokens=_max_new_tokens(card)))


def _check_model_path(suffix: str | None) -> BackendCheck:
    """A check that `options.model_path` names an existing file (`suffix`) or folder (None)."""

    def check(card: ExpertCard) -> None:
        where = card.source or card.name
        path = card.options.get("model_path")
        if not isinstance(path, str) or not path:
            raise ExpertCardError(f"{where}: backend {card.backend} needs options.model_path "
                                  f"({'a ' + suffix + ' file' if suffix else 'a model folder'}).")
        found = Path(path).is_file() if suffix else Path(path).is_dir()
        if not found or (suffix and not path.endswith(suffix)):
            raise ExpertCardError(f"{where}: options.model_path {path!r} is not "
                                  f"{'a ' + suffix + ' file' if suffix else 'a folder'}.")
        try:
            tokens = _max_new_tokens(card)
        except (TypeError, ValueError):
            tokens = 0
        if tokens < 1:
            raise ExpertCardError(f"{where}: options.max_new_tokens must be a whole number >= 1.")

    return check


def _sympy(card: ExpertCard) -> Runnable:
    from comp_llm_graph.experts.math_tool import sympy_expert
    from comp_llm_graph.experts.math_worker import DEFAULT_TIMEOUT

    fallback_name = card.options.get("fallback_backend", "smollm2")
    fallback = None
    if fallback_name not in (None, "none"):
        fallback = backend_factory(fallback_name, card)(card)
    timeout = float(card.options.get("sympy_timeout", DEFAULT_TIMEOUT))
    return sympy_expert(fallback, timeout=timeout).with_config(run_name=f"expert:{card.name}")


MAX_SYMPY_TIMEOUT = 60
"""Longest sympy limit a card may set, in seconds (the math worker is one process per call)."""


def _check_sympy(card: ExpertCard) -> None:
    fallback_name = card.options.get("fallback_backend", "smollm2")
    timeout = card.options.get("sympy_timeout", 1.0)
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
            or not 0 < timeout <= MAX_SYMPY_TIMEOUT):  # also refuses .nan and .inf
        raise ExpertCardError(f"{card.source or card.name}: options.sympy_timeout must be a "
                              f"number of seconds above 0 and at most {MAX_SYMPY_TIMEOUT}; "
                              f"got {timeout!r}.")
    if not isinstance(fallback_name, str) and fallback_name is not None:
        raise ExpertCardError(f"{card.source or card.name}: options.fallback_backend must be a "
                              f"backend name (e.g. smollm2) or none; got {fallback_name!r}.")
    if fallback_name == "sympy":
        raise ExpertCardError(f"{card.source or card.name}: options.fallback_backend cannot be "
                              "sympy itself; name an LLM backend (e.g. smollm2) or none.")
    if fallback_name not in (None, "none"):
        backend_factory(fallback_name, card)  # the fallback's own check, on the card's options


PROGRAM_MODEL = "qwen2.5-coder-1.5b"
"""The model a `program` card without `model` writes its programs with (docs/models.md)."""


def _program(card: ExpertCard) -> Runnable:
    """A program of thought on the card's model; the same model in words when no program ran."""
    from comp_llm_graph.experts.math_program import PROGRAM_TIMEOUT, program_expert
    from comp_llm_graph.runtimes.llamacpp import local_chat_model

    name = card.model or PROGRAM_MODEL
    fallback = None
    if card.options.get("fallback", "model") == "model":
        fallback = llm_expert(card, local_chat_model(name, _max_new_tokens(card)))
    writer = local_chat_model(name, int(card.options.get("program_tokens", 320)))
    timeout = float(card.options.get("program_timeout", PROGRAM_TIMEOUT))
    return program_expert(writer, fallback=fallback, timeout=timeout).with_config(
        run_name=f"expert:{card.name}")


def _check_program(card: ExpertCard) -> None:
    where = card.source or card.name
    fallback = card.options.get("fallback", "model")
    if fallback not in ("model", "none"):
        raise ExpertCardError(f"{where}: options.fallback must be model (the card's model "
                              f"answers in words when no program ran) or none; got {fallback!r}.")
    for key, kind in (("program_timeout", (int, float)), ("program_tokens", (int,))):
        value = card.options.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
            raise ExpertCardError(f"{where}: options.{key} must be a number > 0; got {value!r}.")


def openai_options(card: ExpertCard) -> OpenAIOptions:
    """The card's `options` as `OpenAIOptions`.

    Raises:
        ExpertCardError: an option is missing, unknown or out of range (naming the file and it).
        ModelNotInstalledError: `langchain-openai` is not installed (naming the file).
    """
    where = card.source or card.name
    # A sympy card hands its options to its fallback backend; `fallback_backend` is sympy's own.
    options = {k: v for k, v in card.options.items()
               if k not in ("fallback_backend", "sympy_timeout")}
    try:
        parsed = OpenAIOptions(**options)
    except ValidationError as exc:
        problems = "; ".join(
            ".".join(["options", *(str(p) for p in err["loc"])]) + ": "
            + ("missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, "))
            for err in exc.errors()
        )
        raise ExpertCardError(
            f"{where}: invalid options for backend openai: {problems}. It needs at least "
            "options: {base_url: http://HOST:PORT/v1, model: NAME}, or endpoints: [{base_url, "
            "max_concurrency, timeout}, ...] for replicas of the model; it also reads "
            "api_key_env, max_tokens, temperature, timeout and max_retries."
        ) from exc
    if not langchain_openai_installed():
        raise ModelNotInstalledError(
            f"{where}: backend openai needs langchain-openai, which is not installed. "
            f"Run: {INSTALL_HINT}"
        )
    return parsed


def _openai(card: ExpertCard) -> Runnable:
    options = openai_options(card)
    try:
        chat_model = options.chat_model()
    except ModelNotInstalledError as exc:  # found but not importable (e.g. a broken install)
        raise ModelNotInstalledError(f"{card.source or card.name}: {exc}") from exc
    return llm_expert(card, chat_model)


def _check_openai(card: ExpertCard) -> None:
    openai_options(card)


BACKENDS: dict[str, BackendFactory] = {"llamacpp": _llamacpp, "smollm2": _llamacpp, "gguf": _gguf,
                                       "transformers": _transformers, "sympy": _sympy,
                                       "program": _program, "openai": _openai}
"""Known backends by name."""

BACKEND_CHECKS: dict[str, BackendCheck] = {
    "gguf": _check_model_path(".gguf"), "transformers": _check_model_path(None),
    "sympy": _check_sympy, "program": _check_program, "openai": _check_openai}
"""Checks of a card's options, run when a registry is built (before any run), by backend name."""


def register_backend(name: str, factory: BackendFactory, *, replace: bool = False,
                     check: BackendCheck | None = None) -> None:
    """Make `backend: name` in expert cards run `factory(card)`.

    Args:
        name: What cards write as `backend`.
        factory: Builds the expert's Runnable from its card (called on the expert's first use).
        replace: Replace a backend of that name (and drop its check).
        check: Raises `ExpertCardError` for a card whose options the backend cannot use; run
            when a registry is built, so a bad card fails before any run.
    """
    if name in BACKENDS and not replace:
        raise ValueError(f"backend {name!r} is already registered; pass replace=True to replace it")
    BACKENDS[name] = factory
    BACKEND_CHECKS.pop(name, None)
    if check is not None:
        BACKEND_CHECKS[name] = check


def backend_factory(name: Any, card: ExpertCard) -> BackendFactory:
    """The factory registered as `name`, after its check of the card's options.

    Raises:
        ExpertCardError: naming the card's file: the backend is unknown or rejects the options.
    """
    if name not in BACKENDS:
        raise ExpertCardError(
            f"{card.source or card.name}: unknown backend {name!r}. Known backends: "
            f"{', '.join(sorted(BACKENDS))} (or register one with "
            "comp_llm_graph.experts.register_backend)."
        )
    if (check := BACKEND_CHECKS.get(name)) is not None:
        check(card)
    return BACKENDS[name]


def build_expert(card: ExpertCard) -> Runnable:
    """The Runnable for a card."""
    return backend_factory(card.backend, card)(card)
