"""Chat models by name, for choosing the planner or aggregator per run (`Context.planner_model`).

A LangGraph Server deployment serves one graph; its assistants differ only in their context.
Naming the model in the context lets one assistant plan with SmolLM2 and another with Gemma 3 or
a served model, without a second graph. A name is one of:

- a catalogue model (`comp_llm_graph.runtimes.catalogue`, `comp-llm models`): an instruct model
  (`smollm2-135m`, `qwen2.5-coder-0.5b`, `qwen2.5-coder-1.5b`) plans under the plan grammar or
  aggregates; the base `gemma3-270m` plans only (few-shot completion). `smollm2` and `gemma3`
  are the older short names;
- `openai:<model>@<base url>`: a model on an OpenAI-compatible server (vLLM, TGI, llama.cpp's
  server), e.g. `openai:qwen2.5-7b@http://127.0.0.1:8000/v1` (the key, if the server needs
  one, from `OPENAI_API_KEY`);
- `<provider>:<model>`: anything `init_chat_model` from the `langchain` package resolves.

Names are checked when the `Context` is made (so a bad assistant fails at the start of its run,
with this module's message); models are made on first use and kept, one per name and role.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.runtimes.catalogue import ALIASES, CATALOGUE

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

__all__ = ["AGGREGATOR_MAX_NEW_TOKENS", "DEFAULT_PLANNER", "EMBEDDED_MODELS", "INSTRUCT_MODELS",
           "PLANNER_MAX_NEW_TOKENS", "PLANNERS", "check_model_name", "embedded_planner",
           "named_model", "run_model"]

INSTRUCT_MODELS = tuple(name for name, model in CATALOGUE.items() if model.kind == "instruct")
"""Catalogue models with a chat template: planners under the plan grammar, aggregators, experts."""
PLANNERS = ("gemma3", "smollm2", *CATALOGUE)
"""The embedded planners: Gemma 3 270M (base) prompted as a few-shot completion, and the instruct
models constrained to the JSON plan grammar (docs/planning.md compares them)."""
EMBEDDED_MODELS = {"planner": PLANNERS, "aggregator": ("smollm2", *INSTRUCT_MODELS)}
"""The embedded models each role can use by name."""
PLANNER_MAX_NEW_TOKENS = 320
"""Generation limit of the default planner (a plan of 5 sub-queries fits)."""
AGGREGATOR_MAX_NEW_TOKENS = 128
"""Generation limit of the default aggregator."""
DEFAULT_PLANNER = "smollm2"
"""The embedded planner used unless another is named. Gemma 3 scores better in `eval planning`
but writes false dependencies into compound questions ("What is 15% of {q1}?" after "What is
the capital of France?"), which corrupts the answer (docs/planning.md)."""


def embedded_planner(name: str = DEFAULT_PLANNER, *, grammar: bool = True) -> Runnable:
    """One of `PLANNERS`, not loaded yet; `grammar`: constrain SmolLM2 to the plan grammar.

    Raises:
        ValueError: an unknown name.
    """
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}: use {' or '.join(PLANNERS)}")
    name = ALIASES.get(name, name)
    if name == "gemma3-270m":
        from comp_llm_graph.runtimes.completion_planner import gemma3_planner

        return gemma3_planner(PLANNER_MAX_NEW_TOKENS)
    from comp_llm_graph.runtimes.llamacpp import local_chat_model

    return local_chat_model(name, PLANNER_MAX_NEW_TOKENS, plan_grammar=grammar)


OPENAI_KEY_ENV = "OPENAI_API_KEY"
"""Read for `openai:<model>@<url>` names when set (sent as the API key)."""
_models: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def check_model_name(name: str | None, field: str) -> None:
    """Raise `ValueError` saying what is accepted unless `name` is None or a model name."""
    if name is None:
        return
    role = field.removesuffix("_model")
    accepted = (f"{field} names a model: {' or '.join(EMBEDDED_MODELS[role])}, "
                "openai:<model>@<base url> (an OpenAI-compatible server), or <provider>:<model> "
                "(init_chat_model, the `langchain` package)")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{accepted}; got {name!r}.")
    if name in EMBEDDED_MODELS[role]:
        return
    if name in EMBEDDED_MODELS["planner"]:
        raise ValueError(f"{field}: {name} plans only (it is a base model prompted with "
                         f"example plans); {accepted}.")
    provider, _, rest = name.partition(":")
    if not provider or not rest:
        raise ValueError(f"{accepted}; got {name!r}.")
    if provider == "openai" and "@" in rest:
        model, _, url = rest.partition("@")
        if not model or not url.startswith(("http://", "https://")):
            raise ValueError(f"{field}: write openai:<model>@http://host:port/v1; got {name!r}.")


def named_model(name: str, role: str) -> Any:
    """The chat model `name` names for `role` (planner or aggregator), made once per process.

    Raises:
        ValueError: the name is not one `check_model_name` accepts.
        CompLLMError: `<provider>:<model>` without the `langchain` package installed.
    """
    check_model_name(name, f"{role}_model")
    tokens = PLANNER_MAX_NEW_TOKENS if role == "planner" else AGGREGATOR_MAX_NEW_TOKENS
    if name in EMBEDDED_MODELS[role]:
        if role == "planner":
            return embedded_planner(name)
        from comp_llm_graph.runtimes.llamacpp import local_chat_model

        return local_chat_model(name, tokens)
    provider, _, rest = name.partition(":")
    if provider == "openai" and "@" in rest:
        from comp_llm_graph.runtimes.openai_compat import openai_chat_model

        model, _, url = rest.partition("@")
        key = {"api_key_env": OPENAI_KEY_ENV} if os.environ.get(OPENAI_KEY_ENV) else {}
        return openai_chat_model(url, model, max_tokens=tokens, **key)
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise CompLLMError(
            f"{role}_model {name!r} is resolved by init_chat_model, which needs the `langchain` "
            "package: pip install langchain (and the provider's package), or name an embedded "
            "model or openai:<model>@<base url>.") from exc
    return init_chat_model(name, max_tokens=tokens)


def run_model(name: str | None, role: str, default: Any) -> Any:
    """The run's model for `role`: the one `name` names, else the graph's `default`."""
    if name is None:
        return default
    with _lock:  # two runs naming a model at once make it once (models load on first call)
        if (name, role) not in _models:
            _models[name, role] = named_model(name, role)
        return _models[name, role]
