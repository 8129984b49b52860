"""`comp-llm experts profile`: every expert measured with every candidate model on its own domain.

Domain questions, none of which a router, a profile or a demonstration bank was fitted on:

- an expert named after an MMLU subject group (the default pack's 16, and the fallback for
  the "other" group): MMLU **test** questions of that group, from the *profile half* (a fixed
  half by a hash of the question, `profile_half`); the other half stays for checking a profile.
  The routers were fitted on MMLU dev+val. The candidate answers as the expert does: the card's
  system prompt, the options scored (`experts/llm_expert.py`);
- a `program` expert (math): GSM8K **train** problems (the demonstration bank holds none), each
  candidate writing programs of thought (`experts/math_program.py`).

Other experts have no labelled domain here and are reported as skipped. The result names, per
expert, each candidate's accuracy, seconds and output tokens per answer, the best one, and the
one `experts/profiles.choose` picks.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comp_llm_graph.errors import CompLLMError

__all__ = ["DomainItem", "domain_items", "profile_experts", "profile_half", "profile_markdown"]

LETTER = re.compile(r"^\s*\(([A-J])\)")


@dataclass(frozen=True)
class DomainItem:
    """A labelled question of an expert's domain."""

    question: str
    """As the expert is asked it (options inline, `(A) ...`)."""
    gold: str | float
    """The right letter, or the right number."""


def profile_half(question: str) -> bool:
    """Whether an MMLU test question is in the half profiles are measured on (fixed, hashed)."""
    return hashlib.sha256(question.encode("utf-8")).digest()[0] % 2 == 0


def _mmlu_items(root: Path, expert: str, fallback: str, half: bool) -> list[DomainItem]:
    from comp_llm_graph.evaluation.data import mmlu_subjects

    items = []
    for subject, name in mmlu_subjects(root, other=fallback).items():
        if name != expert:
            continue
        path = root / "test" / f"{subject}_test.csv"
        try:
            with path.open(newline="", encoding="utf-8") as stream:
                rows = [r for r in csv.reader(stream) if len(r) >= 6]
        except OSError as exc:
            raise CompLLMError(f"cannot read MMLU file {path}: {exc}") from exc
        for row in rows:
            if profile_half(row[0]) == half:
                options = " ".join(f"({letter}) {text}" for letter, text in zip("ABCD", row[1:5],
                                                                                 strict=True))
                items.append(DomainItem(f"{row[0]}\n{options}", row[5].strip()))
    return items


def domain_items(data: Path, card: Any, fallback: str, *, per_expert: int, seed: int,
                 half: bool = True) -> tuple[str, list[DomainItem]]:
    """`(what the items are, a seeded sample of them)` for one card; ("", []) if it has none."""
    import random

    if card.backend == "program":
        from comp_llm_graph.evaluation.math_eval import gsm8k_problems

        split = "train" if half else "test"
        problems = gsm8k_problems(data / "gsm8k", split=split, sample=per_expert, seed=seed)
        return f"GSM8K {split}", [DomainItem(p.question, p.answer) for p in problems]
    items = _mmlu_items(data / "mmlu", card.name, fallback, half)
    if not items:
        return "", []
    items = random.Random(seed).sample(items, min(per_expert, len(items)))
    return f"MMLU test ({'profile' if half else 'check'} half)", items


def _candidate(card: Any, model: str) -> Any:
    """The expert `card` running on catalogue `model`."""
    from comp_llm_graph.experts.llm_expert import llm_expert
    from comp_llm_graph.runtimes.llamacpp import local_chat_model

    if card.backend == "program":
        from comp_llm_graph.experts.math_program import program_expert

        return program_expert(local_chat_model(model, 320))
    return llm_expert(card, local_chat_model(model, 32))


def _right(reply: str, gold: str | float) -> bool:
    if isinstance(gold, str):
        found = LETTER.match(reply)
        return found is not None and found.group(1) == gold
    from comp_llm_graph.evaluation.math_eval import extract_number

    value = extract_number(reply)
    return value is not None and abs(value - gold) <= 1e-6 * max(1.0, abs(gold))


async def _measure(runnable: Any, items: list[DomainItem], concurrency: int,
                   advance: Callable[[], None]) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(item: DomainItem) -> tuple[bool, float, int]:
        async with gate:
            started = time.perf_counter()
            reply = await runnable.ainvoke({"question": item.question, "context": ""})
            seconds = time.perf_counter() - started
        advance()
        usage = getattr(reply, "usage_metadata", None) or {}
        return (_right(str(getattr(reply, "content", reply)), item.gold), seconds,
                usage.get("output_tokens", 0))

    done = await asyncio.gather(*(one(item) for item in items))
    return {"accuracy": round(sum(d[0] for d in done) / len(done), 4), "n": len(done),
            "mean_s": round(statistics.fmean(d[1] for d in done), 2),
            "mean_output_tokens": round(statistics.fmean(d[2] for d in done), 1)}


async def profile_experts(registry: Any, data: Path, models: list[str], *, per_expert: int = 20,
                          seed: int = 0, margin: float = 0.02, budget_s: float | None = None,
                          only: list[str] | None = None, concurrency: int = 4,
                          progress: Callable[[str, int], Callable[[], None]] | None = None,
                          half: bool = True) -> dict[str, Any]:
    """The profile document of `registry`'s experts (see the module docstring).

    `half=False` measures on the held-out items instead (MMLU test's check half, GSM8K test),
    to check a profile made on the others.
    """
    from comp_llm_graph.experts.profiles import choose
    from comp_llm_graph.runtimes.catalogue import catalogue_model

    entries = {name: catalogue_model(name) for name in models}
    unknown = sorted(set(only or []) - set(registry.cards))
    if unknown:
        raise CompLLMError(f"no such expert(s): {', '.join(unknown)}; known: "
                           f"{', '.join(registry.names)}")
    experts: dict[str, Any] = {}
    for name in only or registry.names:
        card = registry.cards[name]
        domain, items = domain_items(data, card, registry.fallback, per_expert=per_expert,
                                     seed=seed, half=half)
        if not items:
            experts[name] = {"skipped": "no labelled questions of its domain in the data"}
            continue
        candidates = {}
        for model, entry in entries.items():
            advance = progress(f"{name} on {model}", len(items)) if progress else (lambda: None)
            measured = await _measure(_candidate(card, model), items, concurrency, advance)
            candidates[model] = {**measured, "parameters_b": entry.parameters}
        experts[name] = {"domain": domain, "candidates": candidates,
                         "best": max(candidates, key=lambda m: candidates[m]["accuracy"]),
                         "chosen": choose(candidates, margin=margin, budget_s=budget_s)}
    return {"format": 1, "rule": "the smallest model within margin of the best accuracy"
            + (f", answering within {budget_s} s" if budget_s else ""),
            "margin": margin, "budget_s": budget_s, "per_expert": per_expert, "seed": seed,
            "data": str(data), "experts": experts}


def profile_markdown(document: dict[str, Any]) -> str:
    """A row per expert: each candidate's accuracy (seconds), the best and the chosen one."""
    models = sorted({m for e in document["experts"].values() for m in e.get("candidates", {})},
                    key=lambda m: next(e["candidates"][m]["parameters_b"]
                                       for e in document["experts"].values()
                                       if m in e.get("candidates", {})))
    lines = [f"### Expert profile ({document['rule']}, margin {document['margin']}, "
             f"{document['per_expert']} questions per expert, seed {document['seed']})", "",
             "| expert | domain | " + " | ".join(models) + " | best | chosen |",
             "|---|---|" + "---|" * len(models) + "---|---|"]
    for name, entry in document["experts"].items():
        if "skipped" in entry:
            lines.append(f"| {name} | skipped: {entry['skipped']} |" + " |" * (len(models) + 2))
            continue
        cells = [f"{entry['candidates'][m]['accuracy']:.2f} ({entry['candidates'][m]['mean_s']:.1f}"
                 " s)" if m in entry["candidates"] else "-" for m in models]
        lines.append(f"| {name} | {entry['domain']} | " + " | ".join(cells)
                     + f" | {entry['best']} | **{entry['chosen']}** |")
    return "\n".join(lines) + "\n"
