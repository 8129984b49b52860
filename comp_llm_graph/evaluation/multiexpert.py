"""MultiExpertQA evaluation: the paper's three comparisons side by side in one run.

Modes: `comp` (plan, experts in parallel, aggregate), `sequential` (the same plan, one sub-query
at a time), `react` (the plan-act-observe loop), `monolithic` (the graph's fallback expert on the
whole query), and `monolithic:<model>`: the whole query to one catalogue model (`comp-llm
models`) with an instruction to answer every part, the "similar size" and "largest of the
family" baselines. Questions run one at a time, every mode on a question before the next, the
modes' order rotating (as in `evaluate_e2e`), so every mode meets the same machine load.

Per mode and set (P, D, and All, their union): part accuracy, all-parts accuracy, part coverage
(the share of the question's parts the answer gives something for that the grader can read),
mean token F1, mean and p95 seconds, generated tokens, and the largest and total parameters
(billions) of the models the mode runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from comp_llm_graph.context import MODES, Context
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.evaluation.e2e import run_graph
from comp_llm_graph.evaluation.multiexpert_data import CompoundQuestion
from comp_llm_graph.runtimes.catalogue import CATALOGUE

__all__ = ["DEFAULT_MODES", "MONOLITHIC_PROMPT", "check_modes", "evaluate_multiexpert",
           "mode_models", "multiexpert_markdown"]

DEFAULT_MODES = ("comp", "sequential", "monolithic:qwen2.5-coder-1.5b",
                 "monolithic:smollm2-135m")
"""The comparison run unless `--modes` says otherwise."""
MONOLITHIC_PROMPT = (
    "Answer every part of the user's message. Work out any calculation step by step. End with "
    "one line per part, in the order asked: `1. <answer>`, `2. <answer>` (for a "
    "multiple-choice part, its letter and option).")
"""The system prompt of `monolithic:<model>`: the parts labelled, so each is graded on its own."""
MONOLITHIC_TOKENS = 512
"""Generation limit of `monolithic:<model>` (a GSM8K solution plus two short answers)."""


def check_modes(modes: Sequence[str]) -> list[str]:
    """The modes, checked: graph modes and `monolithic:<catalogue instruct model>`.

    Raises:
        CompLLMError: an unknown mode or model, or no mode.
    """
    from comp_llm_graph.models import INSTRUCT_MODELS

    if not modes:
        raise CompLLMError("give at least one mode")
    for mode in modes:
        base, _, model = mode.partition(":")
        if base not in MODES or (model and (base != "monolithic" or model not in INSTRUCT_MODELS)):
            raise CompLLMError(
                f"unknown mode {mode!r}: use {', '.join(MODES)} or monolithic:<model> with a "
                f"model of {', '.join(INSTRUCT_MODELS)}")
    return list(modes)


def _model_name(model: Any) -> str | None:
    name = getattr(model, "model", None)
    return name if isinstance(name, str) and name in CATALOGUE else None


def mode_models(mode: str, components: Mapping[str, Any], context: Mapping[str, Any]) -> list[str]:
    """The catalogue models `mode` runs.

    `monolithic:<model>` its one model; the graph modes the planner's, the experts' (every
    card's model; tools count none) and the aggregator's.
    """
    base, _, model = mode.partition(":")
    if model:
        return [model]
    registry = components["registry"]
    experts = {card.model or "smollm2-135m" for card in registry.cards.values()
               if card.backend in ("smollm2", "llamacpp", "program")}
    if base == "monolithic":
        card = registry.cards[registry.fallback]
        return sorted({card.model or "smollm2-135m"})
    planner = context.get("planner_model") or _model_name(components.get("planner"))
    aggregator = context.get("aggregator_model") or _model_name(components.get("aggregator"))
    return sorted({m for m in (planner, aggregator, *experts) if m})


async def _run_model(chat: Any, item: CompoundQuestion) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        reply = await chat.ainvoke([SystemMessage(MONOLITHIC_PROMPT), HumanMessage(item.query)])
    except Exception as exc:  # noqa: BLE001 - one failed run is recorded and scored wrong
        return {"prediction": "", "wall_s": round(time.perf_counter() - started, 4),
                "tokens": 0, "error": f"{type(exc).__name__}: {exc}"}
    usage = getattr(reply, "usage_metadata", None) or {}
    return {"prediction": str(reply.content), "wall_s": round(time.perf_counter() - started, 4),
            "tokens": usage.get("output_tokens", 0), "error": None}


def _covered(verdict: dict[str, Any], kind: str) -> bool:
    """A letter or number was read for the part, or its text overlaps the gold."""
    if kind == "text":
        return verdict["right"] or verdict["f1"] > 0
    return verdict["found"] is not None


def _summary(runs: list[dict[str, Any]], items: list[CompoundQuestion],
             models: list[str]) -> dict[str, Any]:
    def mean(values: list[float]) -> float:
        return round(statistics.fmean(values), 4) if values else 0.0

    walls = sorted(r["wall_s"] for r in runs)
    verdicts = [(v, p.kind) for r, item in zip(runs, items, strict=True)
                for v, p in zip(r["scores"]["parts"], item.parts, strict=True)]
    sizes = [CATALOGUE[m].parameters for m in models]
    return {
        "n": len(runs),
        "part_accuracy": mean([float(v["right"]) for v, _ in verdicts]),
        "all_parts_accuracy": mean([r["scores"]["all_parts_accuracy"] for r in runs]),
        "part_coverage": mean([float(_covered(v, kind)) for v, kind in verdicts]),
        "f1": mean([r["scores"]["f1"] for r in runs]),
        "mean_s": mean(walls),
        "p95_s": round(walls[min(len(walls) - 1, int(0.95 * len(walls)))], 4) if walls else 0.0,
        "tokens_mean": mean([r["tokens"] for r in runs]),
        "errors": sum(r["error"] is not None for r in runs),
        "models": models,
        "largest_params_b": max(sizes, default=0.0),
        "total_params_b": round(sum(sizes), 3),
    }


async def evaluate_multiexpert(
    components: Mapping[str, Any],
    sets: Mapping[str, Sequence[CompoundQuestion]],
    *,
    modes: Sequence[str] = DEFAULT_MODES,
    context: Mapping[str, Any] | None = None,
    warmup: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Answer every question of every set in every mode; grade each part, time, count tokens.

    Args:
        components: `build_graph`'s components (planner, registry, aggregator...).
        sets: `multiexpert_sets(...)`: set name -> questions.
        modes: `check_modes` names.
        context: Other `Context` settings of the graph modes (planner_model, aggregate...).
        warmup: Run the first question once per mode, unscored, before timing (loads models).
        progress: Called with 1 after each scored run.

    Returns:
        `{"sets": {"P"|"D"|"All": {"n", "modes": {mode: summary}}}, "records": [...]}`.
    """
    from comp_llm_graph.graph import build_graph
    from comp_llm_graph.runtimes.llamacpp import local_chat_model

    modes = check_modes(modes)
    settings = dict(context or {})
    graph = build_graph(**{"baselines": "react" in modes, **components})
    runners: dict[str, Callable[[CompoundQuestion], Any]] = {}
    for mode in modes:
        base, _, model = mode.partition(":")
        if model:
            chat = local_chat_model(model, MONOLITHIC_TOKENS)
            runners[mode] = lambda item, chat=chat: _run_model(chat, item)
        else:
            ctx = Context(mode=base, **settings)  # type: ignore[arg-type]
            runners[mode] = lambda item, ctx=ctx: run_graph(graph, item, ctx, None)
    first = next((items[0] for items in sets.values() if items), None)
    if warmup and first is not None:
        for mode in modes:
            run = await runners[mode](first)
            if run["error"]:
                raise CompLLMError(f"mode {mode} failed on its warm-up run: {run['error']}")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    records, turn = [], 0
    for name, items in sets.items():
        runs[name] = {mode: [] for mode in modes}
        for item in items:
            order = modes[turn % len(modes):] + modes[:turn % len(modes)]
            turn += 1
            for mode in order:
                run = await runners[mode](item)
                run["scores"] = item.score(run["prediction"])
                runs[name][mode].append(run)
                if progress:
                    progress(1)
            records.append({"set": name, "kind": item.kind, "id": item.id, "query": item.query,
                            "gold": item.gold, "modes": {m: runs[name][m][-1] for m in modes}})
    models = {mode: mode_models(mode, components, settings) for mode in modes}
    document: dict[str, Any] = {"sets": {}}
    for name, items in sets.items():
        document["sets"][name] = {"n": len(items), "modes": {
            m: _summary(runs[name][m], list(items), models[m]) for m in modes}}
    every = [item for items in sets.values() for item in items]
    document["sets"]["All"] = {"n": len(every), "modes": {
        m: _summary([r for name in sets for r in runs[name][m]], every, models[m])
        for m in modes}}
    document["records"] = records
    return document


def multiexpert_markdown(document: dict[str, Any], title: str) -> str:
    """One table per set in the paper's shape: accuracy, coverage, latency and model size."""
    lines = [f"### {title}", ""]
    for name, result in document["sets"].items():
        lines += [f"**{name}** ({result['n']} questions)", "",
                  "| mode | part acc. | all parts | part coverage | F1 | mean s | p95 s | "
                  "tokens | largest B | total B |", "|---|" + "---|" * 9]
        for mode, row in result["modes"].items():
            lines.append(
                f"| {mode} | {row['part_accuracy']:.3f} | {row['all_parts_accuracy']:.3f} | "
                f"{row['part_coverage']:.3f} | {row['f1']:.3f} | {row['mean_s']:.2f} | "
                f"{row['p95_s']:.2f} | {row['tokens_mean']:.0f} | {row['largest_params_b']:g} | "
                f"{row['total_params_b']:g} |")
        lines.append("")
    return "\n".join(lines)
