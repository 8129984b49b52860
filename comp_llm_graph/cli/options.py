"""Options shared by several commands, and the components they build from them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from comp_llm_graph.cache import MODEL_DIR_VARIABLE, usable_cache_dir
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.urls import shown

ExpertFolders = Annotated[
    list[Path] | None,
    typer.Option("--experts", help="A folder of your own expert cards (repeatable)."),
]
CacheDir = Annotated[Path | None, typer.Option(
    help="Folder of the routing index, fitted routers and model files made at first use "
         "(default: $XDG_CACHE_HOME/comp-llm-graph; models already made there are reused; "
         "$COMP_LLM_MODEL_DIR moves model files alone).")]
Router = Annotated[str, typer.Option(
    help="auto (learned if `experts fit` was run, else similarity), similarity, learned or "
         "examples.")]
PlannerUrl = Annotated[str | None, typer.Option(
    help="Plan and aggregate on an OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1) "
         "instead of the embedded models.")]
Planner = Annotated[str | None, typer.Option(
    help="The embedded planner, a catalogue model (`comp-llm models`): smollm2-135m, "
         "qwen2.5-coder-0.5b or qwen2.5-coder-1.5b under the plan grammar, or gemma3-270m "
         "(base, a few-shot completion); smollm2 and gemma3 are the short names (default: "
         "the profile's).")]
Profile = Annotated[str | None, typer.Option(
    help="fast (SmolLM2 plans, aggregates and answers) or quality (Qwen2.5-Coder-1.5B does); "
         "docs/multiexpert.md has their numbers (default: fast).")]
PlannerModel = Annotated[str | None, typer.Option(help="Model name served at --planner-url.")]
ApiKeyEnv = Annotated[str | None, typer.Option(
    help="Environment variable holding the endpoint's API key (default: none sent).")]
MaxSubqueries = Annotated[int, typer.Option(help="Largest plan accepted.")]
Seed = Annotated[int, typer.Option(help="Seed of the sample.")]
Warmup = Annotated[bool, typer.Option(
    help="Run the first question once per mode, unscored, before timing.")]
RecordsOut = Annotated[Path | None, typer.Option(
    help="Write one JSON line per question (the question, gold and what was predicted) here.")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")]
MarkdownOut = Annotated[Path | None, typer.Option(help="Write the Markdown table here.")]
Aggregate = Annotated[str, typer.Option(
    help="How the final answer is written: auto (composed when every sub-query is "
         "independent, else the LLM), llm, or compose (the end points' answers, labelled).")]


def cache_models(cache_dir: Path | None) -> None:
    """Make model files under `<cache_dir>/models` when a cache folder is given (see `cache`)."""
    if cache_dir:
        folder = usable_cache_dir(cache_dir, "--cache-dir")
        os.environ.setdefault(MODEL_DIR_VARIABLE, str(folder / "models"))


def _registry_options(experts: list[Path] | None, cache_dir: Path | None,
                      router: str = "auto") -> dict[str, Any]:
    """`ExpertRegistry.from_folders` / `default_components` arguments from the CLI options."""
    options: dict[str, Any] = {"expert_folders": [str(p) for p in experts or []],
                               "router": router}
    if cache_dir:
        folder = usable_cache_dir(cache_dir, "--cache-dir")
        options["persist_directory"] = folder
        os.environ.setdefault(MODEL_DIR_VARIABLE, str(folder / "models"))  # see `cache`
    return options


def server_models(planner_url: str | None, planner_model: str | None,
                  api_key_env: str | None) -> dict[str, Any]:
    """Planner and aggregator on an OpenAI-compatible server, or {} for the embedded ones."""
    from comp_llm_graph.defaults import AGGREGATOR_MAX_NEW_TOKENS, PLANNER_MAX_NEW_TOKENS

    if (planner_url is None) != (planner_model is None):
        raise CompLLMError("give both --planner-url and --planner-model (or neither).")
    if not (planner_url and planner_model):
        return {}
    _check_url(planner_url)
    from comp_llm_graph.runtimes.openai_compat import openai_chat_model

    return {role: openai_chat_model(planner_url, planner_model, api_key_env=api_key_env,
                                    max_tokens=tokens)
            for role, tokens in (("planner", PLANNER_MAX_NEW_TOKENS),
                                 ("aggregator", AGGREGATOR_MAX_NEW_TOKENS))}


def _check_url(url: str) -> None:
    """Refuse a --planner-url that is not http(s)://host[:port][/path], in one line.

    (The model's own validation would print a multi-line pydantic error.)
    """
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number, or out of range
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise CompLLMError(f"--planner-url must be an http:// or https:// URL with a host, e.g. "
                           f"http://127.0.0.1:8000/v1; got {shown(url)!r}.")


def build_components(experts: list[Path] | None, cache_dir: Path | None, router: str,
                     planner_url: str | None, planner_model: str | None,
                     api_key_env: str | None, planner: str | None = None,
                     expert_model: str | None = None,
                     profile: str | None = None) -> dict[str, Any]:
    """Planner, registry and aggregator: the embedded defaults or an OpenAI-compatible server.

    `expert_model`: one catalogue model for every expert that runs one (`--expert-model`).
    """
    from comp_llm_graph.defaults import default_components

    models = {"planner": planner, **server_models(planner_url, planner_model, api_key_env)}
    registry = _registry_options(experts, cache_dir, router)
    if expert_model:
        registry["expert_model"] = expert_model
    if profile:
        models["profile"] = profile
    components = default_components(**registry, **models)
    _check_router(components["registry"])
    return components


def build_registry(experts: list[Path] | None, cache_dir: Path | None,
                   router: str = "auto") -> Any:
    """The expert registry of `--experts` / `--cache-dir` / `--router`, checked for use."""
    from comp_llm_graph.experts.registry import ExpertRegistry

    options = _registry_options(experts, cache_dir, router)
    registry = ExpertRegistry.from_folders(options.pop("expert_folders"), **options)
    _check_router(registry)
    return registry


def _check_router(registry: Any) -> None:
    """Fail before any run when `--router learned|examples` has nothing fitted to use."""
    router = registry.router
    if router.requested in ("learned", "examples") and router.learned_router() is None:
        raise CompLLMError(
            f"--router {router.requested} needs a router fitted for these experts; run "
            "`comp-llm experts fit --data DIR` (with the same --experts) first.")
